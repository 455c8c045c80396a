"""The overdue alert: retention that silently stops must be noticed.

A workspace is overdue when a conversation's next retention step (archive or end of life) was
due more than a day ago and no legal hold explains it (``report.overdue_channels``): the job is
stopped, failing, or cannot keep up. The console shows a banner to admins on every page of the
retention settings while it lasts (:func:`overdue_banner`), and :func:`do_check_overdue`
(the hourly ``retention_alert`` job, and the end of each retention run) mails the workspace's
active admins once a day when SMTP is configured. The mail names channels and dates, never a
conversation or a person.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from confide.access.models import Operator, OperatorStatus, Role, Workspace
from confide.audit.ledger import Actor, append
from confide.core.clock import utcnow
from confide.core.mail import Mail, mail_enabled, send_mail
from confide.privacy.retention.models import RetentionAlert
from confide.privacy.retention.report import overdue_channels

if TYPE_CHECKING:
    from confide.runtime import Runtime

log = logging.getLogger("confide.retention")
MAIL_EVERY = timedelta(days=1)


async def overdue_banner(rt: Runtime, workspace_id: uuid.UUID) -> dict[str, Any] | None:
    """``{"channels": {channel: {"next", "due", "oldest"}}}`` when overdue, else None."""
    async with rt.db.transaction() as tx:
        channels = await overdue_channels(tx, workspace_id, utcnow())
    return {"channels": channels} if channels else None


async def _mail_admins(rt: Runtime, addresses: list[str], text: str) -> None:
    for address in addresses:
        try:
            await send_mail(
                rt.settings, Mail(to=address, subject="Retention is overdue", text=text)
            )
        except Exception as exc:  # one refused address must not stop the others
            log.warning("retention alert mail failed (%s)", type(exc).__name__)


async def do_check_overdue(rt: Runtime, now: datetime | None = None) -> list[uuid.UUID]:
    """Record, per workspace, whether retention is overdue, and mail its active admins (at
    most once a day, only with SMTP configured). Returns the overdue workspaces' ids."""
    now = now or utcnow()
    async with rt.db.session() as session:
        workspace_ids = list((await session.scalars(select(Workspace.id))).all())
    overdue: list[uuid.UUID] = []
    for workspace_id in workspace_ids:
        async with rt.db.transaction() as tx:
            channels = await overdue_channels(tx, workspace_id, now)
            alert = await tx.get(RetentionAlert, workspace_id, with_for_update=True)
            if alert is None:
                alert = RetentionAlert(workspace_id=workspace_id)
                tx.add(alert)
            if not channels:
                alert.overdue_since = None
                continue
            overdue.append(workspace_id)
            alert.overdue_since = alert.overdue_since or now
            recent = alert.last_mailed_at is not None and alert.last_mailed_at > now - MAIL_EVERY
            if recent or not mail_enabled(rt.settings):
                continue
            admins = (
                await tx.scalars(
                    select(Operator.subject_id).where(
                        Operator.workspace_id == workspace_id,
                        Operator.role == Role.ADMIN,
                        Operator.status == OperatorStatus.ACTIVE,
                    )
                )
            ).all()
            fields = await rt.vault.read_fields(tx, list(admins), ["email"])
            addresses = [f["email"] for f in fields.values() if f.get("email")]
            if not addresses:
                continue
            alert.last_mailed_at = now
            lines = ["Retention of this workspace is overdue by more than a day:", ""]
            for channel, step in sorted(channels.items()):
                lines.append(f"- {channel}: {step['next']} was due {step['due'][:10]}")
            lines += ["", "Check that the retention job runs: `confide retention run`."]
            await append(
                tx,
                rt,
                Actor("system", None, workspace_id),
                "retention.overdue_alert",
                subjects=list(admins),
                resource=f"workspace:{workspace_id}",
                details={"channels": sorted(channels)},
            )
            tx.on_commit(_mail_admins, rt, addresses, "\n".join(lines))
    return overdue
