"""The microblog's OAuth 2.0 endpoints, its v2 API (``/2/...``) and the sandbox's control and counters."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import heapq
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, Router

from core.settings import SandboxSettings
from sandbox.microblog.catalog import (
    AUTHORS,
    CHANNELS,
    EPOCH_MS,
    WORLD_BIT,
    Generated,
    Streams,
    User,
    entities,
    likes_at,
    streams,
    user_by_id,
    user_by_username,
    weighted_length,
)
from sandbox.microblog.world import CODE_SECONDS, Code, Post, World
from sandbox.webpages import _wait_unless_disconnected

HISTORY_MS = 86_400_000  # a home timeline reaches back a day
MAX_RESULTS = 100
TIMEOUT_SECONDS = 600.0
MAX_TEXT = 280
SCOPES = frozenset({"tweet.read", "tweet.write", "users.read", "offline.access", "like.read", "like.write"})
DEFAULT_USER = CHANNELS[0].username
READS = ("timeline", "users", "own_posts", "lookup")
TWEET_FIELDS = frozenset(
    {"created_at", "lang", "public_metrics", "entities", "referenced_tweets", "author_id",
     "conversation_id", "in_reply_to_user_id"}
)  # fmt: skip
TOO_LONG = (
    "Your Tweet text is too long. For more information on how Twitter determines text length see "
    "https://github.com/twitter/twitter-text."
)
INVALID = "https://api.twitter.com/2/problems/invalid-request"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"


def world_of(request: Request) -> World:
    state = request.app.state
    world: World | None = getattr(state, "microblog", None)
    if world is None:
        world = state.microblog = World()
    return world


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = {"title": title, "detail": detail, "type": "about:blank", "status": status}
    return JSONResponse(body, status, headers=headers, media_type="application/problem+json")


def _invalid(message: str, parameter: str = "", value: str = "") -> Response:
    error: dict[str, Any] = {"message": message}
    if parameter:
        error["parameters"] = {parameter: [value]}
    body = {
        "errors": [error],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": INVALID,
    }
    return JSONResponse(body, 400)


def _not_found_error(resource: str, parameter: str, value: str) -> dict[str, str]:
    return {
        "value": value,
        "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "type": NOT_FOUND,
    }


def _not_found(resource: str, parameter: str, value: str, status: int = 200) -> Response:
    """X answers a lookup of something that does not exist with HTTP 200 and an ``errors`` list."""
    return JSONResponse({"errors": [_not_found_error(resource, parameter, value)]}, status)


def _unauthorized() -> Response:
    return _problem(401, "Unauthorized", "Unauthorized")


def _unavailable(headers: dict[str, str] | None = None) -> Response:
    return _problem(503, "Service Unavailable", "Service Unavailable", headers)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "username": user.username}


@dataclass(slots=True)
class Call:
    """An authenticated call that passed the limits and the faults."""

    world: World
    config: SandboxSettings
    user: User
    headers: dict[str, str]
    fault: str  # "", or for a post or repost: "error" / "hang" after applying it


async def _call(request: Request, group: str, action: str | None = None) -> Call | Response:
    config: SandboxSettings = request.app.state.config
    world = world_of(request)
    if config.microblog_latency_ms:
        await asyncio.sleep(config.microblog_latency_ms / 1000)
    token = request.headers.get("authorization", "")
    found = world.user_of(token[7:]) if token[:7].lower() == "bearer " else None
    user = user_by_id(found[0]) if found else None
    if user is None:
        return _unauthorized()
    if action is not None:
        world.count(user.id, action).received += 1
    headers = _limit(world, config, user.id, group)
    if isinstance(headers, Response):
        if action is not None:
            world.count(user.id, action).limited += 1
        return headers
    roll = request.app.state.rng.random()
    roll -= config.microblog_error_rate
    if roll < 0:
        return _unavailable(headers)
    roll -= config.microblog_timeout_rate
    if roll < 0:
        await _wait_unless_disconnected(request, TIMEOUT_SECONDS)
        return _problem(504, "Gateway Timeout", "sandbox: gave up", headers)
    fault = ""
    if action is not None:
        roll -= config.microblog_applied_error_rate
        if roll < 0:
            fault = "error"
        elif roll - config.microblog_applied_timeout_rate < 0:
            fault = "hang"
    return Call(world, config, user, headers, fault)


def _limit(world: World, config: SandboxSettings, user_id: str, group: str) -> dict[str, str] | Response:
    """The rate-limit headers of `group` (the shared window's when it is the tighter), or the 429."""
    limits = {
        "posts": config.microblog_post_limit,
        "reposts": config.microblog_repost_limit,
    }
    allowed, limit, remaining, reset = world.take(
        user_id, group, limits.get(group, config.microblog_read_limit), config.microblog_window_seconds
    )
    if allowed and group in limits:
        shared = world.take(
            user_id, "shared", config.microblog_shared_limit, config.microblog_shared_window_seconds
        )
        if not shared[0]:
            world.windows[(user_id, group)].used -= 1  # refused: the group's call is given back
            allowed = False
        if shared[2] < remaining or not shared[0]:
            limit, remaining, reset = shared[1], shared[2], shared[3]
    headers = {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(reset),
    }
    if not allowed:
        return _problem(429, "Too Many Requests", "Too Many Requests", headers)
    return headers


def _json(body: dict[str, Any], call: Call, status: int = 200) -> Response:
    return JSONResponse(body, status, headers=call.headers)


async def _after_applying(request: Request, call: Call, answer: Response) -> Response:
    """The answer to a post or repost that was applied: `answer`, or the fault drawn for it."""
    if call.fault == "error":
        return _unavailable(call.headers)
    if call.fault == "hang":
        await _wait_unless_disconnected(request, TIMEOUT_SECONDS)
        return _problem(504, "Gateway Timeout", "sandbox: gave up", call.headers)
    return answer


CallHandler = Callable[[Request, Call], Awaitable[Response]]
Handler = Callable[[Request], Awaitable[Response]]


def _api(
    group: str, action: str | None = None
) -> Callable[[CallHandler], Callable[[Request], Awaitable[Response]]]:
    """An API endpoint of `group`: the token, limits and faults checked first (`_call`), and the
    group's rate-limit headers on whatever the handler answers."""

    def wrap(handler: CallHandler) -> Handler:
        async def endpoint(request: Request) -> Response:
            call = await _call(request, group, action)
            if isinstance(call, Response):
                return call
            response = await handler(request, call)
            for name, value in call.headers.items():
                response.headers.setdefault(name, value)
            return response

        return endpoint

    return wrap


# --- OAuth 2.0 with PKCE ---


def _redirect(uri: str, **params: str) -> Response:
    separator = "&" if urlsplit(uri).query else "?"
    return RedirectResponse(f"{uri}{separator}{urlencode(params)}", status_code=302)


async def authorize(request: Request) -> Response:
    """Consent without a login page: the channel is ``login_hint`` (default demo_brand);
    ``decision=deny`` answers access_denied, as a person refusing would."""
    config: SandboxSettings = request.app.state.config
    q = request.query_params
    redirect_uri = q.get("redirect_uri", "")
    if q.get("client_id") != config.microblog_client_id:
        return JSONResponse({"error": "invalid_client", "error_description": "Unknown client_id"}, 400)
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return JSONResponse({"error": "invalid_request", "error_description": "Invalid redirect_uri"}, 400)
    state = q.get("state", "")
    scope = q.get("scope", "")
    problem = ""
    if q.get("response_type") != "code":
        problem = "unsupported_response_type"
    elif (
        not state
        or not q.get("code_challenge")
        or q.get("code_challenge_method", "plain") not in ("S256", "plain")
    ):
        problem = "invalid_request"
    elif not scope.split() or not set(scope.split()) <= SCOPES:
        problem = "invalid_scope"
    if problem:
        return _redirect(redirect_uri, error=problem, state=state)
    user = user_by_username(q.get("login_hint") or DEFAULT_USER)
    if q.get("decision") == "deny" or user is None or user.lang:  # an author is no channel to connect
        return _redirect(redirect_uri, error="access_denied", state=state)
    world = world_of(request)
    code = world.new_code(
        Code(
            user.id,
            config.microblog_client_id,
            redirect_uri,
            " ".join(sorted(set(scope.split()))),
            q["code_challenge"],
            q.get("code_challenge_method", "plain"),
            world.now() + CODE_SECONDS,
        )
    )
    return _redirect(redirect_uri, state=state, code=code)


def _token_error(error: str, description: str, status: int = 400) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status)


