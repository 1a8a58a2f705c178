"""The network's private v1 API (``/api/v1/...``) and the sandbox's own control and counter endpoints."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, Router

from core.settings import SandboxSettings
from sandbox.network.graph import (
    CATALOG,
    Graph,
    current_slot,
    exists,
    feed_of_location,
    feed_of_tag,
    graph,
    is_virtual,
    now,
    today,
)
from sandbox.network.world import ACTIONS, Count, World
from sandbox.webpages import _wait_unless_disconnected

MAX_USERS_PAGE = 200
MAX_FEED_PAGE = 50
DEFAULT_FEED_PAGE = 12
FEED_HISTORY = 100_000  # posts a hashtag or location feed reaches back (one per slot)
TIMEOUT_SECONDS = 600.0
CREDENTIALS = ("username", "password")
THROTTLED = "Please wait a few minutes before you try again."
FEEDBACK = "We restrict certain activity to protect our community. Tell us if you think we made a mistake."

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(slots=True)
class Call:
    """An authenticated call that passed the faults: who makes it and what it sees."""

    world: World
    graph: Graph
    config: SandboxSettings
    account: int
    hang: bool  # a like, follow or unfollow to apply and then leave unanswered


def _fail(status_code: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return JSONResponse({"message": message, **extra, "status": "fail"}, status_code, headers=headers)


def _ok(body: dict[str, Any]) -> Response:
    body["status"] = "ok"
    return JSONResponse(body)


def _challenge() -> Response:
    return _fail(
        400,
        "challenge_required",
        challenge={"url": "https://network.example/challenge/", "api_path": "/challenge/", "lock": True},
    )


def world_of(request: Request) -> World:
    """The app's overlay, made on first use."""
    state = request.app.state
    world: World | None = getattr(state, "network", None)
    if world is None:
        world = state.network = World()
    return world


async def _faults(request: Request, config: SandboxSettings, *, action: bool) -> Response | bool:
    """The injected fault (one draw), True to hang after applying an action, or False for none."""
    roll = request.app.state.rng.random()
    roll -= config.network_error_rate
    if roll < 0:
        return PlainTextResponse("sandbox: injected network error", status_code=500)
    roll -= config.network_throttle_rate
    if roll < 0:
        return _fail(429, THROTTLED, headers={"Retry-After": "1"})
    roll -= config.network_challenge_rate
    if roll < 0:
        return _challenge()
    return action and roll < config.network_timeout_rate


async def _call(request: Request, action: str | None = None, target: str = "") -> Call | Response:
    """The call's session checked, the action counted as received, the faults drawn."""
    config: SandboxSettings = request.app.state.config
    world = world_of(request)
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    account = world.sessions.get(token)
    if config.network_latency_ms:
        await asyncio.sleep(config.network_latency_ms / 1000)
    if account is None:
        return _fail(403, "login_required", error_title="You've been logged out.", logout_reason=2)
    if action is not None:
        world.receive(account, action, target)
    if account in world.challenged:
        return _challenge()
    fault = await _faults(request, config, action=action is not None)
    if isinstance(fault, Response):
        return fault
    return Call(world, graph(config.seed), config, account, fault)


def _digits(raw: str) -> bool:
    """ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses)."""
    return raw.isascii() and raw.isdigit()


def _pk(request: Request) -> int | None:
    raw = request.path_params["pk"]
    return int(raw) if _digits(raw) and len(raw) < 19 and exists(int(raw)) else None


def _pk_of(username: str) -> int | None:
    name = username.strip().lower()
    known = CATALOG.get(name)
    if known is not None:
        return known.pk
    digits = name.removeprefix("user")
    if name.startswith("user") and _digits(digits) and not digits.startswith("0") and len(digits) < 12:
        pk = int(digits)
        return pk if is_virtual(pk) else None
    return None


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    if not _digits(raw) or len(raw) > 12:
        raise ValueError(f"{name} must be a whole number")
    return min(int(raw), maximum)


def _user_not_found() -> Response:
    return _fail(404, "User not found")


