"""The search page: conversations the operator may see, by words, visitor e-mail, label,
channel and status, through the API's own handler (policy scope and audit record included)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access import operator_views
from confide.access.policy import Action
from confide.api.routes import search as search_api
from confide.chat import labels
from confide.web.console import forms
from confide.web.console.session import page_visit, render, runtime

router = APIRouter(include_in_schema=False)
CHANNELS = ("web", "social", "call", "sms", "video")
STATUSES = ("waiting", "open", "closed")


def _day(value: str, *, next_day: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` date as the start of that day (UTC), or of the next one for "until"
    (inclusive); anything else is ignored, like an unknown label."""
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return None
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if next_day else start


def _choice(value: str | None, allowed: tuple[str, ...]) -> Any:
    return value if value in allowed else None


@router.get("/console/search")
async def search_page(
    request: Request,
    q: str = "",
    email: str = "",
    label: str = "",
    channel: str = "",
    status: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    visit = await page_visit(request, Action.CONVERSATIONS_WORK)
    if isinstance(visit, Response):
        return visit
    rt = runtime(request)
    assert visit.principal.operator_id is not None
    me = (
        await operator_views.get_operator_view(rt, visit.principal, visit.principal.operator_id)
    ).data
    known = await labels.list_labels(rt, visit.principal)
    label_id = next((uuid.UUID(x["id"]) for x in known if x["id"] == label), None)
    values = {
        "q": q[:500],
        "email": email[:254],
        "label": label,
        "channel": channel,
        "status": status,
        "since": since[:10],
        "until": until[:10],
    }
    asked = any(values.values())
    since_at, until_at = _day(since), _day(until, next_day=True)
    outcome: forms.Outcome[Any] | None = None
    if asked:
        outcome = await forms.attempt(
            lambda: search_api.search_conversations(
                request=request,
                principal=visit.principal,
                rt=rt,
                q=values["q"],
                email=values["email"] or None,
                label_id=label_id,
                channel=_choice(channel, CHANNELS),
                status=_choice(status, STATUSES),
                since=since_at,
                until=until_at,
            )
        )
    context = {
        "me": me,
        "nav": "search",
        "values": values,
        "labels": known,
        "channels": CHANNELS,
        "statuses": STATUSES,
        "asked": asked,
        "results": (outcome.value or {}).get("conversations", []) if outcome else [],
        "errors": outcome.errors if outcome else {},
    }
    return render(request, "search.html", context, outcome.status_code if outcome else 200, visit)