def _client_ok(request: Request, form: dict[str, str], config: SandboxSettings) -> bool:
    """A confidential client in a Basic header (id and secret), or a public one by its client_id."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        ok_id = secrets.compare_digest(client_id, config.microblog_client_id)
        return ok_id and secrets.compare_digest(secret, config.microblog_client_secret)
    return form.get("client_id") == config.microblog_client_id


def _challenge_of(verifier: str, method: str) -> str:
    if method == "plain":
        return verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def token(request: Request) -> Response:
    config: SandboxSettings = request.app.state.config
    if config.microblog_latency_ms:
        await asyncio.sleep(config.microblog_latency_ms / 1000)
    if request.app.state.rng.random() < config.microblog_error_rate:
        return _unavailable()
    form = {key: str(value) for key, value in (await request.form()).items()}
    if not _client_ok(request, form, config):
        return _token_error("unauthorized_client", "Missing valid authorization header", 401)
    world = world_of(request)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        code = world.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        if (
            code is None
            or code.expires_at < world.now()
            or code.redirect_uri != form.get("redirect_uri")
            or not verifier
            or not secrets.compare_digest(_challenge_of(verifier, code.method), code.challenge)
        ):
            return _token_error("invalid_request", "Value passed for the authorization code was invalid.")
        grant_id = world.new_grant(code.user_id, code.scope)
    elif grant_type == "refresh_token":
        grant_id = world.refresh.get(form.get("refresh_token", ""), "")
        if not grant_id:
            return _token_error("invalid_request", "Value passed for the token was invalid.")
    else:
        return _token_error("unsupported_grant_type", "Unsupported grant type")
    access, refresh = world.issue(grant_id, config.microblog_token_seconds)
    body: dict[str, Any] = {
        "token_type": "bearer",
        "expires_in": config.microblog_token_seconds,
        "access_token": access,
        "scope": world.grants[grant_id].scope,
    }
    if refresh:
        body["refresh_token"] = refresh
    return JSONResponse(body)


async def revoke_token(request: Request) -> Response:
    """Revoking an access or a refresh token ends its whole grant (every token issued with it)."""
    config: SandboxSettings = request.app.state.config
    form = {key: str(value) for key, value in (await request.form()).items()}
    if not _client_ok(request, form, config):
        return _token_error("unauthorized_client", "Missing valid authorization header", 401)
    world = world_of(request)
    value = form.get("token", "")
    grant_id = world.access.get(value) or world.refresh.get(value)
    if grant_id:
        world.drop_grant(grant_id)
    return JSONResponse({"revoked": True})


# --- users ---


@_api("users")
async def me(request: Request, call: Call) -> Response:
    return _json({"data": _user_json(call.user)}, call)


@_api("users")
async def by_username(request: Request, call: Call) -> Response:
    name = request.path_params["username"]
    user = user_by_username(name)
    return _not_found("user", "username", name) if user is None else _json({"data": _user_json(user)}, call)


@_api("users")
async def by_id(request: Request, call: Call) -> Response:
    user = user_by_id(request.path_params["id"])
    if user is None:
        return _not_found("user", "id", request.path_params["id"])
    return _json({"data": _user_json(user)}, call)


# --- posts as X renders them ---


def _metrics(call: Call, post_id: str, max_likes: int, age_ms: int) -> dict[str, int]:
    likes = likes_at(max_likes, age_ms) + call.world.likes.get(post_id, 0)
    return {
        "retweet_count": likes // 6 + call.world.repost_counts.get(post_id, 0),
        "reply_count": likes // 20,
        "like_count": likes,
        "quote_count": likes // 50,
        "bookmark_count": likes // 30,
        "impression_count": likes * 40 + (100 if max_likes else 3),
    }


def _render(call: Call, post: Generated | Post, fields: frozenset[str], now_ms: int) -> dict[str, Any]:
    pid = str(post.id)
    item: dict[str, Any] = {"id": pid, "text": post.text, "edit_history_tweet_ids": [pid]}
    if isinstance(post, Generated):
        author_id, max_likes, reply_to = post.author.id, post.max_likes, post.in_reply_to
    else:
        author_id, max_likes, reply_to = post.author_id, 0, None
    everything = {
        "author_id": author_id,
        "created_at": _iso(post.created_ms),
        "lang": post.lang,
        "conversation_id": pid,
    }
    for name in fields & everything.keys():
        item[name] = everything[name]
    if "public_metrics" in fields:
        item["public_metrics"] = _metrics(call, pid, max_likes, now_ms - post.created_ms)
    if "entities" in fields and (found := entities(post.text)):
        item["entities"] = found
    if "referenced_tweets" in fields and post.referenced:
        item["referenced_tweets"] = [{"type": kind, "id": ref} for kind, ref in post.referenced]
    if "in_reply_to_user_id" in fields and reply_to:
        item["in_reply_to_user_id"] = reply_to
    return item


def _fields(request: Request) -> frozenset[str]:
    return frozenset(request.query_params.get("tweet.fields", "").split(",")) & TWEET_FIELDS


def _lookup(call: Call, g: Streams, post_id: int, now_ms: int) -> Generated | Post | None:
    if post_id & WORLD_BIT:
        return call.world.posts.get(post_id)
    return g.post(post_id) if g.exists(post_id, now_ms) else None


def _page_body(
    request: Request, call: Call, g: Streams, ids: list[int], more: bool, now_ms: int
) -> dict[str, Any]:
    fields = _fields(request)
    posts = [post for pid in ids if (post := _lookup(call, g, pid, now_ms)) is not None]
    meta: dict[str, Any] = {"result_count": len(posts)}
    body: dict[str, Any] = {}
    if posts:
        body["data"] = [_render(call, post, fields, now_ms) for post in posts]
        meta["newest_id"], meta["oldest_id"] = str(posts[0].id), str(posts[-1].id)
        if "author_id" in request.query_params.get("expansions", "").split(","):
            authors: dict[str, User] = {}
            for post in posts:
                author = post.author if isinstance(post, Generated) else user_by_id(post.author_id)
                if author is not None:
                    authors.setdefault(author.id, author)
            body["includes"] = {"users": [_user_json(user) for user in authors.values()]}
    if more and posts:
        meta["next_token"] = _token_of(posts[-1].id)
    body["meta"] = meta
    return body


def _token_of(post_id: int) -> str:
    return "7140d" + format(post_id ^ 0x5DEECE66D, "x")


def _id_of_token(value: str) -> int | None:
    if not value.startswith("7140d"):
        return None
    try:
        return int(value[5:], 16) ^ 0x5DEECE66D
    except ValueError:
        return None


@dataclass(slots=True)
class Paging:
    below: int  # ids below this (exclusive)
    above: int  # ids above this (exclusive)
    count: int


def _paging(request: Request, now_ms: int, *, smallest: int = 1) -> Paging | Response:
    q = request.query_params
    raw = q.get("max_results", str(MAX_RESULTS))
    if not (raw.isascii() and raw.isdigit()) or not smallest <= int(raw) <= MAX_RESULTS:
        message = (
            f"The `max_results` query parameter value [{raw}] is not between {smallest} and {MAX_RESULTS}"
        )
        return _invalid(message, "max_results", raw)
    below = (now_ms + 1 - EPOCH_MS) << 22
    above = ((now_ms - HISTORY_MS - EPOCH_MS) << 22) if smallest == 1 else 0
    for name in ("since_id", "until_id"):
        value = q.get(name)
        if value is None:
            continue
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            return _invalid(f"The `{name}` query parameter value [{value}] is not valid", name, value)
        if name == "since_id":
            above = max(above, int(value))
        else:
            below = min(below, int(value))
    token = q.get("pagination_token")
    if token is not None:
        until = _id_of_token(token)
        if until is None:
            return _invalid(
                f"The `pagination_token` query parameter value [{token}] is not valid",
                "pagination_token",
                token,
            )
        below = min(below, until)
    return Paging(below, above, int(raw))


def _descending(posts: list[Post], below: int, above: int) -> Iterator[int]:
    for post in reversed(posts):
        if post.id <= above:
            return
        if post.id < below:
            yield post.id


@_api("timeline")
async def home_timeline(request: Request, call: Call) -> Response:
    """The merge of the followed authors' streams, the channel's own posts and those control added."""
    if request.path_params["id"] != call.user.id:
        return _problem(403, "Forbidden", "You can only read your own home timeline.")
    now_ms = call.world.now_ms()
    paging = _paging(request, now_ms)
    if isinstance(paging, Response):
        return paging
    g = streams(call.config.seed, call.config.microblog_posts_per_minute)
    uid = call.user.id
    sources = [g.descending(a, paging.below, now_ms, paging.above) for a in g.followed(uid)]
    sources += [
        _descending(call.world.own.get(uid, []), paging.below, paging.above),
        _descending(call.world.added.get(uid, []), paging.below, paging.above),
    ]
    ids = list(islice(heapq.merge(*sources, reverse=True), paging.count + 1))
    more = len(ids) > paging.count
    return _json(_page_body(request, call, g, ids[: paging.count], more, now_ms), call)


@_api("own_posts")
async def own_posts(request: Request, call: Call) -> Response:
    """A channel's own posts and reposts, newest first (``start_time`` ISO 8601, ``max_results`` 5–100)."""
    user = user_by_id(request.path_params["id"])
    if user is None:
        return _not_found("user", "id", request.path_params["id"])
    now_ms = call.world.now_ms()
    paging = _paging(request, now_ms, smallest=5)
    if isinstance(paging, Response):
        return paging
    start = request.query_params.get("start_time")
    if start:
        try:
            when = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            return _invalid(f"Invalid 'start_time':'{start}'.", "start_time", start)
        floor_ms = int(when.timestamp() * 1000) - 1
        paging.above = max(paging.above, (floor_ms - EPOCH_MS) << 22 | ((1 << 22) - 1))
    g = streams(call.config.seed, call.config.microblog_posts_per_minute)
    ids = list(
        islice(_descending(call.world.own.get(user.id, []), paging.below, paging.above), paging.count + 1)
    )
    more = len(ids) > paging.count
    return _json(_page_body(request, call, g, ids[: paging.count], more, now_ms), call)


