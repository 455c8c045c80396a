"""The self-service privacy portal: a person proves control of an e-mail address, then files a
request about the data a workspace holds on them.

The rules (OWASP Forgot Password Cheat Sheet, applied to GDPR Art. 12(6) identification):

- the answer to "send me a link" is the same, in status and body, whether or not the address
  belongs to anyone the workspace knows: every address gets a link (proving control of an
  address reveals nothing about it), and the work done is the same for both (a sealed link
  row, a sealed outbox mail, a job), so neither the words nor the time tell them apart;
- requests are rate limited per address and per client address (``PORTAL_LINKS_PER_HOUR``);
- the link is ``<link id>.<256 random bits>``; only a keyed hash (HMAC-SHA256 under the
  instance secret) of the random part is stored and compared in constant time; it works once,
  for ``LINK_TTL_SECONDS`` (30 minutes), and ``MAX_ATTEMPTS`` wrong guesses at a link's id
  spend it; the link carries it in the URL fragment, which browsers never send to a server;
- a verified link gives a portal session (an HMAC of the link id) good for
  ``SESSION_SECONDS``, in which the person files one request; the address, sealed under the
  link's own key, becomes the case's contact (sealed under the case's key), and the link and
  its key are destroyed then, or by the ``purge_portal_links`` job once the session is over.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from confide.access.models import Workspace
from confide.access.workspaces import find_workspace_by_slug
from confide.audit.ledger import Actor
from confide.core.clock import utcnow
from confide.core.db import new_id
from confide.core.errors import (
    KeyUnavailable,
    MailNotConfigured,
    NotFound,
    PortalLinkInvalid,
    TooManyRequests,
    ValidationFailed,
)
from confide.core.mail import Mail, mail_enabled
from confide.jobs.kinds import DAY_SECONDS, Batch, BatchResult, JobKind, register
from confide.privacy.key_cache import destroy_keys
from confide.privacy.outbox import queue_mail
from confide.privacy.requests.acts import do_carry_out_case, export_download_link
from confide.privacy.requests.cases import find_subject, open_case_in
from confide.privacy.requests.models import DsrSettings, PortalLink
from confide.privacy.vault import normalise_for_lookup

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from confide.runtime import Runtime

LINK_TTL_SECONDS = 30 * 60
SESSION_SECONDS = 30 * 60
MAX_ATTEMPTS = 5
PORTAL_LINKS_PER_HOUR = 5
PORTAL_PATH = "/privacy"
SECRET_BYTES = 32
ADDRESS_MAX_CHARS = 320


def _aad(link_id: uuid.UUID) -> str:
    return f"portal_links:{link_id}:address"


def _secret_hash(rt: Runtime, secret: str) -> str:
    return rt.secret.keyed_hash("portal-link", secret)


def _session_mac(rt: Runtime, link_id: uuid.UUID) -> str:
    return rt.secret.keyed_hash("portal-session", link_id.hex)


def portal_url(rt: Runtime, slug: str) -> str:
    return f"{rt.settings.base_url.rstrip('/')}{PORTAL_PATH}/{slug}"


def _link_mail(rt: Runtime, slug: str, workspace_name: str, to: str, token: str) -> Mail:
    minutes = LINK_TTL_SECONDS // 60
    return Mail(
        to=to,
        subject=f"Your privacy request to {workspace_name}",
        text=f"Someone asked to file a privacy request to {workspace_name} for this address.\n\n"
        f"To continue, open this link within {minutes} minutes:\n\n"
        f"{portal_url(rt, slug)}#token={token}\n\n"
        "The link works once. If you did not ask for it, ignore this mail: nothing happens.\n",
    )


async def do_request_portal_link(
    rt: Runtime, *, workspace_slug: str, email: str, client_key: str
) -> None:
    """Send a one-time link to ``email`` for the workspace's portal; returns the same way
    whether or not anyone has that address. Raises TooManyRequests past the limits (per
    address and per ``client_key``, a keyed hash of the client address), MailNotConfigured
    without SMTP, ValidationFailed for something that is not an address."""
    slug = workspace_slug.strip().lower()
    workspace = await _portal_workspace(rt, slug)
    address = email.strip()
    if "@" not in address or len(address) > ADDRESS_MAX_CHARS or any(c.isspace() for c in address):
        raise ValidationFailed("Enter an e-mail address.", field="email")
    address_key = rt.secret.keyed_hash(
        "portal-address", f"{slug}\n{normalise_for_lookup('email', address)}"
    )[:32]
    for key in (f"portal:addr:{address_key}", f"portal:ip:{client_key}"):
        wait = await rt.limiter.hit(key, PORTAL_LINKS_PER_HOUR, 3600)
        if wait:
            raise TooManyRequests(
                "Too many requests for a link; try again later.",
                headers={"Retry-After": str(wait)},
            )
    if not mail_enabled(rt.settings):
        raise MailNotConfigured("This privacy portal cannot send e-mail; contact the controller.")
    link_id = new_id()
    secret = secrets.token_urlsafe(SECRET_BYTES)
    now = utcnow()
    async with rt.db.transaction() as tx:
        tx.add(
            PortalLink(
                id=link_id,
                workspace_id=workspace.id,
                token_hash=_secret_hash(rt, secret),
                address_sealed=await rt.keyring.encrypt(
                    workspace.id, link_id, address, _aad(link_id)
                ),
                created_at=now,
                expires_at=now + timedelta(seconds=LINK_TTL_SECONDS),
                attempts=0,
            )
        )
        token = f"{link_id.hex}.{secret}"
        await queue_mail(rt, tx, workspace.id, _link_mail(rt, slug, workspace.name, address, token))


def _split(token: str, field: str) -> tuple[uuid.UUID, str]:
    head, _, tail = token.strip().partition(".")
    try:
        return uuid.UUID(hex=head), tail
    except ValueError as exc:
        raise PortalLinkInvalid(field=field) from exc


async def do_verify_portal_link(rt: Runtime, workspace_slug: str, token: str) -> str:
    """Spend a link: returns a portal session token for ``SESSION_SECONDS``. Raises
    PortalLinkInvalid (unknown, used, expired, another workspace's, or too many attempts)."""
    workspace = await _portal_workspace(rt, workspace_slug)
    link_id, secret = _split(token, "token")
    now = utcnow()
    async with rt.db.transaction() as tx:
        link = await tx.get(PortalLink, link_id, with_for_update=True)
        if (
            link is None
            or link.workspace_id != workspace.id
            or link.verified_at is not None
            or link.expires_at <= now
            or link.attempts >= MAX_ATTEMPTS
        ):
            raise PortalLinkInvalid(field="token")
        if not hmac.compare_digest(link.token_hash, _secret_hash(rt, secret)):
            link.attempts += 1
            await tx.commit()
            raise PortalLinkInvalid(field="token")
        link.verified_at = now
    return f"{link_id.hex}.{_session_mac(rt, link_id)}"


async def _portal_workspace(rt: Runtime, workspace_slug: str) -> Workspace:
    workspace = await find_workspace_by_slug(rt, workspace_slug)
    if workspace is None:  # the page says which workspaces have a portal: no secret
        raise NotFound("No privacy portal at this address.", field="workspace")
    return workspace


async def _session_link(rt: Runtime, workspace_slug: str, session_token: str) -> PortalLink:
    workspace = await _portal_workspace(rt, workspace_slug)
    link_id, mac = _split(session_token, "session")
    if not hmac.compare_digest(mac, _session_mac(rt, link_id)):
        raise PortalLinkInvalid(field="session")
    async with rt.db.session() as session:
        link = await session.get(PortalLink, link_id)
    if (
        link is None
        or link.workspace_id != workspace.id
        or link.verified_at is None
        or link.verified_at + timedelta(seconds=SESSION_SECONDS) <= utcnow()
    ):
        raise PortalLinkInvalid(field="session")
    return link


async def do_file_portal_request(
    rt: Runtime,
    *,
    workspace_slug: str,
    session_token: str,
    kind: str,
    processing: str | None = None,
) -> dict[str, Any]:
    """File a request with a verified address: a case opened as verified, its subject found
    by the address (blind index) or none. Returns the case id and due date, the same shape
    whether or not the workspace holds anything about the person."""
    link = await _session_link(rt, workspace_slug, session_token)
    try:
        address = await rt.keyring.decrypt(
            link.workspace_id, link.id, link.address_sealed or "", _aad(link.id)
        )
    except KeyUnavailable as exc:
        raise PortalLinkInvalid(field="session") from exc
    actor = Actor("anonymous", None, link.workspace_id)
    async with rt.db.transaction() as tx:
        instant = kind in ("access", "portability") and await _instant_download(tx, link)
        subject_id, visitor_id = await find_subject(rt, tx, link.workspace_id, "email", address)
        case = await open_case_in(
            tx,
            rt,
            actor,
            link.workspace_id,
            kind=kind,
            channel="portal",
            subject_id=subject_id,
            visitor_id=visitor_id,
            verified=True,
            processing=processing,
            contact=address,
        )
        # One request per verified address: the link and its key go now, so the address is
        # kept only where the case needs it (sealed under the case's key until it completes).
        await tx.execute(delete(PortalLink).where(PortalLink.id == link.id))
        tx.on_commit(destroy_keys, rt, [link.id])
        answer: dict[str, Any] = {
            "case_id": str(case.id),
            "kind": case.kind,
            "status": case.status,
            "due_at": case.due_at.isoformat(),
        }
    if instant and subject_id is not None:
        # The workspace lets verified people download their data at once (Art. 12(3): without
        # undue delay): carried out now, as the command line would, with a short-lived link.
        done = await do_carry_out_case(rt, None, case.id)
        link_and_expiry = await export_download_link(rt, None, case.id, issued_by="portal")
        answer["status"] = done.status
        if link_and_expiry is not None:
            answer["download_url"], expires = link_and_expiry
            answer["download_expires_at"] = expires.isoformat()
    return answer


async def _instant_download(session: AsyncSession, link: PortalLink) -> bool:
    settings = await session.get(DsrSettings, link.workspace_id)
    return bool(settings and settings.instant_download)


async def purge_portal_links_batch(rt: Runtime, limit: int) -> int:
    """Delete up to ``limit`` links whose session is over, and destroy their keys after
    commit (ix_portal_links_expires_at). Returns how many went."""
    cutoff = utcnow() - timedelta(seconds=SESSION_SECONDS)
    async with rt.db.transaction() as tx:
        ids = list(
            (
                await tx.scalars(
                    select(PortalLink.id)
                    .where(PortalLink.expires_at < cutoff)
                    .order_by(PortalLink.expires_at)
                    .limit(limit)
                )
            ).all()
        )
        if ids:
            await tx.execute(delete(PortalLink).where(PortalLink.id.in_(ids)))
            tx.on_commit(destroy_keys, rt, ids)
    return len(ids)


async def _run_purge_portal_links(batch: Batch) -> BatchResult:
    gone = await purge_portal_links_batch(batch.rt, batch.size)
    return BatchResult(items=gone, cursor=None, done=gone < batch.size)


PURGE_PORTAL_LINKS = register(
    JobKind(
        name="purge_portal_links",
        description="Delete privacy portal links whose session is over, and their keys.",
        run_batch=_run_purge_portal_links,
        every_seconds=DAY_SECONDS // 24,
        batch_size=500,
        in_transaction=False,
    )
)
