"""Fixtures of the channel-layer tests. The real redis-server fixtures (``redis_server``,
``redis_tls``, ``redis_password``, ``unused_port``) come from ``tests/conftest.py``; the tests
that need the Daphne target live beside its fixtures, in ``tests/handshake/test_delivery_*.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def no_channels_redis(tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess in which ``import channels_redis`` fails.

    A package of that name first on PYTHONPATH raises ModuleNotFoundError, as a missing one
    does: the real install stays untouched and this process is not patched.
    """
    shadow = tmp_path / "shadow" / "channels_redis"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'channels_redis'\", "
        "name='channels_redis')\n")
    return {"PYTHONPATH": str(shadow.parent)}

