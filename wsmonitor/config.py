"""Settings: flags > environment > ``wsmonitor.toml`` > defaults, validated before anything runs."""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wsmonitor import secrets
from wsmonitor.plans import Plan, load_plans, plan_names
from wsmonitor.redis_url import is_upstash, lint_redis_url, parse_redis_url, password_of, \
    raw_password_of, RedisUrlError

DEFAULT_CONFIG = "wsmonitor.toml"

NOTIFY_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,98}")
"""A ``--notify-type`` Channels can dispatch: its handler is the type with dots made
underscores (``notification.message`` → ``notification_message``), never starting with ``_``."""
"""Read from the working directory when present and ``--config`` is not given."""


class ConfigError(Exception):
    """Bad input: becomes one ``wsmonitor: error: …`` line and exit status 2.

    The message is redacted before it is shown.
    """


@dataclass(frozen=True)
class Settings:
    """Everything wsmonitor was told, after precedence and validation."""

    url: str | None = None
    """WebSocket endpoint, e.g. ``wss://app.example.com/ws/notifications/``."""
    origin: str | None = None
    """Origin header sent on probes; derived from ``url`` when not given."""
    token: str | None = None
    """An access JWT to probe with."""
    jwt_secret: str | None = None
    """Signing key: mint a fresh token per probe."""
    jwt_user_id: str | None = None
    """``user_id`` claim of minted tokens."""
    redis_url: str | None = None
    """The Redis the channel layer uses."""
    redis_ca: str | None = None
    """CA bundle for ``rediss://``."""
    redis_plan: str | None = None
    """Plan-limit profile; derived from the Redis host when not given."""
    max_connections: int | None = None
    """Overrides the plan's connection cap."""
    max_commands: str | None = None
    """Overrides the plan's command quota: ``N`` or ``N/day`` or ``N/month``."""
    log_group: tuple[str, ...] = ()
    """CloudWatch log groups to tail."""
    log_file: str | None = None
    """A local file to tail instead of CloudWatch."""
    log_command: str | None = None
    """A command whose output is tailed instead of CloudWatch."""
    apprunner_service: str | None = None
    """App Runner service whose log groups are tailed."""
    aws_endpoint_url: str | None = None
    """Another CloudWatch endpoint (LocalStack, moto)."""
    api_base: str | None = None
    """Base of the HTTP checks; derived from ``url`` when not given."""
    group_template: str = "notifications.user.{user_id}"
    """Channel-layer group of a user."""
    notify_type: str = "notify"
    """``type`` of the probe's ``group_send`` message: the consumer's handler
    (``notification.message`` → ``notification_message(self, event)``)."""
    theme: str = "dark"
    """Theme name from ``themes/`` or a theme file."""
    interval: float = 2.0
    """Base probe interval, seconds."""
    redis_budget: float = 5.0
    """Share of the plan's command quota the monitor may spend, percent."""
    kiosk: bool = False
    """Read-only mode."""
    record: str | None = None
    """Append every sample to this JSONL file."""
    hold: float = 30.0
    """Seconds the stays-open probe keeps its socket after a 101."""
    ca_file: str | None = None
    """CA bundle for ``wss://`` and the HTTPS checks (a private CA)."""
    polling_path: str = "/api/notifications/"
    """Path of the HTTP polling fallback, under ``api_base``."""
    page_url: str | None = None
    """A page of the frontend that opens the WebSocket, loaded in headless Chromium."""
    chromium: str | None = None
    """The browser for ``page_url``: a path or a name on PATH (default ``chromium``)."""
    export_dir: str = "."
    """Where ``e`` (export) writes its SVG and markdown."""
    log_rules: tuple[dict[str, Any], ...] = ()
    """The user's log classification rules (``[[log-rules]]`` in wsmonitor.toml)."""
    config: str | None = None
    """The config file that was read, if any."""
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    """Where each value came from: flag, env, config or default."""

    @property
    def plan(self) -> Plan:
        """The plan with ``--max-connections`` / ``--max-commands`` applied."""
        name = self.redis_plan or self.default_plan_name
        plan = load_plans()[name]
        per_day = per_month = None
        if self.max_commands:
            count, per = parse_max_commands(self.max_commands)
            per_day, per_month = (count, None) if per == "day" else (None, count)
        return plan.with_overrides(self.max_connections, per_day, per_month)

    @property
    def default_plan_name(self) -> str:
        """``upstash-free`` for an Upstash host (the plan most people are on), else ``none``."""
        if self.redis_url:
            try:
                if is_upstash(parse_redis_url(self.redis_url).host):
                    return "upstash-free"
            except RedisUrlError:
                pass
        return "none"

    @property
    def effective_origin(self) -> str | None:
        """``--origin``; else the origin of ``--page-url`` (what the browser sends); else
        derived from ``--url``."""
        if self.origin:
            return self.origin
        if self.page_url:
            from wsmonitor.probes.browser import page_origin

            origin = page_origin(self.page_url)
            if origin:
                return origin
        if not self.url:
            return None
        parts = urlsplit(self.url)
        scheme = "https" if parts.scheme == "wss" else "http"
        return f"{scheme}://{parts.netloc.rsplit('@', 1)[-1]}"

    @property
    def effective_api_base(self) -> str | None:
        if self.api_base:
            return self.api_base.rstrip("/")
        if not self.url:
            return None
        parts = urlsplit(self.url)
        scheme = "https" if parts.scheme == "wss" else "http"
        return f"{scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


