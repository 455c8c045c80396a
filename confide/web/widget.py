"""The embeddable widget's script (``/widget.js``) and the demo host page (``/demo/{workspace}``).

The script is one static file of vanilla JavaScript (``static/widget.js``): it finds Confide's
origin from its own ``src`` and talks only to it. ``/cobrowse.js`` (typing preview redaction,
page mirroring, co-browsing) is loaded by it only once the visitor grants one of those. The demo
page is a small fake shop that embeds the widget exactly as a customer would, with the snippet
from the widget settings; it runs under Confide's own CSP (no inline script), which is also the
proof that the widget works under a strict ``style-src 'self'``.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from confide.access.workspaces import find_workspace_by_slug
from confide.chat import widget_settings
from confide.runtime import Runtime

WEB_DIR = Path(__file__).resolve().parent
WIDGET_SCRIPT = WEB_DIR / "static" / "widget.js"
# Loaded by the widget only once a visitor grants the typing preview, mirroring or co-browsing.
SHARE_SCRIPT = WEB_DIR / "static" / "cobrowse.js"
# Host pages load the script on every view; an hour of caching, revalidated by ETag after.
WIDGET_CACHE_CONTROL = "public, max-age=3600"
templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
router = APIRouter(include_in_schema=False)
PAGE_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


@router.get("/widget.js")
async def widget_script() -> Response:
    return FileResponse(
        WIDGET_SCRIPT,
        media_type="application/javascript",
        # Host pages that isolate themselves (Cross-Origin-Embedder-Policy) may still load it.
        headers={
            "Cache-Control": WIDGET_CACHE_CONTROL,
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


@router.get("/cobrowse.js")
async def share_script() -> Response:
    return FileResponse(
        SHARE_SCRIPT,
        media_type="application/javascript",
        headers={
            "Cache-Control": WIDGET_CACHE_CONTROL,
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


@router.get("/demo/{workspace}", response_class=HTMLResponse)
async def demo_page(workspace: str, request: Request, lang: str = "en") -> Response:
    """The demo shop; ``?lang=de`` sets the page's language (the widget follows it)."""
    rt: Runtime = request.app.state.runtime
    found = await find_workspace_by_slug(rt, workspace)
    if found is None:
        return HTMLResponse("<!doctype html><title>Not found</title><p>No such workspace.</p>", 404)
    base_url = (rt.settings.public_url or str(request.base_url)).rstrip("/")
    return templates.TemplateResponse(
        request,
        "demo.html",
        {
            "shop_name": found.name,
            "workspace": found.slug,
            "widget_src": f"{base_url}/widget.js",
            "snippet": widget_settings.snippet(base_url, found.slug),
            "lang": lang if PAGE_LANG.match(lang) else "en",
        },
    )


@router.get("/chat/{workspace}", response_class=HTMLResponse)
async def chat_page(workspace: str, request: Request) -> Response:
    """Where the link of an e-mailed answer leads: the widget, opened on the conversation.
    The link's token is in the URL fragment, which never reaches this server."""
    rt: Runtime = request.app.state.runtime
    found = await find_workspace_by_slug(rt, workspace)
    if found is None:
        return HTMLResponse("<!doctype html><title>Not found</title><p>No such workspace.</p>", 404)
    base_url = (rt.settings.public_url or str(request.base_url)).rstrip("/")
    return templates.TemplateResponse(
        request,
        "chat_link.html",
        {"name": found.name, "workspace": found.slug, "widget_src": f"{base_url}/widget.js"},
    )


def mount_widget(app: FastAPI) -> None:
    app.include_router(router)
