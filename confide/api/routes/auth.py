"""Sign-in, MFA, refresh and sign-out. Token transport: JSON bodies, or cookies for the console."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response

from confide.access import auth
from confide.access.auth import IssuedTokens
from confide.api.deps import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    REFRESH_COOKIE,
    OperatorDep,
    RuntimeDep,
    check_csrf,
)
from confide.api.schemas import (
    LoginRequest,
    LogoutRequest,
    MfaChallengeResponse,
    MfaLoginRequest,
    RefreshRequest,
    TokenResponse,
)
from confide.core.clock import utcnow
from confide.core.errors import (
    InvalidToken,
    ValidationFailed,
)
from confide.runtime import Runtime

router = APIRouter(prefix="/auth", tags=["auth"])
# "/" so the server-rendered console can rotate an expired access token on page load.
REFRESH_COOKIE_PATH = "/"


def set_session_cookies(response: Response, rt: Runtime, tokens: IssuedTokens) -> str:
    """Put a cookie session on ``response``; returns the CSRF token the page must echo."""
    secure = rt.settings.cookie_secure
    csrf = secrets.token_urlsafe(24)
    access_age = max(1, int((tokens.access_expires_at - utcnow()).total_seconds()))
    refresh_age = max(1, int((tokens.refresh_expires_at - utcnow()).total_seconds()))
    response.set_cookie(
        ACCESS_COOKIE,
        tokens.access_token,
        max_age=access_age,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        tokens.refresh_token,
        max_age=refresh_age,
        httponly=True,
        secure=secure,
        samesite="strict",
        path=REFRESH_COOKIE_PATH,
    )
    # Readable by the console's script (not HttpOnly): it copies it into X-CSRF-Token.
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=refresh_age,
        httponly=False,
        secure=secure,
        samesite="strict",
        path="/",
    )
    return csrf


def clear_session_cookies(response: Response, rt: Runtime) -> None:
    secure = rt.settings.cookie_secure
    for name, path in (
        (ACCESS_COOKIE, "/"),
        (REFRESH_COOKIE, REFRESH_COOKIE_PATH),
        (CSRF_COOKIE, "/"),
    ):
        response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="strict")


def _token_response(
    rt: Runtime, response: Response, tokens: IssuedTokens, transport: str
) -> TokenResponse:
    expires_in = max(0, int((tokens.access_expires_at - utcnow()).total_seconds()))
    if transport == "cookie":
        csrf = set_session_cookies(response, rt, tokens)
        return TokenResponse(
            expires_in=expires_in,
            csrf_token=csrf,
            mfa_enrolment_required=tokens.mfa_enrolment_pending,
        )
    return TokenResponse(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=expires_in,
        mfa_enrolment_required=tokens.mfa_enrolment_pending,
    )


@router.post("/login", response_model=TokenResponse | MfaChallengeResponse)
async def login(
    body: LoginRequest, request: Request, response: Response, rt: RuntimeDep
) -> TokenResponse | MfaChallengeResponse:
    outcome = await auth.login(
        rt,
        workspace_slug=body.workspace.strip().lower() if body.workspace else None,
        username=body.username.lower(),
        password=body.password,
        transport=body.transport,
    )
    if outcome.mfa_challenge is not None:
        return MfaChallengeResponse(challenge=outcome.mfa_challenge)
    assert outcome.tokens is not None
    return _token_response(rt, response, outcome.tokens, body.transport)


@router.post("/mfa", response_model=TokenResponse)
async def complete_mfa(
    body: MfaLoginRequest, request: Request, response: Response, rt: RuntimeDep
) -> TokenResponse:
    if bool(body.code) == bool(body.recovery_code):
        raise ValidationFailed("Send either a code or a recovery_code.", field="code")
    _operator_id, transport = rt.tokens.read_mfa_challenge(body.challenge)
    tokens = await auth.complete_mfa_login(
        rt, challenge=body.challenge, code=body.code, recovery_code=body.recovery_code
    )
    return _token_response(rt, response, tokens, transport)


@router.post("/refresh", response_model=TokenResponse)
async def refresh(
    request: Request, response: Response, rt: RuntimeDep, body: RefreshRequest | None = None
) -> TokenResponse:
    presented = body.refresh_token if body else None
    transport = "token"
    if presented is None:
        presented = request.cookies.get(REFRESH_COOKIE)
        transport = "cookie"
        if presented:
            check_csrf(request)
    if not presented:
        raise InvalidToken("Send the refresh_token, or the refresh cookie, to refresh.")
    tokens = await auth.refresh(rt, presented)
    return _token_response(rt, response, tokens, transport)


@router.post("/logout", status_code=204)
async def logout(
    principal: OperatorDep, response: Response, rt: RuntimeDep, body: LogoutRequest | None = None
) -> Response:
    assert principal.session_id is not None
    await auth.logout(rt, principal.session_id, everywhere=bool(body and body.everywhere))
    response.status_code = 204
    clear_session_cookies(response, rt)
    return response
