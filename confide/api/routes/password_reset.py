"""Password reset by e-mail (see ``confide.access.password_reset`` for the rules)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import StringConstraints

from confide.access import password_reset
from confide.access.policy import Action, authorize
from confide.api.deps import OperatorDep, RuntimeDep, client_ip_key
from confide.api.schemas import Email, Password, RequestModel

router = APIRouter(tags=["auth"])
SAME_ANSWER = (
    "If this address belongs to an account of the workspace, a reset link is on its way. "
    "It works once, for 30 minutes."
)


class PasswordResetRequest(RequestModel):
    workspace: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    email: Email


class PasswordResetComplete(RequestModel):
    token: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    new_password: Password


@router.post("/auth/password-reset", status_code=202)
async def request_reset(
    body: PasswordResetRequest, request: Request, rt: RuntimeDep
) -> dict[str, Any]:
    """Always the same answer, whether or not the address is known (no account enumeration)."""
    await password_reset.do_request_password_reset(
        rt, workspace_slug=body.workspace, email=body.email, client_key=client_ip_key(request, rt)
    )
    return {"status": "accepted", "message": SAME_ANSWER}


@router.post("/auth/password-reset/complete", status_code=204)
async def complete_reset(body: PasswordResetComplete, rt: RuntimeDep) -> Response:
    await password_reset.do_reset_password(rt, body.token, body.new_password)
    return Response(status_code=204)


@router.post("/operators/{operator_id}/password-reset", status_code=202)
async def send_reset(
    operator_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """An admin (or a manager, for their agents) mails a reset link to the operator."""
    authorize(principal, Action.OPERATORS_MANAGE)
    await password_reset.do_send_password_reset(rt, principal, operator_id)
    return {"status": "sent"}
