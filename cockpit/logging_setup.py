"""Process-wide logging: stderr, a rotating file in ``COCKPIT_HOME/logs``, and secret redaction.

Every handler installed here carries :class:`RedactSecrets`, which masks values that look like
credentials (``access_token=…``, ``api_secret: …``, ``Authorization: token key:secret``) before a
record is formatted, so a secret passed into a log call by mistake still never reaches a
screen or a file. The log dock attaches its own handler through :func:`add_handler` so it gets
the same filter.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_SECRET_PATTERNS = (
    # key=value / key: value / "key": "value" for credential-like keys
    re.compile(
        r"(?P<key>\b(?:access_token|api_secret|request_token|refresh_token|enctoken|password"
        r"|checksum|totp)\b[\"']?\s*[:=]\s*[\"']?)(?P<secret>[^\s\"'&,;}]+)",
        re.IGNORECASE,
    ),
    # Kite's header: "Authorization: token api_key:access_token"
    re.compile(r"(?P<key>\btoken\s+[^\s:]+:)(?P<secret>[^\s\"',;]+)", re.IGNORECASE),
)
MASK = "***"


def redact(text: str) -> str:
    """Mask credential-looking values in ``text``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group("key") + MASK, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record's message (and exception text) with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def add_handler(handler: logging.Handler, level: int | str | None = None) -> logging.Handler:
    """Attach ``handler`` to the root logger with redaction and the common format."""
    handler.addFilter(RedactSecrets())
    if handler.formatter is None:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    if level is not None:
        handler.setLevel(level)
    logging.getLogger().addHandler(handler)
    return handler


def configure_logging(level: str, logs_dir: Path | None, keep_files: int = 7) -> None:
    """Set up stderr and (when ``logs_dir`` is given) a daily rotating file. Idempotent."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_cockpit", False):
            root.removeHandler(existing)
            existing.close()
    root.setLevel(logging.DEBUG)
    stderr = logging.StreamHandler()
    stderr._cockpit = True  # type: ignore[attr-defined]
    add_handler(stderr, level)
    if logs_dir is not None:
        logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        file_handler = logging.handlers.TimedRotatingFileHandler(
            logs_dir / "cockpit.log", when="midnight", backupCount=keep_files, encoding="utf-8"
        )
        file_handler._cockpit = True  # type: ignore[attr-defined]
        add_handler(file_handler, logging.DEBUG)
    # Third-party chatter stays out of the trader's log unless asked for.
    for noisy in ("asyncio", "httpcore", "websockets", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    # httpx logs every request at INFO: at thousands of calls a session that is noise.
    for chatty in ("httpx", "aiohttp.access"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level)))
