"""Password reset by e-mail: asked for by the operator, or sent by an admin or manager.

The rules (OWASP Forgot Password Cheat Sheet):

- the answer is the same whether or not the address belongs to an operator of the workspace,
  and the mail is sent after the answer (a background task), so neither the words nor the time
  tell an attacker which addresses exist;
- requests are rate limited per address and per client address (``password_resets_per_hour``);
- the token is 256 random bits; only a keyed hash (HMAC-SHA256 under the instance secret) is
  stored; it works once (a conditional update spends it), for ``password_reset_ttl_seconds``
  (30 minutes by default), and a newer link replaces every older one;
- the link carries the token in its fragment (``#token=``), which browsers never send to a
  server, so it stays out of access logs, proxies and ``Referer`` headers;
- a reset ends every session of the operator and lifts a lockout (``do_set_password``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from confide.access import policy
from confide.access.models import GroupMember, Operator, OperatorStatus, PasswordResetToken
from confide.access.operators import check_password, do_set_password
from confide.access.policy import OperatorFacts, Principal
from confide.access.workspaces import find_workspace_by_slug
from confide.audit import ledger
from confide.audit.ledger import Actor
from confide.core.clock import utcnow
from confide.core.errors import (
    MailFailed,
    MailNotConfigured,
    NotFound,
    ResetLinkInvalid,
    TooManyRequests,
    ValidationFailed,
)
from confide.core.mail import Mail, send_mail
from confide.privacy.vault import normalise_for_lookup
from confide.runtime import Runtime

log = logging.getLogger("confide.access")
TOKEN_BYTES = 32
RESET_PATH = "/console/password/reset"
_PENDING: set[asyncio.Task[bool]] = set()  # background sends, kept until done


def _token_hash(rt: Runtime, token: str) -> str:
    return rt.secret.keyed_hash("password-reset", token.strip())


def reset_link(rt: Runtime, token: str) -> str:
    return f"{rt.settings.base_url.rstrip('/')}{RESET_PATH}#token={token}"


async def _issue(rt: Runtime, operator_id: uuid.UUID) -> str:
    """A new token for the operator; every older unused one stops working."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    async with rt.db.transaction() as session:
        # ix_password_reset_tokens_operator_id
        await session.execute(
            update(PasswordResetToken)
            .where(
                PasswordResetToken.operator_id == operator_id,
                PasswordResetToken.used_at.is_(None),
            )
            .values(used_at=now)
        )
        session.add(
            PasswordResetToken(
                operator_id=operator_id,
                token_hash=_token_hash(rt, token),
                created_at=now,
                expires_at=now + timedelta(seconds=rt.settings.password_reset_ttl_seconds),
            )
        )
    return token


async def _email_of(rt: Runtime, operator: Operator) -> str | None:
    async with rt.db.session() as session:
        fields = await rt.vault.read_fields(session, [operator.subject_id], ["email"])
    return fields.get(operator.subject_id, {}).get("email")


def reset_mail(to: str, link: str, ttl_seconds: int) -> Mail:
    """The reset mail: plain text, the link, how long it works, and what to do if unexpected."""
    minutes = ttl_seconds // 60
    return Mail(
        to=to,
        subject="Reset your Confide password",
        text="Someone asked to reset the password of your Confide account.\n\n"
        f"To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n"
        "The link works once. If you did not ask for it, ignore this mail: your password "
        "stays as it is.\n",
    )


async def _send(rt: Runtime, mail: Mail) -> bool:
    """Send now; False (the error type logged, never the address) if the server refused."""
    try:
        await send_mail(rt.settings, mail)
    except MailFailed as exc:
        log.warning("mail not sent: %s", type(exc.__cause__).__name__)
        return False
    return True


def _mail(rt: Runtime, to: str, token: str) -> asyncio.Task[bool]:
    mail = reset_mail(to, reset_link(rt, token), rt.settings.password_reset_ttl_seconds)
    task = asyncio.create_task(_send(rt, mail))
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)
    return task