# name → (environment variables, type); the flag is --name-with-dashes.
_ENV: dict[str, tuple[str, ...]] = {
    "url": ("WSMONITOR_URL",),
    "origin": ("WSMONITOR_ORIGIN",),
    "token": ("WSMONITOR_TOKEN",),
    "jwt_secret": ("WSMONITOR_JWT_SECRET",),
    "jwt_user_id": ("WSMONITOR_JWT_USER_ID",),
    "redis_url": ("REDIS_URL", "WSMONITOR_REDIS_URL"),
    "redis_ca": ("WSMONITOR_REDIS_CA",),
    "redis_plan": ("WSMONITOR_REDIS_PLAN",),
    "log_group": ("WSMONITOR_LOG_GROUP",),
    "apprunner_service": ("WSMONITOR_APPRUNNER_SERVICE",),
    "aws_endpoint_url": ("AWS_ENDPOINT_URL",),
    "api_base": ("WSMONITOR_API_BASE",),
    "theme": ("WSMONITOR_THEME",),
    "page_url": ("WSMONITOR_PAGE_URL",),
    "chromium": ("WSMONITOR_CHROMIUM",),
}

SECRET_FIELDS = ("token", "jwt_secret")
"""Settings whose whole value is a secret."""

_SETTING_NAMES = {f.name for f in fields(Settings)} - {"sources", "config"}


def setting_names() -> set[str]:
    """Names accepted as TOML keys (with ``-`` or ``_``)."""
    return set(_SETTING_NAMES)


