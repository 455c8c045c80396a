"""Time-based one-time passwords (RFC 6238) and one-time recovery codes.

A code is accepted within one 30-second step of drift and only once: the last accepted step is
stored, so a code seen over someone's shoulder cannot be replayed. Recovery codes are stored as
keyed hashes and each works once.
"""

from __future__ import annotations

import hmac
import unicodedata
import uuid
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.lockout import check_not_locked, record_failure
from confide.access.models import (
    Operator,
    RecoveryCode,
    Role,
    TotpCredential,
    Workspace,
)
from confide.access.policy import Principal
from confide.access.principal_cache import principals_changed
from confide.audit.ledger import append
from confide.core.clock import utcnow
from confide.core.errors import (
    Conflict,
    Forbidden,
    InvalidMfaCode,
    KeyUnavailable,
    NotFound,
    ValidationFailed,
)

if TYPE_CHECKING:
    from confide.runtime import Runtime

ISSUER = "Confide"
STEP_SECONDS = 30
DRIFT_STEPS = 1


async def _seal(rt: Runtime, operator: Operator, secret: str) -> str:
    # The TOTP secret is encrypted under the operator's data key: a copy of the database alone
    # cannot generate codes, and erasing the operator destroys it with everything else.
    return await rt.keyring.encrypt(
        operator.workspace_id, operator.subject_id, secret, f"totp_credentials:{operator.id}"
    )


async def _unseal(rt: Runtime, session: AsyncSession, credential: TotpCredential) -> str | None:
    operator = await session.get(Operator, credential.operator_id)
    if operator is None:
        return None
    try:
        return await rt.keyring.decrypt(
            operator.workspace_id,
            operator.subject_id,
            credential.secret,
            f"totp_credentials:{operator.id}",
        )
    except KeyUnavailable:
        return None


def normalise_totp_code(code: str) -> str | None:
    """A TOTP code as people type or paste it (``369 972``, ``369-972``, full-width digits),
    as six ASCII digits; ``None`` if it is not one. The API and the console both use this, so
    a code one accepts the other accepts too."""
    compact = "".join(unicodedata.normalize("NFKC", code).split()).replace("-", "")
    return compact if compact.isascii() and compact.isdigit() and len(compact) == 6 else None


def _matching_step(secret: str, code: str, last_used_step: int | None) -> int | None:
    normalised = normalise_totp_code(code)
    if normalised is None:
        return None
    code = normalised
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    now_step = int(utcnow().timestamp()) // STEP_SECONDS
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


async def _use_recovery_code(
    rt: Runtime, session: AsyncSession, operator_id: uuid.UUID, code: str
) -> bool:
    result = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.operator_id == operator_id,
            RecoveryCode.code_hash == rt.tokens.hash_recovery_code(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def verify_second_factor(
    rt: Runtime,
    session: AsyncSession,
    operator_id: uuid.UUID,
    *,
    code: str | None,
    recovery_code: str | None,
) -> bool:
    """Check a TOTP code or a recovery code inside the caller's transaction, spending it."""
    if recovery_code:
        return await _use_recovery_code(rt, session, operator_id, recovery_code)
    credential = await session.get(TotpCredential, operator_id, with_for_update=True)
    if credential is None or credential.confirmed_at is None or not code:
        return False
    secret = await _unseal(rt, session, credential)
    if secret is None:
        return False
    step = _matching_step(secret, code, credential.last_used_step)
    if step is None:
        return False
    credential.last_used_step = step
    return True


async def begin_enrolment(rt: Runtime, principal: Principal) -> tuple[str, str]:
    """Start TOTP enrolment: returns the secret and the otpauth:// URI for an authenticator."""
    assert principal.operator_id is not None
    async with rt.db.transaction() as session:
        operator = await session.get(Operator, principal.operator_id)
        if operator is None:
            raise NotFound()
        credential = await session.get(TotpCredential, operator.id)
        if credential is not None and credential.confirmed_at is not None:
            raise Conflict("Two-factor authentication is already on; turn it off first.")
        secret = pyotp.random_base32()
        if credential is None:
            session.add(
                TotpCredential(operator_id=operator.id, secret=await _seal(rt, operator, secret))
            )
        else:
            credential.secret = await _seal(rt, operator, secret)
            credential.last_used_step = None
        await append(session, rt, principal, "auth.mfa_enrolment_started")
        uri = await _provisioning_uri(session, operator, secret)
    return secret, uri


async def pending_enrolment(rt: Runtime, principal: Principal) -> tuple[str, str] | None:
    """The secret and otpauth:// URI of the principal's started, unconfirmed enrolment, or None.

    After a wrong code the setup page shows the same secret again: the authenticator already
    holds it, and starting over would silently invalidate what the person just scanned.
    """
    assert principal.operator_id is not None
    async with rt.db.transaction() as session:
        operator = await session.get(Operator, principal.operator_id)
        credential = await session.get(TotpCredential, principal.operator_id)
        if operator is None or credential is None or credential.confirmed_at is not None:
            return None
        secret = await _unseal(rt, session, credential)
        if secret is None:
            return None
        return secret, await _provisioning_uri(session, operator, secret)


async def _provisioning_uri(session: AsyncSession, operator: Operator, secret: str) -> str:
    label = operator.username
    if operator.workspace_id is not None:
        workspace = await session.get(Workspace, operator.workspace_id)
        label = f"{workspace.slug if workspace else ''}:{operator.username}"
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    return totp.provisioning_uri(name=label, issuer_name=ISSUER)


async def _replace_recovery_codes(
    rt: Runtime, session: AsyncSession, operator_id: uuid.UUID
) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.operator_id == operator_id))
    codes = rt.tokens.new_recovery_codes()
    for code in codes:
        session.add(
            RecoveryCode(operator_id=operator_id, code_hash=rt.tokens.hash_recovery_code(code))
        )
    return codes


