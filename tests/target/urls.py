from django.urls import path

from target.views import NotificationsView, RedisHealthView, WebSocketDiagnosticView

urlpatterns = [
    path("api/redis-health/", RedisHealthView.as_view(), name="redis-health"),
    path("api/ws-diagnostic/", WebSocketDiagnosticView.as_view(), name="ws-diagnostic"),
    path("api/notifications/", NotificationsView.as_view(), name="notifications"),
]