def _user_json(call: Call, pk: int) -> dict[str, Any]:
    user = call.graph.user(pk)
    followers, followings = call.world.followers.get(pk), call.world.followings.get(pk)
    return {
        "pk": pk,
        "pk_id": str(pk),
        "username": user.username,
        "full_name": user.full_name,
        "biography": user.biography,
        "is_private": user.is_private,
        "is_business": user.is_business,
        "follower_count": user.followers + (followers.delta if followers else 0),
        "following_count": user.followings + (followings.delta if followings else 0),
        "media_count": user.media,
    }


def _short(g: Graph, pk: int) -> dict[str, Any]:
    username, full_name, private = g.ref(pk)
    return {"pk": pk, "username": username, "full_name": full_name, "is_private": private}


def _may_see(call: Call, pk: int) -> bool:
    """A private user's lists and posts are shown to itself and its followers only."""
    return pk == call.account or not call.graph.ref(pk)[2] or call.world.follows(call.graph, call.account, pk)


def _not_authorized() -> Response:
    return _fail(403, "Not authorized to view user")


def _media_json(call: Call, author: int, fields: dict[str, Any]) -> dict[str, Any]:
    media_id = fields["id"]
    media = dict(fields)
    media["user"] = _short(call.graph, author)
    media["like_count"] += call.world.extra_likes.get(media_id, 0)
    media["has_liked"] = (call.account, media_id) in call.world.likes
    return media


# --- login ---


async def login(request: Request) -> Response:
    config: SandboxSettings = request.app.state.config
    try:
        payload = await request.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in CREDENTIALS):
        return _fail(400, "username and password are required", error_type="missing_parameters")
    if config.network_latency_ms:
        await asyncio.sleep(config.network_latency_ms / 1000)
    fault = await _faults(request, config, action=False)
    if isinstance(fault, Response):
        return fault
    pk = _pk_of(payload["username"])
    if pk is None:
        return _fail(
            400,
            "The username you entered doesn't appear to belong to an account.",
            error_type="invalid_user",
            invalid_credentials=True,
        )
    world = world_of(request)
    if payload["password"] != config.network_password:
        return _fail(400, "The password you entered is incorrect.", error_type="bad_password")
    if pk in world.challenged:
        return _challenge()
    g = graph(config.seed)
    user = _short(g, pk)
    return _ok({"logged_in_user": user, "session": world.open_session(pk)})


# --- users and their lists ---


async def username_info(request: Request) -> Response:
    call = await _call(request)
    if isinstance(call, Response):
        return call
    pk = _pk_of(request.path_params["username"])
    return _user_not_found() if pk is None else _ok({"user": _user_json(call, pk)})


async def user_info(request: Request) -> Response:
    call = await _call(request)
    if isinstance(call, Response):
        return call
    pk = _pk(request)
    return _user_not_found() if pk is None else _ok({"user": _user_json(call, pk)})


async def _user_page(request: Request, default: int, maximum: int) -> tuple[Call, int, int, int] | Response:
    """The call, the user whose list or posts are asked for, and the page (``count``, ``max_id``); or
    the answer refusing them."""
    call = await _call(request)
    if isinstance(call, Response):
        return call
    pk = _pk(request)
    if pk is None:
        return _user_not_found()
    if not _may_see(call, pk):
        return _not_authorized()
    try:
        count = _int_param(request, "count", default, maximum) or default
        start = _int_param(request, "max_id", 0, 1 << 40)
    except ValueError as exc:
        return _fail(400, str(exc))
    return call, pk, count, start


def _list_endpoint(followers: bool) -> Handler:
    async def listing(request: Request) -> Response:
        page = await _user_page(request, MAX_USERS_PAGE, MAX_USERS_PAGE)
        if isinstance(page, Response):
            return page
        call, pk, count, start = page
        g, world = call.graph, call.world
        user = g.user(pk)
        virtual = user.followers if followers else user.followings
        side = (world.followers if followers else world.followings).get(pk)
        member = g.follower if followers else g.following
        edges = world.edges
        pks: list[int] = []
        position = start
        while position < virtual and len(pks) < count:
            other = member(pk, position)
            position += 1
            if edges and edges.get((other, pk) if followers else (pk, other)) is False:
                continue
            pks.append(other)
        added = len(side.added) if side else 0
        if len(pks) < count and position >= virtual:
            extra = world.added_slice(side, position - virtual, count - len(pks))
            pks += extra
            position += len(extra)
        more = position < virtual + added
        users = [_short(g, other) for other in pks]
        return _ok({"users": users, "next_max_id": str(position) if more else None, "page_size": count})

    return listing