@_api("lookup")
async def posts_by_ids(request: Request, call: Call) -> Response:
    """``GET 2/tweets?ids=1,2,…`` (1–100 ids): the posts found, and an ``errors`` item per id that is
    not there (X's v2 lookup)."""
    raw = request.query_params.get("ids", "")
    ids = [value.strip() for value in raw.split(",") if value.strip()]
    if not 1 <= len(ids) <= MAX_RESULTS or not all(
        value.isascii() and value.isdigit() and len(value) <= 19 for value in ids
    ):
        return _invalid(f"The `ids` query parameter value [{raw}] is not valid", "ids", raw)
    now_ms = call.world.now_ms()
    g = streams(call.config.seed, call.config.microblog_posts_per_minute)
    found = [pid for pid in dict.fromkeys(int(value) for value in ids) if _lookup(call, g, pid, now_ms)]
    body = _page_body(request, call, g, found, False, now_ms)
    body.pop("meta", None)
    missing = [value for value in dict.fromkeys(ids) if int(value) not in set(found)]
    if missing:
        body["errors"] = [_not_found_error("tweet", "ids", value) for value in missing]
    return _json(body, call)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        payload = await request.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


@_api("posts", "posts")
async def create_post(request: Request, call: Call) -> Response:
    payload = await _body(request)
    text = payload.get("text") if payload else None
    if not isinstance(text, str) or not text.strip():
        return _invalid("$.text: must be a non-empty string", "text", str(text))
    if weighted_length(text) > MAX_TEXT:
        return _invalid(TOO_LONG)
    world, uid = call.world, call.user.id
    count = world.count(uid, "posts")
    if world.duplicate(uid, text):
        count.duplicates += 1
        return _problem(
            403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.", call.headers
        )
    post = Post(world.new_id(), uid, world.now_ms(), text, _lang_of(text))
    world.keep(post)
    world.recent_texts.setdefault(uid, {})[text.strip()] = post.created_ms
    count.applied += 1
    answer = _json(
        {"data": {"id": str(post.id), "text": text, "edit_history_tweet_ids": [str(post.id)]}}, call, 201
    )
    return await _after_applying(request, call, answer)


