from django.urls import path

from target.consumers import VARIANTS, NotificationConsumer

websocket_urlpatterns = [
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    # The same consumer with other apps' handler names and shapes (see consumers.VARIANTS).
    *(path(f"ws/variants/{name}/", consumer.as_asgi()) for name, consumer in VARIANTS.items()),
]
