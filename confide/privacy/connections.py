"""Connection logs: who connected when, from roughly where, kept for a bounded time.

Why: a security log (a visitor created, a widget or console socket opened) is legitimate
interest, but an IP address is personal data, so each workspace decides how much of it to keep
(``ip_handling``: ``none``; ``truncated`` to its /24 (IPv4) or /48 (IPv6) network, the
default; or ``full``) and for how long (``connection_log_retention_days``: a year (365) by
default, at most 365; seeds 001 and 002). Whatever is kept of the address is encrypted under
the person's own data key (the visitor's or operator's subject), so erasing the person shreds their
addresses too, and no address is ever written to a log line. :func:`purge_connection_logs`
deletes expired rows in bounded batches, one transaction each, and can run again at any time;
workers run the same batches daily as the ``purge_connection_logs`` job (``confide.jobs``).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.models import Operator, Workspace
from confide.access.policy import Principal
from confide.audit.ledger import Actor, append
from confide.chat.models import Visitor
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import KeyUnavailable, NotFound
from confide.privacy import settings as privacy_settings
from confide.privacy.models import ConnectionLog, WorkspacePrivacySettings

if TYPE_CHECKING:
    from confide.runtime import Runtime

KINDS = ("widget_socket", "console_socket", "visitor_created")
USER_AGENT_MAX_CHARS = 200
IPV4_PREFIX, IPV6_PREFIX = 24, 48
PURGE_BATCH_SIZE = 500
_RETENTION = "connection_log_retention_days"


def minimise_ip(address: str | None, handling: str) -> str | None:
    """The part of ``address`` the workspace keeps: None, its network, or all of it."""
    if handling == "none" or not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None  # not an address (a test client, a Unix socket): nothing to keep
    if handling == "full":
        return str(ip)
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


# Coarse browser and platform families, checked in order (Edge and Opera also say "Chrome",
# Chrome also says "Safari", Android also says "Linux"). Enough to investigate abuse; a full
# user-agent string is a fingerprint, so it is never stored.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Version/", "Safari"),
)
_PLATFORMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def minimise_user_agent(user_agent: str | None) -> str | None:
    """Browser family, major version and platform family, e.g. ``"Firefox 133 (Windows)"``."""
    if not user_agent:
        return None
    ua = user_agent[:USER_AGENT_MAX_CHARS]
    browser = "Other"
    for marker, name in _BROWSERS:
        at = ua.find(marker)
        if at >= 0:
            major = ua[at + len(marker) :].split(".", 1)[0].split(" ", 1)[0]
            browser = f"{name} {major}" if major.isdigit() and len(major) <= 4 else name
            break
    platform = next((name for marker, name in _PLATFORMS if marker in ua), "other")
    return f"{browser} ({platform})"


def connection_ip_aad(log_id: uuid.UUID) -> str:
    return f"connection_logs:{log_id}:ip"


async def _subject_of(
    session: AsyncSession, visitor_id: uuid.UUID | None, operator_id: uuid.UUID | None
) -> uuid.UUID | None:
    if visitor_id is not None:
        return await session.scalar(select(Visitor.subject_id).where(Visitor.id == visitor_id))
    if operator_id is not None:
        return await session.scalar(select(Operator.subject_id).where(Operator.id == operator_id))
    return None


async def record_connection(
    rt: Runtime,
    *,
    workspace_id: uuid.UUID,
    kind: str,
    ip: str | None,
    user_agent: str | None,
    visitor_id: uuid.UUID | None = None,
    operator_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Append one log row, in its own transaction."""
    if kind not in KINDS:
        raise ValueError(f"Unknown connection kind {kind!r}.")
    async with rt.db.transaction() as session:
        privacy = await privacy_settings.load(session, workspace_id)
        kept = minimise_ip(ip, privacy.ip_handling)
        log = ConnectionLog(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            visitor_id=visitor_id,
            operator_id=operator_id,
            kind=kind,
            user_agent=minimise_user_agent(user_agent),
            created_at=utcnow(),
        )
        subject_id = await _subject_of(session, visitor_id, operator_id)
        if kept is not None and subject_id is not None:
            log.ip = await rt.keyring.encrypt(
                workspace_id, subject_id, kept, connection_ip_aad(log.id)
            )
        session.add(log)
    return log.id


