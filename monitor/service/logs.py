"""Service logging: JSON lines for log collectors, readable text on a terminal, secrets masked.

A log call adds structured fields with `extra={"fields": {...}}`; the JSON format writes them
as keys of the line, the text format appends them as `key=value`. Every line passes through
a `Masker`, so a secret value (an environment secret, the database password) never reaches
the output, whatever message or traceback carried it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy.engine import make_url

MASK = "***"
_QUIET = ("httpx", "httpcore", "urllib3", "atproto", "atproto_client")


class Masker:
    """Replaces every occurrence of the given secret values with ***."""

    def __init__(self, secrets: Iterable[str]):
        # Longest first, so a secret that contains another is masked whole; very short values
        # would mask ordinary words and are left alone.
        self.values = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def deep(self, value: Any) -> Any:
        """Mask strings inside dicts, lists and tuples."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {k: self.deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(v) for v in value]
        return value


def settings_secrets(secrets: Mapping[str, str], database_url: str) -> list[str]:
    """The values to mask: the configured secrets and the database password."""
    values = list(secrets.values())
    password = make_url(database_url).password
    if password:
        values.append(str(password))
    return values


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the record's fields, error."""

    def __init__(self, masker: Masker):
        super().__init__()
        self.masker = masker

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(self.masker.deep(data), default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`2026-10-15 12:00:00 INFO  monitor.service.jobs: message  key=value ...`, for people."""

    def __init__(self, masker: Masker):
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        self.masker = masker

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            shown = {k: v for k, v in fields.items() if k not in ("counts",)}
            text += "  " + " ".join(f"{k}={_short(v)}" for k, v in shown.items())
        return self.masker(text)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def configure_logging(
    log_format: str, level: str, secrets: Iterable[str], stream: IO[str] | None = None
) -> logging.Handler:
    """Send the root logger's records to `stream` (stderr) as JSON or text; returns the handler."""
    stream = stream or sys.stderr
    if log_format == "auto":
        log_format = "text" if _isatty(stream) else "json"
    masker = Masker(secrets)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(masker) if log_format == "json" else TextFormatter(masker))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_diplomonitor", False)]:
        root.removeHandler(old)
    handler._diplomonitor = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET:  # one line per request or per scheduler tick drowns the job lines
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # monitor.service.scheduler says the same about overlapping and missed runs, in fewer words
    logging.getLogger("apscheduler").setLevel(max(logging.ERROR, root.level))
    return handler


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
