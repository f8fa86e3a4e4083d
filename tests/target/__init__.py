"""A small real Django Channels app for the handshake tests: the runbook's notification consumer,
JWT query-string auth with simplejwt, AllowedHostsOriginValidator, channels_redis, and the
runbook's diagnostic views. Configured entirely by environment variables (see settings)."""
