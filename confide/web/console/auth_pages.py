"""Sign-in, second factor, MFA enrolment, sign-out and the operator's own account page.

The login form gets a CSRF token too, so another site cannot sign a browser into an account of
its choosing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from confide.access import auth, mfa, operators
from confide.api.routes.auth import clear_session_cookies, set_session_cookies
from confide.core.errors import ConfideError, InvalidToken
from confide.web.console.session import (
    CsrfRefused,
    page_visit,
    read_form,
    redirect,
    render,
    runtime,
    signed_in,
    to_login,
    with_cookies,
)

router = APIRouter(include_in_schema=False)


@router.get("/console/login")
async def login_page(request: Request) -> Response:
    return render(request, "login.html", {"error": None, "workspace": ""})


@router.post("/console/login")
async def login_submit(request: Request) -> Response:
    rt = runtime(request)
    try:
        form = await read_form(request)
    except CsrfRefused:
        context = {"error": "Your session expired; try again.", "workspace": ""}
        return render(request, "login.html", context, 403)
    workspace = str(form.get("workspace", "")).strip().lower()
    try:
        outcome = await auth.login(
            rt,
            workspace_slug=workspace or None,
            username=str(form.get("username", "")).strip().lower(),
            password=str(form.get("password", "")),
            transport="cookie",
        )
    except ConfideError as exc:
        context = {"error": exc.message, "workspace": workspace}
        return render(request, "login.html", context, exc.status_code)
    if outcome.mfa_challenge is not None:
        return render(request, "mfa.html", {"challenge": outcome.mfa_challenge, "error": None})
    assert outcome.tokens is not None
    response = RedirectResponse("/console/", status_code=303)
    set_session_cookies(response, rt, outcome.tokens)
    return response


@router.post("/console/mfa")
async def mfa_submit(request: Request) -> Response:
    rt = runtime(request)
    try:
        form = await read_form(request)
    except CsrfRefused:
        return to_login()
    code = str(form.get("code", "")).strip()
    challenge = str(form.get("challenge", ""))
    is_totp = len(code) == 6 and code.isdigit()
    try:
        issued = await auth.complete_mfa_login(
            rt,
            challenge=challenge,
            code=code if is_totp else None,
            recovery_code=None if is_totp else code,
        )
    except InvalidToken:
        return to_login()
    except ConfideError as exc:
        context = {"challenge": challenge, "error": exc.message}
        return render(request, "mfa.html", context, exc.status_code)
    response = RedirectResponse("/console/", status_code=303)
    set_session_cookies(response, rt, issued)
    return response


@router.get("/console/account")
async def account_page(request: Request) -> Response:
    visit = await page_visit(request)
    if isinstance(visit, Response):
        return visit
    rt = runtime(request)
    operator_id = visit.principal.operator_id
    assert operator_id is not None
    me = (await operators.get_operator_view(rt, visit.principal, operator_id)).data
    context = {"me": me, "mfa": await mfa.status(rt, operator_id), "nav": "account"}
    return render(request, "account.html", context, visit=visit)


def _enrol_context(**values: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "secret": None,
        "uri": None,
        "error": None,
        "codes": None,
        "required": False,
    }
    return {**context, **values}


@router.get("/console/mfa/enrol")
async def enrol_page(request: Request) -> Response:
    visit = await signed_in(request)
    if visit is None:
        return to_login()
    try:
        secret, uri = await mfa.begin_enrolment(runtime(request), visit.principal)
    except ConfideError:
        return redirect("/console/account", visit)
    context = _enrol_context(secret=secret, uri=uri, required=visit.principal.mfa_enrolment_pending)
    return render(request, "enrol.html", context, visit=visit)


@router.post("/console/mfa/enrol")
async def enrol_submit(request: Request) -> Response:
    # CSRF first: resolving the principal may rotate the refresh cookie, and a refused
    # form must not throw the new cookies away (that would end the session).
    try:
        form = await read_form(request)
    except CsrfRefused:
        return to_login()
    visit = await signed_in(request)
    if visit is None:
        return to_login()
    try:
        codes = await mfa.confirm_enrolment(
            runtime(request), visit.principal, str(form.get("code", ""))
        )
    except ConfideError as exc:
        context = _enrol_context(error=exc.message, required=visit.principal.mfa_enrolment_pending)
        return render(request, "enrol.html", context, 422, visit)
    return render(request, "enrol.html", _enrol_context(codes=codes), visit=visit)


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    rt = runtime(request)
    try:
        await read_form(request)
    except CsrfRefused:
        return to_login()
    visit = await signed_in(request)
    if visit is not None and visit.principal.session_id is not None:
        await auth.logout(rt, visit.principal.session_id)
    response = to_login()
    clear_session_cookies(response, rt)
    return with_cookies(response, None)
