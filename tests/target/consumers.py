"""The runbook's notification consumer (Fix 3), with the rejection style switchable.

``REJECT_STYLE``: ``close-before-accept`` (the runbook's: Daphne answers 403) or
``accept-then-close`` (101, then close code 4401). ``CONNECT_ERRORS``: ``close-4500`` (the
runbook's Fix 3: an exception in connect() closes with 4500, before accept, so Daphne answers
403) or ``raise`` (a consumer without Fix 3: the exception escapes and Daphne answers 500).

Besides the runbook's ``notify`` handler, variants of the same consumer follow other apps'
conventions (served under ``/ws/variants/<name>/``, see routing): their handlers are named
differently and forward different shapes of the event; none has a ``notify`` handler.
"""

from __future__ import annotations

import json
import logging

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

logger = logging.getLogger("target.consumers")


def notification_group_name(user_id) -> str:
    return f"notifications.user.{user_id}"


class BaseNotificationConsumer(AsyncJsonWebsocketConsumer):
    """Connect, auth, group, ack and ping: everything but the notification handler."""

    async def connect(self):
        logger.info("WebSocket connection attempt from %s", self.scope.get("client"))
        user = self.scope.get("user")
        if not user or user.is_anonymous:
            logger.warning("WebSocket connection rejected: anonymous user")
            if settings.REJECT_STYLE == "accept-then-close":
                await self.accept()
            await self.close(code=4401)
            return
        try:
            self.user = user
            self.group_name = notification_group_name(user.id)
            await self.channel_layer.group_add(self.group_name, self.channel_name)
            await self.accept()
            logger.info("WebSocket connected for user %s", user.id)
            await self.send_json({"type": "connection.ack"})
        except Exception as e:  # noqa: BLE001 - the runbook's consumer
            logger.exception("Error during WebSocket connect: %s", e)
            if settings.CONNECT_ERRORS == "raise":
                raise
            await self.close(code=4500)

    async def disconnect(self, code):
        logger.info("WebSocket disconnected with code %s", code)
        if hasattr(self, "group_name"):
            try:
                await self.channel_layer.group_discard(self.group_name, self.channel_name)
            except Exception as e:  # noqa: BLE001
                logger.exception("Error during disconnect: %s", e)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})



class NotificationConsumer(BaseNotificationConsumer):
    """The runbook's consumer: ``notify`` forwards ``event["message"]``."""

    async def notify(self, event):
        await self.send_json(event.get("message") or {"type": "notification"})


class MessageConsumer(BaseNotificationConsumer):
    """Handles ``notification.message`` only (Channels' docs' naming), forwarding
    ``event["message"]``."""

    async def notification_message(self, event):
        await self.send_json(event["message"])


class PayloadConsumer(BaseNotificationConsumer):
    """Handles ``new.notification``, wrapping ``event["payload"]`` in a shape of its own."""

    async def new_notification(self, event):
        await self.send_json({"type": "notification", "payload": event["payload"]})


class WholeEventConsumer(BaseNotificationConsumer):
    """Handles ``broadcast``, forwarding the whole event."""

    async def broadcast(self, event):
        await self.send_json(event)


class JsonStringConsumer(BaseNotificationConsumer):
    """Handles ``push-data`` (a hyphen: Channels looks the handler up by name), sending
    ``event["data"]`` as a JSON string nested in a JSON text frame."""

    async def handle_push(self, event):
        await self.send(text_data=json.dumps({"kind": "push", "data": json.dumps(event["data"])}))


setattr(JsonStringConsumer, "push-data", JsonStringConsumer.handle_push)


VARIANTS = {
    "message": MessageConsumer,
    "payload": PayloadConsumer,
    "event": WholeEventConsumer,
    "json-string": JsonStringConsumer,
}
"""The convention variants, by the path segment they are served under."""
