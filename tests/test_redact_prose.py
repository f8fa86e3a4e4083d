"""Redaction that does not eat prose (#12 item 5): every summary, remedy, help and error text
wsmonitor can print reads the same after `redact`, while every secret form stays masked
(tests/test_secrets.py, tests/test_fuzz.py).

The texts are enumerated, not sampled by hand: every string the package's source holds (but
docstrings), every upper-case constant of every module (REMEDIES, HANDSHAKE_REMEDY, LOG_REMEDY,
CLOSE_MEANING, the UI's HELP …), every string of the shipped TOML data (plans, log rules,
themes …), the help of every command, the checks' summaries, remedies and evidence and the
diagnosis over a grid of sample histories (every handshake outcome and close code, Redis
states, service views, log categories, token faults), their text and markdown reports, the
REDIS_URL lint, token errors, and the one-line errors of bad input.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import wsmonitor
from wsmonitor.rules.base import CheckContext, TokenFacts
from wsmonitor.log_samples import LogEvent, LogsSample
from wsmonitor.log_rules import default_rules
from wsmonitor.plans import load_plans
from wsmonitor.probes.channel_layer import ChannelLayerSample
from wsmonitor.probes.handshake import CLASSIFICATIONS, VARIANTS, HandshakeSample
from wsmonitor.probes.http import HttpSample
from wsmonitor.samples import LatencyStats, RedisSample
from wsmonitor.secrets import redact

PACKAGE = Path(wsmonitor.__file__).resolve().parent
NOW = 1_800_000_000.0


def changed(texts: Iterable[tuple[str, str]]) -> list[str]:
    """``where: text -> redacted`` for every text `redact` changes."""
    out = []
    for where, text in texts:
        shown = redact(text)
        if shown != text:
            out.append(f"{where}: {text!r}\n    -> {shown!r}")
    return out


# --- what the source and the data hold ---------------------------------------------------------


def source_strings() -> Iterator[tuple[str, str]]:
    """Every string literal of the package (f-strings' literal parts too), but docstrings and
    secrets.py's own patterns."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "secrets.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(node.value) for node in ast.walk(tree)
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in docs and node.value.strip():
                yield f"{path.relative_to(PACKAGE)}:{node.lineno}", node.value


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from strings_in(v)


def module_constants() -> Iterator[tuple[str, str]]:
    """Every upper-case constant (REMEDIES, CLOSE_MEANING, HELP …) of every module."""
    for info in pkgutil.walk_packages(wsmonitor.__path__, "wsmonitor."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if re.fullmatch(r"_?[A-Z][A-Z0-9_]*", name) and not callable(value):
                for text in strings_in(value):
                    yield f"{info.name}.{name}", text


def data_strings() -> Iterator[tuple[str, str]]:
    """Every string of the shipped TOML data (plans, log rules, themes, fronts …)."""
    for path in sorted(PACKAGE.rglob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for text in strings_in(data):
            yield str(path.relative_to(PACKAGE)), text


def help_texts() -> Iterator[tuple[str, str]]:
    from wsmonitor.cli import build_parser

    parser = build_parser()
    yield "wsmonitor --help", parser.format_help()
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - argparse has no API
        for name, sub in action.choices.items():
            yield f"wsmonitor {name} --help", sub.format_help()


# --- what the rules say over sample histories --------------------------------------------------


def shake(variant: str, classification: str, close_code: int | None = None) -> HandshakeSample:
    status = {"ok": 101, "forbidden": 403, "connect-stalled": 403, "unauthorized": 401,
              "server-error": 500, "bad-gateway": 502, "gateway-timeout": 504,
              "not-upgraded": 400, "closed-after-accept": 101}.get(classification)
    ok = classification == "ok"
    return HandshakeSample(
        probe=f"handshake:{variant}", at=NOW - 1, ok=ok, variant=variant,
        classification=classification, status=status, error_kind=None if ok else classification,
        error=None if ok else f"handshake {classification}", server="daphne",
        reason="Access denied" if status == 403 else None,
        elapsed_s=5.0 if classification == "connect-stalled" else 0.01,
        close_code=close_code, closed_by="server" if close_code else None,
        closed_at_s=0.5 if close_code else None, ack_received=ok, hold_s=2.0,
        held_s=2.0 if ok else (0.5 if close_code else None), pings_sent=1,
        pongs_received=1 if ok else 0, token_sent=variant == "token+origin")


def redis_sample(state: str) -> RedisSample:
    ok = state in ("ok", "capped", "rejecting", "busy")
    return RedisSample(
        probe="redis", at=NOW - 1, ok=ok, latencies_ms=(0.2,) if ok else (),
        window=LatencyStats.of([0.2]) if ok else None, info_ok=ok,
        connected_clients=30 if state == "capped" else 3, maxclients=30,
        rejected_connections=7 if state == "rejecting" else 0,
        total_commands_processed=10**9 if state == "busy" else 100,
        commands_per_second=500.0 if state == "busy" else 1.0,
        error=None if ok else f"redis {state}", error_kind=None if ok else state,
        server="127.0.0.1:6379")


def http(endpoint: str, status: int, healthy: bool | None) -> HttpSample:
    ok = 200 <= status < 300 and healthy is not False
    summary = (("status", "ok" if healthy else "error"),) if endpoint == "redis-health" else \
        (("redis_connected", bool(healthy)), ("channel_layer_available", bool(healthy)))
    return HttpSample(probe=f"http:{endpoint}", at=NOW - 1, ok=ok, endpoint=endpoint,
                      status=status, json_ok=status == 200, summary=summary, healthy=healthy,
                      server="daphne", error=None if ok else f"HTTP {status}",
                      error_kind=None if ok else "status")


def layer(ok: bool) -> ChannelLayerSample:
    return ChannelLayerSample(probe="channel-layer", at=NOW - 1, ok=ok, phase="done" if ok
                              else "send", round_trip_ms=1.0 if ok else None,
                              send_ms=0.6 if ok else None, receive_ms=0.4 if ok else None,
                              error=None if ok else "channel layer: refused",
                              error_kind=None if ok else "refused", server="127.0.0.1:6379")


def logs(category: str | None) -> LogsSample:
    rules = default_rules()
    events = () if category is None else (LogEvent(
        NOW - 5, "daphne.log", f"an event of {category}", category, "1", (category,),
        rules.label(category), rules.severity(category)),)
    counts = {c: int(c == category) for c in rules.categories}
    return LogsSample(probe="logs", at=NOW - 1, ok=True, source="file", mode="file",
                      target="daphne.log", events=events, by_category=counts,
                      by_severity={"error": int(bool(category) and
                                                rules.severity(category) == "error"),
                                   "warning": int(bool(category) and
                                                  rules.severity(category) == "warning"),
                                   "info": 0},
                      window_seconds=900.0, events_in_window=len(events),
                      events_total=len(events))


TOKENS = [None, TokenFacts("minted", "access", "1", NOW + 300, True, True),
          TokenFacts("given", "refresh", "1", NOW + 300, True, None),
          TokenFacts("given", "access", "1", NOW - 60, True, False),
          TokenFacts("given", None, None, None, False, None, "the token is malformed",
                     "malformed")]


def contexts() -> Iterator[CheckContext]:
    for plan, token, kiosk in itertools.product(("none", "upstash-free-2024"), TOKENS,
                                                (False, True)):
        yield CheckContext(plan=load_plans()[plan], redis_configured=True, url_configured=True,
                           http_configured=True, logs_configured=True, stale_after=60.0,
                           token=token, url_host="app.example.com", kiosk=kiosk)


def histories() -> Iterator[dict[str, list[Any]]]:
    """Every handshake outcome (and close code) of the main variant against a few rejected-
    variant patterns, Redis states, service views, the channel layer and log categories."""
    closes = [None, 1000, 1006, 1011, 4401, 4500, 4999]
    rejected = ["forbidden", "ok", "server-error", "refused"]
    redis_states = ["ok", "refused", "auth-wrong-password", "timeout", "capped", "rejecting",
                    "busy"]
    categories = [None, *default_rules().categories]
    for i, (main, others) in enumerate(itertools.product(CLASSIFICATIONS, rejected)):
        codes = closes if main == "closed-after-accept" else [None]
        for code in codes:
            history: dict[str, list[Any]] = {
                f"handshake:{v}": [shake(v, main if v == VARIANTS[0] else others,
                                         code if v == VARIANTS[0] else None)]
                for v in VARIANTS}
            # cycle the other evidence through the grid so every state meets many outcomes
            state = redis_states[i % len(redis_states)]
            history["redis"] = [redis_sample("ok"), redis_sample(state)]
            healthy = state in ("ok", "capped", "busy")
            history["http:redis-health"] = [http("redis-health", 200 if healthy else 500,
                                                 healthy)]
            history["http:ws-diagnostic"] = [http("ws-diagnostic", [200, 404, 502][i % 3],
                                                  healthy)]
            history["http:polling"] = [http("polling", [200, 401, 500][i % 3], None)]
            history["channel-layer"] = [layer(healthy)]
            history["logs"] = [logs(categories[i % len(categories)])]
            yield history


def judged() -> Iterator[tuple[str, str]]:
    from wsmonitor.report import CheckRun, render_markdown, render_text
    from wsmonitor.runtime import judge

    ctxs = list(contexts())
    for i, history in enumerate(histories()):
        ctx = ctxs[i % len(ctxs)]
        diagnosis, results = judge(ctx, history, NOW)
        where = f"history {i} ({diagnosis.layer})"
        yield where, diagnosis.summary
        yield where, diagnosis.remedy
        for r in results:
            yield f"{where} {r.id}", r.summary
            yield f"{where} {r.id}", r.remedy
            for line in r.evidence:
                yield f"{where} {r.id} evidence", line
        if i % 7 == 0:
            run = CheckRun(NOW - 5, NOW, diagnosis, results, history, ctx.plan,
                           {"url": "wss://app.example.com/ws/notifications/", "redis": None})
            yield f"{where} text report", render_text(run)
            yield f"{where} markdown report", render_markdown(run)


def lint_and_token_texts() -> Iterator[tuple[str, str]]:
    from wsmonitor.redis_url import RedisUrlError, lint_redis_url, parse_redis_url
    from wsmonitor.tokens import TokenError, decode_token

    for url in ["redis://localhost:6379/0", "rediss://default@eu1-x.upstash.io:6379",
                "redis://eu1-x.upstash.io:6379", "redis://h:notaport/0", "redis://h/99",
                "http://h:6379", "redis://", "unix://", "rediss://h:6379/0?ssl_cert_reqs=none",
                "redis://default@h:6379/x"]:
        for finding in lint_redis_url(url):
            yield f"lint {url}", finding.message
            yield f"lint {url}", finding.fix or ""
        try:
            parse_redis_url(url)
        except RedisUrlError as exc:
            yield f"parse {url}", str(exc)
    for token in ["", "abc", "a.b", "a.b.c.d", "eyJhbGciOiJub25lIn0.e30.", "not a token"]:
        try:
            decode_token(token)
        except TokenError as exc:
            yield f"token {token!r}", str(exc)


BAD_INPUT = [
    ["check", "--samples", "0"], ["check", "--only", "bogus"], ["check", "--interval", "-1"],
    ["check", "--redis-url", "redis://h:notaport/0"], ["check", "--url", "ftp://x/"],
    ["check", "--redis-plan", "nope"], ["check", "--hold", "abc"], ["--theme", "nope"],
    ["token", "--lifetime", "-1"], ["replay", "/nonexistent/recording.jsonl"],
    ["check", "--log-command", "'unbalanced"], ["bogus-command"],
]


def test_every_text_the_product_prints_passes_redact_unchanged(
        capsys: pytest.CaptureFixture[str]) -> None:
    from wsmonitor.cli import main

    errors: list[tuple[str, str]] = []
    for argv in BAD_INPUT:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        assert code == 2, (argv, out)
        assert out.err.startswith("wsmonitor: error: ") or "usage:" in out.err, (argv, out.err)
        errors.append((f"wsmonitor {' '.join(argv)}", out.err))
    groups = {
        "source": list(source_strings()), "constants": list(module_constants()),
        "data": list(data_strings()), "help": list(help_texts()), "judged": list(judged()),
        "lint/token": list(lint_and_token_texts()), "errors": errors,
    }
    # the enumeration covers what it claims (a broken walk would pass vacuously)
    names = {where.split(".")[-1] for where, _ in groups["constants"]}
    assert {"REMEDIES", "HANDSHAKE_REMEDY", "LOG_REMEDY", "CLOSE_MEANING", "HELP"} <= names
    assert len(groups["help"]) >= 7 and len(groups["judged"]) > 3000
    layers = {where.split("(")[1].split(")")[0] for where, _ in groups["judged"]}
    assert len(layers) >= 6, layers  # the grid reaches many verdicts, not one
    assert any("403 with a valid token: AllowedHostsOriginValidator" in t
               for _, t in groups["source"])
    bad = [line for texts in groups.values() for line in changed(texts)]
    assert not bad, "\n".join(bad[:40])


def test_the_prose_of_issue_12_reads_whole() -> None:
    for text in ["403 with a valid token: AllowedHostsOriginValidator rejects the Origin",
                 "Wrong password: copy it again from the provider's console",
                 "The server needs a password: add it to REDIS_URL",
                 "--jwt-user-id is given without --jwt-secret: give the signing key",
                 "check what the frontend puts in ?token=.",
                 "rediss://default:PASSWORD@HOST.upstash.io:6379/0",
                 "no token: give --token", "Authorization: missing from the request",
                 "the secret: handshake-101 fails"]:
        assert redact(text) == text


# --- prose built from the product's vocabulary -------------------------------------------------


def vocabulary() -> list[str]:
    words: set[str] = set()
    texts = [t for _, t in itertools.chain(source_strings(), data_strings(), help_texts())]
    for text in texts:
        words.update(re.findall(r"(?<![\w=/.@:-])(?:--)?[A-Za-z][A-Za-z'’-]*[A-Za-z]"
                                r"(?![\w=/.@:-])", text))
        words.update(re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text))
    # the keys redaction knows, as prose uses them
    words.update(["token", "Token", "password", "secret", "Authorization", "cookie",
                  "access_token", "jwt_secret"])
    return sorted(words)


VOCABULARY = vocabulary()
SEPARATORS = [" ", " ", " ", ": ", ", ", " — ", "; ", " (", ") ", ": "]
CREDENTIAL = re.compile(
    r"(?i)\b(?:authorization|proxy-authorization|x-api-key|cookie|set-cookie)\s*:\s*"
    r"(?:bearer|basic|token|jwt)\s+\S|\b\w+\s*=\s*\w")
"""The forms that are credentials whatever the words: a header with its scheme
(``Authorization: Bearer x``) and ``key = value``."""


@settings(max_examples=400, derandomize=True, deadline=None, database=None)
@given(st.lists(st.tuples(st.sampled_from(VOCABULARY), st.sampled_from(SEPARATORS)),
                min_size=1, max_size=14),
       st.sampled_from(["", ".", ":", "?", " …"]))
def test_prose_from_the_products_vocabulary_passes_unchanged(
        words: list[tuple[str, str]], end: str) -> None:
    sentence = "".join(w + sep for w, sep in words[:-1]) + words[-1][0] + end
    assume(CREDENTIAL.search(sentence) is None)
    assert redact(sentence) == sentence


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(st.sampled_from(["token", "password", "secret", "jwt_secret", "Authorization",
                        "token=", "password=", "?token=", "&access_token=", "Cookie"]),
       st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.",
               min_size=8, max_size=30).filter(lambda s: re.search(r"[A-Za-z]\d|\d[A-Za-z]", s)
                                               is not None and s[0].isalnum()),
       st.sampled_from([": ", ": Bearer ", "=", " = ", ": '", '": "']))
def test_secret_shaped_values_stay_masked_next_to_prose(key: str, value: str, sep: str) -> None:
    """A value with a letter beside a digit after any secret key is masked, in prose or not."""
    key = key.rstrip("=")
    sep = "=" if key.startswith(("?", "&")) else sep
    text = f"403 with a valid {key}{sep}{value} rejects the Origin"
    assert value not in redact(text), text
