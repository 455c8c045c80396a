"""Logging set-up. Confide's own log lines never carry personal data: no IP addresses, names,
e-mail addresses or message text. uvicorn's access log (which prints client IPs) is off; the
request log below records method, route template, status and duration only."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if getattr(root, "_confide_configured", False):
        root.setLevel(level.upper())
        _quiet_third_party_loggers()
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    root._confide_configured = True  # type: ignore[attr-defined]
    _quiet_third_party_loggers()


# These print SQL parameters or frames at DEBUG, i.e. personal data: never below WARNING.
NOISY_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "asyncpg", "websockets", "httpx", "httpcore")


def _quiet_third_party_loggers() -> None:
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
