"""Classification of the retention tables: anonymised statistics, runs and alerts."""

from __future__ import annotations

from confide.privacy.datamap import OPERATIONAL, Table

_STATISTICS_COLUMNS = (
    "id",
    "workspace_id",
    "day",
    "period",
    "channel",
    "group_id",
    "visitor_messages",
    "operator_messages",
    "bot_messages",
    "system_messages",
    "first_response_seconds",
    "handling_seconds",
    "duration_seconds",
    "csat_score",
    "outcome",
)

RETENTION_TABLES: dict[str, Table] = {
    "conversation_statistics": Table(
        about="One row of figures per conversation (day or week, channel, group, message "
        "counts by author kind, first-response, handling and total seconds, CSAT score, "
        "outcome), written by the retention job and kept after the conversation's end of life "
        "for reports. No id of a person, no address, no free text; a group's day with fewer "
        "than 5 conversations is kept per week. `conversation_id` links the row to its live "
        "conversation only (so it is written once) and is set to NULL when the conversation "
        "is destroyed or erased.",
        retention="Kept (anonymised statistics, GDPR Recital 26); deleted with the workspace.",
        protection="Holds nothing that singles out a visitor once its conversation is gone.",
        readers="Admins, managers (their groups) and analysts through reports.",
        columns={
            **{c: OPERATIONAL for c in _STATISTICS_COLUMNS},
            "conversation_id": OPERATIONAL,
        },
    ),
    "retention_runs": Table(
        about="Each retention run: its date, cursor, batches and stored report (counts per "
        "workspace and channel, oldest item kept and its due date). Ids of workspaces only.",
        retention="retention_run_keep_days from the run's start (default 400), then deleted "
        "with its counts by the retention run itself (recorded as retention.runs_pruned).",
        protection="Holds no personal data.",
        readers="Admins (the retention page), the platform operator.",
        columns={
            c: OPERATIONAL
            for c in (
                "id",
                "as_of",
                "dry_run",
                "status",
                "cursor",
                "batches",
                "report",
                "started_at",
                "finished_at",
            )
        },
    ),
    "retention_run_counts": Table(
        about="What a run did per workspace and channel (counts only).",
        retention="With its run.",
        protection="Holds no personal data.",
        readers="Admins (the retention page).",
        columns={
            c: OPERATIONAL
            for c in (
                "run_id",
                "workspace_id",
                "channel",
                "statistics",
                "archived",
                "destroyed",
                "held",
                "visitors_erased",
            )
        },
    ),
    "retention_alerts": Table(
        about="When a workspace's retention became overdue and its admins were last mailed.",
        retention="Until the workspace is closed.",
        protection="Holds no personal data.",
        readers="The retention job.",
        columns={c: OPERATIONAL for c in ("workspace_id", "overdue_since", "last_mailed_at")},
    ),
}
