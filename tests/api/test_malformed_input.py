"""Malformed input never breaks the API: every bad request gets a 4xx JSON error, never a 500.

The cases are generated from the application itself: every route under /api/v1 is found by
walking the app's routes, and bodies are derived from each route's request model, so a new
endpoint is covered without touching this file. A guard test checks that the routes found at
collection time are exactly those of the running app.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from confide.access.models import Role
from confide.api.app import API_PREFIX, api_router
from confide.api.deps import current_operator, current_principal, current_visitor
from confide.core.config import Settings
from tests.conftest import PASSWORD, World

MAX_BODY = Settings.model_fields["max_request_body_bytes"].default
LONG = "x" * 10_240
WITH_NUL = "nul\x00byte"
UNKNOWN_FIELD = "zz_not_a_field"
GARBAGE_PATH_VALUES = (
    "not-a-uuid",
    "../../etc",
    "..%2F..%2Fetc",
    "x" * 5000,
    "%00",
    "' OR '1'='1",
    "-1",
    "9" * 40,
    "\u00e9t\u00e9\U0001f600",
    "00000000-0000-0000-0000-00000000000g",
)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


# -- discovering routes ----------------------------------------------------------------------------


def api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, full path, route) for every REST route of the app under /api/v1."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI flattens included routers into app.routes
        pairs = [(r.path, r) for r in app.routes if isinstance(r, APIRoute)]
    else:
        pairs = [
            (ctx.path, ctx.original_route)
            for ctx in iter_route_contexts(app.routes)
            if isinstance(ctx.original_route, APIRoute)
        ]
    found = []
    for path, route in pairs:
        if not path.startswith(API_PREFIX + "/"):
            continue
        for method in sorted(route.methods or ()):
            if method not in ("HEAD", "OPTIONS"):
                found.append((method, path, route))
    return sorted(found, key=lambda item: (item[1], item[0]))


def _collection_app() -> FastAPI:
    app = FastAPI()
    app.include_router(api_router())
    return app


ROUTES = api_routes(_collection_app())
BODY_ROUTES = [r for r in ROUTES if r[2].body_field is not None]
PARAM_ROUTES = [r for r in ROUTES if r[2].dependant.path_params or r[2].dependant.query_params]


def _dependency_calls(route: APIRoute) -> set[Any]:
    calls, pending = set(), [route.dependant]
    while pending:
        dependant = pending.pop()
        calls.add(dependant.call)
        pending.extend(dependant.dependencies)
    return calls


def credential_for(route: APIRoute) -> str:
    """Who calls this route: a visitor (widget), an API key (server-to-server calls that also
    accept an operator), or an operator (everything else, and routes without sign-in)."""
    calls = _dependency_calls(route)
    if current_visitor in calls:
        return "visitor"
    if current_principal in calls and current_operator not in calls:
        return "api_key"
    return "operator"


# -- JSON schema helpers ---------------------------------------------------------------------------


@dataclass
class BodyModel:
    annotation: Any
    required: bool
    schema: dict[str, Any]
    defs: dict[str, Any] = field(default_factory=dict)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.defs[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def object_schema(self, schema: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The object member of a schema (through $ref and anyOf), if any."""
        schema = self.resolve(schema if schema is not None else self.schema)
        if schema.get("type") == "object" and "properties" in schema:
            return schema
        for member in schema.get("anyOf", []):
            found = self.object_schema(member)
            if found is not None:
                return found
        return None

    def validate(self, value: Any) -> ValidationError | None:
        try:
            TypeAdapter(self.annotation).validate_python(value)
        except ValidationError as exc:
            return exc
        return None


def body_model(route: APIRoute) -> BodyModel | None:
    if route.body_field is None:
        return None
    annotation = route.body_field.field_info.annotation
    schema = TypeAdapter(annotation).json_schema()
    return BodyModel(
        annotation,
        route.body_field.field_info.is_required(),
        schema,
        schema.get("$defs", {}),
    )