# --- posts ---


async def user_feed(request: Request) -> Response:
    page = await _user_page(request, DEFAULT_FEED_PAGE, MAX_FEED_PAGE)
    if isinstance(page, Response):
        return page
    call, pk, count, start = page
    media = call.graph.user(pk).media
    midnight = today(now())
    ks = range(media - 1 - start, max(media - 1 - start - count, -1), -1)
    items = [_media_json(call, pk, call.graph.post(pk, k, midnight)) for k in ks]
    more = start + len(items) < media
    return _ok(
        {
            "items": items,
            "num_results": len(items),
            "more_available": more,
            "next_max_id": str(start + len(items)) if more else None,
        }
    )


def _feed_endpoint(find: Callable[[str], int | None], missing: str) -> Handler:
    async def feed_page(request: Request) -> Response:
        call = await _call(request)
        if isinstance(call, Response):
            return call
        feed = find(request.path_params["key"])
        if feed is None:
            return _fail(404, missing)
        newest = current_slot(feed, now())
        oldest = newest - FEED_HISTORY + 1
        try:
            count = _int_param(request, "count", DEFAULT_FEED_PAGE, MAX_FEED_PAGE) or DEFAULT_FEED_PAGE
            start = min(_int_param(request, "max_id", newest, newest), newest)  # a slot: newer posts come
        except ValueError as exc:  # in above it without moving the pages below
            return _fail(400, str(exc))
        end = max(start - count, oldest - 1)
        posts = (call.graph.feed_post(feed, slot) for slot in range(start, end, -1))
        items = [_media_json(call, author, fields) for author, fields in posts]
        more = end >= oldest
        return _ok(
            {
                "items": items,
                "num_results": len(items),
                "more_available": more,
                "next_max_id": str(end) if more else None,
            }
        )

    return feed_page


def _tag(raw: str) -> int | None:
    return feed_of_tag(raw.strip().lower())


def _location(raw: str) -> int | None:
    return feed_of_location(int(raw)) if _digits(raw) and len(raw) < 19 else None


async def media_info(request: Request) -> Response:
    call = await _call(request)
    if isinstance(call, Response):
        return call
    found = call.graph.media(request.path_params["media_id"], now())
    if found is None:
        return _fail(404, "Media not found or unavailable")
    return _ok({"items": [_media_json(call, *found)], "num_results": 1, "more_available": False})


# --- actions ---


async def _acted(request: Request, call: Call, count: Count, total: Count, applied: bool) -> None:
    """Count the action applied or duplicate; hang until the client gives up if the faults said so."""
    if applied:
        count.applied += 1
        total.applied += 1
    else:
        count.duplicates += 1
        total.duplicates += 1
    if call.hang:
        await _wait_unless_disconnected(request, TIMEOUT_SECONDS)


def _blocked(call: Call, action: str) -> Response | None:
    if call.world.blocked(call.account, action, call.config.network_block_after):
        return _fail(
            400,
            "feedback_required",
            feedback_title="Action Blocked",
            feedback_message=FEEDBACK,
            spam=True,
            feedback_action="report_problem",
        )
    call.world.use(call.account, action)
    return None


async def like(request: Request) -> Response:
    media_id: str = request.path_params["media_id"]
    call = await _call(request, "like", media_id)
    if isinstance(call, Response):
        return call
    if call.graph.media(media_id, now()) is None:
        return _fail(404, "Media not found or unavailable")
    if blocked := _blocked(call, "like"):
        return blocked
    world = call.world
    count, total = world.counts[(call.account, "like", media_id)], world.totals[(call.account, "like")]
    await _acted(request, call, count, total, world.like(call.account, media_id))
    return _gave_up() if call.hang else _ok({})


def _friendship(call: Call, pk: int) -> dict[str, Any]:
    world, g = call.world, call.graph
    return {
        "following": world.follows(g, call.account, pk),
        "followed_by": world.followed_by(g, call.account, pk),
        "outgoing_request": (call.account, pk) in world.requests,
        "is_private": g.ref(pk)[2],
        "blocking": False,
    }


def _gave_up() -> Response:
    return PlainTextResponse("sandbox: gave up", status_code=504)


