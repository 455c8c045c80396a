"""Request dependencies: the runtime, the authenticated principal, and CSRF for cookie sessions.

Credentials are taken, in order, from ``Authorization: Bearer <access token or API key>``,
``X-Confide-Api-Key``, or the console's ``confide_access`` cookie. A request authenticated by
cookie must also carry ``X-CSRF-Token`` equal to the ``confide_csrf`` cookie on any unsafe
method (double-submit: another site can make the browser send our cookies, but it cannot read
them to copy the token).
"""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import Depends, Request

from confide.access.api_keys import authenticate_api_key
from confide.access.auth import authenticate_access_token
from confide.access.policy import Principal
from confide.access.tokens import API_KEY_PREFIX
from confide.core.errors import CsrfFailed, Unauthenticated
from confide.runtime import Runtime

ACCESS_COOKIE = "confide_access"
REFRESH_COOKIE = "confide_refresh"
CSRF_COOKIE = "confide_csrf"
CSRF_HEADER = "x-csrf-token"
WORKSPACE_HEADER = "x-confide-workspace"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def check_csrf(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    # Compare bytes: compare_digest refuses non-ASCII str, and a header may hold anything.
    if not cookie or not header or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise CsrfFailed()


def workspace_hint(value: str | None) -> uuid.UUID | None:
    """The workspace a support account asks to enter (``X-Confide-Workspace``, a workspace
    id; see ``confide.access.grant_store``). Anything that is not a UUID is no hint."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


async def principal_from_request(request: Request, rt: Runtime) -> Principal:
    hint = workspace_hint(request.headers.get(WORKSPACE_HEADER))
    authorization = request.headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential:
        if credential.startswith(API_KEY_PREFIX):
            return await authenticate_api_key(rt, credential)
        return await authenticate_access_token(rt, credential, hint)
    api_key = request.headers.get("x-confide-api-key", "").strip()
    if api_key:
        return await authenticate_api_key(rt, api_key)
    cookie = request.cookies.get(ACCESS_COOKIE)
    if cookie:
        check_csrf(request)
        return await authenticate_access_token(rt, cookie, hint)
    raise Unauthenticated(headers={"WWW-Authenticate": "Bearer"})


async def current_principal(request: Request, rt: RuntimeDep) -> Principal:
    return await principal_from_request(request, rt)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def current_operator(principal: PrincipalDep) -> Principal:
    if principal.kind != "operator":
        raise Unauthenticated("This call needs an operator's sign-in, not an API key.")
    return principal


OperatorDep = Annotated[Principal, Depends(current_operator)]


async def current_visitor(request: Request, rt: RuntimeDep) -> Principal:
    """The widget's visitor, from ``Authorization: Bearer <visitor token>``."""
    from confide.chat.visitors import authenticate_visitor_token

    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated("Send the visitor token as 'Authorization: Bearer <token>'.")
    return await authenticate_visitor_token(rt, credential.strip())


VisitorDep = Annotated[Principal, Depends(current_visitor)]


def client_ip_key(request: Request, rt: Runtime) -> str:
    """A keyed hash of the client address, for rate limits: the address itself is not kept."""
    host = request.client.host if request.client else "unknown"
    return rt.secret.keyed_hash("rate-limit-ip", host)[:32]
