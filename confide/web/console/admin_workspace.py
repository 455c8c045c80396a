"""Settings pages for the workspace: security, privacy, retention, consent requests, widget.

Like ``admin_people``: each form becomes one call of the API's own handler (``PATCH
/api/v1/workspace``, ``PUT /api/v1/consent/requests/{purpose}``, the widget settings), so the
validation, the transaction and the audit record are the API's, and a refused form changes
nothing. Admins only (``workspace.settings``).
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access.policy import Action
from confide.api.routes import consent as consent_api
from confide.api.routes import workspace as workspace_api
from confide.api.schemas import ConsentPurpose, ConsentRequestWrite, WorkspaceUpdate
from confide.chat.models import Channel
from confide.privacy import redaction_accuracy
from confide.privacy.consent_requests import PURPOSES
from confide.privacy.redaction import RedactionPolicy
from confide.privacy.retention.overview import retention_overview
from confide.web.console import forms
from confide.web.console.admin_people import settings_page
from confide.web.console.session import Visit, page_visit, post_visit, redirect, runtime

router = APIRouter(include_in_schema=False)
REDACTION_TOGGLES = (
    ("redact_cards", "Payment card numbers (Luhn-valid)"),
    ("redact_ibans", "IBANs"),
    ("redact_phones", "Phone numbers"),
    ("redact_emails", "E-mail addresses"),
)
PURPOSE_TITLES = {
    "chat": "Chat (storing the conversation)",
    "preview": "Typing preview (agents see text as it is typed)",
    "mirroring": "Page mirroring (agents see the page the visitor is on)",
    "cobrowsing": "Co-browsing (agents guide navigation)",
    "email": "E-mail answers to a message left while away",
}
# Sections backed by PATCH /api/v1/workspace, and the fields each form sends.
WORKSPACE_SECTIONS: dict[str, tuple[str, ...]] = {
    "security": ("name", "mfa_required_for_admins"),
    "privacy": (
        "ip_handling",
        "store_transcripts",
        "connection_log_retention_days",
        "consent_required",
        "mirroring_enabled",
        *(name for name, _ in REDACTION_TOGGLES),
        "phone_regions",
        "redaction_patterns",
    ),
    "retention": ("delete_after_months", "retention_days", "archive_days"),
}
_BOOLEANS = frozenset(
    {"mfa_required_for_admins", "store_transcripts", "consent_required", "mirroring_enabled"}
    | {name for name, _ in REDACTION_TOGGLES}
)


async def _current(request: Request, visit: Visit) -> dict[str, Any]:
    workspace = await workspace_api.read_workspace(principal=visit.principal, rt=runtime(request))
    return {"name": workspace["name"], **workspace.get("settings", {})}


async def _workspace_section(
    request: Request,
    visit: Visit,
    section: str,
    outcome: forms.Outcome[Any] | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    current = await _current(request, visit)
    context = {
        "values": {**current, **(typed or {})},
        "errors": outcome.errors if outcome else {},
        "redaction_toggles": REDACTION_TOGGLES,
        "channels": [c.value for c in Channel],
        "accuracy": _measured_accuracy(current) if section == "privacy" else None,
        "retention": (
            await retention_overview(runtime(request), visit.principal)
            if section == "retention"
            else None
        ),
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, section, context, status)


def _measured_accuracy(current: dict[str, Any]) -> dict[str, Any] | None:
    """Precision and recall per kind of the workspace's *saved* redaction policy on the
    labelled corpus (``confide.privacy.redaction_accuracy``), for the admin who turns it on."""
    try:
        policy = RedactionPolicy.of(SimpleNamespace(**current))
        scores = redaction_accuracy.measure_cached(policy)
        corpus = redaction_accuracy.load_corpus()
    except (OSError, re.error, AttributeError):
        return None  # a missing corpus file or odd saved values must not break the page
    return {
        "rows": [
            {
                "kind": s.kind,
                "precision": f"{s.precision:.2f}",
                "recall": f"{s.recall:.2f}",
                "labelled": s.labelled,
            }
            for s in scores.values()
        ],
        "lines": len(corpus.lines),
        "must_not_mask": corpus.must_not_mask,
    }


def _changes(section: str, form: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in WORKSPACE_SECTIONS[section]:
        if name in _BOOLEANS:
            changes[name] = forms.checked(form, name)
        elif name == "redaction_patterns":
            changes[name] = forms.lines(form, name)
        elif name in ("retention_days", "archive_days"):
            typed = {c.value: forms.text(form, f"{name}.{c.value}") for c in Channel}
            changes[name] = {channel: days for channel, days in typed.items() if days != ""}
        elif name == "delete_after_months":
            changes[name] = forms.text(form, name) or None
        elif name == "phone_regions":
            changes[name] = [r.upper() for r in forms.text(form, name).replace(",", " ").split()]
        else:
            changes[name] = forms.text(form, name)
    return changes


def _register(section: str) -> None:
    path = f"/console/settings/{section}"

    @router.get(path, name=f"settings_{section}")
    async def show(request: Request) -> Response:
        visit = await page_visit(request, Action.WORKSPACE_SETTINGS)
        if isinstance(visit, Response):
            return visit
        return await _workspace_section(request, visit, section)

    @router.post(path, name=f"settings_{section}_save")
    async def save(request: Request) -> Response:
        checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
        if isinstance(checked, Response):
            return checked
        visit, form = checked
        changes = _changes(section, form)
        if section == "retention" and not any(changes.values()):
            # Empty boxes keep their values; a form with every box empty would change nothing
            # and still say "Saved.", so say what happened instead.
            empty = forms.Outcome[None](
                errors={
                    "retention_days.web": "Every box is empty, so nothing was changed. Fill in the "
                    "periods (in days) or the months to delete after, then save."
                },
                status_code=422,
            )
            return await _workspace_section(request, visit, section, empty, changes)
        outcome = await forms.attempt(
            lambda: workspace_api.update_workspace(
                body=WorkspaceUpdate.model_validate(changes),
                request=request,
                principal=visit.principal,
                rt=runtime(request),
            )
        )
        if not outcome.ok:
            return await _workspace_section(request, visit, section, outcome, changes)
        return redirect(f"{path}?saved=1", visit)


for _section in WORKSPACE_SECTIONS:
    _register(_section)


# -- consent requests --------------------------------------------------------------------


async def _consent_page(
    request: Request,
    visit: Visit,
    outcome: forms.Outcome[Any] | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    listed = await consent_api.list_consent_requests(principal=visit.principal, rt=runtime(request))
    active = {r["purpose"]: r for r in listed["requests"] if r["superseded_at"] is None}
    history = {p: [r for r in listed["requests"] if r["purpose"] == p] for p in PURPOSES}
    context = {
        "purposes": [(p, PURPOSE_TITLES[p]) for p in PURPOSES],
        "active": active,
        "history": history,
        "errors": outcome.errors if outcome else {},
        "typed": typed or {},
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, "consent", context, status)


@router.get("/console/settings/consent")
async def consent_page(request: Request) -> Response:
    visit = await page_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(visit, Response):
        return visit
    return await _consent_page(request, visit)


@router.post("/console/settings/consent/{purpose}")
async def publish_consent(request: Request, purpose: str) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    if purpose not in PURPOSES:
        return await _consent_page(request, visit)
    data = {"version": forms.text(form, "version"), "text": forms.text(form, "text")}
    outcome = await forms.attempt(
        lambda: consent_api.publish_consent_request(
            purpose=cast(ConsentPurpose, purpose),  # checked against PURPOSES above
            body=ConsentRequestWrite.model_validate(data),
            request=request,
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        # Errors are shown in this purpose's form only.
        outcome.errors = {f"{purpose}.{k}": v for k, v in outcome.errors.items()}
        return await _consent_page(request, visit, outcome, {purpose: data})
    return redirect(f"/console/settings/consent?saved={purpose}", visit)
