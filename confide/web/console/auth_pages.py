"""The operator console: server-rendered pages on the same cookie session as the API.

Forms carry a CSRF token that must equal the ``confide_csrf`` cookie (double submit); the
login form gets one too, so another site cannot sign a browser into an account of its choosing.
Pages have no inline script and load nothing from another origin (see the CSP middleware).
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from confide.access import auth, groups, mfa, operators, policy, workspaces
from confide.access.policy import Action, Principal
from confide.api.deps import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from confide.api.routes.auth import clear_session_cookies, set_session_cookies
from confide.core.errors import ConfideError, InvalidToken
from confide.runtime import Runtime

WEB_DIR = Path(__file__).parent
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
MAX_FIELD = 256


def _rt(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _csrf_cookie(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def _render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    csrf = _csrf_cookie(request)
    response = templates.TemplateResponse(
        request, template, {**context, "csrf_token": csrf}, status_code=status_code
    )
    if request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=False,
            secure=_rt(request).settings.cookie_secure,
            samesite="strict",
            path="/",
        )
    return response


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and len(v) <= MAX_FIELD}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(
        cookie.encode(), values.get("csrf_token", "").encode()
    ):
        raise _CsrfError()
    return values


class _CsrfError(Exception):
    pass


async def _principal(request: Request) -> tuple[Principal | None, Response | None]:
    """The signed-in operator, rotating an expired access cookie with the refresh cookie."""
    rt = _rt(request)
    token = request.cookies.get(ACCESS_COOKIE)
    if token:
        try:
            return await auth.authenticate_access_token(rt, token), None
        except InvalidToken:
            pass
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not refresh:
        return None, None
    try:
        issued = await auth.refresh(rt, refresh)
        principal = await auth.authenticate_access_token(rt, issued.access_token)
    except InvalidToken:
        return None, None
    carrier = Response()
    set_session_cookies(carrier, rt, issued)
    return principal, carrier


def _with_cookies(response: Response, carrier: Response | None) -> Response:
    if carrier is not None:
        for name, value in carrier.raw_headers:
            if name == b"set-cookie":
                response.raw_headers.append((name, value))
    return response


def _to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


def mount_console(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

    @app.get("/console/login", include_in_schema=False)
    async def login_page(request: Request) -> Response:
        return _render(request, "login.html", {"error": None, "workspace": ""})

    @app.post("/console/login", include_in_schema=False)
    async def login_submit(request: Request) -> Response:
        rt = _rt(request)
        try:
            form = await _form(request)
        except _CsrfError:
            return _render(
                request,
                "login.html",
                {"error": "Your session expired; try again.", "workspace": ""},
                403,
            )
        workspace = form.get("workspace", "").strip().lower()
        try:
            outcome = await auth.login(
                rt,
                workspace_slug=workspace or None,
                username=form.get("username", "").strip().lower(),
                password=form.get("password", ""),
                transport="cookie",
            )
        except ConfideError as exc:
            return _render(
                request,
                "login.html",
                {"error": exc.message, "workspace": workspace},
                exc.status_code,
            )
        if outcome.mfa_challenge is not None:
            return _render(request, "mfa.html", {"challenge": outcome.mfa_challenge, "error": None})
        assert outcome.tokens is not None
        response = RedirectResponse("/console/", status_code=303)
        set_session_cookies(response, rt, outcome.tokens)
        return response

    @app.post("/console/mfa", include_in_schema=False)
    async def mfa_submit(request: Request) -> Response:
        rt = _rt(request)
        try:
            form = await _form(request)
        except _CsrfError:
            return _to_login()
        code = form.get("code", "").strip()
        challenge = form.get("challenge", "")
        try:
            issued = await auth.complete_mfa_login(
                rt,
                challenge=challenge,
                code=code if len(code) == 6 and code.isdigit() else None,
                recovery_code=None if len(code) == 6 and code.isdigit() else code,
            )
        except InvalidToken:
            return _to_login()
        except ConfideError as exc:
            return _render(
                request,
                "mfa.html",
                {"challenge": challenge, "error": exc.message},
                exc.status_code,
            )
        response = RedirectResponse("/console/", status_code=303)
        set_session_cookies(response, rt, issued)
        return response

    @app.get("/console/", include_in_schema=False)
    async def home(request: Request) -> Response:
        principal, carrier = await _principal(request)
        if principal is None:
            return _to_login()
        rt = _rt(request)
        if principal.mfa_enrolment_pending:
            return _with_cookies(RedirectResponse("/console/mfa/enrol", status_code=303), carrier)
        assert principal.operator_id is not None
        me = (await operators.get_operator_view(rt, principal, principal.operator_id)).data
        context: dict[str, Any] = {"me": me, "workspace": None, "operators": [], "groups": []}
        allowed = policy.allowed_actions(principal)
        if principal.workspace_id is not None and Action.WORKSPACE_READ in allowed:
            context["workspace"] = await workspaces.get_workspace(rt, principal.workspace_id)
        if Action.OPERATORS_LIST in allowed:
            context["operators"] = [
                v.data for v in await operators.list_operator_views(rt, principal)
            ]
        if Action.GROUPS_LIST in allowed:
            context["groups"] = await groups.list_groups(rt, principal)
        context["mfa"] = await mfa.status(rt, principal.operator_id)
        return _with_cookies(_render(request, "home.html", context), carrier)

    @app.get("/console/mfa/enrol", include_in_schema=False)
    async def enrol_page(request: Request) -> Response:
        principal, carrier = await _principal(request)
        if principal is None:
            return _to_login()
        rt = _rt(request)
        try:
            secret, uri = await mfa.begin_enrolment(rt, principal)
        except ConfideError:
            return _with_cookies(RedirectResponse("/console/", status_code=303), carrier)
        context = {
            "secret": secret,
            "uri": uri,
            "error": None,
            "codes": None,
            "required": principal.mfa_enrolment_pending,
        }
        return _with_cookies(_render(request, "enrol.html", context), carrier)

    @app.post("/console/mfa/enrol", include_in_schema=False)
    async def enrol_submit(request: Request) -> Response:
        # CSRF first: resolving the principal may rotate the refresh cookie, and a refused
        # form must not throw the new cookies away (that would end the session).
        try:
            form = await _form(request)
        except _CsrfError:
            return _to_login()
        principal, carrier = await _principal(request)
        if principal is None:
            return _to_login()
        try:
            codes = await mfa.confirm_enrolment(_rt(request), principal, form.get("code", ""))
        except ConfideError as exc:
            context: dict[str, Any] = {
                "secret": None,
                "uri": None,
                "error": exc.message,
                "codes": None,
                "required": principal.mfa_enrolment_pending,
            }
            return _with_cookies(_render(request, "enrol.html", context, 422), carrier)
        done: dict[str, Any] = {"secret": None, "uri": None, "error": None, "codes": codes}
        return _with_cookies(_render(request, "enrol.html", {**done, "required": False}), carrier)

    @app.post("/console/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        rt = _rt(request)
        try:
            await _form(request)
        except _CsrfError:
            return _to_login()
        principal, _ = await _principal(request)
        if principal is not None and principal.session_id is not None:
            await auth.logout(rt, principal.session_id)
        response = _to_login()
        clear_session_cookies(response, rt)
        return response
