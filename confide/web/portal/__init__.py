"""The self-service privacy portal page (``/privacy/{workspace}``), served by Confide under its
own CSP: no inline script, nothing from another origin. The page is static HTML plus one ES
module (``static/portal/portal.js``) that calls the portal API
(``confide.api.routes.portal``); the one-time link's token arrives in the URL fragment, which
the browser never sends to a server."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from confide.access.workspaces import find_workspace_by_slug
from confide.core.mail import mail_enabled
from confide.privacy.accountability.subprocessors import public_contact
from confide.web.console.session import WEB_DIR

templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
router = APIRouter(include_in_schema=False)


@router.get("/privacy/{workspace}", response_class=HTMLResponse)
async def portal_page(workspace: str, request: Request) -> Response:
    rt = request.app.state.runtime
    found = await find_workspace_by_slug(rt, workspace)
    if found is None:
        return HTMLResponse("<!doctype html><title>Not found</title><p>No such workspace.</p>", 404)
    # Without a mail server the portal cannot prove an address: say so before anyone types
    # one, and say whom to ask instead.
    mail_on = mail_enabled(rt.settings)
    contact = None if mail_on else await public_contact(rt, found.id)
    return templates.TemplateResponse(
        request,
        "portal.html",
        {"name": found.name, "workspace": found.slug, "mail_on": mail_on, "contact": contact},
        headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
    )


def mount_portal(app: FastAPI) -> None:
    app.include_router(router)
