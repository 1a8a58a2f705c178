"""connectors.microblog against the sandbox's microblog stand-in, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr

from connectors.microblog import ErrorKind, HttpMicroblog, MicroblogError, microblog_client, oauth
from core.settings import MicroblogSettings
from sandbox.microblog import AUTHORS
from tests.conftest import ConfigureSandbox

T = TypeVar("T")
CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def settings(sandbox_url: str) -> Iterator[MicroblogSettings]:
    """The microblog's settings on the test sandbox, its overlay, clock and counters reset first."""
    httpx.post(f"{sandbox_url}/microblog/_control/reset").raise_for_status()
    yield MicroblogSettings(base_url=f"{sandbox_url}/microblog", read_timeout=0.5, connect_timeout=0.5)


def control(settings: MicroblogSettings, method: str, path: str, **body: Any) -> Any:
    response = httpx.request(method, f"{settings.base_url}/{path}", json=body or None)
    response.raise_for_status()
    return response.json() if response.content else None


async def authorise(settings: MicroblogSettings, channel: str = "demo_brand") -> oauth.Tokens:
    """The whole PKCE flow, no browser: the authorize URL answers 302 to the callback."""
    url, state, verifier = oauth.authorize_url(settings, CALLBACK, login_hint=channel)
    async with httpx.AsyncClient() as client:
        answer = await client.get(url)
    assert answer.status_code == 302
    code = oauth.code_of(answer.headers["location"], state)
    return await oauth.exchange_code(settings, code, verifier, CALLBACK)


def as_channel(
    settings: MicroblogSettings, work: Callable[[HttpMicroblog], Awaitable[T]], channel: str = "demo_brand"
) -> T:
    async def run() -> T:
        tokens = await authorise(settings, channel)
        async with microblog_client(settings, tokens.access_token) as microblog:
            return await work(microblog)

    return asyncio.run(run())


def raised(settings: MicroblogSettings, work: Callable[[HttpMicroblog], Awaitable[object]]) -> MicroblogError:
    with pytest.raises(MicroblogError) as caught:
        as_channel(settings, work)
    return caught.value


def test_pkce_flow_refresh_rotation_and_revoke(settings: MicroblogSettings) -> None:
    async def run() -> None:
        tokens = await authorise(settings)
        assert tokens.refresh_token and "offline.access" in tokens.scope.split()
        assert tokens.access_token not in repr(tokens)
        assert timedelta(seconds=7100) < tokens.expires_at - datetime.now(UTC) <= timedelta(seconds=7200)
        async with microblog_client(settings, tokens.access_token) as microblog:
            me = await microblog.me()
            assert (me.id, me.username, me.name) == ("1001", "demo_brand", "Demo Brand")
        renewed = await oauth.refresh(settings, tokens.refresh_token)
        assert renewed.refresh_token not in (None, tokens.refresh_token)
        with pytest.raises(MicroblogError) as spent:
            await oauth.refresh(settings, tokens.refresh_token)  # rotated: the old one is refused
        assert spent.value.kind is ErrorKind.UNAUTHORISED and tokens.refresh_token not in str(spent.value)
        await oauth.revoke(settings, renewed.access_token)
        async with microblog_client(settings, renewed.access_token) as microblog:
            with pytest.raises(MicroblogError) as revoked:
                await microblog.me()
        assert revoked.value.kind is ErrorKind.UNAUTHORISED
        assert renewed.access_token not in str(revoked.value)
        with pytest.raises(MicroblogError):  # the grant ended with it
            await oauth.refresh(settings, renewed.refresh_token or "")

    asyncio.run(run())


def test_a_wrong_verifier_a_replayed_code_and_a_refusal(settings: MicroblogSettings) -> None:
    async def run() -> None:
        url, state, verifier = oauth.authorize_url(settings, CALLBACK, login_hint="demo_cafe")
        async with httpx.AsyncClient() as client:
            location = (await client.get(url)).headers["location"]
            refused = (await client.get(url + "&decision=deny")).headers["location"]
        code = oauth.code_of(location, state)
        with pytest.raises(MicroblogError) as wrong:
            await oauth.exchange_code(settings, code, "0" * 64, CALLBACK)  # never a generated one
        assert wrong.value.kind is ErrorKind.UNAUTHORISED and code not in str(wrong.value)
        with pytest.raises(MicroblogError):  # a code is good once, even after a failed try
            await oauth.exchange_code(settings, code, verifier, CALLBACK)
        with pytest.raises(MicroblogError) as denied:
            oauth.code_of(refused, state)
        assert "access_denied" in str(denied.value)
        with pytest.raises(MicroblogError):
            oauth.code_of(location, "another-state")
        bad_secret = settings.model_copy(update={"client_secret": SecretStr("not-the-secret")})
        with pytest.raises(MicroblogError) as client_refused:
            await oauth.exchange_code(bad_secret, code, verifier, CALLBACK)
        assert "not-the-secret" not in str(client_refused.value)

    asyncio.run(run())


