"""A real Django Channels project that uses wsmonitor.django as an app owner would: its
endpoints under ``api/``, django-health-check under ``health/``, a consumer with
`LoggedConsumerMixin`, AllowedHostsOriginValidator (switchable), simplejwt and sessions.
Configured by ``COMPANION_*`` environment variables (see settings); Daphne serves
``companion.asgi:application`` with ``tests/`` and the worktree on PYTHONPATH."""
