"""The retention policy of a workspace: per channel, how long a conversation stays active,
then how long in the restricted archive, then end of life.

Why one module: the settings API, the console page, the job and the overdue alert all ask the
same two questions (when does this conversation leave active retention, when does it reach end
of life) and must agree. The clock of a conversation starts when it ended
(``closed_at``, or ``created_at`` for one never closed). Settings (``retention_days``,
``archive_days``, ``delete_after_months``) live in the workspace's privacy settings row
(``confide.privacy.settings``); this module only validates and interprets them.

- ``retention_days``: days active per channel (defaults: web and social 3 years, call, SMS and
  video 12 months; any value 1-3650).
- ``archive_days``: days in the restricted archive after that, per channel (default 5 years;
  0 = no archive: end of life as soon as active retention ends).
- ``delete_after_months``: the simple form (1-36; 0 = off). When set it wins: every channel is
  kept that many calendar months, with no archive (GDPR Art. 5(1)(e), storage limitation).
- Connection logs are not conversations: ``connection_log_retention_days`` (default a year,
  ``DEFAULT_CONNECTION_LOG_RETENTION_DAYS``; 1-365) is purged by ``confide.privacy.connections``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from confide.chat.models import Channel
from confide.core.errors import ValidationFailed

MAX_RETENTION_DAYS = 3650
MAX_ARCHIVE_DAYS = 3650
MAX_DELETE_AFTER_MONTHS = 36
THREE_YEARS_DAYS, ONE_YEAR_DAYS, FIVE_YEARS_DAYS = 1095, 365, 1825
DEFAULT_RETENTION_DAYS: dict[str, int] = {
    Channel.WEB.value: THREE_YEARS_DAYS,
    Channel.SOCIAL.value: THREE_YEARS_DAYS,
    Channel.CALL.value: ONE_YEAR_DAYS,
    Channel.SMS.value: ONE_YEAR_DAYS,
    Channel.VIDEO.value: ONE_YEAR_DAYS,
}
DEFAULT_ARCHIVE_DAYS: dict[str, int] = {channel.value: FIVE_YEARS_DAYS for channel in Channel}
# Connection logs (``confide.privacy.connections``): a year by default, as the defaults say.
DEFAULT_CONNECTION_LOG_RETENTION_DAYS = ONE_YEAR_DAYS
OVERDUE_GRACE = timedelta(days=1)  # overdue by more than this: the alert fires


@dataclass(frozen=True)
class ChannelPolicy:
    """What happens to conversations of one channel: ``active_days`` (or ``active_months``
    when the simple setting is on) then ``archive_days`` (0: none)."""

    channel: str
    active_days: int
    archive_days: int
    active_months: int = 0

    def archive_cutoff(self, as_of: datetime) -> datetime | None:
        """Conversations that ended before this leave active retention (None: no archive)."""
        return self._active_end(as_of) if self.archive_days else None

    def end_of_life_cutoff(self, as_of: datetime) -> datetime:
        """Conversations that ended before this reach end of life."""
        return self._active_end(as_of) - timedelta(days=self.archive_days)

    def archive_due(self, ended_at: datetime) -> datetime | None:
        """When a conversation that ended at ``ended_at`` is due for the archive."""
        return self._add_active(ended_at) if self.archive_days else None

    def end_of_life_due(self, ended_at: datetime) -> datetime:
        return self._add_active(ended_at) + timedelta(days=self.archive_days)

    def _active_end(self, as_of: datetime) -> datetime:
        if self.active_months:
            return add_months(as_of, -self.active_months)
        return as_of - timedelta(days=self.active_days)

    def _add_active(self, ended_at: datetime) -> datetime:
        if self.active_months:
            return add_months(ended_at, self.active_months)
        return ended_at + timedelta(days=self.active_days)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` moved by whole calendar months, the day clamped to the month's last."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = datetime(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def policies_of(values: dict[str, Any]) -> dict[str, ChannelPolicy]:
    """Each channel's policy from rendered privacy settings (``confide.privacy.settings``)."""
    months = int(values.get("delete_after_months") or 0)
    active = {**DEFAULT_RETENTION_DAYS, **(values.get("retention_days") or {})}
    archive = {**DEFAULT_ARCHIVE_DAYS, **(values.get("archive_days") or {})}
    return {
        channel.value: ChannelPolicy(
            channel.value,
            active_days=months * 31 if months else active[channel.value],
            archive_days=0 if months else archive[channel.value],
            active_months=months,
        )
        for channel in Channel
    }


def check_channel_days(name: str, value: Any, minimum: int, maximum: int) -> dict[str, int]:
    """Validate ``{channel: days}`` (a partial update); ValidationFailed names
    ``name.channel`` (or ``name`` when it is not an object)."""
    if not isinstance(value, dict):
        raise ValidationFailed(f"Send {name} as an object of channel to days.", field=name)
    checked: dict[str, int] = {}
    for channel, days in value.items():
        field = f"{name}.{channel}"
        if channel not in DEFAULT_RETENTION_DAYS:
            raise ValidationFailed(
                f"Unknown channel; use one of {', '.join(DEFAULT_RETENTION_DAYS)}.", field=field
            )
        in_range = isinstance(days, int) and minimum <= days <= maximum
        if isinstance(days, bool) or not in_range:
            what = "Keep conversations" if minimum else "Archive conversations"
            raise ValidationFailed(f"{what} {minimum}-{maximum} days.", field=field)
        checked[channel] = days
    return checked


def check_delete_after_months(value: Any) -> int:
    """0 (off) or 1-36 months."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed("Send a number of months.", field="delete_after_months")
    if not 0 <= value <= MAX_DELETE_AFTER_MONTHS:
        raise ValidationFailed(
            f"Delete transcripts after 1-{MAX_DELETE_AFTER_MONTHS} months (0: off).",
            field="delete_after_months",
        )
    return value
