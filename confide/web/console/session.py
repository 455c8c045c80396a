"""What every console page shares: the cookie session, the CSRF token, templates and forms.

The console signs operators in with the API's cookie session (``confide.api.deps``): an
``HttpOnly`` access cookie, a refresh cookie and a readable CSRF cookie. Pages renew an expired
access cookie from the refresh cookie on load; when they do, the *new* CSRF token is the one
written into the page's forms (the browser will hold the new cookie by the time it posts).
Forms carry the CSRF token in a hidden field that must equal the cookie (double submit); the
console's scripts send the same value in ``X-CSRF-Token`` to the REST API.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from confide.access import auth, policy
from confide.access.policy import Action, Principal
from confide.api.deps import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from confide.api.routes.auth import set_session_cookies
from confide.core.errors import CsrfRefused, InvalidToken
from confide.runtime import Runtime
from confide.web.console.links import linkify

WEB_DIR = Path(__file__).resolve().parents[1]
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
templates.env.filters["linkify"] = linkify
# Who sees the settings link: anyone with at least one settings page.
_SETTINGS_ACTIONS = frozenset(
    {
        Action.WORKSPACE_SETTINGS,
        Action.OPERATORS_MANAGE,
        Action.GROUPS_MANAGE,
        Action.API_KEYS_MANAGE,
    }
)


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@dataclass
class Visit:
    """The signed-in operator of this request, and the cookies to send back if renewed."""

    principal: Principal
    carrier: Response | None = None
    csrf: str | None = None  # the renewed CSRF token, when the cookies were renewed

    @property
    def allowed(self) -> frozenset[Action]:
        return policy.allowed_actions(self.principal)


def csrf_token(request: Request, visit: Visit | None = None) -> str:
    if visit is not None and visit.csrf is not None:
        return visit.csrf
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    visit: Visit | None = None,
) -> HTMLResponse:
    csrf = csrf_token(request, visit)
    shared: dict[str, Any] = {"csrf_token": csrf, "nav_settings": False, "nav_requests": False}
    if visit is not None:
        shared["nav_settings"] = bool(visit.allowed & _SETTINGS_ACTIONS)
        shared["nav_requests"] = Action.SUBJECTS_ERASE in visit.allowed
        shared["nav_replies"] = Action.CONVERSATIONS_WORK in visit.allowed
        shared["nav_reports"] = Action.REPORTS_READ in visit.allowed
    response = templates.TemplateResponse(
        request, template, {**shared, **context}, status_code=status_code
    )
    if visit is not None and visit.carrier is not None:
        with_cookies(response, visit.carrier)
    elif request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=False,
            secure=runtime(request).settings.cookie_secure,
            samesite="strict",
            path="/",
        )
    return response


async def read_form(request: Request) -> dict[str, Any]:
    """The posted fields (a list where a name repeats), after the CSRF check. Lengths are the
    API request models' business: a value is never cut here (the body limit bounds it)."""
    form = await request.form()
    values: dict[str, Any] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            continue
        if key in values:
            previous = values[key]
            values[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            values[key] = value
    cookie = request.cookies.get(CSRF_COOKIE, "")
    presented = values.get("csrf_token", "")
    if not isinstance(presented, str) or not cookie:
        raise CsrfRefused()
    # Compare bytes: compare_digest refuses non-ASCII str.
    if not hmac.compare_digest(cookie.encode(), presented.encode()):
        raise CsrfRefused()
    values.pop("csrf_token", None)
    return values


async def signed_in(request: Request) -> Visit | None:
    """The signed-in operator, renewing an expired access cookie with the refresh cookie."""
    rt = runtime(request)
    token = request.cookies.get(ACCESS_COOKIE)
    if token:
        try:
            return Visit(await auth.authenticate_access_token(rt, token))
        except InvalidToken:
            pass
    refresh = request.cookies.get(REFRESH_COOKIE)
    if not refresh:
        return None
    try:
        issued = await auth.refresh(rt, refresh)
        principal = await auth.authenticate_access_token(rt, issued.access_token)
    except InvalidToken:
        return None
    carrier = Response()
    csrf = set_session_cookies(carrier, rt, issued)
    return Visit(principal, carrier, csrf)


def with_cookies(response: Response, carrier: Response | None) -> Response:
    if carrier is not None:
        for name, value in carrier.raw_headers:
            if name == b"set-cookie":
                response.raw_headers.append((name, value))
    return response


def redirect(url: str, visit: Visit | None = None) -> Response:
    response = RedirectResponse(url, status_code=303)
    return with_cookies(response, visit.carrier if visit else None)


def to_login() -> Response:
    return RedirectResponse("/console/login", status_code=303)


def forbidden(request: Request, visit: Visit, message: str) -> Response:
    return render(request, "forbidden.html", {"message": message, "me": None}, 403, visit)


async def page_visit(request: Request, *needs: Action) -> Visit | Response:
    """The visit if the operator may open a page needing ``needs``; otherwise the response
    to send instead (sign in, enrol MFA first, or a 403 page)."""
    visit = await signed_in(request)
    if visit is None:
        return to_login()
    if visit.principal.mfa_enrolment_pending:
        return redirect("/console/mfa/enrol", visit)
    if needs and not any(action in visit.allowed for action in needs):
        return forbidden(request, visit, "Your role cannot open this page.")
    return visit


async def post_visit(request: Request, *needs: Action) -> tuple[Visit, dict[str, Any]] | Response:
    """CSRF first, then the operator: resolving the operator may renew the refresh cookie, and a
    refused form must not throw the renewed cookies away (that would end the session)."""
    try:
        form = await read_form(request)
    except CsrfRefused:
        visit = await signed_in(request)
        if visit is None:
            return to_login()
        return render(
            request,
            "forbidden.html",
            {"message": "This form expired. Go back, reload the page and try again.", "me": None},
            403,
            visit,
        )
    checked = await page_visit(request, *needs)
    if isinstance(checked, Response):
        return checked
    return checked, form
