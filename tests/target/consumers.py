"""The runbook's notification consumer (Fix 3), with the rejection style switchable.

``REJECT_STYLE``: ``close-before-accept`` (the runbook's: Daphne answers 403) or
``accept-then-close`` (101, then close code 4401). ``CONNECT_ERRORS``: ``close-4500`` (the
runbook's Fix 3: an exception in connect() closes with 4500, before accept, so Daphne answers
403) or ``raise`` (a consumer without Fix 3: the exception escapes and Daphne answers 500).
"""

from __future__ import annotations

import logging

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

logger = logging.getLogger("target.consumers")


def notification_group_name(user_id) -> str:
    return f"notifications.user.{user_id}"


class NotificationConsumer(AsyncJsonWebsocketConsumer):
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

    async def notify(self, event):
        await self.send_json(event.get("message") or {"type": "notification"})