def _lang_of(text: str) -> str:
    """A rough guess of X's language detection, enough for filters to have something to read."""
    for char in text:
        code = ord(char)
        if 0x3040 <= code <= 0x30FF:
            return "ja"
        if 0x4E00 <= code <= 0x9FFF:
            return "zh"
        if 0x0400 <= code <= 0x04FF:
            return "ru"
    return "en"


@_api("reposts", "reposts")
async def repost(request: Request, call: Call) -> Response:
    if request.path_params["id"] != call.user.id:
        return _problem(
            403, "Forbidden", "You are not allowed to repost on behalf of this user.", call.headers
        )
    payload = await _body(request)
    raw = payload.get("tweet_id") if payload else None
    if not isinstance(raw, str) or not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        return _invalid("$.tweet_id: must be a post id", "tweet_id", str(raw))
    world, uid, now_ms = call.world, call.user.id, call.world.now_ms()
    g = streams(call.config.seed, call.config.microblog_posts_per_minute)
    target = _lookup(call, g, int(raw), now_ms)
    if target is None:
        return _not_found("tweet", "tweet_id", raw, status=404)
    for kind, ref in target.referenced:  # a repost of a repost reposts the original
        if kind == "retweeted":
            original = _lookup(call, g, int(ref), now_ms)
            target = original if original is not None else target
    original_id = str(target.id)
    count, per_target = world.count(uid, "reposts"), world.target(uid, original_id)
    per_target.received += 1
    if (uid, original_id) in world.reposted:
        count.duplicates += 1
        per_target.duplicates += 1
        if call.config.microblog_repost_again == "forbidden":
            return _problem(403, "Forbidden", "You have already retweeted this Tweet.", call.headers)
        return _json({"data": {"retweeted": True}}, call)
    author = target.author.username if isinstance(target, Generated) else _username(target.author_id)
    post = Post(
        world.new_id(),
        uid,
        now_ms,
        f"RT @{author}: {target.text}",
        target.lang,
        (("retweeted", original_id),),
    )
    world.keep(post)
    world.reposted[(uid, original_id)] = post.id
    world.repost_counts[original_id] = world.repost_counts.get(original_id, 0) + 1
    count.applied += 1
    per_target.applied += 1
    return await _after_applying(request, call, _json({"data": {"retweeted": True}}, call))


