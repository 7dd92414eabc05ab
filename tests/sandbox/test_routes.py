"""The assembled app: every /api route it serves has a rate tier (the transport answers 500 for one without)."""

from __future__ import annotations

from klaviyo_sandbox.app import make_app
from klaviyo_sandbox.routing import SANDBOX_KEY


def test_every_api_route_has_a_rate_tier():
    app = make_app()
    names = {
        route.name.removesuffix(".slash")
        for route in app.router.routes()
        if route.name and route.resource is not None and route.resource.canonical.startswith("/api/")
    }
    assert len(names) > 80
    assert sorted(names - set(app[SANDBOX_KEY].tiers)) == []
