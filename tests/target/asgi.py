"""The target's ASGI application: HTTP to Django, WebSocket through Origin validation and JWT
query-string auth to the notification consumer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "target.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from target.auth import JWTQueryAuthMiddleware  # noqa: E402
from target.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": AllowedHostsOriginValidator(
        JWTQueryAuthMiddleware(URLRouter(websocket_urlpatterns))
    ),
})
