"""wsmonitor's server-side companion: a Django app that serves the runbook's diagnostics, done
right.

``pip install 'wsmonitor[django]'``, then ``INSTALLED_APPS += ["wsmonitor.django"]`` and
``path("api/", include("wsmonitor.django.urls"))``:

- ``GET /api/redis-health/`` (no auth): a real channel-layer round trip, ``ok`` or ``error``;
- ``GET /api/ws-diagnostic/`` (a Bearer access token, or a staff session): the round trip, the
  running app's ALLOWED_HOSTS and Origin validator, the ASGI server and versions;
- ``python manage.py wsmonitor_check [--json]``: the same checks from inside the container;
- `wsmonitor.django.consumers.LoggedConsumerMixin`: connect/accept/reject/disconnect/exception
  log lines that wsmonitor's log classifier reads;
- `wsmonitor.django.health.ChannelLayerHealthCheck` for django-health-check.

Importing this package imports nothing of Django (or of Textual): Django loads the parts it needs.
"""

from __future__ import annotations