def test_authlib_s_own_client_completes_the_flow(settings: MicroblogSettings) -> None:
    """The stand-in speaks standard OAuth 2.0: authlib's AsyncOAuth2Client needs nothing special."""
    with warnings.catch_warnings():  # authlib's httpx integration warns on import (it prefers httpx2)
        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import AsyncOAuth2Client

    async def run() -> dict[str, Any]:
        async with AsyncOAuth2Client(
            settings.client_id,
            settings.client_secret.get_secret_value(),
            scope=settings.scopes,
            redirect_uri=CALLBACK,
            code_challenge_method="S256",
        ) as client:
            verifier = "v" * 48
            url, _ = client.create_authorization_url(
                f"{settings.base_url}/oauth2/authorize", code_verifier=verifier, login_hint="channel7"
            )
            async with httpx.AsyncClient() as browser:  # the owner's browser, not the API client
                location = (await browser.get(url)).headers["location"]
            token = await client.fetch_token(
                f"{settings.base_url}/oauth2/token", authorization_response=location, code_verifier=verifier
            )
            me = await client.get(f"{settings.base_url}/2/users/me")
            return {"token": token, "me": me.json()}

    found = asyncio.run(run())
    assert found["me"]["data"]["username"] == "channel7"
    assert found["token"]["token_type"] == "bearer" and found["token"]["refresh_token"]


def test_an_expired_token_is_unauthorised(
    settings: MicroblogSettings, configure_sandbox: ConfigureSandbox
) -> None:
    configure_sandbox(microblog_token_seconds=60)

    async def run() -> MicroblogError:
        tokens = await authorise(settings)
        control(settings, "POST", "_control/clock", advance=61)
        async with microblog_client(settings, tokens.access_token) as microblog:
            with pytest.raises(MicroblogError) as expired:
                await microblog.me()
        return expired.value

    assert asyncio.run(run()).kind is ErrorKind.UNAUTHORISED


def test_users(settings: MicroblogSettings) -> None:
    async def work(microblog: HttpMicroblog) -> Any:
        return await microblog.user_by_username("@tokyo_ramen"), await microblog.user_by_username("channel42")

    ramen, channel = as_channel(settings, work)
    assert ramen.username == "tokyo_ramen" and ramen.id == next(
        a.id for a in AUTHORS if a.username == "tokyo_ramen"
    )
    assert (channel.username, channel.id) == ("channel42", "3000042")
    missing = raised(settings, lambda microblog: microblog.user_by_username("nobody_here"))
    assert missing.kind is ErrorKind.NOT_FOUND


def test_timeline_pages_without_duplicates_and_grows(settings: MicroblogSettings) -> None:
    async def work(microblog: HttpMicroblog) -> dict[str, Any]:
        first = await microblog.home_timeline("1001", max_results=100)
        pages, token = [first], first.next_token
        while token and len(pages) < 4:
            page = await microblog.home_timeline("1001", pagination_token=token, max_results=100)
            pages.append(page)
            token = page.next_token
        control(microblog_settings, "POST", "_control/clock", advance=600)
        newer = await microblog.home_timeline("1001", since_id=first.newest_id, max_results=5)
        rest = await microblog.home_timeline(
            "1001", since_id=first.newest_id, pagination_token=newer.next_token, max_results=100
        )
        nothing = await microblog.home_timeline("1001", since_id=newer.newest_id)
        return {"pages": pages, "newer": newer, "rest": rest, "nothing": nothing}

    microblog_settings = settings
    found = as_channel(settings, work)
    posts = [post for page in found["pages"] for post in page.posts]
    originals = {k: v for page in found["pages"] for k, v in page.originals.items()}
    assert set(originals) == {post.post_id for post in posts if post.is_repost} != set()
    ids = [int(post.post_id) for post in posts]
    assert len(ids) == 400 and len(set(ids)) == 400 and ids == sorted(ids, reverse=True)
    assert {post.language for post in posts} >= {"en"} and len({post.language for post in posts}) >= 3
    assert any(post.is_repost for post in posts) and any(post.is_reply for post in posts)
    assert any(post.hashtags for post in posts) and all(post.author_username for post in posts)
    assert any(post.like_count > 0 for post in posts)
    newest = int(found["pages"][0].newest_id)
    grown = [int(post.post_id) for post in found["newer"].posts + found["rest"].posts]
    assert 10 <= len(grown) == len(set(grown)) and all(pid > newest for pid in grown)  # ~2 a minute
    assert found["nothing"].posts == () and found["nothing"].newest_id is None


