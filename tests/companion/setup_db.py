"""Migrate the companion's SQLite database; make a user, a staff user and a logged-in session for
each. Prints one JSON line: ``user_id``, ``staff_id``, ``user_session``, ``staff_session``.

Run as ``python -m companion.setup_db`` with ``COMPANION_DB`` set.
"""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "companion.settings")
django.setup()

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)
User = get_user_model()
out = {}
for name, staff in (("user", False), ("staff", True)):
    user, _ = User.objects.get_or_create(username=name, defaults={"is_staff": staff})
    user.set_password(f"{name}-password-123")
    user.save()
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    out[f"{name}_id" if name == "staff" else "user_id"] = str(user.pk)
    out[f"{name}_session"] = session.session_key
print(json.dumps(out))
