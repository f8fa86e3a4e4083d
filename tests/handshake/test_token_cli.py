"""`wsmonitor token`: a minted token the real target accepts; --inspect never prints it."""

from __future__ import annotations

import subprocess
import sys

from wsmonitor.probes.handshake import probe_handshake


def wsm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wsmonitor", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)


async def test_minted_token_is_accepted_by_the_target(target) -> None:  # noqa: ANN001
    proc = wsm("token", "--jwt-secret", target.secret_key, "--jwt-user-id", target.user_id)
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    assert token.count(".") == 2
    sample = await probe_handshake(target.url, origin=target.origin, token=token, hold=0.5)
    assert sample.classification == "ok", sample.error
    inspect = wsm("token", "--inspect", "--token", token, "--jwt-secret", target.secret_key)
    assert inspect.returncode == 0
    assert f"access token for user {target.user_id}" in inspect.stdout
    assert "signature verified" in inspect.stdout
    assert token not in inspect.stdout + inspect.stderr


def test_inspect_expired_or_wrong_key_exits_1(target) -> None:  # noqa: ANN001
    expired = target.token(lifetime=-10)
    proc = wsm("token", "--inspect", "--token", expired)
    assert proc.returncode == 1 and "expired" in proc.stdout
    proc = wsm("token", "--inspect", "--token", target.token(), "--jwt-secret",
               "another-key-0123456789-0123456789")
    assert proc.returncode == 1 and "signature" in proc.stdout


def test_token_bad_input_exits_2() -> None:
    for args in (("token",), ("token", "--jwt-secret", "k" * 40),
                 ("token", "--inspect"), ("token", "--inspect", "--token", "not.a.jwt"),
                 ("token", "--jwt-secret", "k" * 40, "--jwt-user-id", "1", "--lifetime", "0")):
        proc = wsm(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("wsmonitor: error: ")
        assert len(proc.stderr.strip().splitlines()) == 1
        assert "k" * 40 not in proc.stderr