async def read_ip(rt: Runtime, principal: Principal | None, log_id: uuid.UUID) -> str | None:
    """The kept address of one log row, for an investigation by an admin of its workspace
    (``principal``; ``None``: the platform operator on the command line). The read is recorded
    (``connection_log.read_ip``, naming the person) before the address is returned. ``None`` if
    none was kept or the person was erased. Raises :class:`NotFound` outside the principal's
    workspace and :class:`Forbidden` for anyone but an admin."""
    async with rt.db.transaction() as tx:
        log = await tx.get(ConnectionLog, log_id)
        if log is None:
            raise NotFound("No such connection log.")
        if principal is not None:
            policy.ensure_same_workspace(principal, log.workspace_id)
            policy.authorize(principal, policy.Action.AUDIT_READ)
        subject_id = await _subject_of(tx, log.visitor_id, log.operator_id)
        if log.ip is None or subject_id is None:
            return None
        await append(
            tx,
            rt,
            principal if principal is not None else Actor("system", None, log.workspace_id),
            "connection_log.read_ip",
            subject_id=subject_id,
            resource=f"connection_log:{log.id}",
        )
    try:
        return await rt.keyring.decrypt(
            log.workspace_id, subject_id, log.ip, connection_ip_aad(log.id)
        )
    except KeyUnavailable:
        return None


async def purge_connection_logs(
    rt: Runtime,
    *,
    batch_size: int = PURGE_BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete every log older than its workspace's retention; returns how many were deleted.

    The same batches the ``purge_connection_logs`` job runs, each its own transaction: an
    interrupted run keeps what it committed and the next run carries on. Deleting by id is
    idempotent, so two runs may overlap (the count is then each one's share)."""
    deleted = 0
    cursor: dict[str, Any] | None = None
    while True:
        async with rt.db.transaction() as session:
            cursor, count = await purge_connection_logs_batch(
                rt, session, cursor, batch_size=batch_size
            )
        deleted += count
        if on_batch is not None and count:
            on_batch(count)
        if cursor is None:
            return deleted


async def purge_connection_logs_batch(
    rt: Runtime,
    session: UnitOfWork,
    cursor: dict[str, Any] | None,
    *,
    batch_size: int,
    workspace_id: uuid.UUID | None = None,
) -> tuple[dict[str, Any] | None, int]:
    """One batch, inside the caller's transaction: delete up to ``batch_size`` expired logs of
    the workspace the cursor points at. Returns the next cursor (``None`` when every workspace,
    or only ``workspace_id``, is done) and how many rows were deleted.

    The cursor holds the workspace being purged and the moment the run started (``as_of``), so
    a resumed run deletes exactly the rows the first batch would have: ids and a timestamp,
    nothing personal."""
    as_of = datetime.fromisoformat(cursor["as_of"]) if cursor else utcnow()
    if cursor is not None:
        current: uuid.UUID | None = uuid.UUID(cursor["workspace_id"])
    else:
        current = workspace_id or await _next_workspace(session, after=None)
    if current is None:
        return None, 0
    days = await session.scalar(
        select(WorkspacePrivacySettings.connection_log_retention_days).where(
            WorkspacePrivacySettings.workspace_id == current
        )
    )
    cutoff = as_of - timedelta(days=days or int(privacy_settings.DEFAULTS[_RETENTION]))
    # ix_connection_logs_purge
    ids = list(
        (
            await session.scalars(
                select(ConnectionLog.id)
                .where(ConnectionLog.workspace_id == current, ConnectionLog.created_at < cutoff)
                .order_by(ConnectionLog.created_at)
                .limit(batch_size)
            )
        ).all()
    )
    if ids:
        await session.execute(delete(ConnectionLog).where(ConnectionLog.id.in_(ids)))
        await append(
            session,
            rt,
            Actor("system", None, current),
            "connection_logs.purge",
            resource="connection_logs",
            details={"deleted": len(ids), "retention_days": days},
        )
    following: uuid.UUID | None = current
    if len(ids) < batch_size:  # this workspace is done
        following = None if workspace_id else await _next_workspace(session, after=current)
    if following is None:
        return None, len(ids)
    return {"as_of": as_of.isoformat(), "workspace_id": str(following)}, len(ids)


async def _next_workspace(session: AsyncSession, *, after: uuid.UUID | None) -> uuid.UUID | None:
    query = select(Workspace.id).order_by(Workspace.id).limit(1)
    if after is not None:
        query = query.where(Workspace.id > after)
    return await session.scalar(query)
