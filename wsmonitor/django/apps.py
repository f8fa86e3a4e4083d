"""The Django application config of `wsmonitor.django`."""

from __future__ import annotations

from django.apps import AppConfig


class WsmonitorConfig(AppConfig):
    """``INSTALLED_APPS += ["wsmonitor.django"]``.

    The label is ``wsmonitor``: the package's last name (``django``) would read as Django's own.
    """

    name = "wsmonitor.django"
    label = "wsmonitor"
    verbose_name = "wsmonitor diagnostics"
    default = True

    def ready(self) -> None:
        # The layer's Redis passwords are secrets: every error text that echoes a URL is masked
        # by value, not only by shape.
        from wsmonitor.django.diagnostics import register_layer_secrets

        register_layer_secrets()
