"""HTTP to Django; WebSocket through AllowedHostsOriginValidator (unless COMPANION_VALIDATOR is
``none``), the session and JWT query-string auth, to the logged notification consumer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "companion.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from companion.auth import JWTQueryAuthMiddleware  # noqa: E402
from companion.consumers import NotificationConsumer  # noqa: E402

websocket = AuthMiddlewareStack(JWTQueryAuthMiddleware(URLRouter([
    path("ws/notifications/", NotificationConsumer.as_asgi()),
])))
if settings.VALIDATOR == "allowed-hosts":
    websocket = AllowedHostsOriginValidator(websocket)

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket})
