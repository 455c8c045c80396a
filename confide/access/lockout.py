"""Per-account lockout against password and code guessing.

``lockout_threshold`` failures within ``lockout_window_seconds`` lock the account for
``lockout_duration_seconds``. Every place that checks a secret of the account counts: sign-in,
the second factor, and re-authentication inside a session (changing the password, turning MFA
off), so a stolen access token cannot be used to guess the password either.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from confide.access.models import Operator
from confide.core.clock import utcnow
from confide.core.errors import AccountLocked

if TYPE_CHECKING:
    from confide.runtime import Runtime


def locked_error(until: datetime) -> AccountLocked:
    seconds = max(1, int((until - utcnow()).total_seconds()))
    return AccountLocked(headers={"Retry-After": str(seconds)})


async def record_failure(rt: Runtime, operator_id: uuid.UUID) -> AccountLocked | None:
    settings = rt.settings
    async with rt.db.transaction() as session:
        operator = await session.get(Operator, operator_id, with_for_update=True)
        if operator is None:
            return None
        now = utcnow()
        window = timedelta(seconds=settings.lockout_window_seconds)
        if operator.first_failed_login_at is None or now - operator.first_failed_login_at > window:
            operator.first_failed_login_at = now
            operator.failed_login_count = 0
        operator.failed_login_count += 1
        if operator.failed_login_count >= settings.lockout_threshold:
            operator.locked_until = now + timedelta(seconds=settings.lockout_duration_seconds)
            operator.failed_login_count = 0
            operator.first_failed_login_at = None
            return locked_error(operator.locked_until)
    return None


def check_not_locked(operator: Operator) -> None:
    if operator.locked_until is not None and operator.locked_until > utcnow():
        raise locked_error(operator.locked_until)
