"""Sign-in, second factor, MFA enrolment, sign-out and the operator's own account page.

The login form gets a CSRF token too, so another site cannot sign a browser into an account of
its choosing. Sign-in and the second factor go through the API's own handlers, so the lockout,
the audit records (``auth.login``, ``auth.login_failed``, ``auth.mfa_failed``) and the cookies
are the same whichever way an operator signs in.
"""

from __future__ import annotations

from typing import Any

import segno
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from confide.access import auth, mfa
from confide.api.routes import auth as auth_api
from confide.api.routes import me as me_api
from confide.api.routes.auth import clear_session_cookies
from confide.api.schemas import LoginRequest, MfaChallengeResponse, MfaCode, MfaLoginRequest
from confide.core.errors import (
    ConfideError,
    CsrfRefused,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidToken,
)
from confide.web.console.session import (
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
    reset = request.query_params.get("reset") == "1"
    return render(request, "login.html", {"error": None, "workspace": "", "reset": reset})


@router.post("/console/login")
async def login_submit(request: Request) -> Response:
    """Through the API's own handler: same checks, same lockout, same audit records."""
    try:
        form = await read_form(request)
    except CsrfRefused:
        context = {"error": "Your session expired; try again.", "workspace": ""}
        return render(request, "login.html", context, 403)
    workspace = str(form.get("workspace", "")).strip().lower()
    try:
        body = LoginRequest.model_validate(
            {
                "workspace": workspace or None,
                "username": str(form.get("username", "")),
                "password": str(form.get("password", "")),
                "transport": "cookie",
            }
        )
    except ValidationError:
        # Over-long or empty fields: the answer an unknown account gets.
        error = InvalidCredentials()
        context = {"error": error.message, "workspace": workspace[:64]}
        return render(request, "login.html", context, error.status_code)
    response = RedirectResponse("/console/", status_code=303)
    try:
        result = await auth_api.login(
            body=body, request=request, response=response, rt=runtime(request)
        )
    except ConfideError as exc:
        context = {"error": exc.message, "workspace": workspace}
        return render(request, "login.html", context, exc.status_code)
    if isinstance(result, MfaChallengeResponse):
        return render(request, "mfa.html", {"challenge": result.challenge, "error": None})
    return response


@router.post("/console/mfa")
async def mfa_submit(request: Request) -> Response:
    try:
        form = await read_form(request)
    except CsrfRefused:
        return to_login()
    code = str(form.get("code", "")).strip()
    challenge = str(form.get("challenge", ""))
    # The same normalisation as the API's (mfa.normalise_totp_code): "369 972" is a TOTP code.
    is_totp = mfa.normalise_totp_code(code) is not None
    response = RedirectResponse("/console/", status_code=303)
    try:
        body = MfaLoginRequest.model_validate(
            {"challenge": challenge, "code" if is_totp else "recovery_code": code}
        )
        await auth_api.complete_mfa(
            body=body, request=request, response=response, rt=runtime(request)
        )
    except InvalidToken:
        return to_login()
    except (ConfideError, ValidationError) as exc:
        message = exc.message if isinstance(exc, ConfideError) else InvalidMfaCode().message
        status = exc.status_code if isinstance(exc, ConfideError) else InvalidMfaCode.status_code
        context = {"challenge": challenge, "error": message}
        return render(request, "mfa.html", context, status)
    return response


@router.get("/console/account")
async def account_page(request: Request) -> Response:
    visit = await page_visit(request)
    if isinstance(visit, Response):
        return visit
    from confide.web.console.password_pages import account_context

    context = await account_context(request, visit)
    return render(request, "account.html", context, visit=visit)


def _enrol_context(**values: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "secret": None,
        "uri": None,
        "qr_svg": None,
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
    context = _enrol_context(
        secret=secret,
        uri=uri,
        qr_svg=qr_code_svg(uri),
        required=visit.principal.mfa_enrolment_pending,
    )
    return render(request, "enrol.html", context, visit=visit)


def qr_code_svg(uri: str) -> Markup:
    """The setup link as an inline SVG QR code (ISO/IEC 18004, error correction M), drawn on
    the server by segno: no script, no image request, nothing sent to a QR service."""
    code = segno.make(uri, error="m", micro=False)
    svg = code.svg_inline(
        scale=5, border=4, dark="#000", light="#fff", svgclass="qr", lineclass=None, omitsize=True
    )
    # segno emits only its own path data (the URI is encoded as modules, never as text).
    labelled = svg.replace("<svg ", '<svg role="img" aria-label="QR code of the setup key" ', 1)
    return Markup(labelled)  # noqa: S704


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
        # The API's handler: it also writes the auth.mfa_enabled audit record.
        confirmed = await me_api.mfa_confirm(
            body=MfaCode.model_validate({"code": str(form.get("code", ""))}),
            request=request,
            principal=visit.principal,
            rt=runtime(request),
        )
    except (ConfideError, ValidationError) as exc:
        message = exc.message if isinstance(exc, ConfideError) else InvalidMfaCode().message
        context = _enrol_context(error=message, required=visit.principal.mfa_enrolment_pending)
        pending = await mfa.pending_enrolment(runtime(request), visit.principal)
        if pending is not None:  # the same key again: the authenticator already holds it
            secret, uri = pending
            context.update(secret=secret, uri=uri, qr_svg=qr_code_svg(uri))
        return render(request, "enrol.html", context, 422, visit)
    codes = confirmed["recovery_codes"]
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