def _types_of(model: BodyModel, schema: dict[str, Any]) -> set[str]:
    schema = model.resolve(schema)
    types: set[str] = set()
    if "type" in schema:
        declared = schema["type"]
        types.update(declared if isinstance(declared, list) else [declared])
    for member in schema.get("anyOf", []) + schema.get("oneOf", []):
        types |= _types_of(model, member)
    for value in schema.get("enum", []) + ([schema["const"]] if "const" in schema else []):
        types.add(
            {str: "string", bool: "boolean", int: "integer", float: "number"}.get(
                type(value), "null"
            )
        )
    return types


def wrong_value(model: BodyModel, schema: dict[str, Any]) -> Any:
    """A JSON value of a type the schema does not allow (None if it allows anything)."""
    types = _types_of(model, schema)
    if not types:
        return None
    for candidate, kind in (
        ({"wrong": ["type"]}, "object"),
        (["wrong", "type"], "array"),
        (3.5, "number"),
        ("wrong type", "string"),
    ):
        if kind not in types:
            return candidate
    return None


def _matching_string(pattern: str, min_length: int, max_length: int) -> str:
    from hypothesis import find

    return find(
        st.from_regex(pattern, fullmatch=True),
        lambda s: min_length <= len(s) <= max_length and "\x00" not in s,
    )