def load_settings(
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    config_path: str | None = None,
    cwd: str | None = None,
) -> Settings:
    """Merge flags, environment, config file and defaults; validate; register secrets.

    Args:
        flags: Values given on the command line (None or absent: not given).
        environ: The environment (``os.environ`` when None).
        config_path: ``--config``; ``./wsmonitor.toml`` is read when present and this is None.
        cwd: Where to look for ``wsmonitor.toml``.

    Raises:
        ConfigError: Any bad input, with a message that names the value and the fix.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None and v != () and v != []}
    env = dict(os.environ if environ is None else environ)
    secrets.register_environment_secrets(env)
    # Register secrets from every source before anything can fail, so no error can echo them.
    for source in (flags, _from_env(env)):
        _register(source)
    file_values, path = _read_config(config_path, cwd)
    _register(file_values)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer_name, layer in (("config", file_values), ("env", _from_env(env)), ("flag", flags)):
        for key, value in layer.items():
            if key in _SETTING_NAMES:
                values[key] = value
                sources[key] = layer_name
    settings = Settings(**_coerce(values), config=path, sources=sources)
    _validate(settings)
    return settings


def _register(values: dict[str, Any]) -> None:
    for name in SECRET_FIELDS:
        if values.get(name):
            secrets.register_secret(str(values[name]))
    for name in ("redis_url", "url", "api_base", "aws_endpoint_url", "page_url"):
        url = values.get(name)
        if url:
            secrets.register_secret(password_of(str(url)), raw_password_of(str(url)))


def _from_env(env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, variables in _ENV.items():
        for var in variables:
            value = env.get(var)
            if value:
                out[name] = (tuple(v.strip() for v in value.split(",") if v.strip())
                             if name == "log_group" else value)
                break
    return out


def _read_config(config_path: str | None, cwd: str | None) -> tuple[dict[str, Any], str | None]:
    explicit = config_path is not None
    path = Path(config_path) if explicit else Path(cwd or os.getcwd()) / DEFAULT_CONFIG
    if not explicit and not path.exists():
        return {}, None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist: pass an existing file "
                          "with --config, or drop the flag") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"cannot read config file {str(path)!r} ({reason}): "
                          "check its permissions and encoding") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML ({exc}): fix that line")\
            from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name == "targets":
            values[TARGETS_KEY] = value  # read by load_targets; load_settings ignores it
            continue
        name, value = _setting(key, value, f"config file {str(path)!r}")
        values[name] = value
    return values, str(path)


def _setting(key: str, value: Any, where: str, also_known: str = "") -> tuple[str, Any]:
    """A config file's ``key = value`` as a setting's name and value (one log group as a
    tuple of one); an unknown key is an error naming `where` it stands and the known keys."""
    name = key.replace("-", "_")
    if name not in _SETTING_NAMES:
        known = ", ".join(sorted(n.replace("_", "-") for n in _SETTING_NAMES))
        raise ConfigError(f"unknown key {key!r} in {where}: remove it (known keys: "
                          f"{also_known}{known})")
    if name == "log_group" and isinstance(value, str):
        value = (value,)
    return name, value


_TYPES: dict[str, type] = {
    "max_connections": int, "interval": float, "redis_budget": float, "kiosk": bool,
    "hold": float,
}


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = _TYPES.get(name, str)
        if name == "log_group":
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ConfigError("log-group must be a list of log group names")
            out[name] = tuple(value)
            continue
        if name == "log_rules":
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, dict)
                                                              for v in value):
                raise ConfigError("log-rules must be an array of tables: [[log-rules]] with "
                                  "category = … and pattern = …")
            out[name] = tuple(dict(v) for v in value)
            continue
        if kind is bool:
            if isinstance(value, str):
                value = value.strip().lower() in ("1", "true", "yes", "on")
            out[name] = bool(value)
            continue
        try:
            if kind is int and isinstance(value, float):
                raise ValueError
            out[name] = kind(value)
        except (TypeError, ValueError):
            shown = secrets.redact(str(value))
            raise ConfigError(
                f"--{name.replace('_', '-')} {shown!r} is not a valid {kind.__name__}: "
                f"give a {'whole number' if kind is int else 'number'}"
            ) from None
    return out


def _validate_export_dir(path: str) -> None:
    """An export directory must exist and take files now, not fail at the first ``e``."""
    if not os.path.isdir(path):
        raise ConfigError(f"--export-dir {path!r} is not a directory: create it, or give one "
                          "that exists (default: the current directory)")
    import tempfile

    # Creating a file is the only honest test: access() says yes to root on a read-only mount.
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".wsmonitor-export-check-"):
            pass
    except OSError as exc:
        raise ConfigError(f"--export-dir {path!r} is not writable ({exc.strerror}): give a "
                          "directory you can write to (default: the current directory)") from None


def parse_max_commands(text: str) -> tuple[int, str]:
    """Parse ``--max-commands``: ``10000``, ``10000/day`` or ``500000/month``.

    Raises:
        ConfigError: not a positive count with an optional per-day or per-month unit.
    """
    count_text, _, per = str(text).replace(",", "").replace("_", "").partition("/")
    per = per.strip().lower() or "day"
    if per not in ("day", "month") or not count_text.strip().isdigit() or int(count_text) <= 0:
        raise ConfigError(f"--max-commands {text!r} is not a quota: give N, N/day or N/month "
                          "(e.g. 500000/month)")
    return int(count_text), per


def _validate(s: Settings) -> None:
    if s.url is not None:
        _check_url("--url", s.url, ("ws", "wss"), "wss://app.example.com/ws/notifications/")
    if s.origin is not None:
        _check_url("--origin", s.origin, ("http", "https"), "https://app.example.com")
    if s.api_base is not None:
        _check_url("--api-base", s.api_base, ("http", "https"), "https://app.example.com")
    if s.page_url is not None:
        _check_url("--page-url", s.page_url, ("http", "https"), "https://app.example.com/")
    if s.aws_endpoint_url is not None:
        _check_url("--aws-endpoint-url", s.aws_endpoint_url, ("http", "https"),
                   "http://127.0.0.1:5000")
    if s.redis_url is not None:
        for finding in lint_redis_url(s.redis_url, ca_file=s.redis_ca):
            if finding.severity == "error":
                fix = f": {finding.fix}" if finding.fix else ""
                raise ConfigError(f"--redis-url {secrets.redact(s.redis_url)!r}: "
                                  f"{finding.message}{fix}")
    if s.redis_ca is not None and not os.path.isfile(s.redis_ca):
        raise ConfigError(f"--redis-ca {s.redis_ca!r} does not exist: pass the PEM file of the "
                          "CA that signed the Redis server's certificate")
    if s.redis_plan is not None and s.redis_plan not in load_plans():
        raise ConfigError(f"--redis-plan {s.redis_plan!r} is not a known plan: use one of "
                          f"{', '.join(plan_names())}")
    if s.max_connections is not None and s.max_connections <= 0:
        raise ConfigError(f"--max-connections {s.max_connections} must be a positive number "
                          "of connections")
    if s.max_commands is not None:
        parse_max_commands(s.max_commands)
    if not math.isfinite(s.interval) or s.interval <= 0:
        raise ConfigError(f"--interval {s.interval:g} must be a positive number of seconds "
                          "(e.g. 2)")
    if not math.isfinite(s.redis_budget) or not 0 < s.redis_budget <= 100:
        raise ConfigError(f"--redis-budget {s.redis_budget:g} must be a percentage above 0 and "
                          "at most 100 (default 5)")
    if not math.isfinite(s.hold) or s.hold < 0:
        raise ConfigError(f"--hold {s.hold:g} must be zero or more seconds (default 30)")
    if s.ca_file is not None and not os.path.isfile(s.ca_file):
        raise ConfigError(f"--ca-file {s.ca_file!r} does not exist: pass the PEM file of the "
                          "CA that signed the service's certificate")
    if s.export_dir != ".":
        _validate_export_dir(s.export_dir)
    if not s.polling_path.startswith("/"):
        raise ConfigError(f"--polling-path {s.polling_path!r} must start with / "
                          "(e.g. /api/notifications/)")
    if s.token is not None:
        from wsmonitor.tokens import TokenError, decode_token

        try:
            decode_token(s.token)
        except TokenError as exc:
            raise ConfigError(f"--token is not a usable JWT ({exc}): pass the access token "
                              "exactly as the frontend sends it in ?token=") from None
    if s.jwt_secret and not s.token and not s.jwt_user_id:
        raise ConfigError("--jwt-secret is given without --jwt-user-id: minted tokens need the "
                          "user_id of a real user (e.g. --jwt-user-id 1)")
    if s.jwt_user_id and not s.jwt_secret:
        raise ConfigError("--jwt-user-id is given without --jwt-secret: give the signing key "
                          "(the service's SECRET_KEY) to mint tokens")
    if s.log_rules:
        from wsmonitor.log_rules import parse_rules

        try:
            parse_rules(s.log_rules)
        except ValueError as exc:
            raise ConfigError(f"{exc}: fix that rule in the config file") from None
    # An empty log source would silently tail nothing (and `check` pass): say so instead.
    if s.log_file is not None and not s.log_file.strip():
        raise ConfigError(f"--log-file {s.log_file!r} is empty: give the path of the log file "
                          "to tail, e.g. /var/log/daphne.log")
    for group in s.log_group:
        if not group.strip():
            raise ConfigError(f"--log-group {group!r} is empty: give a CloudWatch log group "
                              "name, e.g. /aws/apprunner/web/<id>/application")
    if s.apprunner_service is not None and not s.apprunner_service.strip():
        raise ConfigError(f"--apprunner-service {s.apprunner_service!r} is empty: give the "
                          "App Runner service's name or ARN")
    if s.log_command is not None:
        from wsmonitor.probes.logs import parse_command

        try:
            parse_command(s.log_command)
        except ValueError as exc:
            text = str(exc)
            raise ConfigError(text if text.startswith("--log-command") else
                              f"--log-command: {text}") from None
    if s.log_file and s.log_command:
        raise ConfigError("--log-file and --log-command are both given: tail one of them")
    if s.theme:
        from wsmonitor.theme_files import ThemeError, load_theme

        try:
            load_theme(s.theme)
        except ThemeError as exc:
            raise ConfigError(f"--theme: {exc}") from None
    if not isinstance(s.notify_type, str) or not NOTIFY_TYPE.fullmatch(s.notify_type):
        shown = secrets.redact(str(s.notify_type))
        raise ConfigError(f"--notify-type {shown!r} is not a Channels message type: give the "
                          "type your consumer's handler takes: letters, digits, dots, "
                          "underscores and hyphens, starting with a letter or digit, under 100 "
                          "characters (e.g. notification.message for "
                          "notification_message(self, event))")
    if "{user_id}" not in s.group_template:
        raise ConfigError(f"--group-template {s.group_template!r} must contain {{user_id}} "
                          "(e.g. notifications.user.{user_id})")


def _check_url(flag: str, url: str, schemes: tuple[str, ...], example: str) -> None:
    shown = secrets.redact(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        detail = "port out of range 1-65535" if "out of range" in str(exc) else \
            "its port is not a number"
        raise ConfigError(f"{flag} {shown!r} is malformed ({detail}): e.g. {example}") from None
    if parts.scheme.lower() not in schemes:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise ConfigError(f"{flag} {shown!r} has scheme {parts.scheme or 'none'!r}: "
                          f"use {wanted}, e.g. {example}")
    if not parts.hostname:
        raise ConfigError(f"{flag} {shown!r} has no host: e.g. {example}")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{flag} {shown!r} has port {port}, outside 1-65535: e.g. {example}")


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy of settings with some values changed (and revalidated)."""
    new = replace(settings, **changes)
    _validate(new)
    return new


