"""Settings → Breaches: the workspace's breach register with its deadlines (GDPR Art. 33/34),
notifications, and the people an actor's reads exposed; through the API's own handlers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access.policy import Action
from confide.api.routes import accountability as breaches_api
from confide.api.schemas_accountability import BreachNotify, BreachWrite, ExposureQuery
from confide.core.mail import mail_enabled
from confide.web.console import forms
from confide.web.console.admin_people import settings_page
from confide.web.console.session import Visit, page_visit, post_visit, redirect, runtime

router = APIRouter(include_in_schema=False)
PATH = "/console/settings/breaches"
TEXT_FIELDS = ("title", "nature", "consequences", "measures")


def _utc(value: str | None) -> str | None:
    """A ``datetime-local`` box (no zone) read as UTC, as the page says."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value  # refused by the API's model, naming the field
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


async def _page(
    request: Request,
    visit: Visit,
    outcome: forms.Outcome[Any] | None = None,
    values: dict[str, Any] | None = None,
    exposure: dict[str, Any] | None = None,
) -> Response:
    listed = await breaches_api.list_breaches(principal=visit.principal, rt=runtime(request))
    context = {
        "breaches": listed["breaches"],
        "errors": outcome.errors if outcome else {},
        "values": values or {},
        "exposure": exposure,
        "mail_enabled": mail_enabled(runtime(request).settings),
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, "breaches", context, status)


@router.get(PATH)
async def breaches_page(request: Request) -> Response:
    visit = await page_visit(request, Action.AUDIT_READ)
    if isinstance(visit, Response):
        return visit
    return await _page(request, visit)


@router.post(PATH)
async def record_breach(request: Request) -> Response:
    checked = await post_visit(request, Action.AUDIT_READ)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    values: dict[str, Any] = {name: forms.text(form, name) for name in TEXT_FIELDS}
    values |= {
        "detected_at": forms.text(form, "detected_at"),
        "data_categories": forms.text(form, "data_categories"),
        "subject_categories": forms.text(form, "subject_categories"),
        "approx_subjects": forms.text(form, "approx_subjects"),
        "approx_records": forms.text(form, "approx_records"),
        "high_risk": forms.checked(form, "high_risk"),
    }
    body = {
        **{name: values[name] for name in TEXT_FIELDS},
        "detected_at": _utc(values["detected_at"]),
        "data_categories": _list(values["data_categories"]),
        "subject_categories": _list(values["subject_categories"]),
        "approx_subjects": values["approx_subjects"] or None,
        "approx_records": values["approx_records"] or None,
        "high_risk": values["high_risk"],
    }
    outcome = await forms.attempt(
        lambda: breaches_api.record_breach(
            body=BreachWrite.model_validate(body), principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome, values)
    return redirect(f"{PATH}?saved=1", visit)


@router.post(PATH + "/{breach_id}/notify")
async def notify(request: Request, breach_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.AUDIT_READ)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    body = {
        "audience": forms.text(form, "audience"),
        "reference": forms.optional(form, "reference"),
        "subject_ids": forms.many(form, "subject_ids"),  # e-mail the people listed (Art. 34)
    }
    outcome = await forms.attempt(
        lambda: breaches_api.notify_breach(
            breach_id=breach_id,
            body=BreachNotify.model_validate(body),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        outcome.errors = {f"{k}-{breach_id}" if k else k: v for k, v in outcome.errors.items()}
        return await _page(request, visit, outcome)
    return redirect(f"{PATH}?saved=1", visit)


@router.post(PATH + "/{breach_id}/exposure")
async def exposure(request: Request, breach_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.AUDIT_READ)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    body = {
        "actor_id": forms.text(form, "actor_id").strip(),
        "since": _utc(forms.text(form, "since")),
        "until": _utc(forms.text(form, "until")),
    }
    outcome = await forms.attempt(
        lambda: breaches_api.exposed_subjects(
            breach_id=breach_id,
            body=ExposureQuery.model_validate(body),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        outcome.errors = {f"{k}-{breach_id}" if k else k: v for k, v in outcome.errors.items()}
        return await _page(request, visit, outcome)
    assert outcome.value is not None
    return await _page(request, visit, exposure={"breach_id": str(breach_id), **outcome.value})


@router.post(PATH + "/{breach_id}/close")
async def close(request: Request, breach_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.AUDIT_READ)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    outcome = await forms.attempt(
        lambda: breaches_api.close_breach(
            breach_id=breach_id, principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome)
    return redirect(f"{PATH}?saved=1", visit)