def valid_value(model: BodyModel, schema: dict[str, Any]) -> Any:
    """A small value that satisfies the schema, for the required fields of a baseline body."""
    schema = model.resolve(schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        members = [m for m in schema["anyOf"] if model.resolve(m).get("type") != "null"]
        return valid_value(model, members[0]) if members else None
    kind = schema.get("type")
    if kind == "object":
        return baseline(model, schema)
    if kind == "array":
        count = schema.get("minItems", 0)
        return [valid_value(model, schema.get("items", {})) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "string":
        if schema.get("format") == "uuid":
            return str(uuid.uuid4())
        if schema.get("format") == "date-time":
            return "2024-01-01T00:00:00Z"
        low, high = schema.get("minLength", 1), schema.get("maxLength", 64)
        if "pattern" in schema:
            return _matching_string(schema["pattern"], low, high)
        return "v" * max(low, 1)
    return None


def baseline(model: BodyModel, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A body with every required field set to a valid value (and nothing else)."""
    obj = model.object_schema(schema)
    assert obj is not None
    return {name: valid_value(model, obj["properties"][name]) for name in obj.get("required", [])}


def string_leaves(
    model: BodyModel, schema: dict[str, Any] | None = None, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Paths of every string-typed field, recursing into nested objects."""
    obj = model.object_schema(schema)
    if obj is None:
        return []
    leaves = []
    for name, prop in obj["properties"].items():
        path = (*prefix, name)
        if "string" in _types_of(model, prop):
            leaves.append((path, prop))
        if model.object_schema(prop) is not None:
            leaves.extend(string_leaves(model, prop, path))
    return leaves


def with_leaf(model: BodyModel, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """The baseline body with ``path`` (nested objects filled with their baselines) = value."""
    body = baseline(model)
    node, schema = body, model.object_schema()
    for name in path[:-1]:
        assert schema is not None
        child_schema = model.object_schema(schema["properties"][name])
        if not isinstance(node.get(name), dict):
            node[name] = baseline(model, child_schema)
        node, schema = node[name], child_schema
    node[path[-1]] = value
    return body


# -- the world each case runs in -------------------------------------------------------------------


@dataclass
class Env:
    client: httpx.AsyncClient
    world: World
    admin_headers: Callable[[], Any]
    visitor_headers: dict[str, str]
    api_key_headers: dict[str, str]
    path_values: dict[str, str]
    problems: list[str] = field(default_factory=list)

    async def send(self, route: APIRoute, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        credential = credential_for(route)
        if credential == "visitor":
            headers.update(self.visitor_headers)
        elif credential == "api_key":
            headers.update(self.api_key_headers)
        else:
            # A fresh session per request: some calls (logout, password change) end sessions.
            headers.update(await self.admin_headers())
        return await self.client.request(method, url, headers=headers, **kwargs)

    def check(
        self,
        label: str,
        response: httpx.Response,
        *,
        status: set[int] | None = None,
        field_in: set[str] | None = None,
        allow_success: bool = False,
    ) -> None:
        """Record a problem unless the answer is a well-formed 4xx (or, if allowed, 2xx)."""
        where = f"{label}: {response.status_code} {response.text[:300]!r}"
        for header in ("content-security-policy", "x-content-type-options"):
            if header not in response.headers:
                self.problems.append(f"{where}: missing {header}")
        code = response.status_code
        if code >= 500:
            self.problems.append(f"{where}: server error")
            return
        if code < 400:
            if not allow_success:
                self.problems.append(f"{where}: accepted malformed input")
            return
        problem = error_shape_problem(response)
        if problem:
            self.problems.append(f"{where}: {problem}")
            return
        if status is not None and code not in status:
            self.problems.append(f"{where}: expected status {sorted(status)}")
        error = response.json()["error"]
        if code == 422 and field_in is not None and error["field"] not in field_in:
            self.problems.append(f"{where}: field should be one of {sorted(field_in)}")


def error_shape_problem(response: httpx.Response) -> str | None:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return f"content-type {response.headers.get('content-type')!r} is not JSON"
    try:
        body = response.json()
    except ValueError:
        return "body is not JSON"
    if not isinstance(body, dict) or set(body) != {"error"}:
        return "body is not {'error': ...}"
    error = body["error"]
    if not isinstance(error, dict) or set(error) != {"code", "message", "field"}:
        return "error lacks exactly code/message/field"
    if not isinstance(error["code"], str) or not error["code"]:
        return "error.code is not a non-empty string"
    if not isinstance(error["message"], str) or not error["message"]:
        return "error.message is not a non-empty string"
    if error["field"] is not None and not isinstance(error["field"], str):
        return "error.field is neither a string nor null"
    return None


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert error_shape_problem(response) is None, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


@pytest.fixture
async def env(world: World, client: httpx.AsyncClient) -> AsyncIterator[Env]:
    await world.workspace("acme")
    group = await world.group("Sales")
    admin = await world.operator("root", Role.ADMIN, groups=[group])
    agent = await world.operator("alice", Role.AGENT, groups=[group])
    first = await world.headers(admin)
    key = await client.post("/api/v1/api-keys", headers=first, json={"name": "backend"})
    assert key.status_code == 201, key.text
    visitor = await client.post("/api/v1/widget/acme/visitors")
    assert visitor.status_code == 201, visitor.text
    visitor_headers = {"Authorization": f"Bearer {visitor.json()['token']}"}
    chat = await client.post(
        "/api/v1/widget/conversations",
        headers=visitor_headers,
        json={"group_id": str(group), "message": {"client_id": "c1", "body": "hello"}},
    )
    assert chat.status_code == 201, chat.text

    async def admin_headers() -> dict[str, str]:
        return await world.headers(admin)

    # What a real client sees: an unhandled exception becomes the app's 500 answer instead of
    # being raised into the test, so one crash does not hide the other cases.
    transport = httpx.ASGITransport(
        app=client._transport.app,  # type: ignore[attr-defined]
        raise_app_exceptions=False,
    )
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as outer:
        yield Env(
            client=outer,
            world=world,
            admin_headers=admin_headers,
            visitor_headers=visitor_headers,
            api_key_headers={"Authorization": f"Bearer {key.json()['key']}"},
            # Real ids, so that requests get past "not found" and reach deeper code.
            path_values={
                "operator_id": str(agent.id),
                "group_id": str(group),
                "key_id": key.json()["id"],
                "conversation_id": chat.json()["conversation"]["id"],
                "workspace": "acme",
                "workspace_slug": "acme",
            },
        )


def param_model(param: Any) -> BodyModel:
    annotation = param.field_info.annotation
    schema = TypeAdapter(annotation).json_schema()
    return BodyModel(annotation, True, schema, schema.get("$defs", {}))


def url_for(env: Env, route: APIRoute, path: str, **override: str) -> str:
    values = {}
    for param in route.dependant.path_params:
        if param.name in override:
            values[param.name] = override[param.name]
        elif param.name in env.path_values:
            values[param.name] = env.path_values[param.name]
        else:  # a parameter this file does not know yet: any value its type accepts
            model = param_model(param)
            values[param.name] = quote(str(valid_value(model, model.schema)), safe="")
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


JSON_HEADERS = {"Content-Type": "application/json"}


# -- the guard -------------------------------------------------------------------------------------


async def test_every_api_route_of_the_running_app_is_covered(client: httpx.AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    running = {(method, path) for method, path, _ in api_routes(app)}
    covered = {(method, path) for method, path, _ in ROUTES}
    assert running == covered
    assert len(covered) >= 40  # the walk really found the API, not an empty list
    openapi_paths = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if path.startswith(API_PREFIX)
    }
    assert openapi_paths <= covered


# -- per-route cases -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "route"), BODY_ROUTES, ids=[f"{m} {p}" for m, p, _ in BODY_ROUTES]
)
async def test_malformed_bodies_get_a_json_4xx_naming_the_field(
    env: Env, method: str, path: str, route: APIRoute
) -> None:
    model = body_model(route)
    assert model is not None
    url = url_for(env, route, path)
    obj = model.object_schema()
    assert obj is not None, "request bodies are JSON objects"
    names = set(obj["properties"])
    base = baseline(model)
    assert model.validate(base) is None, f"baseline {base} is not valid: cannot test"

    # Not JSON at all, with and without a JSON content type.
    for label, content, headers in (
        ("broken JSON", b'{"name": ', JSON_HEADERS),
        ("plain text", b"hello", {"Content-Type": "text/plain"}),
        ("form data", b"a=1&b=2", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("binary", bytes(range(256)), {"Content-Type": "application/octet-stream"}),
    ):
        response = await env.send(route, method, url, content=content, headers=headers)
        env.check(label, response, status={400, 415, 422}, field_in={"body"})

    for label, value in (("array", [base]), ("string", "text"), ("number", 42)):
        response = await env.send(route, method, url, content=_json(value), headers=JSON_HEADERS)
        env.check(f"JSON {label}", response, status={400, 422}, field_in={"body"})

    response = await env.send(route, method, url, content=b"null", headers=JSON_HEADERS)
    if model.required:
        env.check("JSON null", response, status={400, 422}, field_in={"body"})
    else:  # an optional body: null means "no body", which the route accepts
        env.check("JSON null", response, allow_success=True)

    # Every field of a wrong type at once, then one at a time.
    wrong = {name: wrong_value(model, prop) for name, prop in obj["properties"].items()}
    wrong = {name: value for name, value in wrong.items() if value is not None}
    if wrong:
        response = await env.send(
            route, method, url, content=_json({**base, **wrong}), headers=JSON_HEADERS
        )
        env.check("all fields wrong", response, status={422}, field_in=names)
    for name, value in wrong.items():
        response = await env.send(
            route, method, url, content=_json({**base, name: value}), headers=JSON_HEADERS
        )
        env.check(f"wrong type for {name}", response, status={422}, field_in={name})

    response = await env.send(
        route, method, url, content=_json({**base, UNKNOWN_FIELD: "x"}), headers=JSON_HEADERS
    )
    env.check("unknown field", response, status={422}, field_in={UNKNOWN_FIELD})

    # Oversized and NUL-carrying strings: refused by the model (422 naming the field) or
    # handled by the route (which may refuse the request for a reason of its own, naming a
    # field of the body); never a crash.
    leaves = string_leaves(model)
    any_field = names | {".".join(leaf) for leaf, _ in leaves} | {"body"}
    for leaf, _schema in leaves:
        dotted = ".".join(leaf)
        for label, text in (("10 kB string", LONG), ("NUL byte", WITH_NUL)):
            body = with_leaf(model, leaf, text)
            response = await env.send(route, method, url, content=_json(body), headers=JSON_HEADERS)
            refused = model.validate(body) is not None
            env.check(
                f"{label} in {dotted}",
                response,
                status={422} if refused else None,
                field_in={dotted} if refused else any_field,
                allow_success=not refused,
            )

    assert not env.problems, "\n".join(env.problems)


@pytest.mark.parametrize(
    ("method", "path", "route"), PARAM_ROUTES, ids=[f"{m} {p}" for m, p, _ in PARAM_ROUTES]
)
async def test_garbage_path_and_query_parameters_get_a_json_4xx(
    env: Env, method: str, path: str, route: APIRoute
) -> None:
    path_params = route.dependant.path_params
    query_params = route.dependant.query_params
    model = body_model(route)
    body = baseline(model) if model is not None else None
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}

    for param in path_params:
        adapter = TypeAdapter(param.field_info.annotation)
        for raw in GARBAGE_PATH_VALUES:
            encoded = raw if "%" in raw else quote(raw, safe="")
            url = url_for(env, route, path, **{param.name: encoded})
            decoded = raw.replace("%2F", "/").replace("%00", "\x00")
            response = await env.send(route, method, url, **kwargs)
            label = f"path {param.name}={raw[:30]!r}"
            if "/" in decoded:
                # Never matches this route: 404 (or 405 if another route has that shape).
                env.check(label, response, status={404, 405})
                continue
            try:
                adapter.validate_python(decoded)
            except ValidationError:
                env.check(label, response, status={422}, field_in={param.name})
            else:
                env.check(label, response, status={400, 404, 409, 422}, field_in={param.name})

    for param in query_params:
        adapter = TypeAdapter(param.field_info.annotation)
        url = url_for(env, route, path)
        for raw in ("not-valid", "", "9" * 40, "-1", "2024-01-01T00:00:00", "\x00"):
            response = await env.send(route, method, url, params={param.name: raw}, **kwargs)
            label = f"query {param.name}={raw[:30]!r}"
            try:
                adapter.validate_python(raw)
            except ValidationError:
                env.check(label, response, status={422}, field_in={param.name})
            else:
                # Accepted by the type: the route must cope (answer, or refuse with a 4xx).
                env.check(label, response, field_in={param.name}, allow_success=True)

    assert not env.problems, "\n".join(env.problems)


# -- routing-level errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope",
        "/api/v1/operators/a/b/c",
        "/api/v2/operators",
        "/api/v1/" + "x" * 3000,
        "/api/v1/..%2F..%2Fetc%2Fpasswd",
    ],
)
async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient, path: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        response = await client.request(method, path)
        assert_error(response, 404, "not_found")
        assert response.headers["x-content-type-options"] == "nosniff"


def _methods_by_path() -> dict[str, set[str]]:
    by_path: dict[str, set[str]] = {}
    for method, path, _ in ROUTES:
        by_path.setdefault(path, set()).add(method)
    return by_path


def _wrong_methods(url: str, methods: set[str]) -> list[str]:
    """Methods that no route accepts at ``url`` (another template, such as
    ``/channels/{channel}`` for ``/channels/deliveries``, may take a method this path lacks)."""
    taken = set(methods)
    for method, path, _ in ROUTES:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", path), url):
            taken.add(method)
    return sorted(set(HTTP_METHODS) - taken)


async def test_wrong_method_is_a_json_405(env: Env) -> None:
    checked = 0
    for path, methods in _methods_by_path().items():
        route = next(r for _, p, r in ROUTES if p == path)
        url = url_for(env, route, path)
        for method in _wrong_methods(url, methods):
            response = await env.send(route, method, url)
            error = assert_error(response, 405, "method_not_allowed")
            assert error["field"] is None
            assert response.headers["x-content-type-options"] == "nosniff"
            checked += 1
    assert checked > 100


async def test_405_names_the_allowed_methods_in_an_allow_header(env: Env) -> None:
    """RFC 9110 section 15.5.6: a 405 response MUST carry Allow."""
    missing = []
    for path, methods in _methods_by_path().items():
        route = next(r for _, p, r in ROUTES if p == path)
        url = url_for(env, route, path)
        wrong = _wrong_methods(url, methods)
        if not wrong:
            continue
        response = await env.send(route, wrong[0], url)
        assert response.status_code == 405
        allow = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
        if not methods <= allow:
            missing.append(f"{wrong[0]} {path}: Allow {sorted(allow)} lacks {sorted(methods)}")
    assert not missing, "\n".join(missing)


# -- body size -------------------------------------------------------------------------------------


async def test_body_over_the_limit_is_refused_with_413_by_content_length(
    client: httpx.AsyncClient, env: Env
) -> None:
    payload = b'{"name": "' + b"x" * MAX_BODY + b'"}'
    for path in ("/api/v1/auth/login", "/api/v1/groups", "/api/v1/nope"):
        response = await client.post(
            path, content=payload, headers={**JSON_HEADERS, **(await env.admin_headers())}
        )
        error = assert_error(response, 413, "payload_too_large")
        assert error["field"] is None
        assert error["message"].endswith(f"the limit here is {MAX_BODY // 1024 // 1024} MB.")
        assert "content-security-policy" in response.headers
    # Nothing was created.
    groups = await client.get("/api/v1/groups", headers=await env.admin_headers())
    assert [g["name"] for g in groups.json()["groups"]] == ["Sales"]


async def test_body_over_the_limit_is_refused_with_413_when_chunked(
    client: httpx.AsyncClient, env: Env
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"name": "'
        for _ in range(40):  # 40 x 64 KiB = 2.5 MiB, no Content-Length
            sent += 1
            yield b"x" * 65_536
        yield b'"}'

    for path in ("/api/v1/auth/login", "/api/v1/groups"):
        sent = 0
        response = await client.post(
            path, content=chunks(), headers={**JSON_HEADERS, **(await env.admin_headers())}
        )
        assert "content-length" not in response.request.headers
        error = assert_error(response, 413, "payload_too_large")
        assert error["field"] is None
        assert "x-content-type-options" in response.headers
    groups = await client.get("/api/v1/groups", headers=await env.admin_headers())
    assert [g["name"] for g in groups.json()["groups"]] == ["Sales"]


async def test_body_just_under_the_limit_is_not_refused_for_its_size(
    client: httpx.AsyncClient, env: Env
) -> None:
    padding = MAX_BODY - len(b'{"name": ""}')
    payload = b'{"name": "' + b"x" * padding + b'"}'
    assert len(payload) == MAX_BODY
    response = await client.post(
        "/api/v1/groups", content=payload, headers={**JSON_HEADERS, **(await env.admin_headers())}
    )
    # Refused for the name's length, not for the body's size.
    error = assert_error(response, 422, "validation_failed")
    assert error["field"] == "name"


async def test_an_unexpected_error_is_a_json_500_without_details_and_with_security_headers(
    client: httpx.AsyncClient,
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]

    async def explode() -> None:
        raise RuntimeError("alice@example.com said something private")

    app.add_api_route(f"{API_PREFIX}/test-explode", explode, methods=["GET"])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as raw:
        response = await raw.get(f"{API_PREFIX}/test-explode")
    error = assert_error(response, 500, "internal_error")
    assert error["field"] is None
    assert "alice" not in response.text and "private" not in response.text
    assert "RuntimeError" not in response.text
    # The security headers belong on every answer, the failures included.
    assert "content-security-policy" in response.headers
    assert response.headers.get("x-content-type-options") == "nosniff"


# -- headers and documents -------------------------------------------------------------------------


async def test_every_kind_of_response_carries_the_security_headers(
    client: httpx.AsyncClient, env: Env
) -> None:
    admin = await env.admin_headers()
    responses = [
        await client.get("/api/v1/health"),
        await client.get("/api/v1/openapi.json"),
        await client.get("/api/v1/me", headers=admin),
        await client.get("/api/v1/me"),
        await client.get("/api/v1/nope"),
        await client.put("/api/v1/health"),
        await client.post("/api/v1/auth/login", content=b"{", headers=JSON_HEADERS),
        await client.post("/api/v1/auth/login", json={"username": "x", "password": "y"}),
        await client.get("/"),
        await client.get("/definitely-not-a-page"),
    ]
    for response in responses:
        where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, where
        assert "frame-ancestors 'none'" in csp, where
        assert response.headers.get("x-content-type-options") == "nosniff", where
        if response.request.url.path.startswith("/api/"):
            assert response.headers.get("cache-control") == "no-store", where


async def test_openapi_document_is_served_and_references_no_third_party_url(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Confide"
    paths = set(document["paths"])
    for _, path, _ in ROUTES:
        assert path in paths, path
    urls = re.findall(r"(?:https?:)?//[A-Za-z0-9][A-Za-z0-9.-]*", response.text)
    assert urls == [], f"third-party URLs in the API description: {urls}"
    for server in document.get("servers", []):
        assert server["url"].startswith("/"), server
    # The interactive docs would load scripts from a CDN: they are not served at all.
    for path in ("/docs", "/redoc", "/api/v1/docs", "/api/v1/redoc"):
        assert (await client.get(path)).status_code == 404, path


# -- fuzzing sign-in -------------------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80)
    | st.sampled_from(["acme", "root", PASSWORD, "token", "cookie", "", " ", "ROOT"])
)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)
# Mostly strings (what gets past validation and reaches the database), sometimes anything.
_field_values = st.one_of(st.text(max_size=80), _scalars, _json_values)
_login_bodies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "workspace": _field_values,
            "username": _field_values,
            "password": _field_values,
            "transport": _field_values,
        },
    ),
    st.dictionaries(st.text(max_size=20), _json_values, max_size=6),
)


