"""The visitor panel's purpose-bound attributes: the visitor's current values (an audited read)
and a form to set one, through the API's own handlers (``confide.chat.attributes``)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access.policy import Action, Principal
from confide.api.routes import attributes as attributes_api
from confide.core.errors import ConfideError
from confide.runtime import Runtime
from confide.web.console import forms
from confide.web.console.session import forbidden, post_visit, redirect, runtime

router = APIRouter(include_in_schema=False)


async def pane_context(rt: Runtime, principal: Principal, visitor_id: uuid.UUID) -> dict[str, Any]:
    """``declared_attributes`` (name, purpose, retention) and ``attribute_values`` (each with
    its purpose and expiry) for the visitor panel; empty when the workspace declares none."""
    declared = (await attributes_api.list_definitions(principal=principal, rt=rt))["attributes"]
    if not declared:
        return {"declared_attributes": [], "attribute_values": []}
    values = await attributes_api.read_values(visitor_id=visitor_id, principal=principal, rt=rt)
    return {"declared_attributes": declared, "attribute_values": values["attributes"]}


@router.post("/console/conversations/{conversation_id}/visitors/{visitor_id}/attributes")
async def set_attribute(
    request: Request, conversation_id: uuid.UUID, visitor_id: uuid.UUID
) -> Response:
    checked = await post_visit(request, Action.CONVERSATIONS_WORK)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    try:
        await attributes_api.set_value(
            visitor_id=visitor_id,
            name=forms.text(form, "name"),
            body=attributes_api.AttributeSet.model_validate({"value": forms.text(form, "value")}),
            principal=visit.principal,
            rt=runtime(request),
        )
    except (ConfideError, ValueError) as exc:
        message = exc.message if isinstance(exc, ConfideError) else "Give a value to keep."
        return forbidden(request, visit, message)
    return redirect(f"/console/conversations/{conversation_id}#attributes-title", visit)
