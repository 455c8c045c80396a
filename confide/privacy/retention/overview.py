"""What the console's retention page shows an admin: the policy per channel in words, what
happens next and when, the last run's report and whether anything is overdue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from confide.access.policy import Action, Principal, authorize
from confide.core.clock import utcnow
from confide.privacy.retention.models import RetentionRun
from confide.privacy.retention.policy import OVERDUE_GRACE, ChannelPolicy
from confide.privacy.retention.report import next_steps, policies_for_report

if TYPE_CHECKING:
    from confide.runtime import Runtime

STEP_NAMES = {"archive": "moves to the restricted archive", "end_of_life": "is destroyed"}


def describe(policy: ChannelPolicy) -> str:
    """The policy of one channel in one sentence."""
    if policy.active_months:
        return f"Kept {policy.active_months} month(s), then destroyed (statistics kept)."
    archive = (
        f"then {policy.archive_days} day(s) in the restricted archive, "
        if policy.archive_days
        else "no archive, "
    )
    return f"Active {policy.active_days} day(s), {archive}then destroyed (statistics kept)."


async def retention_overview(rt: Runtime, principal: Principal) -> dict[str, Any]:
    """``{"channels": [{channel, policy, next, due, oldest, overdue}], "last_run": {...} |
    None, "overdue": bool}`` for the principal's workspace. Raises ``Forbidden`` (403) for
    anyone but an admin."""
    authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    workspace = str(principal.workspace_id)
    now = utcnow()
    async with rt.db.transaction() as tx:
        policies = await policies_for_report(tx, principal.workspace_id)
        steps = await next_steps(tx, principal.workspace_id, policies)
        runs = await tx.scalars(
            select(RetentionRun)
            .where(RetentionRun.status == "finished", RetentionRun.dry_run.is_(False))
            .order_by(RetentionRun.finished_at.desc())
            .limit(1)
        )  # ix_retention_runs_finished
        last = runs.first()
    channels = []
    for channel, policy in policies.items():
        step = steps[channel]
        due = step["due"]
        channels.append(
            {
                "channel": channel,
                "policy": describe(policy),
                "next": STEP_NAMES.get(step["next"] or "", "nothing kept yet"),
                "due": due[:10] if due else None,
                "oldest": step["oldest"][:10] if step["oldest"] else None,
                "overdue": bool(due) and due < (now - OVERDUE_GRACE).isoformat(),
            }
        )
    last_run = None
    if last is not None and last.report is not None:
        counts = last.report["workspaces"].get(workspace, {})
        last_run = {
            "finished_at": last.finished_at.isoformat()[:16].replace("T", " ")
            if last.finished_at
            else None,
            "as_of": last.as_of.isoformat()[:10],
            "channels": [{"channel": c, **counts[c]} for c in sorted(counts)],
        }
    return {
        "channels": channels,
        "last_run": last_run,
        "overdue": any(c["overdue"] for c in channels),
    }
