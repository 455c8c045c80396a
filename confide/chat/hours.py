"""Opening hours per group, and what the widget says when nobody can answer.

A group's hours (``group_hours``) are local times in its own IANA time zone, per weekday, plus
holiday dates when it stays closed all day; a group without hours is always open. Hours are
about *promises*: outside them, or when none of the group's agents is available, the widget
shows an away notice with the next opening time (or the reply time the group promises) and
offers to leave an e-mail address; the conversation still waits in the group's queue.

Times cross the wire in UTC (ISO 8601); the widget formats them in the visitor's own zone.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.models import Group, GroupMember
from confide.access.policy import Principal
from confide.audit import ledger
from confide.chat.models import Availability, GroupHours, OperatorPresence
from confide.core.clock import utcnow
from confide.core.errors import NotFound, ValidationFailed
from confide.runtime import Runtime

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
MAX_INTERVALS_PER_DAY = 6
MAX_HOLIDAYS = 366
LOOKAHEAD_DAYS = 400  # a year of holidays plus a little: the next opening is found or is None


def _parse_time(value: str) -> time:
    return time.max if value == "24:00" else time.fromisoformat(value)


def check_hours(
    time_zone: str, weekly: dict[str, Any], holidays: list[str], expected_reply_minutes: Any
) -> dict[str, Any]:
    """Validate hours; returns them normalised. Raises ValidationFailed naming the field
    (``weekly.mon.0``, ``holidays.2``, ``time_zone``)."""
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed("Unknown time zone; use an IANA name.", field="time_zone") from exc
    if time_zone not in available_timezones():
        raise ValidationFailed("Unknown time zone; use an IANA name.", field="time_zone")
    unknown = set(weekly) - set(WEEKDAYS)
    if unknown:
        raise ValidationFailed("Weekdays are mon..sun.", field=f"weekly.{sorted(unknown)[0]}")
    clean: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        intervals = weekly.get(day) or []
        if len(intervals) > MAX_INTERVALS_PER_DAY:
            raise ValidationFailed("At most 6 intervals a day.", field=f"weekly.{day}")
        for index, interval in enumerate(intervals):
            field = f"weekly.{day}.{index}"
            if (
                not isinstance(interval, list | tuple)
                or len(interval) != 2
                or not all(isinstance(v, str) and HH_MM.match(v) for v in interval)
            ):
                raise ValidationFailed('An interval is ["HH:MM", "HH:MM"].', field=field)
            if _parse_time(interval[0]) >= _parse_time(interval[1]):
                raise ValidationFailed("An interval ends after it starts.", field=field)
        clean[day] = sorted([list(i) for i in intervals])
    if len(holidays) > MAX_HOLIDAYS:
        raise ValidationFailed("At most 366 holidays.", field="holidays")
    for index, day_text in enumerate(holidays):
        try:
            date.fromisoformat(day_text)
        except (TypeError, ValueError) as exc:
            raise ValidationFailed(
                "A holiday is a date YYYY-MM-DD.", field=f"holidays.{index}"
            ) from exc
    if expected_reply_minutes is not None and (
        not isinstance(expected_reply_minutes, int) or not 1 <= expected_reply_minutes <= 10_080
    ):
        raise ValidationFailed(
            "expected_reply_minutes is 1 to 10080 (a week).", field="expected_reply_minutes"
        )
    return {
        "time_zone": time_zone,
        "weekly": clean,
        "holidays": sorted(set(holidays)),
        "expected_reply_minutes": expected_reply_minutes,
    }


def opening_state(hours: GroupHours | None, now: datetime) -> tuple[bool, datetime | None]:
    """(open now, next opening in UTC when closed; None when it never opens again)."""
    if hours is None:
        return True, None
    zone = ZoneInfo(hours.time_zone)
    local_now = now.astimezone(zone)
    holidays = set(hours.holidays)
    for offset in range(LOOKAHEAD_DAYS):
        day = local_now.date() + timedelta(days=offset)
        if day.isoformat() in holidays:
            continue
        for start_text, end_text in hours.weekly.get(WEEKDAYS[day.weekday()], []):
            start = datetime.combine(day, _parse_time(start_text), zone)
            end = datetime.combine(day, _parse_time(end_text), zone)
            if offset == 0 and start <= local_now < end:
                return True, None
            if start > local_now:
                return False, start.astimezone(ZoneInfo("UTC"))
    return False, None


async def agents_available(session: AsyncSession, group_id: uuid.UUID) -> bool:
    """Whether any member of the group is marked available (ix on operator_presence pk)."""
    found = await session.scalar(
        select(GroupMember.operator_id)
        .join(OperatorPresence, OperatorPresence.operator_id == GroupMember.operator_id)
        .where(
            GroupMember.group_id == group_id,
            OperatorPresence.availability == Availability.AVAILABLE,
        )
        .limit(1)
    )
    return found is not None


async def availability(session: AsyncSession, workspace_id: uuid.UUID) -> dict[str, Any]:
    """What the widget says about the workspace's default group (its first, as routing picks):
    ``{"open", "agents_available", "next_opening" (UTC ISO or None), "expected_reply_minutes"}``.
    """
    group_id = await session.scalar(
        select(Group.id)
        .where(Group.workspace_id == workspace_id)
        .order_by(Group.created_at, Group.id)
        .limit(1)
    )
    if group_id is None:
        return {
            "open": True,
            "agents_available": False,
            "next_opening": None,
            "expected_reply_minutes": None,
        }
    hours = await session.get(GroupHours, group_id)
    is_open, next_opening = opening_state(hours, utcnow())
    return {
        "open": is_open,
        "agents_available": is_open and await agents_available(session, group_id),
        "next_opening": next_opening.isoformat() if next_opening else None,
        "expected_reply_minutes": hours.expected_reply_minutes if hours else None,
    }


def render(row: GroupHours | None) -> dict[str, Any] | None:
    """The hours as the API shows them; None for a group that is always open."""
    if row is None:
        return None
    return {
        "time_zone": row.time_zone,
        "weekly": row.weekly,
        "holidays": row.holidays,
        "expected_reply_minutes": row.expected_reply_minutes,
    }


async def read_group_hours(
    rt: Runtime, workspace_id: uuid.UUID, group_id: uuid.UUID
) -> dict[str, Any] | None:
    """The group's hours (None: always open); NotFound for another workspace's group."""
    async with rt.db.session() as session:
        group = await session.get(Group, group_id)
        if group is None or group.workspace_id != workspace_id:
            raise NotFound("No such group in this workspace.", field="group_id")
        return render(await session.get(GroupHours, group_id))


async def do_set_group_hours(
    rt: Runtime,
    principal: Principal,
    workspace_id: uuid.UUID,
    group_id: uuid.UUID,
    hours: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Replace the group's hours (``None``: always open) in one unit of work, recorded as
    ``group.hours``. Raises :class:`NotFound` (``group_id``), :class:`ValidationFailed`."""
    checked = (
        check_hours(
            hours.get("time_zone", ""),
            hours.get("weekly") or {},
            hours.get("holidays") or [],
            hours.get("expected_reply_minutes"),
        )
        if hours is not None
        else None
    )
    async with rt.db.transaction() as session:
        group = await session.get(Group, group_id, with_for_update=True)
        if group is None or group.workspace_id != workspace_id:
            raise NotFound("No such group in this workspace.", field="group_id")
        row = await session.get(GroupHours, group_id)
        await ledger.append(
            session,
            rt,
            principal,
            "group.hours",
            resource=f"group:{group_id}",
            details={"hours": None}
            if checked is None
            else json.loads(json.dumps(hours, default=str)),
        )
        if checked is None:
            if row is not None:
                await session.delete(row)
            return None
        if row is None:
            row = GroupHours(group_id=group_id, workspace_id=workspace_id)
            session.add(row)
        for name, value in checked.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        await session.flush()
        return render(row)