def _username(user_id: str) -> str:
    user = user_by_id(user_id)
    return user.username if user else user_id


# --- control and counters (no token needed) ---


def _control_user(request: Request) -> User | None:
    return user_by_username(request.path_params["username"])


def _unknown_user() -> Response:
    return JSONResponse({"error": "unknown user"}, 404)


async def reset(request: Request) -> Response:
    world_of(request).reset()
    return Response(status_code=204)


async def clock(request: Request) -> Response:
    """``GET``: the sandbox's time; ``POST {"advance": seconds}`` moves it on (never back)."""
    world = world_of(request)
    if request.method == "POST":
        advance = (await _body(request) or {}).get("advance")
        if type(advance) not in (int, float) or advance < 0:
            return JSONResponse({"error": "advance: seconds, at least 0"}, 400)
        world.offset += advance
    return JSONResponse({"now": world.now()})


async def revoke_user(request: Request) -> Response:
    user = _control_user(request)
    return (
        _unknown_user() if user is None else JSONResponse({"revoked": world_of(request).revoke_user(user.id)})
    )


async def add_timeline_posts(request: Request) -> Response:
    """``{"count": N}`` or ``{"posts": [{"text", "author"?, "lang"?}]}``: new posts, now, at the top of
    the user's home timeline (by its followed authors, or the author named)."""
    user = _control_user(request)
    if user is None:
        return _unknown_user()
    payload = await _body(request) or {}
    world = world_of(request)
    wanted = payload.get("posts")
    count = payload.get("count", 0)
    if wanted is None:
        if type(count) is not int or not 0 <= count <= 10_000:
            return JSONResponse({"error": "count: 0..10000"}, 400)
        wanted = [{} for _ in range(count)]
    if not isinstance(wanted, list) or not all(isinstance(item, dict) for item in wanted):
        return JSONResponse({"error": "posts: a list of objects"}, 400)
    ids = []
    for n, item in enumerate(wanted):
        author = (
            user_by_username(str(item.get("author", ""))) or AUTHORS[(len(world.posts) + n) % len(AUTHORS)]
        )
        text = str(item.get("text") or f"Added post {len(world.posts) + 1} #sandbox")
        post = Post(
            world.new_id(), author.id, world.now_ms(), text, str(item.get("lang") or author.lang or "en")
        )
        world.keep(post, timeline_of=user.id)
        ids.append(str(post.id))
    return JSONResponse({"ids": ids})


