"""The runbook's diagnostic views and a polling endpoint.

``channel_layer.test()`` (the runbook's) does not exist; the working smoke test is a send then a
receive on a fresh channel (FACTS.md).
"""

from __future__ import annotations

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.http import JsonResponse
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.views import APIView

SMOKE_TIMEOUT = 2.0


async def _smoke(layer) -> None:
    # A plain channel name, not layer.new_channel(): a process-local ("specific!") channel is
    # received through the receive loop the consumers' event loop owns, and from this view's
    # own loop (async_to_sync) the reply then never arrives while a socket is open — the
    # runbook's view times out on a healthy service whenever a WebSocket is connected.
    channel = f"wsmonitor.smoke.{uuid.uuid4().hex}"
    await asyncio.wait_for(layer.send(channel, {"type": "wsmonitor.smoke"}), SMOKE_TIMEOUT)
    await asyncio.wait_for(layer.receive(channel), SMOKE_TIMEOUT)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class RedisHealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get(self, request):
        try:
            layer = get_channel_layer()
            if not layer:
                return JsonResponse({"status": "error", "message": "No channel layer"},
                                    status=500)
            try:
                async_to_sync(_smoke)(layer)
                return JsonResponse({"status": "ok", "redis": "connected"})
            except Exception as e:  # noqa: BLE001
                return JsonResponse({"status": "error", "message": _describe(e)}, status=500)
        except Exception as e:  # noqa: BLE001
            return JsonResponse({"status": "error", "message": _describe(e)}, status=500)


class WebSocketDiagnosticView(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        diagnostics = {
            "redis_configured": False,
            "redis_connected": False,
            "channel_layer_available": False,
        }
        try:
            layer = get_channel_layer()
            if layer:
                diagnostics["channel_layer_available"] = True
                diagnostics["redis_configured"] = bool(getattr(layer, "hosts", None))
                try:
                    async_to_sync(_smoke)(layer)
                    diagnostics["redis_connected"] = True
                except Exception as e:  # noqa: BLE001
                    diagnostics["redis_error"] = _describe(e)
        except Exception as e:  # noqa: BLE001
            diagnostics["error"] = _describe(e)
        return JsonResponse(diagnostics)


class NotificationsView(APIView):
    """The polling fallback: the browser asks for new notifications over HTTP."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        return JsonResponse({"count": 0, "unread": 0, "results": []})