async def confirm_enrolment(rt: Runtime, principal: Principal, code: str) -> list[str]:
    """Finish enrolment with a first valid code; returns the recovery codes, shown once."""
    assert principal.operator_id is not None
    async with rt.db.transaction() as session:
        credential = await session.get(TotpCredential, principal.operator_id, with_for_update=True)
        if credential is None:
            raise Conflict("Start enrolment first.")
        if credential.confirmed_at is not None:
            raise Conflict("Two-factor authentication is already on.")
        secret = await _unseal(rt, session, credential)
        step = _matching_step(secret, code, None) if secret else None
        if step is None:
            raise ValidationFailed(InvalidMfaCode.default_message, field="code")
        credential.confirmed_at = utcnow()
        credential.last_used_step = step
        codes = await _replace_recovery_codes(rt, session, principal.operator_id)
        await append(session, rt, principal, "auth.mfa_enabled")
        # Whether MFA enrolment is pending is part of the principal.
        session.on_commit(principals_changed, rt, principal.operator_id)
    return codes


async def _counting_failures(rt: Runtime, principal: Principal) -> None:
    """Wrong passwords and codes inside a session count towards lockout like at sign-in."""
    assert principal.operator_id is not None
    locked = await record_failure(rt, principal.operator_id)
    if locked:
        raise locked


async def regenerate_recovery_codes(rt: Runtime, principal: Principal, code: str) -> list[str]:
    try:
        return await _regenerate_recovery_codes(rt, principal, code)
    except ValidationFailed:
        await _counting_failures(rt, principal)
        raise


async def _regenerate_recovery_codes(rt: Runtime, principal: Principal, code: str) -> list[str]:
    assert principal.operator_id is not None
    async with rt.db.transaction() as session:
        if not await verify_second_factor(
            rt, session, principal.operator_id, code=code, recovery_code=None
        ):
            raise ValidationFailed(InvalidMfaCode.default_message, field="code")
        await append(session, rt, principal, "auth.recovery_codes_regenerated")
        return await _replace_recovery_codes(rt, session, principal.operator_id)


async def disable(rt: Runtime, principal: Principal, *, password: str, code: str) -> None:
    try:
        await _disable(rt, principal, password=password, code=code)
    except ValidationFailed:
        await _counting_failures(rt, principal)
        raise


async def _disable(rt: Runtime, principal: Principal, *, password: str, code: str) -> None:
    assert principal.operator_id is not None
    async with rt.db.transaction() as session:
        operator = await session.get(Operator, principal.operator_id)
        if operator is None:
            raise NotFound()
        check_not_locked(operator)
        if not rt.passwords.verify(operator.password_hash, password):
            raise ValidationFailed("The password is not correct.", field="password")
        if not await verify_second_factor(rt, session, operator.id, code=code, recovery_code=None):
            raise ValidationFailed(InvalidMfaCode.default_message, field="code")
        if operator.role is Role.ADMIN and operator.workspace_id is not None:
            workspace = await session.get(Workspace, operator.workspace_id)
            if workspace and workspace.mfa_required_for_admins:
                raise Forbidden("This workspace requires two-factor authentication for admins.")
        await session.execute(
            delete(TotpCredential).where(TotpCredential.operator_id == operator.id)
        )
        await session.execute(delete(RecoveryCode).where(RecoveryCode.operator_id == operator.id))
        await append(session, rt, principal, "auth.mfa_disabled")
        session.on_commit(principals_changed, rt, principal.operator_id)


async def status(rt: Runtime, operator_id: uuid.UUID) -> dict[str, object]:
    async with rt.db.session() as session:
        credential = await session.get(TotpCredential, operator_id)
        remaining = (
            await session.scalars(
                select(RecoveryCode.id).where(
                    RecoveryCode.operator_id == operator_id, RecoveryCode.used_at.is_(None)
                )
            )
        ).all()
    return {
        "enabled": bool(credential and credential.confirmed_at),
        "recovery_codes_left": len(remaining),
    }
