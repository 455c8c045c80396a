"""Sign-in, MFA challenge, refresh rotation, sign-out, and turning credentials into principals.

Design notes:
- A failed password or second factor counts towards a per-account lockout
  (``lockout_threshold`` failures within ``lockout_window_seconds`` lock the account for
  ``lockout_duration_seconds``). While locked, even the right password is refused, so the lock
  cannot be used as an oracle.
- Unknown workspaces and usernames cost one argon2 verification too, and answer exactly like a
  wrong password, so neither timing nor wording reveals who has an account.
- Every sign-in, failed sign-in and second-factor challenge is recorded in the audit ledger
  here (a successful one in the unit that opens the session), whichever transport signed in.
- Refresh tokens rotate on every use. A token that is presented a second time was copied: the
  whole session (its token family) is revoked, ending the thief's and the owner's access alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import mfa
from confide.access.grant_store import attach_grants
from confide.access.lockout import check_not_locked, record_failure
from confide.access.models import (
    AuthSession,
    GroupMember,
    Operator,
    OperatorStatus,
    RefreshToken,
    Role,
    SpentMfaChallenge,
    TotpCredential,
    Workspace,
)
from confide.access.operators import find_operator_by_username, notify_principal_changed
from confide.access.policy import Principal
from confide.audit.ledger import Actor, append, record
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import AccountLocked, InvalidCredentials, InvalidMfaCode, InvalidToken

if TYPE_CHECKING:
    from confide.runtime import Runtime

TRANSPORTS = ("token", "cookie")
SPENT_CHALLENGE = "This sign-in challenge was already used; sign in again."


@dataclass(frozen=True)
class IssuedTokens:
    session_id: uuid.UUID
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    mfa_enrolment_pending: bool


@dataclass(frozen=True)
class LoginOutcome:
    tokens: IssuedTokens | None = None
    mfa_challenge: str | None = None


async def _issue_session(
    rt: Runtime, session: UnitOfWork, operator: Operator, transport: str, enrolment_pending: bool
) -> IssuedTokens:
    now = utcnow()
    refresh_expires = now + timedelta(seconds=rt.settings.refresh_token_ttl_seconds)
    auth_session = AuthSession(
        operator_id=operator.id, transport=transport, expires_at=refresh_expires
    )
    session.add(auth_session)
    await session.flush()
    refresh = rt.tokens.new_refresh_token()
    session.add(
        RefreshToken(session_id=auth_session.id, token_hash=rt.tokens.hash_refresh_token(refresh))
    )
    operator.last_login_at = now
    operator.failed_login_count = 0
    operator.first_failed_login_at = None
    access, access_expires = rt.tokens.issue_access_token(operator.id, auth_session.id)
    await append(
        session,
        rt,
        Actor("operator", operator.id, operator.workspace_id),
        "auth.login",
        resource=f"session:{auth_session.id}",
    )
    return IssuedTokens(
        auth_session.id, access, access_expires, refresh, refresh_expires, enrolment_pending
    )


def enrolment_required(role: Role, mfa_required_for_admins: bool | None, has_totp: bool) -> bool:
    """An admin of a workspace that requires MFA, without MFA, may only enrol. Decided on every
    request, so switching the workspace setting on takes effect at once."""
    return role is Role.ADMIN and bool(mfa_required_for_admins) and not has_totp


async def _enrolment_required(session: AsyncSession, operator: Operator) -> bool:
    if operator.role is not Role.ADMIN or operator.workspace_id is None:
        return False
    workspace = await session.get(Workspace, operator.workspace_id)
    has_totp = await session.scalar(
        select(TotpCredential.operator_id).where(
            TotpCredential.operator_id == operator.id, TotpCredential.confirmed_at.is_not(None)
        )
    )
    return enrolment_required(
        operator.role, workspace.mfa_required_for_admins if workspace else None, bool(has_totp)
    )


async def login(
    rt: Runtime, *, workspace_slug: str | None, username: str, password: str, transport: str
) -> LoginOutcome:
    async with rt.db.session() as session:
        operator: Operator | None = None
        workspace_id: uuid.UUID | None = None
        found_workspace = True
        if workspace_slug:
            workspace_id = await session.scalar(
                select(Workspace.id).where(Workspace.slug == workspace_slug)
            )
            found_workspace = workspace_id is not None
        if found_workspace:
            operator = await find_operator_by_username(session, workspace_id, username)
        if operator is not None and operator.status is not OperatorStatus.ACTIVE:
            operator = None
        if operator is not None:
            try:
                check_not_locked(operator)
            except AccountLocked:
                await record(rt, Actor("anonymous", None, workspace_id), "auth.login_failed")
                raise
        if not rt.passwords.verify(operator.password_hash if operator else None, password):
            # Who tried is unknown (the typed username may be anything): only where from.
            await record(rt, Actor("anonymous", None, workspace_id), "auth.login_failed")
            if operator is not None:
                locked = await record_failure(rt, operator.id)
                if locked:
                    raise locked
            raise InvalidCredentials()
        assert operator is not None
        has_totp = await session.scalar(
            select(TotpCredential.operator_id).where(
                TotpCredential.operator_id == operator.id, TotpCredential.confirmed_at.is_not(None)
            )
        )
        needs_rehash = rt.passwords.needs_rehash(operator.password_hash)
        enrolment_pending = await _enrolment_required(session, operator)
    if has_totp:
        await record(
            rt, Actor("operator", operator.id, operator.workspace_id), "auth.mfa_challenge"
        )
        return LoginOutcome(mfa_challenge=rt.tokens.issue_mfa_challenge(operator.id, transport))
    new_hash = rt.passwords.hash(password) if needs_rehash else None
    async with rt.db.transaction() as session:
        fresh = await session.get(Operator, operator.id)
        assert fresh is not None
        if new_hash:
            fresh.password_hash = new_hash
        return LoginOutcome(
            tokens=await _issue_session(rt, session, fresh, transport, enrolment_pending)
        )


async def complete_mfa_login(
    rt: Runtime, *, challenge: str, code: str | None, recovery_code: str | None
) -> IssuedTokens:
    """Finish a sign-in with a second factor. A challenge completes one sign-in only: it is
    spent (``spent_mfa_challenges``) in the unit that creates the session, so the next TOTP
    code cannot open a second session without the password. A failed attempt is recorded
    (``auth.mfa_failed``) in a unit that commits. Raises ``InvalidToken`` for a spent or
    expired challenge, ``InvalidMfaCode`` or ``AccountLocked`` for a wrong code."""
    operator_id, transport = rt.tokens.read_mfa_challenge(challenge)
    challenge_id, expires_at = rt.tokens.read_mfa_challenge_id(challenge)
    refused: AccountLocked | None = None
    try:
        async with rt.db.transaction() as session:
            if await session.get(SpentMfaChallenge, challenge_id) is not None:
                raise InvalidToken(SPENT_CHALLENGE)
            operator = await session.get(Operator, operator_id)
            if operator is None or operator.status is not OperatorStatus.ACTIVE:
                raise InvalidToken()
            try:
                check_not_locked(operator)
                ok = await mfa.verify_second_factor(
                    rt, session, operator.id, code=code, recovery_code=recovery_code
                )
                if ok:
                    # Spent challenges are useless once expired: drop those.
                    await session.execute(
                        delete(SpentMfaChallenge).where(SpentMfaChallenge.expires_at < utcnow())
                    )
                    session.add(SpentMfaChallenge(challenge_id=challenge_id, expires_at=expires_at))
                    await session.flush()  # a racing completion of the challenge fails here
                    return await _issue_session(rt, session, operator, transport, False)
            except AccountLocked as exc:
                refused = exc
            # The failure is recorded in this unit, which commits: only the sign-in failed.
            actor = Actor("operator", operator.id, operator.workspace_id)
            await append(session, rt, actor, "auth.mfa_failed")
    except IntegrityError as exc:
        raise InvalidToken(SPENT_CHALLENGE) from exc
    if refused is not None:
        raise refused
    locked = await record_failure(rt, operator_id)
    raise locked or InvalidMfaCode()


async def refresh(rt: Runtime, presented: str) -> IssuedTokens:
    token_hash = rt.tokens.hash_refresh_token(presented)
    reused_session: uuid.UUID | None = None
    async with rt.db.transaction() as session:
        token = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )
        if token is None:
            raise InvalidToken()
        now = utcnow()
        # Spend the token with a conditional update so that two racing uses cannot both win.
        spent = await session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        auth_session = await session.get(AuthSession, token.session_id)
        if auth_session is None or auth_session.revoked_at is not None:
            raise InvalidToken()
        if spent.rowcount == 0:  # type: ignore[attr-defined]
            reused_session = auth_session.id
        elif auth_session.expires_at <= now:
            raise InvalidToken("The session has expired; sign in again.")
        else:
            operator = await session.get(Operator, auth_session.operator_id)
            if operator is None or operator.status is not OperatorStatus.ACTIVE:
                raise InvalidToken()
            new_refresh = rt.tokens.new_refresh_token()
            session.add(
                RefreshToken(
                    session_id=auth_session.id,
                    token_hash=rt.tokens.hash_refresh_token(new_refresh),
                )
            )
            auth_session.last_refreshed_at = now
            auth_session.expires_at = now + timedelta(seconds=rt.settings.refresh_token_ttl_seconds)
            access, access_expires = rt.tokens.issue_access_token(operator.id, auth_session.id)
            return IssuedTokens(
                auth_session.id,
                access,
                access_expires,
                new_refresh,
                auth_session.expires_at,
                await _enrolment_required(session, operator),
            )
    async with rt.db.transaction() as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == reused_session, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason="refresh_token_reused")
        )
        owner = await session.scalar(
            select(AuthSession.operator_id).where(AuthSession.id == reused_session)
        )
    if owner is not None:
        await notify_principal_changed(rt, owner)
    raise InvalidToken(
        "This refresh token was already used, so the session has been ended to protect the "
        "account; sign in again."
    )


async def logout(rt: Runtime, session_id: uuid.UUID, *, everywhere: bool = False) -> None:
    async with rt.db.transaction() as session:
        auth_session = await session.get(AuthSession, session_id)
        if auth_session is None:
            return
        operator_id = auth_session.operator_id
        query = update(AuthSession).where(AuthSession.revoked_at.is_(None))
        if everywhere:
            query = query.where(AuthSession.operator_id == auth_session.operator_id)
        else:
            query = query.where(AuthSession.id == session_id)
        await session.execute(query.values(revoked_at=utcnow(), revoked_reason="logout"))
        operator = await session.get(Operator, operator_id)
        await append(
            session,
            rt,
            Actor("operator", operator_id, operator.workspace_id if operator else None),
            "auth.logout",
            resource=f"session:{session_id}",
            details={"everywhere": everywhere},
        )
    await notify_principal_changed(rt, operator_id)


async def authenticate_access_token(
    rt: Runtime, token: str, workspace_hint: uuid.UUID | None = None
) -> Principal:
    """The principal a REST request or a new socket acts as. Served from this node's
    :class:`~confide.access.principal_cache.PrincipalCache` when it holds the session: every
    change to a principal invalidates it on every node (``principals_changed``)."""
    claims = rt.tokens.read_access_token(token)
    cached = rt.principal_cache.get(claims.session_id, workspace_hint)
    if cached is not None and cached.operator_id == claims.operator_id:
        return cached
    snapshot = rt.principal_cache.snapshot()
    principal, session_expires_at = await _load_principal(
        rt, claims.session_id, claims.operator_id, workspace_hint
    )
    rt.principal_cache.store(snapshot, workspace_hint, principal, session_expires_at)
    return principal


async def authenticate_session(
    rt: Runtime,
    session_id: uuid.UUID,
    operator_id: uuid.UUID,
    workspace_hint: uuid.UUID | None = None,
) -> Principal:
    """The principal of a live session, with its live grants (``confide.access.grant_store``;
    ``workspace_hint``: the workspace a support account enters); open sockets call this again
    when rights change or a grant lapses, and read the database, never the cache."""
    return (await _load_principal(rt, session_id, operator_id, workspace_hint))[0]


async def _load_principal(
    rt: Runtime,
    session_id: uuid.UUID,
    operator_id: uuid.UUID,
    workspace_hint: uuid.UUID | None,
) -> tuple[Principal, datetime]:
    """The principal and its session's expiry, read from the database."""
    # One round trip on every authenticated request: the session, its operator, the facts that
    # decide whether MFA enrolment is pending, and (one row per group, via
    # ix_group_members_operator_id) the operator's groups.
    query = (
        select(
            AuthSession.revoked_at,
            AuthSession.expires_at,
            Operator.id,
            Operator.workspace_id,
            Operator.role,
            Operator.status,
            Workspace.mfa_required_for_admins,
            TotpCredential.confirmed_at,
            GroupMember.group_id,
        )
        .join(Operator, Operator.id == AuthSession.operator_id)
        .outerjoin(Workspace, Workspace.id == Operator.workspace_id)
        .outerjoin(TotpCredential, TotpCredential.operator_id == Operator.id)
        .outerjoin(GroupMember, GroupMember.operator_id == Operator.id)
        .where(AuthSession.id == session_id)
    )
    async with rt.db.session() as session:
        rows = (await session.execute(query)).all()
        if not rows:
            raise InvalidToken()
        principal = _principal_of(rows, session_id, operator_id)
        return await attach_grants(session, principal, workspace_hint), rows[0].expires_at


def _principal_of(rows: Sequence[Any], session_id: uuid.UUID, operator_id: uuid.UUID) -> Principal:
    first = rows[0]
    revoked_at, expires_at, _operator_id, workspace_id, role, status = first[:6]
    if (
        revoked_at is not None
        or expires_at <= utcnow()
        or first.id != operator_id
        or status is not OperatorStatus.ACTIVE
    ):
        raise InvalidToken()
    return Principal(
        kind="operator",
        workspace_id=workspace_id,
        role=role,
        operator_id=operator_id,
        session_id=session_id,
        group_ids=frozenset(row.group_id for row in rows if row.group_id is not None),
        mfa_enrolment_pending=enrolment_required(
            role, first.mfa_required_for_admins, first.confirmed_at is not None
        ),
    )