async def post_likes(request: Request) -> Response:
    """``{"likes": N}``: a post's likes from now on (added to what its age gives a seeded post)."""
    raw = request.path_params["id"]
    likes = (await _body(request) or {}).get("likes")
    if not (raw.isascii() and raw.isdigit()) or type(likes) is not int or likes < 0:
        return JSONResponse({"error": "likes: a whole number of at least 0, for a post id"}, 400)
    world_of(request).likes[raw] = likes
    return JSONResponse({"likes": likes})


async def user_limits(request: Request) -> Response:
    """``{"posts"|"reposts"|"shared"|"timeline"|"users"|"own_posts": N | null}``: the user's own limits."""
    user = _control_user(request)
    if user is None:
        return _unknown_user()
    payload = await _body(request) or {}
    own = world_of(request).limits.setdefault(user.id, {})
    for group, value in payload.items():
        if group not in ("posts", "reposts", "shared", *READS):
            return JSONResponse({"error": f"unknown group {group!r}"}, 400)
        if value is None:
            own.pop(group, None)
        elif type(value) is int and value >= 0:
            own[group] = value
        else:
            return JSONResponse({"error": f"{group}: a whole number of at least 0, or null"}, 400)
    return JSONResponse({"limits": own})


async def counters(request: Request) -> Response:
    """``GET``: per-user posts and reposts received, applied, duplicates and limited, and every
    reposted post received more than once; ``DELETE``: zero them."""
    world = world_of(request)
    if request.method == "DELETE":
        world.reset_counters()
        return Response(status_code=204)
    users: dict[str, dict[str, dict[str, int]]] = {}
    for (uid, action), count in world.counts.items():
        users.setdefault(_username(uid), {})[action] = count.as_dict()
    repeated = [
        {"user": _username(uid), "tweet_id": original} | count.as_dict()
        for (uid, original), count in world.targets.items()
        if count.received > 1
    ]
    return JSONResponse({"users": users, "reposts_received_again": repeated})


