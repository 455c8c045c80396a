"""Logging set-up. Confide's own log lines never carry personal data: no IP addresses, names,
e-mail addresses or message text. uvicorn's access log (which prints client IPs) is off; the
request log below records method, route template, status and duration only.

uvicorn still logs through ``uvicorn.error``: a line per WebSocket handshake with the client's
address and the full URL, and "Exception in ASGI application" with the traceback and the
exception's message. :class:`ServerLogScrubber` (installed on uvicorn's loggers by
:func:`scrub_server_logs`, which ``create_app`` calls, and on the handler of
:func:`configure_logging`) rewrites such records: no client address, no query string (where a
credential could travel), and for an exception only its type, never its text or traceback,
which may hold personal data (a message body, an e-mail address in a ``ValueError``).
"""

from __future__ import annotations

import logging
import sys

SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


class ServerLogScrubber(logging.Filter):
    """Rewrites a log record in place so it carries no address, query string or exception
    text; never drops a record (an operator still sees that something failed, and where)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            kind = record.exc_info[0].__name__ if record.exc_info[0] else "exception"
            record.msg = "unhandled %s in %s (details withheld: they may hold personal data)"
            record.args = (kind, record.name)
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
            return True
        if isinstance(record.args, tuple) and record.args:
            args = [_without_query(arg) for arg in record.args]
            if isinstance(record.msg, str) and record.msg.startswith('%s - "'):
                args[0] = "-"  # uvicorn's access and WebSocket lines start with the client address
            record.args = tuple(args)
        return True


def _without_query(value: object) -> object:
    if isinstance(value, str) and value.startswith("/") and "?" in value:
        return value.split("?", 1)[0]
    return value


_SCRUBBER = ServerLogScrubber()


def scrub_server_logs() -> None:
    """Put :class:`ServerLogScrubber` on uvicorn's loggers (idempotent)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if _SCRUBBER not in logger.filters:
            logger.addFilter(_SCRUBBER)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if getattr(root, "_confide_configured", False):
        root.setLevel(level.upper())
        _quiet_third_party_loggers()
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_SCRUBBER)  # also for records of any other library, propagated here
    root.addHandler(handler)
    root.setLevel(level.upper())
    root._confide_configured = True  # type: ignore[attr-defined]
    _quiet_third_party_loggers()
    scrub_server_logs()


# These print SQL parameters or frames at DEBUG, i.e. personal data: never below WARNING.
NOISY_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "asyncpg", "websockets", "httpx", "httpcore")


def _quiet_third_party_loggers() -> None:
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
