"""HTTP handlers of every GET the sandbox serves from its declarations: the read endpoints (endpoints.py), and the
relationships routes (relationships.py). The reading itself is query.ReadRequest's."""

from __future__ import annotations

from aiohttp import web

from .endpoints import ENDPOINTS, Endpoint
from .query import ReadRequest
from .relationships import RELATIONSHIP_ENDPOINTS, TO_ONE, ToOne, to_one_body
from .routing import Handler, account_of, add_route, json_response


def _read_handler(endpoint: Endpoint) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}"
        read = ReadRequest(
            endpoint, account_of(request), dict(request.query), base, request.path.rstrip("/"), dict(request.match_info)
        )
        return json_response(read.single() if endpoint.single else read.collection())

    return handle


def _to_one_handler(route: ToOne) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        self_link = f"{request.scheme}://{request.host}{request.path}"
        return json_response(to_one_body(account_of(request).state, route, request.match_info["id"], self_link))

    return handle


def add_read_routes(app: web.Application) -> None:
    for endpoint in [*ENDPOINTS, *RELATIONSHIP_ENDPOINTS]:
        add_route(app, "GET", endpoint.path, endpoint.name, _read_handler(endpoint))
    for route in TO_ONE:
        add_route(app, "GET", route.path, route.name, _to_one_handler(route))
