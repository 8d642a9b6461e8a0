"""Structured logs: one JSON object per line, scrubbed of personal data.

Owns the log format of the served application. Every record becomes
``{"ts", "level", "logger", "message", ...}`` with only whitelisted extra fields; anything that
looks like a resident registration number, a phone number, an e-mail address, a session or
operator token, or a 6-digit code is replaced before the line is written, because a log line is
copied to places (aggregators, tickets) that the database's encryption never reaches.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

#: Extra attributes a caller may attach (``log.info("...", extra={...})``) that are written out.
ALLOWED_EXTRAS = ("event", "route", "method", "status", "duration_ms", "institution", "product", "storage", "outcome", "kind")

_RESIDENT_NUMBER = re.compile(r"\b\d{6}-?[0-9]\d{6}\b")

_SCRUBBERS = (
    (_RESIDENT_NUMBER, "[rrn]"),
    (re.compile(r"\b01[016789]-?\d{3,4}-?\d{4}\b"), "[phone]"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"\bf(?:ms|op)_[A-Za-z0-9_-]{8,}"), "[token]"),
    (re.compile(r"(?<![\d.])\d{6}(?![\d.])"), "[digits]"),
)


def mask_resident_numbers(text: str) -> str:
    """``text`` with anything shaped like a resident registration number replaced: for messages
    shown to a caller (problem documents, form errors), which may quote an identifier the caller
    typed (a serial, a path segment) — a resident number pasted there must not come back."""
    return _RESIDENT_NUMBER.sub("[rrn]", text)


def scrub(text: str) -> str:
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for name in ALLOWED_EXTRAS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = scrub(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages and tracebacks may quote the request.
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


def use_json_logs(logger: logging.Logger | None = None) -> None:
    """Switch every handler of ``logger`` (the root logger by default) to JSON lines."""
    target = logger or logging.getLogger()
    if not target.handlers:
        target.addHandler(logging.StreamHandler())
    for handler in target.handlers:
        # pytest's capture handlers keep their own format; the service's stream handlers switch.
        if type(handler).__module__.startswith("_pytest"):
            continue
        handler.setFormatter(JsonFormatter())
