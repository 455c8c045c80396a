"""The inbox: conversation lists, the open conversation and the visitor panel.

Pages render what the REST API returns by calling the API's own handlers, so the policy
filter and the audit record of every read of personal data are the same code whichever way an
operator looks (no record, no data). The page then hands over to ``/static/console/inbox.js``,
which subscribes over the console WebSocket and keeps the lists and the conversation live.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from confide.access import groups, operator_views, workspaces
from confide.access.policy import Action, Principal
from confide.api.routes import conversations as conversations_api
from confide.api.routes import notes as notes_api
from confide.api.routes import operators as operators_api
from confide.chat import labels, previews
from confide.chat.models import Channel, OperatorPresence
from confide.core.errors import ConfideError
from confide.privacy import consent_requests, consent_state
from confide.privacy import settings as privacy_settings
from confide.runtime import Runtime
from confide.web.console import visitor_attributes
from confide.web.console.session import Visit, page_visit, render, runtime

router = APIRouter(include_in_schema=False)
LIST_SIZE = 50
CLOSED_LIST_SIZE = 20
HISTORY_PAGE = 50  # messages rendered with the page; older ones load on demand, by seq
PAST_CONVERSATIONS = 10
ListStatus = Literal["waiting", "open", "closed"]
LISTS: tuple[tuple[ListStatus, int], ...] = (
    ("waiting", LIST_SIZE),
    ("open", LIST_SIZE),
    ("closed", CLOSED_LIST_SIZE),
)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


@router.get("/console/")
async def inbox_page(
    request: Request, group: str | None = None, label: str | None = None
) -> Response:
    return await _inbox(request, None, group, label)


@router.get("/console/conversations/{conversation_id}")
async def conversation_page(
    request: Request,
    conversation_id: str,
    group: str | None = None,
    label: str | None = None,
) -> Response:
    try:
        wanted = uuid.UUID(conversation_id)
    except ValueError:
        # A mistyped address gets the console's "no such conversation" page, not JSON: the
        # nil id is never a conversation's, so it takes the same path as a missing one.
        wanted = uuid.UUID(int=0)
    return await _inbox(request, wanted, group, label)


def _group_filter(value: str | None, known: list[dict[str, Any]]) -> uuid.UUID | None:
    """Only a group the operator can see filters; anything else shows every list."""
    if not value:
        return None
    return next((uuid.UUID(g["id"]) for g in known if g["id"] == value), None)


async def _inbox(
    request: Request, conversation_id: uuid.UUID | None, group: str | None, label: str | None
) -> Response:
    visit = await page_visit(request)
    if isinstance(visit, Response):
        return visit
    rt = runtime(request)
    principal = visit.principal
    assert principal.operator_id is not None
    me = (await operator_views.get_operator_view(rt, principal, principal.operator_id)).data
    if Action.CONVERSATIONS_WORK not in visit.allowed:
        # Analysts and support have no chat room: their console starts at their account.
        plain = {"me": me, "nav": "inbox", "message": _NO_CHAT_ROOM}
        return render(request, "no_inbox.html", plain, visit=visit)
    known_groups = (
        await groups.list_groups(rt, principal) if Action.GROUPS_LIST in visit.allowed else []
    )
    group_id = _group_filter(group, known_groups)
    known_labels = await labels.list_labels(rt, principal)
    label_id = _group_filter(label, known_labels)  # the same rule: only a known label filters
    lists = {
        status: await _list(
            request, rt, principal, status=status, group_id=group_id, label_id=label_id, limit=size
        )
        for status, size in LISTS
    }
    assert principal.workspace_id is not None
    workspace = await workspaces.get_workspace(rt, principal.workspace_id)
    context: dict[str, Any] = {
        "me": me,
        "nav": "inbox",
        "workspace_name": workspace.name,
        "groups": known_groups,
        "group_filter": str(group_id) if group_id else "",
        "labels": known_labels,
        "label_filter": str(label_id) if label_id else "",
        "lists": lists,
        "availability": await _availability(rt, principal.operator_id),
        "conversation": None,
        "team": [],
        # The reply box refuses what the server would refuse (Settings.message_max_chars).
        "message_max_chars": rt.settings.message_max_chars,
    }
    if conversation_id is not None:
        try:
            context.update(await _conversation(request, rt, visit, conversation_id))
        except ConfideError as exc:
            if exc.status_code != 404:
                raise
            context["missing"] = True
            return render(request, "inbox.html", context, 404, visit)
    return render(request, "inbox.html", context, visit=visit)


_NO_CHAT_ROOM = "Your role has no chat room. Your account page is below."


async def _list(
    request: Request,
    rt: Runtime,
    principal: Principal,
    *,
    status: ListStatus | None = None,
    group_id: uuid.UUID | None = None,
    visitor_id: uuid.UUID | None = None,
    label_id: uuid.UUID | None = None,
    limit: int,
) -> list[dict[str, Any]]:
    page = await conversations_api.list_conversations(
        request=request,
        principal=principal,
        rt=rt,
        status=status,
        group_id=group_id,
        visitor_id=visitor_id,
        before=None,
        limit=limit,
        label_id=label_id,
    )
    items: list[dict[str, Any]] = page["conversations"]
    ids = [uuid.UUID(item["id"]) for item in items]
    found = await previews.last_message_previews(rt, ids)
    tags = await labels.labels_of(rt, ids)
    for item in items:
        item["preview"] = found.get(uuid.UUID(item["id"]))
        item["labels"] = tags.get(uuid.UUID(item["id"]), [])
    return items


async def _availability(rt: Runtime, operator_id: uuid.UUID) -> str:
    async with rt.db.session() as session:
        presence = await session.get(OperatorPresence, operator_id)
    return presence.availability.value if presence is not None else "away"


async def _conversation(
    request: Request, rt: Runtime, visit: Visit, conversation_id: uuid.UUID
) -> dict[str, Any]:
    principal = visit.principal
    detail = await conversations_api.read_conversation(
        conversation_id=conversation_id, request=request, principal=principal, rt=rt
    )
    since = max(0, int(detail["last_seq"]) - HISTORY_PAGE)
    page = await conversations_api.read_messages(
        conversation_id=conversation_id,
        request=request,
        principal=principal,
        rt=rt,
        since=since,
        limit=HISTORY_PAGE,
    )
    visitor_id = uuid.UUID(detail["visitor_id"])
    past = await _list(request, rt, principal, visitor_id=visitor_id, limit=PAST_CONVERSATIONS + 1)
    assert principal.workspace_id is not None
    consents: dict[str, str] = {}
    if detail["channel"] == Channel.WEB.value:
        consents = await consent_state.visitor_states(rt, principal.workspace_id, visitor_id)
    grants = {purpose: state == "granted" for purpose, state in consents.items()}
    team = []
    if Action.OPERATORS_LIST in visit.allowed:
        listed = await operators_api.list_operators(request=request, principal=principal, rt=rt)
        team = [
            op
            for op in listed["operators"]
            if op["id"] != str(principal.operator_id) and op["role"] != "analyst"
        ]
    messages = page["messages"]
    privacy = await privacy_settings.read(rt, principal.workspace_id)
    transcripts_off = not privacy["store_transcripts"]
    # The visitor's page (mirrored with their consent) and co-browsing: web chats only.
    requests = await consent_requests.list_requests(rt, principal.workspace_id)
    sharing = {
        "enabled": bool(grants) and privacy["mirroring_enabled"],
        "cobrowse_offered": any(
            r["purpose"] == "cobrowsing" and r["superseded_at"] is None for r in requests
        ),
    }
    first_seq = messages[0]["seq"] if messages else int(detail["last_seq"]) + 1
    if transcripts_off:
        # Nothing was recorded: show what the live relay still holds of this chat (read after
        # the same policy check and audit record as above), and nothing to load earlier.
        held = [] if detail["status"] == "closed" else await rt.relay.recent(conversation_id)
        stored = {m["seq"] for m in messages}
        messages = sorted(
            [*messages, *(m for m in held if m["seq"] not in stored)], key=lambda m: m["seq"]
        )
        first_seq = 1
    notes = await notes_api.list_notes(conversation_id=conversation_id, principal=principal, rt=rt)
    attributes = await visitor_attributes.pane_context(rt, principal, visitor_id)
    return {
        **attributes,
        "conversation": detail,
        "conversation_labels": (await labels.labels_of(rt, [conversation_id]))[conversation_id],
        "notes": notes["notes"],
        "messages": messages,
        "transcripts_off": transcripts_off,
        "first_seq": first_seq,
        "past": [c for c in past if c["id"] != str(conversation_id)][:PAST_CONVERSATIONS],
        "grants": grants,
        "consents": consents,
        # Chat consent withdrawn where it is required: nothing more is sent or stored here.
        "consent_withdrawn": privacy["consent_required"]
        and consents.get("chat") in ("withdrawn", "refused"),
        "consent_required": privacy["consent_required"],
        "sharing": sharing,
        "can_proof": Action.CONSENT_PROOF_READ in visit.allowed,
        "team": team,
    }
