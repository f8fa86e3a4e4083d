"""``path("api/", include("wsmonitor.django.urls"))``: ``api/redis-health/`` and
``api/ws-diagnostic/``, the paths wsmonitor probes by default."""

from __future__ import annotations

from django.urls import path

from wsmonitor.django import views

app_name = "wsmonitor"

urlpatterns = [
    path("redis-health/", views.redis_health, name="redis-health"),
    path("ws-diagnostic/", views.ws_diagnostic, name="ws-diagnostic"),
]
