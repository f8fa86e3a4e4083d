"""Settings of the test target, from the environment.

``TARGET_DB``: SQLite file. ``TARGET_REDIS_URL``: the channel layer's Redis.
``TARGET_SECRET_KEY``: Django's key (simplejwt signs with it). ``TARGET_ALLOWED_HOSTS``: comma
list. ``TARGET_REJECT_STYLE``: ``close-before-accept`` (Daphne answers 403, the runbook's
consumer) or ``accept-then-close`` (101, then close code 4401). ``TARGET_CONNECT_ERRORS``:
``close-4500`` (the runbook's Fix 3) or ``raise`` (see consumers).
"""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = os.environ.get("TARGET_SECRET_KEY",
                            "wsmonitor-test-target-secret-key-0123456789abcdefghij")
DEBUG = False
ALLOWED_HOSTS = [h.strip() for h in
                 os.environ.get("TARGET_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
                 if h.strip()]
REJECT_STYLE = os.environ.get("TARGET_REJECT_STYLE", "close-before-accept")
CONNECT_ERRORS = os.environ.get("TARGET_CONNECT_ERRORS", "close-4500")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "channels",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "target.urls"
ASGI_APPLICATION = "target.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TARGET_DB", os.path.join(tempfile.gettempdir(), "target.db")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [os.environ.get("TARGET_REDIS_URL", "redis://127.0.0.1:6379/0")]},
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"target": {"handlers": ["stderr"], "level": "INFO"}},
}