def _action_endpoint(action: str) -> Handler:
    async def act(request: Request) -> Response:
        raw: str = request.path_params["pk"]
        call = await _call(request, action, raw)
        if isinstance(call, Response):
            return call
        pk = _pk(request)
        if pk is None or pk == call.account:
            return _user_not_found() if pk is None else _fail(400, "You cannot follow yourself.")
        if blocked := _blocked(call, action):
            return blocked
        world, g = call.world, call.graph
        following = world.follows(g, call.account, pk)
        requested = (call.account, pk) in world.requests
        applied = False
        if action == "follow" and not (following or requested):
            if g.ref(pk)[2]:
                world.requests.add((call.account, pk))
            else:
                world.set_edge(g, call.account, pk, True)
                if g.follows_back(pk) and not world.followed_by(g, call.account, pk):
                    world.set_edge(g, pk, call.account, True)
            applied = True
        elif action == "unfollow" and (following or requested):
            world.requests.discard((call.account, pk))
            if following:
                world.set_edge(g, call.account, pk, False)
            applied = True
        count, total = world.counts[(call.account, action, raw)], world.totals[(call.account, action)]
        await _acted(request, call, count, total, applied)
        return _gave_up() if call.hang else _ok({"friendship_status": _friendship(call, pk)})

    return act


async def friendship_show(request: Request) -> Response:
    call = await _call(request)
    if isinstance(call, Response):
        return call
    pk = _pk(request)
    return _user_not_found() if pk is None else _ok(_friendship(call, pk))


# --- control and counters (no session needed) ---


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except ValueError:
        payload = {}
    return payload if isinstance(payload, dict) else {}


def _control_account(request: Request) -> int | None:
    return _pk_of(request.path_params["username"])


def _count_of(payload: dict[str, Any]) -> int | None:
    count = payload.get("count")
    return count if type(count) is int and 0 <= count <= 1_000_000 else None


async def remove_followers(request: Request) -> Response:
    """``{"count": N}``: N of the account's followers (drawn at random) stop following it."""
    pk, count = _control_account(request), _count_of(await _json_object(request))
    if pk is None or count is None:
        return _fail(404 if pk is None else 400, "unknown account" if pk is None else "count: 0..1000000")
    config: SandboxSettings = request.app.state.config
    world, g = world_of(request), graph(config.seed)
    virtual = g.user(pk).followers
    rng = random.Random(f"{config.seed}-{pk}-{len(world.edges)}")
    sampled = rng.sample(range(virtual), min(virtual, count * 2 + 10))
    side = world.followers.get(pk)
    added = list(side.added) if side else []
    # a random draw first; when most are gone already, every follower in turn; then the added ones
    candidates = chain((g.follower(pk, i) for i in chain(sampled, range(virtual))), added)
    removed: list[int] = []
    for follower in candidates:
        if len(removed) >= count:
            break
        if world.followed_by(g, pk, follower):
            world.set_edge(g, follower, pk, False)
            removed.append(follower)
    return JSONResponse({"removed": removed})


async def add_followers(request: Request) -> Response:
    """``{"count": N}``: N users who did not follow the account now do (at the end of its list)."""
    pk, count = _control_account(request), _count_of(await _json_object(request))
    if pk is None or count is None:
        return _fail(404 if pk is None else 400, "unknown account" if pk is None else "count: 0..1000000")
    config: SandboxSettings = request.app.state.config
    world, g = world_of(request), graph(config.seed)
    added: list[int] = []
    attempt = len(world.edges)
    while len(added) < count:
        attempt += 1
        other = g.outsider(pk, attempt)
        if other != pk and not world.followed_by(g, pk, other):
            world.set_edge(g, other, pk, True)
            added.append(other)
    return JSONResponse({"added": added})


async def challenge(request: Request) -> Response:
    """``POST``: every call of the account answers challenge_required; ``DELETE``: solved."""
    pk = _control_account(request)
    if pk is None:
        return _fail(404, "unknown account")
    world = world_of(request)
    if request.method == "POST":
        world.challenged.add(pk)
    else:
        world.challenged.discard(pk)
    return JSONResponse({"challenged": pk in world.challenged})


