"""The operator console: server-rendered pages plus small ES modules, on the API's cookie session.

- ``session``: cookies, CSRF, templates and the checks every page makes;
- ``auth_pages``: sign-in, second factor, MFA enrolment, sign-out, the operator's account;
- ``inbox``: conversation lists, the open conversation and the visitor panel;
- ``admin_people``, ``admin_workspace`` and ``admin_widget``: the settings pages (HTML forms
  that call the API's own handlers, so validation, policy and audit are the API's).

Pages have no inline script and load nothing from another origin (see the CSP middleware).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from confide.web.console import (
    admin_accountability,
    admin_breaches,
    admin_channels,
    admin_custody,
    admin_files,
    admin_labels,
    admin_people,
    admin_widget,
    admin_workspace,
    auth_pages,
    inbox,
    password_pages,
    replies_page,
    reports_page,
    requests_page,
    search_page,
    visitor_attributes,
)
from confide.web.console.session import WEB_DIR

FAVICON = WEB_DIR / "static" / "favicon.svg"


async def favicon() -> FileResponse:
    """Browsers ask for ``/favicon.ico`` on every page without a ``<link rel=icon>`` (the demo
    page, JSON views): answer with the SVG icon rather than a 404 in every log."""
    return FileResponse(
        FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
    )


def mount_console(app: FastAPI) -> None:
    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")
    modules = (
        auth_pages,
        password_pages,
        replies_page,
        search_page,
        reports_page,
        inbox,
        admin_people,
        admin_workspace,
        admin_widget,
        admin_labels,
        admin_files,
        visitor_attributes,
        admin_channels,
        requests_page,
        admin_accountability,
        admin_breaches,
        admin_custody,
    )
    for module in modules:
        app.include_router(module.router)