def test_control_adds_posts_at_the_top(settings: MicroblogSettings) -> None:
    async def work(microblog: HttpMicroblog) -> Any:
        before = await microblog.home_timeline("1001", max_results=1)
        added = control(
            settings,
            "POST",
            "_control/users/demo_brand/timeline",
            posts=[{"text": "Hello #sandbox", "author": "cinema_fr", "lang": "fr"}],
        )
        after = await microblog.home_timeline("1001", since_id=before.newest_id)
        return added, after

    added, after = as_channel(settings, work)
    [post] = [post for post in after.posts if post.post_id in added["ids"]]  # with any new authors' posts
    assert (post.text, post.language, post.author_username, post.hashtags) == (
        "Hello #sandbox",
        "fr",
        "cinema_fr",
        ("sandbox",),
    )


def test_post_duplicate_content_and_own_posts(settings: MicroblogSettings) -> None:
    async def work(microblog: HttpMicroblog) -> Any:
        made = await microblog.create_post("Fresh bread at 8 #bakery")
        with pytest.raises(MicroblogError) as again:
            await microblog.create_post("Fresh bread at 8 #bakery")
        with pytest.raises(MicroblogError) as too_long:
            await microblog.create_post("x" * 281)
        own = await microblog.own_posts("1001", since=datetime.now(UTC) - timedelta(minutes=5))
        return made, again.value, too_long.value, own, dict(microblog.rate_limits)

    made, again, too_long, own, limits = as_channel(settings, work)
    assert made.text == "Fresh bread at 8 #bakery" and made.id.isdigit()
    assert again.kind is ErrorKind.DUPLICATE and too_long.kind is ErrorKind.PERMANENT
    assert [post.post_id for post in own.posts] == [made.id]
    assert limits["posts"].limit == 100 and limits["posts"].remaining == 97
    counts = control(settings, "GET", "_counters/demo_brand")["posts"]
    assert counts == {"received": 3, "applied": 1, "duplicates": 1, "limited": 0}


@pytest.mark.parametrize("again", ["ok", "forbidden"])
def test_repost_and_again(
    settings: MicroblogSettings, configure_sandbox: ConfigureSandbox, again: str
) -> None:
    configure_sandbox(microblog_repost_again=again)

    async def work(microblog: HttpMicroblog) -> Any:
        page = await microblog.home_timeline("1001", max_results=20)
        target = next(post for post in page.posts if not post.is_repost)
        await microblog.repost("1001", target.post_id)
        second: MicroblogError | None = None
        try:
            await microblog.repost("1001", target.post_id)
        except MicroblogError as exc:
            second = exc
        own = await microblog.own_posts("1001")
        with pytest.raises(MicroblogError) as missing:
            await microblog.repost("1001", "12345")
        return target, second, own, missing.value

    target, second, own, missing = as_channel(settings, work)
    if again == "ok":
        assert second is None
    else:
        assert second is not None and second.kind is ErrorKind.ALREADY_REPOSTED
    assert list(own.originals.values()) == [target.post_id] and own.posts[0].is_repost
    assert missing.kind is ErrorKind.NOT_FOUND
    counts = control(settings, "GET", "_counters/demo_brand")["reposts"]
    assert counts == {"received": 3, "applied": 1, "duplicates": 1, "limited": 0}


def test_rate_limit_until_the_reset(settings: MicroblogSettings, configure_sandbox: ConfigureSandbox) -> None:
    configure_sandbox(microblog_post_limit=2, microblog_window_seconds=60)

    async def work(microblog: HttpMicroblog) -> Any:
        await microblog.create_post("one")
        await microblog.create_post("two")
        with pytest.raises(MicroblogError) as limited:
            await microblog.create_post("three")
        still = control(settings, "POST", "_control/clock", advance=30)
        with pytest.raises(MicroblogError) as again:
            await microblog.create_post("three")
        control(settings, "POST", "_control/clock", advance=31)
        made = await microblog.create_post("three")
        return limited.value, still, again.value, made, microblog.rate_limits["posts"]

    limited, still, again, made, after = as_channel(settings, work)
    assert limited.kind is ErrorKind.RATE_LIMITED and again.kind is ErrorKind.RATE_LIMITED
    assert limited.rate_limit is not None and limited.rate_limit.remaining == 0
    assert limited.reset_at is not None and 55 <= limited.reset_at.timestamp() - still["now"] + 30 <= 62
    assert made.text == "three" and (after.limit, after.remaining) == (2, 1)
    counts = control(settings, "GET", "_counters/demo_brand")["posts"]
    assert counts["applied"] == 3 and counts["limited"] == 2


