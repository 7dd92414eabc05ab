"""The sandbox's HTTP server, assembled: Klaviyo's transport rules (transport.py) around the route modules.

A route module (`*_routes.py`, `admin.py`) imports what it needs from routing.py, never this module, and has an
`add_..._routes(app)` that `make_app` calls. Its handlers reach the request's account with `routing.account_of`:
`account.data` as generated (read-only), `account.state` as it is now (where writes go). klaviyo-sandbox/README.md
says how to add a route: where it goes, its rate tier, and its check against the official SDK in tests/sandbox.
"""

from __future__ import annotations

from aiohttp import web

from .admin import add_admin_routes
from .change_routes import add_change_routes
from .completeness_routes import add_completeness_routes
from .read_routes import add_read_routes
from .report_routes import add_report_routes
from .routing import SANDBOX_KEY
from .sandbox import Sandbox
from .settings import SandboxSettings
from .subscription_routes import add_subscription_routes
from .transport import api_middleware
from .write_routes import add_write_routes


def make_app(settings: SandboxSettings | None = None) -> web.Application:
    # Bodies past Klaviyo's 5 MB limit still have to be read to answer 413 with an errors body.
    app = web.Application(middlewares=[api_middleware], client_max_size=64 * 1024 * 1024)
    app[SANDBOX_KEY] = Sandbox(settings or SandboxSettings())
    add_read_routes(app)
    add_write_routes(app)
    add_change_routes(app)
    add_subscription_routes(app)
    add_report_routes(app)
    add_completeness_routes(app)
    add_admin_routes(app)
    return app
