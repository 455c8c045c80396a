"""The signed-in operator's own account: profile, password and two-factor authentication."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from confide.access import mfa, operator_views, operators, policy
from confide.access.policy import Action
from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import MfaCode, MfaDisable, PasswordChange, ProfileFields

router = APIRouter(prefix="/me", tags=["me"])


@router.get("")
async def read_me(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    policy.authorize(principal, Action.SELF_MANAGE)
    assert principal.operator_id is not None
    view = await operator_views.get_operator_view(rt, principal, principal.operator_id)
    return {
        **view.data,
        "workspace_id": str(principal.workspace_id) if principal.workspace_id else None,
        "mfa_enrolment_required": principal.mfa_enrolment_pending,
        "permissions": sorted(a.value for a in policy.allowed_actions(principal)),
    }


@router.patch("")
async def update_me(body: ProfileFields, principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    policy.authorize(principal, Action.SELF_MANAGE)
    assert principal.operator_id is not None
    await operators.do_update_operator(
        rt, principal, principal.operator_id, profile=body.model_dump(exclude_unset=True)
    )
    return (await operator_views.get_operator_view(rt, principal, principal.operator_id)).data


@router.post("/password", status_code=204)
async def change_password(
    body: PasswordChange, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> Response:
    policy.authorize(principal, Action.SELF_MANAGE)
    assert principal.operator_id is not None
    await operators.do_set_password(
        rt,
        principal.operator_id,
        body.new_password,
        current_password=body.current_password,
        keep_session_id=principal.session_id,
        actor=principal,
    )
    return Response(status_code=204)


@router.get("/mfa")
async def mfa_status(principal: OperatorDep, rt: RuntimeDep) -> dict[str, object]:
    policy.authorize(principal, Action.SELF_MANAGE)
    assert principal.operator_id is not None
    return await mfa.status(rt, principal.operator_id)


@router.post("/mfa/enrol")
async def mfa_enrol(principal: OperatorDep, rt: RuntimeDep) -> dict[str, str]:
    policy.authorize(principal, Action.SELF_MANAGE)
    secret, uri = await mfa.begin_enrolment(rt, principal)
    return {"secret": secret, "otpauth_uri": uri}


@router.post("/mfa/confirm")
async def mfa_confirm(
    body: MfaCode, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.SELF_MANAGE)
    codes = await mfa.confirm_enrolment(rt, principal, body.code)
    return {"recovery_codes": codes}


@router.post("/mfa/recovery-codes")
async def mfa_recovery_codes(
    body: MfaCode, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.SELF_MANAGE)
    codes = await mfa.regenerate_recovery_codes(rt, principal, body.code)
    return {"recovery_codes": codes}


@router.post("/mfa/disable", status_code=204)
async def mfa_disable(
    body: MfaDisable, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> Response:
    policy.authorize(principal, Action.SELF_MANAGE)
    await mfa.disable(rt, principal, password=body.password, code=body.code)
    return Response(status_code=204)
