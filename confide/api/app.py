"""The ASGI application: REST API under /api/v1, the console and static assets."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

# Imported for the job kinds they register, so the in-process worker runs them too: the daily
# backup; key epochs and retried key destructions.
import confide.backup.actions
import confide.privacy.keys  # noqa: F401
from confide import __version__
from confide.api.cors import WidgetCorsMiddleware
from confide.api.errors import install_error_handlers
from confide.api.middleware import (
    BodyLimitMiddleware,
    ClientAddressMiddleware,
    SecurityHeadersMiddleware,
    SocketRoutes,
)
from confide.api.routes import (
    accountability,
    attachments,
    attributes,
    audit,
    auth,
    channels,
    consent,
    conversations,
    custody,
    dsr,
    erasure,
    exports,
    group_hours,
    labels,
    me,
    notes,
    operators,
    password_reset,
    portal,
    records,
    saved_replies,
    search,
    widget,
    widget_settings,
    workspace,
)
from confide.api.routes import health as health_routes
from confide.api.routes import retention as retention_routes
from confide.chat import channels as chat_channels
from confide.core.config import Settings
from confide.core.logging import scrub_server_logs
from confide.jobs.worker import background_worker
from confide.realtime import endpoints as socket_endpoints
from confide.runtime import Runtime

API_PREFIX = "/api/v1"
log = logging.getLogger("confide.http")


@functools.cache
def api_router() -> APIRouter:
    """The API's routes under ``/api/v1``, built once per process and shared by every app it
    makes (the test suite makes one per test). Why: including a router makes FastAPI analyse
    every endpoint's parameters and models (about half a second for this API), and a route
    holds nothing of one app: handlers find their runtime through ``request.app.state``."""
    router = APIRouter(prefix=API_PREFIX)

    @router.get("/health", tags=["meta"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    router.include_router(health_routes.router)
    router.include_router(auth.router)
    router.include_router(me.router)
    router.include_router(operators.router)
    router.include_router(password_reset.router)
    router.include_router(saved_replies.router)
    router.include_router(notes.router)
    router.include_router(labels.router)
    router.include_router(search.router)
    router.include_router(workspace.router)
    router.include_router(conversations.router)
    router.include_router(widget_settings.router)
    router.include_router(widget.router)
    router.include_router(channels.router)
    router.include_router(audit.router)
    router.include_router(consent.router)
    router.include_router(group_hours.router)
    router.include_router(erasure.router)
    router.include_router(attachments.router)
    router.include_router(attachments.widget_router)
    router.include_router(attributes.router)
    router.include_router(dsr.router)
    router.include_router(portal.router)
    router.include_router(accountability.router)
    router.include_router(records.router)
    router.include_router(exports.router)
    router.include_router(custody.router)
    router.include_router(retention_routes.router)
    return router


class ConfideApp(FastAPI):
    """The FastAPI application, whose WebSockets are served before any of its layers."""

    socket_routes: SocketRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        socket = (
            None if self.socket_routes is None else self.socket_routes.serve(scope, receive, send)
        )
        if socket is not None:
            await socket
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    rt = runtime or Runtime.from_settings(settings or Settings())
    # Whatever server runs the app: uvicorn's own lines lose addresses, query strings and
    # exception text (confide.core.logging).
    scrub_server_logs()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await rt.prepare()
        rt.warn_about_key_storage()
        await rt.broker.start()
        async with background_worker(rt):  # the job loop, on SQLite (run_jobs_in_process)
            yield
        # Let replies being POSTed to channel endpoints finish; unfinished ones stay pending.
        await chat_channels.drain(grace_seconds=5.0)
        await rt.close()

    app = ConfideApp(
        title="Confide",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI loads from a CDN: never in a privacy product.
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = rt
    install_error_handlers(app)
    app.include_router(api_router())

    from confide.web.console import mount_console
    from confide.web.portal import mount_portal
    from confide.web.widget import mount_widget

    mount_console(app)
    mount_widget(app)
    mount_portal(app)

    @app.middleware("http")
    async def request_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "<unmatched>")
        log.info(
            "%s %s %d %.1fms",
            request.method,
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    # Body limit inside CORS: a widget upload refused with 413 still carries CORS headers.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=rt.settings.max_request_body_bytes,
        upload_paths=attachments.UPLOAD_PATHS,
        upload_max_bytes=rt.settings.attachment_max_bytes,
    )
    app.add_middleware(WidgetCorsMiddleware, runtime=rt)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ClientAddressMiddleware)
    # Before every layer: the WebSockets skip them all (SocketRoutes says why).
    sockets = {
        f"{API_PREFIX}/ws/console": socket_endpoints.console_socket,
        f"{API_PREFIX}/ws/widget": socket_endpoints.widget_socket,
    }
    app.socket_routes = SocketRoutes(sockets, app_ref=app)
    return app