def test_a_user_s_shared_limit(settings: MicroblogSettings) -> None:
    control(settings, "PUT", "_control/users/demo_brand/limits", shared=1)

    async def work(microblog: HttpMicroblog) -> Any:
        await microblog.create_post("only one")
        page = await microblog.home_timeline("1001", max_results=1)
        with pytest.raises(MicroblogError) as limited:
            await microblog.repost("1001", page.posts[0].post_id)
        return limited.value

    limited = as_channel(settings, work)
    assert limited.kind is ErrorKind.RATE_LIMITED and limited.rate_limit and limited.rate_limit.limit == 1


@pytest.mark.parametrize("fault", ["microblog_applied_error_rate", "microblog_applied_timeout_rate"])
def test_a_failure_after_the_post_is_unknown_and_applied_once(
    settings: MicroblogSettings, configure_sandbox: ConfigureSandbox, fault: str
) -> None:
    configure_sandbox(**{fault: 1.0})

    async def work(microblog: HttpMicroblog) -> Any:
        with pytest.raises(MicroblogError) as unknown:
            await microblog.create_post("Sent into the dark")
        configure_sandbox(**{fault: 0.0})
        own = await microblog.own_posts("1001")
        return unknown.value, own

    unknown, own = as_channel(settings, work)
    assert unknown.kind is ErrorKind.UNKNOWN_OUTCOME
    assert [post.text for post in own.posts] == ["Sent into the dark"]
    assert control(settings, "GET", "_counters")["users"]["demo_brand"]["posts"]["applied"] == 1


def test_a_5xx_before_applying_a_read_is_transient(
    settings: MicroblogSettings, configure_sandbox: ConfigureSandbox
) -> None:
    tokens = asyncio.run(authorise(settings))
    configure_sandbox(microblog_error_rate=1.0)

    async def run() -> MicroblogError:
        async with microblog_client(settings, tokens.access_token) as microblog:
            with pytest.raises(MicroblogError) as failed:
                await microblog.home_timeline("1001")
        return failed.value

    assert asyncio.run(run()).kind is ErrorKind.TRANSIENT


def test_revoking_a_channel_by_control(settings: MicroblogSettings) -> None:
    async def work(microblog: HttpMicroblog) -> MicroblogError:
        await microblog.me()
        assert control(settings, "POST", "_control/users/demo_brand/revoke")["revoked"] >= 1
        with pytest.raises(MicroblogError) as revoked:
            await microblog.me()
        return revoked.value

    assert as_channel(settings, work).kind is ErrorKind.UNAUTHORISED


def test_a_timeline_is_deterministic(settings: MicroblogSettings) -> None:
    async def work(microblog: HttpMicroblog) -> Any:
        return await microblog.home_timeline("3000001", max_results=50)

    first = as_channel(settings, work, "channel1")
    second = as_channel(settings, work, "channel1")
    shared = {post.post_id for post in first.posts} & {post.post_id for post in second.posts}
    assert len(shared) >= 45  # a poll a moment later: the same posts, maybe one new on top
    by_id = {post.post_id: post for post in second.posts}
    assert all(by_id[pid].text == post.text for post in first.posts if (pid := post.post_id) in by_id)


def test_posts_by_ids_give_current_likes_and_leave_out_missing_ones(settings: MicroblogSettings) -> None:
    async def work(microblog: HttpMicroblog) -> Any:
        page = await microblog.home_timeline("1001", max_results=5)
        added = control(settings, "POST", "_control/users/demo_brand/timeline", posts=[{"text": "Likes?"}])
        [new_id] = added["ids"]
        control(settings, "PUT", f"_control/posts/{new_id}/likes", likes=12)
        wanted = [post.post_id for post in page.posts] + [new_id, "12345"]
        found = await microblog.posts_by_ids(wanted)
        nothing = await microblog.posts_by_ids(["12345"])
        return page, new_id, found, nothing, dict(microblog.rate_limits)

    page, new_id, found, nothing, limits = as_channel(settings, work)
    by_id = {post.post_id: post for post in found}
    assert set(by_id) == {post.post_id for post in page.posts} | {new_id}
    assert by_id[new_id].like_count == 12 and by_id[new_id].text == "Likes?"
    assert all(by_id[post.post_id].author_username == post.author_username for post in page.posts)
    assert nothing == () and limits["lookup"].remaining < limits["lookup"].limit