@pytest.fixture
async def login_client(world: World, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """Set up once for all examples: workspace acme with its admin "root"."""
    await world.operator("root", Role.ADMIN)
    transport = httpx.ASGITransport(
        app=client._transport.app,  # type: ignore[attr-defined]
        raise_app_exceptions=False,
    )
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as c:
        yield c


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_login_bodies)
@example(body={"workspace": "acme", "username": "root", "password": PASSWORD})
@example(body={"workspace": "acme", "username": "ro\x00ot", "password": "x"})
@example(body={"workspace": "ac\x00me", "username": "root", "password": "x"})
@example(body={"workspace": "acme", "username": "root", "password": "\x00" * 12})
@example(body={"workspace": "x" * 64, "username": "y" * 64, "password": "z" * 256})
@example(body={"username": {"$ne": None}, "password": {"$gt": ""}})
async def test_random_json_to_login_never_causes_a_server_error(
    login_client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await login_client.post("/api/v1/auth/login", json=body)
    assert response.status_code < 500, (body, response.text)
    if response.status_code == 200:
        assert body.get("username", "").strip().lower() == "root"
        assert body.get("password") == PASSWORD
    else:
        assert 400 <= response.status_code < 500, (body, response.status_code)
        assert error_shape_problem(response) is None, (body, response.text)
        if response.status_code == 422:
            error = response.json()["error"]
            assert error["field"] in {
                "workspace",
                "username",
                "password",
                "transport",
                "body",
            } | set(body), (body, error)
