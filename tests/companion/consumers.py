"""The app's notification consumer, plain (no try/except, no logging of its own): the mixin
does the runbook's Fix 3 logging. ``{"type": "boom"}`` raises, to show an exception's lines."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from wsmonitor.django.consumers import LoggedConsumerMixin


class NotificationConsumer(LoggedConsumerMixin, AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if not user or user.is_anonymous:
            await self.close(code=4401)
            return
        self.group_name = f"notifications.user.{user.pk}"
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        await self.send_json({"type": "connection.ack"})

    async def disconnect(self, code):
        if hasattr(self, "group_name"):
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "boom":
            raise RuntimeError("the consumer's own bug")

    async def notify(self, event):
        await self.send_json(event.get("message") or {"type": "notification"})
