"""Passwords in the console: change it on the Account page, ask for a reset link, choose a new
password from the link, and (admins, managers) mail a reset link to an operator.

Each form calls the API's own handler, so the password policy, the lockout on a wrong current
password, the rate limits and the audit records are those of ``/api/v1``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access import mfa, operator_views
from confide.access.policy import Action
from confide.api.routes import me as me_api
from confide.api.routes import password_reset as reset_api
from confide.api.schemas import PasswordChange
from confide.core.errors import CsrfRefused
from confide.web.console import admin_people, forms
from confide.web.console.session import (
    Visit,
    post_visit,
    read_form,
    redirect,
    render,
    runtime,
)

router = APIRouter(include_in_schema=False)


async def account_context(
    request: Request, visit: Visit, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    rt = runtime(request)
    operator_id = visit.principal.operator_id
    assert operator_id is not None
    me = (await operator_views.get_operator_view(rt, visit.principal, operator_id)).data
    return {
        "me": me,
        "mfa": await mfa.status(rt, operator_id),
        "nav": "account",
        "errors": errors or {},
        "saved": request.query_params.get("saved"),
    }


@router.post("/console/account/password")
async def change_password(request: Request) -> Response:
    checked = await post_visit(request)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    new_password = forms.text(form, "new_password")
    if new_password != forms.text(form, "confirm_password"):
        errors = {"confirm_password": "The two new passwords differ; type the same one twice."}
        context = await account_context(request, visit, errors)
        return render(request, "account.html", context, 422, visit)
    outcome = await forms.attempt(
        lambda: me_api.change_password(
            body=PasswordChange.model_validate(
                {
                    "current_password": forms.text(form, "current_password"),
                    "new_password": new_password,
                }
            ),
            request=request,
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        context = await account_context(request, visit, outcome.errors)
        return render(request, "account.html", context, outcome.status_code, visit)
    return redirect("/console/account?saved=password", visit)


# -- reset by e-mail -------------------------------------------------------------------------


@router.get("/console/password/forgot")
async def forgot_page(request: Request) -> Response:
    workspace = request.query_params.get("workspace", "")[:64]
    context: dict[str, Any] = {"sent": None, "errors": {}, "workspace": workspace}
    return render(request, "password_forgot.html", context)


@router.post("/console/password/forgot")
async def forgot_submit(request: Request) -> Response:
    try:
        form = await read_form(request)
    except CsrfRefused:
        context = {"sent": None, "errors": {"": "This form expired; try again."}, "workspace": ""}
        return render(request, "password_forgot.html", context, 403)
    workspace = forms.text(form, "workspace").strip().lower()
    outcome = await forms.attempt(
        lambda: reset_api.request_reset(
            body=reset_api.PasswordResetRequest.model_validate(
                {"workspace": workspace, "email": forms.text(form, "email")}
            ),
            request=request,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        context = {"sent": None, "errors": outcome.errors, "workspace": workspace[:64]}
        return render(request, "password_forgot.html", context, outcome.status_code)
    context = {"sent": reset_api.SAME_ANSWER, "errors": {}, "workspace": workspace}
    return render(request, "password_forgot.html", context, 202)


@router.get("/console/password/reset")
async def reset_page(request: Request) -> Response:
    # The token travels in the link's fragment: reset.js copies it into the form.
    response = render(request, "password_reset.html", {"errors": {}, "token": ""})
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.post("/console/password/reset")
async def reset_submit(request: Request) -> Response:
    try:
        form = await read_form(request)
    except CsrfRefused:
        errors = {"": "This form expired; open the link from the mail again."}
        return render(request, "password_reset.html", {"errors": errors, "token": ""}, 403)
    token = forms.text(form, "token").strip()
    new_password = forms.text(form, "new_password")
    if new_password != forms.text(form, "confirm_password"):
        errors = {"confirm_password": "The two new passwords differ; type the same one twice."}
        return render(request, "password_reset.html", {"errors": errors, "token": token}, 422)
    outcome = await forms.attempt(
        lambda: reset_api.complete_reset(
            body=reset_api.PasswordResetComplete.model_validate(
                {"token": token, "new_password": new_password}
            ),
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        context = {"errors": outcome.errors, "token": token}
        return render(request, "password_reset.html", context, outcome.status_code)
    return redirect("/console/login?reset=1")


@router.post("/console/settings/operators/{operator_id}/send-reset")
async def send_reset(request: Request, operator_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.OPERATORS_MANAGE)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    outcome = await forms.attempt(
        lambda: reset_api.send_reset(
            operator_id=operator_id, principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await admin_people.operator_page_with(request, visit, operator_id, outcome)
    return redirect(f"/console/settings/operators/{operator_id}?saved=reset_sent", visit)
