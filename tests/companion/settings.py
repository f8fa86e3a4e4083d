"""Settings of the companion test project, from the environment.

``COMPANION_DB``: SQLite file. ``COMPANION_REDIS_URL``: the channel layer's Redis (a password in
it). ``COMPANION_ALLOWED_HOSTS``: comma list. ``COMPANION_VALIDATOR``: ``allowed-hosts`` or
``none``. ``COMPANION_CACHE_SECONDS``, ``COMPANION_RATE_BURST``, ``COMPANION_RATE_PER_SECOND``:
``WSMONITOR``'s limits.
"""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = os.environ.get("COMPANION_SECRET_KEY",
                            "wsmonitor-companion-secret-key-0123456789abcdefghij")
DEBUG = False
ALLOWED_HOSTS = [h.strip() for h in
                 os.environ.get("COMPANION_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
                 if h.strip()]
VALIDATOR = os.environ.get("COMPANION_VALIDATOR", "allowed-hosts")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "channels",
    "health_check",
    "wsmonitor.django",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "companion.urls"
ASGI_APPLICATION = "companion.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("COMPANION_DB",
                               os.path.join(tempfile.gettempdir(), "companion.db")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [os.environ.get("COMPANION_REDIS_URL",
                                            "redis://127.0.0.1:6379/0")]},
    }
}

WSMONITOR = {
    "CACHE_SECONDS": float(os.environ.get("COMPANION_CACHE_SECONDS", "5")),
    "RATE_BURST": int(os.environ.get("COMPANION_RATE_BURST", "10")),
    "RATE_PER_SECOND": float(os.environ.get("COMPANION_RATE_PER_SECOND", "1")),
    "TIMEOUT": 2.0,
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"wsmonitor": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
}
