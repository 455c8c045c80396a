"""The client address of the request or socket being served, for the audit ledger.

Set once per HTTP request and WebSocket by ``confide.api.middleware.ClientAddressMiddleware``
(after the server applied ``trusted_proxies``); read by ``confide.audit.ledger`` so that actions
record where an act came from without taking a request object. Unset (``None``) on the command
line and in jobs. The address itself is never stored: the ledger keeps a keyed hash of it.
"""

from __future__ import annotations

from contextvars import ContextVar

_client_address: ContextVar[str | None] = ContextVar("confide_client_address", default=None)


def client_address() -> str | None:
    """The client's IP address for the request being served, or ``None`` outside one."""
    return _client_address.get()


def set_client_address(address: str | None) -> None:
    """Name the client of the request being served (the middleware does this)."""
    _client_address.set(address)