async def revoke(request: Request) -> Response:
    """Every session of the account stops working (login_required)."""
    pk = _control_account(request)
    if pk is None:
        return _fail(404, "unknown account")
    return JSONResponse({"revoked": world_of(request).revoke(pk)})


async def block_budget(request: Request) -> Response:
    """``{"budget": N}``: actions of each kind before feedback_required (0: never; null: the knob)."""
    pk = _control_account(request)
    if pk is None:
        return _fail(404, "unknown account")
    budget = (await _json_object(request)).get("budget")
    world = world_of(request)
    if budget is None:
        world.budgets.pop(pk, None)
    elif type(budget) is int and budget >= 0:
        world.budgets[pk] = budget
    else:
        return _fail(400, "budget: a whole number of at least 0, or null")
    return JSONResponse({"budget": world.budgets.get(pk)})


async def reset(request: Request) -> Response:
    """Forget every follow, like, challenge, budget and count (sessions stay valid)."""
    world_of(request).reset()
    return Response(status_code=204)


def _username(g: Graph, pk: int) -> str:
    return g.ref(pk)[0]


async def counters(request: Request) -> Response:
    """``GET``: per-account totals and every (account, action, target) that got duplicates;
    ``DELETE``: zero them (and the block budgets used)."""
    world = world_of(request)
    if request.method == "DELETE":
        world.reset_counters()
        return Response(status_code=204)
    g = graph(request.app.state.config.seed)
    accounts: dict[str, dict[str, dict[str, int]]] = {}
    for (account, action), total in world.totals.items():
        accounts.setdefault(_username(g, account), {})[action] = total.as_dict()
    duplicates = [
        {"account": _username(g, account), "action": action, "target": target} | count.as_dict()
        for (account, action, target), count in world.counts.items()
        if count.duplicates
    ]
    return JSONResponse({"accounts": accounts, "duplicates": duplicates})


async def target_counter(request: Request) -> Response:
    """One (account, action, target)'s counts (zeros when never received)."""
    pk = _control_account(request)
    action = request.path_params["action"]
    if pk is None or action not in ACTIONS:
        return _fail(404, "unknown account or action")
    count = world_of(request).counts.get((pk, action, request.path_params["target"]), Count())
    return JSONResponse(count.as_dict())


def create_router() -> Router:
    """The network router; its overlay lives on the app (``app.state.network``)."""
    v1 = "/api/v1"
    return Router(
        routes=[
            Route(f"{v1}/accounts/login", login, methods=["POST"]),
            Route(f"{v1}/users/{{username}}/usernameinfo", username_info),
            Route(f"{v1}/users/{{pk}}/info", user_info),
            Route(f"{v1}/friendships/{{pk}}/followers", _list_endpoint(followers=True)),
            Route(f"{v1}/friendships/{{pk}}/following", _list_endpoint(followers=False)),
            Route(f"{v1}/friendships/show/{{pk}}", friendship_show),
            Route(f"{v1}/friendships/create/{{pk}}", _action_endpoint("follow"), methods=["POST"]),
            Route(f"{v1}/friendships/destroy/{{pk}}", _action_endpoint("unfollow"), methods=["POST"]),
            Route(f"{v1}/feed/user/{{pk}}", user_feed),
            Route(f"{v1}/feed/tag/{{key}}", _feed_endpoint(_tag, "Hashtag not found")),
            Route(f"{v1}/feed/location/{{key}}", _feed_endpoint(_location, "Location not found")),
            Route(f"{v1}/media/{{media_id}}/info", media_info),
            Route(f"{v1}/media/{{media_id}}/like", like, methods=["POST"]),
            Route("/_control/reset", reset, methods=["POST"]),
            Route("/_control/accounts/{username}/remove_followers", remove_followers, methods=["POST"]),
            Route("/_control/accounts/{username}/add_followers", add_followers, methods=["POST"]),
            Route("/_control/accounts/{username}/challenge", challenge, methods=["POST", "DELETE"]),
            Route("/_control/accounts/{username}/revoke", revoke, methods=["POST"]),
            Route("/_control/accounts/{username}/block_budget", block_budget, methods=["PUT"]),
            Route("/_counters", counters, methods=["GET", "DELETE"]),
            Route("/_counters/{username}/{action}/{target}", target_counter),
        ]
    )
