"""Classification rules: the shipped categories on realistic lines, priority, traceback grouping,
user rules and their validation."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from wsmonitor.log_rules import (
    EventAssembler,
    LogRule,
    RuleSet,
    build_rules,
    classify_lines,
    default_rules,
    load_rules_text,
    parse_rules,
)

EXCEPTION_IN_APP = """\
2026-11-26 11:46:34,123 ERROR    Exception inside application: Error 111 connecting to 10.0.3.7:6379. Connection refused.
Traceback (most recent call last):
  File "/app/.venv/lib/python3.11/site-packages/redis/asyncio/connection.py", line 301, in connect
    await self.retry.call_with_retry(
  File "/usr/lib/python3.11/asyncio/base_events.py", line 1085, in create_connection
    raise exceptions[0]
ConnectionRefusedError: [Errno 111] Connect call failed ('10.0.3.7', 6379)

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/.venv/lib/python3.11/site-packages/channels/consumer.py", line 58, in __call__
    await await_many_dispatch(
  File "/app/.venv/lib/python3.11/site-packages/channels/generic/websocket.py", line 182, in websocket_connect
    await self.connect()
  File "/app/.venv/lib/python3.11/site-packages/redis/asyncio/connection.py", line 307, in connect
    raise ConnectionError(self._error_message(e))
redis.exceptions.ConnectionError: Error 111 connecting to 10.0.3.7:6379. Connection refused."""

CASES = [
    ('10.0.0.7:51234 - - [26/Nov/2026:11:46:34] "WSREJECT /ws/notifications/" - -', "ws-reject"),
    ("2026-11-26 11:46:34,123 WARNING  WebSocket connection rejected: anonymous user",
     "auth-rejected"),
    ('{"detail":"Given token not valid for any token type","code":"token_not_valid"}',
     "auth-rejected"),
    ("2026-11-26 11:46:34,123 ERROR    Error during WebSocket connect: boom", "connect-error"),
    ("2026-11-26 11:46:34,123 ERROR    Error during disconnect: boom", "disconnect-error"),
    ("redis.exceptions.TimeoutError: Timeout reading from eu1-able-cat-12345.upstash.io:6379",
     "channels-timeout"),
    ("redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. "
     "Connection refused.", "redis-error"),
    ("redis.exceptions.AuthenticationError: WRONGPASS invalid username-password pair",
     "redis-error"),
    ("redis.exceptions.ConnectionError: max number of clients reached", "max-clients"),
    ("redis.exceptions.ResponseError: ERR max daily request limit exceeded. Limit: 10000, "
     "Usage: 10000.", "plan-quota"),
    ("ERR max requests limit exceeded. Limit: 500000, Usage: 500000", "plan-quota"),
    ("redis.exceptions.ConnectionError: ERR max concurrent connections exceeded", "plan-quota"),
    ("Application instance <Task pending name='Task-41'> for connection <WebSocketProtocol "
     "client=['10.0.0.7', 51234] path=b'/ws/notifications/'> took too long to shut down and "
     "was killed.", "app-killed"),
    ("2026-11-26 11:46:34,123 ERROR    Exception inside application: list index out of range",
     "exception-in-app"),
    ('10.0.0.7:51234 - - [26/Nov/2026:11:46:34] "WSCONNECT /ws/notifications/" - -', None),
    ('10.0.0.7:51234 - - [26/Nov/2026:11:46:34] "GET /api/notifications/ HTTP/1.1" 200 512',
     None),
    ("2026-11-26 11:46:34,123 INFO     WebSocket connected for user 42", None),
]


@pytest.mark.parametrize(("line", "category"), CASES)
def test_shipped_rules_classify_realistic_lines(line: str, category: str | None) -> None:
    assert default_rules().category(line) == category


def test_every_spec_category_is_shipped_with_a_label_and_severity() -> None:
    rules = default_rules()
    for category in ("auth-rejected", "connect-error", "redis-error", "traceback", "ws-reject",
                     "exception-in-app", "channels-timeout", "max-clients", "plan-quota"):
        assert category in rules.categories
        assert re.fullmatch(r"\S+", rules.label(category))
        assert rules.severity(category) in ("error", "warning", "info")
        assert rules.description(category)


def test_rules_file_is_package_data() -> None:
    text = resources.files("wsmonitor").joinpath("log_rules.toml").read_text(encoding="utf-8")
    assert len(load_rules_text(text)) == len(default_rules())


def test_the_most_specific_cause_wins_and_the_others_are_tags() -> None:
    [(text, result)] = classify_lines(EXCEPTION_IN_APP.splitlines())
    assert text == EXCEPTION_IN_APP
    assert result.category == "redis-error"
    assert result.tags == ("redis-error", "connect-error", "exception-in-app", "traceback")


def test_traceback_is_one_event_between_plain_lines() -> None:
    lines = ["2026-11-26 11:46:33,000 INFO     WebSocket connected for user 1",
             *EXCEPTION_IN_APP.splitlines(),
             '10.0.0.7:51234 - - [26/Nov/2026:11:46:35] "WSCONNECT /ws/notifications/" - -']
    events = classify_lines(lines)
    assert [len(t.splitlines()) for t, _ in events] == [1, len(EXCEPTION_IN_APP.splitlines()), 1]
    assert [c.category for _, c in events] == [None, "redis-error", None]


def test_logger_exception_message_takes_its_traceback() -> None:
    lines = ["2026-11-26 11:46:34,123 ERROR    Error during WebSocket connect: Timeout reading "
             "from redis:6379",
             "Traceback (most recent call last):",
             '  File "/app/main/consumers.py", line 21, in connect',
             "    await self.channel_layer.group_add(self.group_name, self.channel_name)",
             "redis.exceptions.TimeoutError: Timeout reading from redis:6379",
             "2026-11-26 11:46:35,000 INFO     WebSocket disconnected with code 1006"]
    events = classify_lines(lines)
    assert len(events) == 2
    assert events[0][1].category == "channels-timeout"
    assert "connect-error" in events[0][1].tags
    assert events[1][1].category is None


def test_bare_traceback_after_an_unrelated_line_is_its_own_event() -> None:
    lines = ["2026-11-26 11:46:34,000 INFO     Listening on TCP address 0.0.0.0:8000",
             "Traceback (most recent call last):",
             '  File "x.py", line 1, in <module>',
             "ZeroDivisionError: division by zero"]
    events = classify_lines(lines)
    assert [c.category for _, c in events] == [None, "traceback"]
    assert events[1][0].startswith("Traceback")


def test_streams_do_not_mix_and_unfinished_tracebacks_wait_for_their_lines() -> None:
    assembler = EventAssembler(hold=5.0)
    out = assembler.feed([
        ("g/a", 1.0, "1", "2026-11-26 ERROR    Exception inside application: boom"),
        ("g/b", 1.0, "2", "2026-11-26 INFO     other stream"),
        ("g/a", 1.0, "3", "Traceback (most recent call last):"),
        ("g/b", 1.0, "4", "2026-11-26 INFO     other stream again"),
        ("g/a", 1.0, "5", '  File "x.py", line 1, in f'),
    ], now=100.0)
    assert [e[3] for e in out] == ["2026-11-26 INFO     other stream",
                                   "2026-11-26 INFO     other stream again"]
    assert assembler.pending == 1
    out = assembler.feed([("g/a", 1.0, "6", "KeyError: 'x'")], now=101.0)
    assert len(out) == 1
    location, ts, event_id, text = out[0]
    assert (location, event_id, len(text.splitlines())) == ("g/a", "1", 4)
    assert assembler.pending == 0


def test_an_unfinished_traceback_is_emitted_after_hold() -> None:
    assembler = EventAssembler(hold=1.0)
    assert assembler.feed([("f", 0.0, "1", "Traceback (most recent call last):")], 10.0) == []
    assert assembler.flush(10.5) == []
    assert [e[3] for e in assembler.flush(11.1)] == ["Traceback (most recent call last):"]


def test_huge_traceback_keeps_head_and_the_exception_line() -> None:
    lines = ["Traceback (most recent call last):"]
    lines += [f'  File "r.py", line {i}, in f' for i in range(1000)]
    lines.append("RecursionError: maximum recursion depth exceeded")
    [(text, result)] = classify_lines(lines)
    kept = text.splitlines()
    assert len(kept) <= 201
    assert kept[0].startswith("Traceback") and kept[-1].startswith("RecursionError")
    assert any("lines omitted" in line for line in kept)
    assert result.category == "traceback"


def test_pre_grouped_multiline_message_stays_one_event() -> None:
    out = EventAssembler(hold=0).feed([("g/s", 1.0, "e1", EXCEPTION_IN_APP)], 0.0)
    assert [e[3] for e in out] == [EXCEPTION_IN_APP]


def test_user_rules_come_first_and_can_add_categories() -> None:
    rules = build_rules([
        {"category": "db-error", "pattern": r"OperationalError: could not connect",
         "label": "db", "severity": "error", "description": "Postgres unreachable"},
        {"category": "redis-error", "pattern": "my custom redis wrapper failed",
         "label": "myredis"},
        {"category": "noise", "pattern": "healthcheck", "ignore_case": True, "severity": "info"},
    ])
    assert rules.categories[:3] == ("db-error", "redis-error", "noise")
    assert rules.category("django.db.utils.OperationalError: could not connect to server") \
        == "db-error"
    assert rules.category("my custom redis wrapper failed") == "redis-error"
    assert rules.label("redis-error") == "myredis"
    assert rules.category("GET /HealthCheck 200") == "noise"
    assert rules.severity("noise") == "info"
    # The shipped rules still apply behind them.
    assert rules.category("ERR max daily request limit exceeded") == "plan-quota"


def test_a_rule_with_groups_still_matches() -> None:
    rules = RuleSet([LogRule("status", r"status=(5\d\d)"), LogRule("x", "xyz")])
    assert rules.category("GET / status=503") == "status"
    assert rules.category("status=200") is None


@pytest.mark.parametrize(("rule", "message"), [
    ({"pattern": "x"}, r"log-rules\[0\]: category must be"),
    ({"category": "Bad Name", "pattern": "x"}, r"log-rules\[0\] \('Bad Name'\): category"),
    ({"category": "db", "pattern": "(unclosed"}, r"log-rules\[0\] \('db'\): pattern '\(unclosed' "
                                                 r"is not a valid regular expression"),
    ({"category": "db"}, r"log-rules\[0\] \('db'\): pattern must be a non-empty"),
    ({"category": "db", "pattern": "a*"}, r"matches an empty line"),
    ({"category": "db", "pattern": "x", "severity": "fatal"}, r"severity must be one of"),
    ({"category": "db", "pattern": "x", "label": "two words"}, r"label must be one word"),
    ({"category": "db", "pattern": "x", "colour": "red"}, r"unknown key\(s\) 'colour'"),
    ({"category": "db", "pattern": "(?i)x"}, r"ignore_case = true"),
    ({"category": "db", "pattern": "(?s)x.y"}, r"global flags"),
    ({"category": "db", "pattern": "x", "ignore_case": "yes"}, r"ignore_case must be true"),
    ("db", r"log-rules\[0\] must be a table"),
])
def test_bad_user_rules_are_named_in_the_error(rule: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_rules([{"category": "ok-rule", "pattern": "fine"}, rule][1:])  # type: ignore[list-item]


def test_bad_rule_is_named_by_its_position_among_good_ones() -> None:
    with pytest.raises(ValueError, match=r"log-rules\[1\] \('broken'\)"):
        parse_rules([{"category": "fine", "pattern": "ok"},
                     {"category": "broken", "pattern": "["}])


def test_rules_must_be_an_array() -> None:
    with pytest.raises(ValueError, match=r"array of tables"):
        parse_rules({"category": "x", "pattern": "y"})  # type: ignore[arg-type]


def test_prefilter_agrees_with_rule_by_rule_matching() -> None:
    rules = build_rules([{"category": "noise", "pattern": "heal(th)?check", "ignore_case": True}])
    samples = [line for line, _ in CASES] + EXCEPTION_IN_APP.splitlines() + [
        "HEALCHECK", "nothing here", "", "Timeout reading", "WSREJECT without quote"]
    for text in samples:
        slow = [r.category for r in rules.rules if r.regex.search(text)]
        assert rules.classify(text).category == (slow[0] if slow else None), text
