"""Logging: plain text or one JSON object per line, the request id on lines about a request, secrets scrubbed.

`Pipeline.run` sets `REQUEST_ID` for the request it runs; every line logged inside it (and in tasks it starts)
carries that id. Whatever the format, the values `Settings.secrets()` names are replaced before a line is written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("storyloom_request_id", default=None)
MASK = "********"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY_LOGGERS = ("httpx", "httpcore", "discord.gateway", "alembic", "transformers", "aiohttp.access")


class RequestIdFilter(logging.Filter):
    """Stamps `record.request_id` from the context the line was logged in (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class _Scrubbing(logging.Formatter):
    """A formatter that masks the given secrets in every line it writes."""

    def __init__(self, *args, secrets: Iterable[str] = (), **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class TextFormatter(_Scrubbing):
    """Plain log lines, with the request id where a line is about one request."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id:
            head, sep, rest = line.partition(": ")
            line = f"{head} [{request_id}]{sep}{rest}"
        return self.scrub(line)


class JsonFormatter(_Scrubbing):
    """One JSON object per line: time, level, logger, message, and request_id / exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self.scrub(json.dumps(entry, ensure_ascii=False, default=str))

    def scrub(self, text: str) -> str:
        # A secret may appear JSON-escaped inside the line as well as verbatim.
        for secret in self.secrets:
            for form in {secret, json.dumps(secret, ensure_ascii=False)[1:-1]}:
                if form and form in text:
                    text = text.replace(form, MASK)
        return text


def make_handler(log_format: str = "text", secrets: Iterable[str] = (), stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter = JsonFormatter(secrets=secrets) if log_format == "json" else TextFormatter(TEXT_FORMAT, secrets=secrets)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(
    *, verbose: bool = False, log_format: str = "text", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """Replace the root logger's handlers with one that writes `log_format` to `stream` (stderr)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = make_handler(log_format, secrets, stream)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Third-party chatter that says nothing an operator acts on.
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