# --- several targets (``[[targets]]``) ---------------------------------------------------------

TARGETS_KEY = "targets"
"""The array of tables in wsmonitor.toml that names several targets."""

MAX_TARGET_NAME = 64
"""Longest target name: it is a Prometheus label value and a tab label."""


@dataclass(frozen=True)
class Target:
    """One watched target: its name (the metrics' ``target`` label) and its settings."""

    name: str
    settings: Settings


def default_target_name(settings: Settings) -> str:
    """The name of the one target of a config without ``[[targets]]``: the host of ``--url``,
    else of ``--redis-url`` (never its password), else ``default``."""
    if settings.url:
        host = urlsplit(settings.url).hostname
        if host:
            return host
    if settings.redis_url:
        try:
            return parse_redis_url(settings.redis_url).host or "default"
        except RedisUrlError:
            pass
    return "default"


def load_targets(
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    config_path: str | None = None,
    cwd: str | None = None,
    names: tuple[str, ...] | list[str] | None = None,
) -> list[Target]:
    """The targets to watch: every ``[[targets]]`` table of the config (or the ``--target``
    names among them), or the one target the settings describe when there is none.

    Each target's settings merge, most specific first: flags > the target's own table >
    environment > top-level keys of the file > defaults. A key written for one target beats
    the ambient environment (a container's own ``REDIS_URL`` must not replace every target's);
    a flag is this run's explicit choice and beats everything.

    Raises:
        ConfigError: a table without a name, duplicate names, unknown keys, a ``--target``
            naming no target, or any bad value (named with its target).
    """
    file_values, path = _read_config(config_path, cwd)
    tables = file_values.get(TARGETS_KEY)
    if tables is None:
        if names:
            where = f"config file {path!r}" if path else "no config file (./wsmonitor.toml)"
            raise ConfigError(f"--target {', '.join(names)}: {where} has no [[targets]] "
                              "tables: add them, or drop --target")
        settings = load_settings(flags, environ, config_path, cwd)
        return [Target(default_target_name(settings), settings)]
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"targets in config file {path!r} must be an array of tables: "
                          "[[targets]] with name = \"…\" and the target's keys")
    flags = {k: v for k, v in (flags or {}).items() if v is not None and v != () and v != []}
    env = dict(os.environ if environ is None else environ)
    secrets.register_environment_secrets(env)
    for source in (flags, _from_env(env), file_values):
        _register(source)
    parsed: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for i, table in enumerate(tables, 1):
        where = f"[[targets]] table #{i} in config file {path!r}"
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where} has no name: add name = \"eu-prod\" (unique; it is "
                              "the metrics' target label and the tab's title)")
        name = name.strip()
        if len(name) > MAX_TARGET_NAME or not name.isprintable():
            raise ConfigError(f"{where}: name {secrets.redact(name)!r} must be printable and at "
                              f"most {MAX_TARGET_NAME} characters")
        if name in seen:
            raise ConfigError(f"{where}: the name {name!r} is already taken by another "
                              "[[targets]] table: names must be unique")
        seen.add(name)
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key == "name":
                continue
            key_name, value = _setting(key, value,
                                       f"[[targets]] {name!r} of config file {path!r}", "name, ")
            values[key_name] = value
        _register(values)
        parsed.append((name, values))
    if names:
        known_names = [n for n, _ in parsed]
        unknown = [n for n in names if n not in known_names]
        if unknown:
            raise ConfigError(f"--target {', '.join(unknown)}: no such target in config file "
                              f"{path!r} (known: {', '.join(known_names)})")
        parsed = [(n, v) for n, v in parsed if n in names]
    top = {k: v for k, v in file_values.items() if k in _SETTING_NAMES}
    out: list[Target] = []
    for name, own in parsed:
        merged: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for layer_name, layer in (("config", top), ("env", _from_env(env)),
                                  ("target", own), ("flag", flags)):
            for key, value in layer.items():
                if key in _SETTING_NAMES:
                    merged[key] = value
                    sources[key] = layer_name
        try:
            settings = Settings(**_coerce(merged), config=path, sources=sources)
            _validate(settings)
        except ConfigError as exc:
            raise ConfigError(f"[[targets]] {name!r}: {exc}") from None
        out.append(Target(name, settings))
    return out
