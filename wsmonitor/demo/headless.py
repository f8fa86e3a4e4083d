"""``wsmonitor demo --target-only``: the demo target without the dashboard, for harnesses.

It prints where the target is and writes a ``wsmonitor.toml`` for it (mode 0600: the demo's
signing key goes there, never to the terminal), then takes one command per line on stdin:
``on NAME``, ``off NAME``, ``toggle NAME``, ``clear``, ``status``, ``quit`` (EOF quits too).
Each command is answered with one line, ``ok …`` or ``error …``.
"""

from __future__ import annotations

import json
import os
from typing import IO

from wsmonitor.demo.faults import FAULT_NAMES
from wsmonitor.demo.stack import DemoStack

HELP = "commands: on NAME | off NAME | toggle NAME | clear | status | quit"


def write_config(stack: DemoStack, path: str) -> str:
    """A wsmonitor.toml pointed at the demo (readable by its owner only)."""
    values = {"url": stack.url, "redis-url": stack.redis_url, "jwt-secret": stack.secret,
              "jwt-user-id": stack.user_id, "log-file": stack.log_file}
    text = "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def status_line(stack: DemoStack) -> str:
    on = sorted(stack.faults)
    return f"ok faults on: {', '.join(on) if on else 'none'}"


def command(stack: DemoStack, line: str) -> str | None:
    """Run one stdin command; returns the answer, or None to quit."""
    words = line.split()
    if not words:
        return ""
    verb, args = words[0].lower(), words[1:]
    if verb in ("quit", "exit"):
        return None
    if verb == "status":
        return status_line(stack)
    if verb == "clear":
        stack.clear_faults()
        return status_line(stack)
    if verb in ("on", "off", "toggle") and len(args) == 1:
        name = args[0]
        if name not in FAULT_NAMES:
            return f"error unknown fault {name!r}: use one of {', '.join(FAULT_NAMES)}"
        if verb == "toggle":
            stack.toggle(name)
        else:
            stack.set_fault(name, verb == "on")
        return status_line(stack)
    return f"error {HELP}"


def serve(stack: DemoStack, stdin: IO[str], stdout: IO[str]) -> int:
    """Print the target, write its config, then follow stdin until ``quit`` or EOF."""
    config = write_config(stack, os.path.join(stack.workdir, "wsmonitor.toml"))
    print(f"wsmonitor demo target ({stack.redis_kind} Redis, {stack.layer_kind} channel layer)",
          file=stdout)
    for line in stack.describe():
        print(f"  {line}", file=stdout)
    print(f"  config     {config}  (wsmonitor --config {config})", file=stdout)
    print(status_line(stack), file=stdout)
    print(HELP, file=stdout, flush=True)
    for line in stdin:
        answer = command(stack, line)
        if answer is None:
            break
        if answer:
            print(answer, file=stdout, flush=True)
    return 0