async def user_counters(request: Request) -> Response:
    user = _control_user(request)
    if user is None:
        return _unknown_user()
    world = world_of(request)
    return JSONResponse({action: world.count(user.id, action).as_dict() for action in ("posts", "reposts")})


def create_router() -> Router:
    """The microblog router; its overlay lives on the app (``app.state.microblog``)."""
    return Router(
        routes=[
            Route("/oauth2/authorize", authorize),
            Route("/oauth2/token", token, methods=["POST"]),
            Route("/oauth2/revoke", revoke_token, methods=["POST"]),
            Route("/2/users/me", me),
            Route("/2/users/by/username/{username}", by_username),
            Route("/2/users/{id}", by_id),
            Route("/2/users/{id}/timelines/reverse_chronological", home_timeline),
            Route("/2/users/{id}/tweets", own_posts),
            Route("/2/users/{id}/retweets", repost, methods=["POST"]),
            Route("/2/tweets", create_post, methods=["POST"]),
            Route("/2/tweets", posts_by_ids),
            Route("/_control/reset", reset, methods=["POST"]),
            Route("/_control/clock", clock, methods=["GET", "POST"]),
            Route("/_control/users/{username}/revoke", revoke_user, methods=["POST"]),
            Route("/_control/users/{username}/timeline", add_timeline_posts, methods=["POST"]),
            Route("/_control/users/{username}/limits", user_limits, methods=["PUT"]),
            Route("/_control/posts/{id}/likes", post_likes, methods=["PUT"]),
            Route("/_counters", counters, methods=["GET", "DELETE"]),
            Route("/_counters/{username}", user_counters),
        ]
    )
