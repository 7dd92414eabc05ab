"""HTTP handlers of the writes that take data away or move it: DELETE of a resource, list membership.

- `DELETE /api/{campaigns|flows|lists|segments|tags|templates}/{id}` -> 204, no body (SDK: delete_campaign ...
  answer '204': None); an unknown id -> 404 with Klaviyo's errors body.
- `POST` / `DELETE /api/lists/{id}/relationships/profiles` with `{"data": [{"type": "profile", "id": ...}]}`,
  at most 1,000 profiles -> 204 (SDK: add_profiles_to_list / remove_profiles_from_list). Adding a member sets its
  `joined_group_at` to now; adding one that is already a member, or removing one that is not, changes nothing.
  A profile id the account does not have -> 404, as JSON:API asks of a request naming a related resource that
  does not exist (jsonapi.org, "Updating Relationships"); Klaviyo's own answer there is not documented.
"""

from __future__ import annotations

from aiohttp import web

from . import errors
from .deletes import delete_resource
from .members import MemberTable
from .routing import Handler, account_of, add_route, now
from .tables import Record
from .validation import parse_profile_identifiers
from .write_routes import read_body

DELETE_ROUTES = {  # SDK method (the rate-limit bucket) -> (path, resource type)
    "delete_campaign": ("/api/campaigns/{id}", "campaign"),
    "delete_flow": ("/api/flows/{id}", "flow"),
    "delete_list": ("/api/lists/{id}", "list"),
    "delete_segment": ("/api/segments/{id}", "segment"),
    "delete_tag": ("/api/tags/{id}", "tag"),
    "delete_template": ("/api/templates/{id}", "template"),
}
LIST_MEMBERS_PATH = "/api/lists/{id}/relationships/profiles"


def _delete_handler(type_: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        account = account_of(request)
        resource_id = request.match_info["id"]
        if not delete_resource(account.state, type_, resource_id):
            raise errors.not_found(f"A {type_} with id {resource_id} does not exist.")
        return web.Response(status=204)

    return handle


async def _list_and_profiles(request: web.Request) -> tuple[MemberTable, list[Record]]:
    account = account_of(request)
    list_id = request.match_info["id"]
    members = account.state.members.get(("list", list_id))
    if members is None:
        raise errors.not_found(f"A list with id {list_id} does not exist.")
    profiles: list[Record] = []
    for i, profile_id in enumerate(parse_profile_identifiers(await read_body(request))):
        profile = account.state.profiles.get(profile_id)
        if profile is None:
            raise errors.KlaviyoError(
                404,
                "not_found",
                "Not found.",
                f"A profile with id {profile_id} does not exist.",
                pointer=f"/data/{i}/id",
            )
        profiles.append(profile)
    return members, profiles


async def add_profiles_handler(request: web.Request) -> web.Response:
    members, profiles = await _list_and_profiles(request)
    joined_at = now()
    for profile in profiles:
        members.add(profile, joined_at)
    return web.Response(status=204)


async def remove_profiles_handler(request: web.Request) -> web.Response:
    members, profiles = await _list_and_profiles(request)
    for profile in profiles:
        members.remove(profile["id"])
    return web.Response(status=204)


def add_change_routes(app: web.Application) -> None:
    for name, (path, type_) in DELETE_ROUTES.items():
        add_route(app, "DELETE", path, name, _delete_handler(type_))
    add_route(app, "POST", LIST_MEMBERS_PATH, "add_profiles_to_list", add_profiles_handler)
    add_route(app, "DELETE", LIST_MEMBERS_PATH, "remove_profiles_from_list", remove_profiles_handler)
