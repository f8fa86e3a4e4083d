"""Create the target's SQLite database and its test user; prints the user's id.

Run as ``python -m target.setup_db`` with ``TARGET_DB`` set.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "target.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)
user, _ = get_user_model().objects.get_or_create(username="probe",
                                                 defaults={"email": "probe@example.com"})
print(user.id)
