"""The answer to an access or portability request (GDPR Art. 15, 20) once it is carried out,
and how it reaches the person.

- **An export**: the ZIP kept on the case. It leaves only through a fresh signed link that
  lives ``export_store.LINK_TTL_SECONDS``; each download is recorded in the audit ledger by
  ``export_store.open_export_download`` before the first byte leaves.
- **Nothing held any more**: a person erased before the request was carried out has no data
  left, so there is no export. The case is completed with a signed receipt saying exactly that
  (the truthful Art. 15 answer), and every place that would offer a download says so instead.
- **Who hands it over**: the receipt goes by mail to the requester's address when there is
  one. A widget visitor often gave none: the console then tells the admin to hand the export
  over, and the visitor can fetch it themself from the widget with their visitor token
  (:func:`visitor_case`), which yields the same short-lived, audited link.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Literal

from confide.access.policy import Principal
from confide.core.errors import NotFound
from confide.privacy import export_store
from confide.privacy.requests.cases import load_case
from confide.privacy.requests.models import DsrCase

if TYPE_CHECKING:
    from confide.runtime import Runtime

NOTHING_HELD = "none: no personal data about this person is held any more"
NOTHING_KNOWN = "none: no data about this person is held"
EXPORT_KINDS = ("access", "portability")
AnswerState = Literal["export", "nothing_held", "pending", "no_export"]

_NO_EXPORT = {
    "nothing_held": (
        "No personal data about this person is held any more (they were erased), so this "
        "request has no export; its signed receipt says so."
    ),
    "pending": "This request has no export yet: carry it out first.",
    "no_export": "Only a completed access or portability request has an export.",
}


def answer_state(case: DsrCase) -> AnswerState:
    """``export`` (a ZIP to download), ``nothing_held`` (completed: no data held), ``pending``
    (an open access/portability case) or ``no_export`` (another kind, or refused)."""
    if case.kind not in EXPORT_KINDS or case.status == "rejected":
        return "no_export"
    if case.status != "completed":
        return "pending"
    if case.export_key is not None and case.subject_id is not None:
        return "export"
    return "nothing_held"


def requester_mailed(history: list[dict[str, Any]]) -> bool:
    """Whether the receipt of a completed case was mailed to the requester (recorded on the
    ``completed`` event by ``acts.complete_in``)."""
    for event in history:
        if event["action"] == "completed":
            return bool((event.get("details") or {}).get("receipt_mailed_to_requester"))
    return False


def _link(rt: Runtime, case: DsrCase, issued_by: str) -> dict[str, str]:
    assert case.export_key is not None and case.subject_id is not None
    token, expires = export_store.sign_link(
        rt, case.export_key, case.subject_id, case.workspace_id, issued_by
    )
    return {"url": f"/api/v1/exports/{token}", "expires_at": expires.isoformat()}


async def case_download_link(
    rt: Runtime, actor: Principal | None, case_id: uuid.UUID, *, issued_by: str
) -> dict[str, str]:
    """A fresh signed link (``url``, ``expires_at``) to the case's export ZIP. Raises
    ``NotFound`` (404) saying why there is none: nothing held any more, not carried out yet,
    or a kind of request without an export."""
    async with rt.db.session() as session:
        case = await load_case(session, actor, case_id)
    state = answer_state(case)
    if state != "export":
        raise NotFound(_NO_EXPORT[state], field="case_id")
    return _link(rt, case, issued_by)


async def visitor_case(rt: Runtime, visitor: Principal, case_id: uuid.UUID) -> dict[str, Any]:
    """A widget visitor's own request: status, and once completed its signed receipt and, for
    an access/portability request with an export, a fresh short-lived link (downloads are
    recorded). ``answer`` is one of :data:`AnswerState`. Raises ``NotFound`` for a case that
    is not this visitor's (the same answer as for no case at all)."""
    if visitor.kind != "visitor" or visitor.visitor_id is None:
        raise NotFound("No such request.", field="case_id")
    async with rt.db.session() as session:
        case = await session.get(DsrCase, case_id)
    if (
        case is None
        or case.visitor_id != visitor.visitor_id
        or case.workspace_id != visitor.workspace_id
    ):
        raise NotFound("No such request.", field="case_id")
    state = answer_state(case)
    found: dict[str, Any] = {
        "case_id": str(case.id),
        "kind": case.kind,
        "status": case.status,
        "due_at": case.due_at.isoformat(),
        "answer": state,
        "receipt": case.receipt,
    }
    if state == "export":
        link = _link(rt, case, f"visitor:{visitor.visitor_id}")
        found["download_url"], found["download_expires_at"] = link["url"], link["expires_at"]
    return found