async def do_request_password_reset(
    rt: Runtime, *, workspace_slug: str, email: str, client_key: str
) -> None:
    """Send a reset link to ``email`` if it is the address of an active operator of the
    workspace; otherwise do nothing. Returns the same way in both cases.

    Raises :class:`TooManyRequests` past ``password_resets_per_hour`` for the address or the
    client (``client_key``: a keyed hash of the client address), known or not."""
    limit = rt.settings.password_resets_per_hour
    slug = workspace_slug.strip().lower()
    address = normalise_for_lookup("email", email)
    address_key = rt.secret.keyed_hash("password-reset-address", f"{slug}\n{address}")[:32]
    for key in (f"pwreset:addr:{address_key}", f"pwreset:ip:{client_key}"):
        wait = await rt.limiter.hit(key, limit, 3600)
        if wait:
            raise TooManyRequests(
                "Too many reset requests; try again later.", headers={"Retry-After": str(wait)}
            )
    if not rt.settings.smtp_host:
        raise MailNotConfigured(
            "Password reset by e-mail is not available here; ask an admin to reset your password."
        )
    workspace = await find_workspace_by_slug(rt, slug)
    if workspace is None:
        return
    async with rt.db.session() as session:
        subjects = await rt.vault.find_subjects(
            session, workspace_id=workspace.id, field="email", value=address
        )
        operator = (
            await session.scalar(
                select(Operator).where(
                    Operator.subject_id.in_(subjects),
                    Operator.workspace_id == workspace.id,
                    Operator.status == OperatorStatus.ACTIVE,
                )
            )
            if subjects
            else None
        )
    if operator is None:
        return
    token = await _issue(rt, operator.id)
    # To the address on file (the one typed matched it only after normalisation).
    _mail(rt, await _email_of(rt, operator) or email.strip(), token)
    await ledger.record(
        rt,
        Actor("operator", operator.id, operator.workspace_id),
        "auth.password_reset_requested",
        subject_id=operator.subject_id,
        resource=f"operator:{operator.id}",
    )


async def do_reset_password(rt: Runtime, token: str, new_password: str) -> uuid.UUID:
    """Spend ``token`` and set ``new_password``; every session of the operator ends.

    Raises :class:`ValidationFailed` (``new_password``) if the password breaks the policy (the
    token is kept), :class:`ResetLinkInvalid` if the token is unknown, used or expired."""
    check_password(new_password, field="new_password")
    now = utcnow()
    async with rt.db.transaction() as session:
        # uq_password_reset_tokens_token_hash; the WHERE makes one use win a race.
        operator_id: uuid.UUID | None = await session.scalar(
            update(PasswordResetToken)
            .where(
                PasswordResetToken.token_hash == _token_hash(rt, token),
                PasswordResetToken.used_at.is_(None),
                PasswordResetToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(PasswordResetToken.operator_id)
        )
    if operator_id is None:
        raise ResetLinkInvalid(field="token")
    try:
        await do_set_password(rt, operator_id, new_password, current_password=None)
    except NotFound as exc:  # removed since the link was sent
        raise ResetLinkInvalid(field="token") from exc
    async with rt.db.session() as session:
        operator = await session.get(Operator, operator_id)
    assert operator is not None
    await ledger.record(
        rt,
        Actor("operator", operator.id, operator.workspace_id),
        "auth.password_reset",
        subject_id=operator.subject_id,
        resource=f"operator:{operator_id}",
    )
    return operator_id


async def do_send_password_reset(rt: Runtime, actor: Principal, operator_id: uuid.UUID) -> None:
    """An admin (or a manager, for agents of their groups) mails a reset link to an operator.

    Raises :class:`NotFound`/:class:`Forbidden` per ``policy.authorize_operator_change``,
    :class:`ValidationFailed` if the operator has no e-mail address, and
    :class:`MailNotConfigured` without SMTP settings. Waits for the SMTP server's answer, so
    the admin learns whether the mail left."""
    async with rt.db.session() as session:
        operator = await session.get(Operator, operator_id)
        if operator is None or operator.status is not OperatorStatus.ACTIVE:
            raise NotFound()
        groups = frozenset(
            (
                await session.scalars(
                    select(GroupMember.group_id).where(GroupMember.operator_id == operator.id)
                )
            ).all()
        )
    facts = OperatorFacts(operator.id, operator.workspace_id, operator.role, groups)
    policy.authorize_operator_change(actor, facts)
    email = await _email_of(rt, operator)
    if not email:
        raise ValidationFailed(
            "This operator has no e-mail address: add one to their profile first.", field="email"
        )
    if not rt.settings.smtp_host:
        raise MailNotConfigured()
    token = await _issue(rt, operator.id)
    if not await _mail(rt, email, token):
        raise MailNotConfigured(
            "The mail server did not accept the message; check the SMTP settings and try again."
        )
    await ledger.record(
        rt,
        actor,
        "operator.password_reset_sent",
        subject_id=operator.subject_id,
        resource=f"operator:{operator.id}",
    )
