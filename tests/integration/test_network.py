"""connectors.growth.http against the sandbox's photo network stand-in, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from connectors.growth import HttpNetwork, NetworkError, login, network_client
from core.settings import NetworkSettings
from rules.growth import ErrorKind, UserRef
from sandbox.network import CATALOG, HASHTAGS, LOCATIONS, graph
from tests.conftest import ConfigureSandbox

T = TypeVar("T")
PASSWORD = "sandbox-password"
BAKERY, GALLERY = CATALOG["demo_bakery"], CATALOG["demo_gallery"]
SHOP, PRIVATE, BIG = CATALOG["corner_shop"], CATALOG["private_person"], CATALOG["big_brand"]


@pytest.fixture
def settings(sandbox_url: str) -> Iterator[NetworkSettings]:
    """The network's settings on the test sandbox, its overlay and counters reset first."""
    httpx.post(f"{sandbox_url}/network/_control/reset").raise_for_status()
    yield NetworkSettings(base_url=f"{sandbox_url}/network", read_timeout=0.5, connect_timeout=0.5)


def control(settings: NetworkSettings, method: str, path: str, **body: Any) -> Any:
    response = httpx.request(method, f"{settings.base_url}/{path}", json=body or None)
    response.raise_for_status()
    return response.json() if response.content else None


def as_account(
    settings: NetworkSettings, work: Callable[[HttpNetwork], Awaitable[T]], username: str = "demo_bakery"
) -> T:
    """Log `username` in and run `work` with a client acting as it."""

    async def run() -> T:
        logged_in = await login(settings, username, PASSWORD)
        async with network_client(settings, logged_in.session) as network:
            return await work(network)

    return asyncio.run(run())


def raised(
    settings: NetworkSettings, work: Callable[[HttpNetwork], Awaitable[object]], **kw: Any
) -> NetworkError:
    with pytest.raises(NetworkError) as caught:
        as_account(settings, work, **kw)
    return caught.value


async def every_follower(network: HttpNetwork, user_id: str, followings: bool = False) -> list[UserRef]:
    users: list[UserRef] = []
    cursor: str | None = None
    while True:
        page = await (network.followings if followings else network.followers)(user_id, cursor)
        users += page.items
        cursor = page.next_cursor
        if cursor is None:
            return users


def test_login_and_profiles(settings: NetworkSettings) -> None:
    logged_in = asyncio.run(login(settings, "demo_bakery", PASSWORD))
    assert (logged_in.user_id, logged_in.username) == ("1", "demo_bakery")
    assert len(logged_in.session) >= 16

    async def work(network: HttpNetwork) -> tuple[Any, ...]:
        return await network.profile("corner_shop"), await network.profile_by_id(str(BIG.pk))

    shop, big = as_account(settings, work)
    assert (shop.user_id, shop.username, shop.full_name, shop.bio) == (
        "11",
        "corner_shop",
        SHOP.full_name,
        SHOP.biography,
    )
    assert (shop.followers, shop.followings, shop.posts, shop.is_business) == (1_200, 800, 45, True)
    assert (big.username, big.followers) == ("big_brand", 100_000)


def test_a_virtual_user_has_a_profile_and_unknown_ones_are_not_found(settings: NetworkSettings) -> None:
    async def work(network: HttpNetwork) -> Any:
        return await network.profile("user123456")

    user = as_account(settings, work)
    assert (user.user_id, user.username) == ("123456", "user123456")
    for missing in ("nobody_here", "user5", "user99999999999"):
        error = raised(settings, lambda network, name=missing: network.profile(name))
        assert error.kind is ErrorKind.NOT_FOUND, missing
    assert raised(settings, lambda network: network.profile_by_id("999")).kind is ErrorKind.NOT_FOUND


def test_login_refusals(settings: NetworkSettings) -> None:
    with pytest.raises(NetworkError) as wrong:
        asyncio.run(login(settings, "demo_bakery", "wrong-password-123"))
    assert wrong.value.kind is ErrorKind.PERMANENT
    assert "password" in str(wrong.value) and "wrong-password-123" not in str(wrong.value)
    with pytest.raises(NetworkError) as unknown:
        asyncio.run(login(settings, "no_such_person", PASSWORD))
    assert unknown.value.kind is ErrorKind.NOT_FOUND


def test_followers_page_to_the_end(settings: NetworkSettings) -> None:
    followers = as_account(settings, lambda network: every_follower(network, str(GALLERY.pk)))
    ids = [user.user_id for user in followers]
    assert len(ids) == GALLERY.followers == len(set(ids))
    assert str(GALLERY.pk) not in ids
    assert all(user.username == f"user{user.user_id}" for user in followers)


def test_the_100k_account_pages_to_the_end(settings: NetworkSettings) -> None:
    followers = as_account(settings, lambda network: every_follower(network, str(BIG.pk)), "demo_gallery")
    assert len({user.user_id for user in followers}) == len(followers) == 100_000


def test_followings_and_a_private_users_lists(settings: NetworkSettings) -> None:
    followings = as_account(
        settings, lambda network: every_follower(network, str(BAKERY.pk), followings=True)
    )
    assert len({user.user_id for user in followings}) == BAKERY.followings
    error = raised(settings, lambda network: network.followers(str(PRIVATE.pk)))
    assert error.kind is ErrorKind.PERMANENT
    assert "Not authorized to view user" in str(error)
    own = as_account(settings, lambda network: every_follower(network, str(PRIVATE.pk)), "private_person")
    assert len(own) == PRIVATE.followers


def test_posts_of_a_user(settings: NetworkSettings) -> None:
    async def work(network: HttpNetwork) -> Any:
        return (
            await network.user_posts(str(BAKERY.pk), 30),
            await network.user_posts(str(BAKERY.pk), 500),
            await network.user_posts("14", 10),
        )

    first, every, none = as_account(settings, work, "demo_gallery")
    assert len(first) == 30 and len(every) == BAKERY.media and none == []
    assert [post.post_id for post in every[:30]] == [post.post_id for post in first]
    assert len({post.post_id for post in every}) == BAKERY.media
    times = [post.taken_at for post in every]
    assert times == sorted(times, reverse=True)
    assert all(post.owner.username == "demo_bakery" and not post.has_liked for post in every)
    assert any(post.hashtags for post in every) and any(post.location_id for post in every)


@pytest.mark.parametrize("tag", [HASHTAGS[0], "#Travel", "咖啡"])
def test_hashtag_feed(settings: NetworkSettings, tag: str) -> None:
    posts = as_account(settings, lambda network: network.hashtag_posts(tag, 60))
    wanted = tag.removeprefix("#").lower()
    assert len(posts) == 60 and len({post.post_id for post in posts}) == 60
    assert all(wanted in post.hashtags for post in posts)
    assert len({post.owner.user_id for post in posts}) > 30


def test_location_feed_and_unknown_feeds(settings: NetworkSettings) -> None:
    location = LOCATIONS[0]
    posts = as_account(settings, lambda network: network.location_posts(str(location.pk), 15))
    assert len(posts) == 15 and all(post.location_id == str(location.pk) for post in posts)
    assert raised(settings, lambda network: network.location_posts("1", 5)).kind is ErrorKind.NOT_FOUND
    assert raised(settings, lambda network: network.hashtag_posts("nosuchtag", 5)).kind is ErrorKind.NOT_FOUND
    assert (
        raised(settings, lambda network: network.hashtag_posts("not a tag!", 5)).kind is ErrorKind.PERMANENT
    )


def test_like_then_has_liked_and_duplicates_are_counted(settings: NetworkSettings) -> None:
    async def work(network: HttpNetwork) -> tuple[bool, bool]:
        post = (await network.user_posts(str(SHOP.pk), 1))[0]
        before = await network.has_liked(post.post_id)
        await network.like(post.post_id)
        await network.like(post.post_id)
        return before, await network.has_liked(post.post_id)

    assert as_account(settings, work) == (False, True)
    counters = control(settings, "GET", "_counters")
    assert counters["accounts"]["demo_bakery"]["like"] == {"received": 2, "applied": 1, "duplicates": 1}
    (duplicate,) = counters["duplicates"]
    assert (duplicate["action"], duplicate["target"], duplicate["duplicates"]) == ("like", f"{SHOP.pk}_44", 1)
    assert raised(settings, lambda network: network.like("11_999")).kind is ErrorKind.NOT_FOUND


def test_follow_friendship_and_unfollow(settings: NetworkSettings) -> None:
    async def work(network: HttpNetwork) -> tuple[Any, ...]:
        before = await network.friendship(str(SHOP.pk))
        followed = await network.follow(str(SHOP.pk))
        again = await network.follow(str(SHOP.pk))
        shown = await network.friendship(str(SHOP.pk))
        shop = await network.profile_by_id(str(SHOP.pk))
        followers = await every_follower(network, str(SHOP.pk))
        await network.unfollow(str(SHOP.pk))
        after = await network.friendship(str(SHOP.pk))
        requested = await network.follow(str(PRIVATE.pk))
        return before, followed, again, shown, shop, followers, after, requested

    before, followed, again, shown, shop, followers, after, requested = as_account(settings, work)
    assert not before.following and followed.following and again.following and shown.following
    assert shop.followers == SHOP.followers + 1
    assert [user.username for user in followers].count("demo_bakery") == 1
    assert len(followers) == SHOP.followers + 1
    assert not after.following
    assert requested.outgoing_request and not requested.following and requested.follow_applied
    follows = control(settings, "GET", f"_counters/demo_bakery/follow/{SHOP.pk}")
    assert follows == {"received": 2, "applied": 1, "duplicates": 1}


def test_a_fifth_of_users_follow_back(settings: NetworkSettings) -> None:
    g = graph(42)
    public = [pk for pk in range(50_000, 50_200) if not g.user(pk).is_private]
    back = next(pk for pk in public if g.follows_back(pk))
    not_back = next(pk for pk in public if not g.follows_back(pk))
    assert 0.1 < sum(map(g.follows_back, public)) / len(public) < 0.3

    async def work(network: HttpNetwork) -> tuple[Any, ...]:
        followed = [await network.follow(str(pk)) for pk in (back, not_back)]
        profile = await network.profile("demo_studio")
        followers = await every_follower(network, str(CATALOG["demo_studio"].pk))
        return followed, profile, followers

    (followed_back, not_followed_back), profile, followers = as_account(settings, work, "demo_studio")
    assert followed_back.followed_by and not not_followed_back.followed_by
    assert profile.followers == len(followers) == CATALOG["demo_studio"].followers + 1
    assert followers[-1].user_id == str(back)


def test_removed_and_added_followers_are_seen(settings: NetworkSettings) -> None:
    removed = control(settings, "POST", "_control/accounts/demo_gallery/remove_followers", count=7)["removed"]
    added = control(settings, "POST", "_control/accounts/demo_gallery/add_followers", count=3)["added"]
    assert len(removed) == 7 and len(added) == 3

    async def work(network: HttpNetwork) -> tuple[Any, ...]:
        return await network.profile("demo_gallery"), await every_follower(network, str(GALLERY.pk))

    profile, followers = as_account(settings, work, "demo_gallery")
    ids = {int(user.user_id) for user in followers}
    assert profile.followers == len(followers) == len(ids) == GALLERY.followers - 7 + 3
    assert not ids & set(removed) and set(added) <= ids


@pytest.mark.parametrize(
    ("knobs", "kind", "retry_after"),
    [
        ({"network_error_rate": 1.0}, ErrorKind.TRANSIENT, None),
        ({"network_throttle_rate": 1.0}, ErrorKind.THROTTLED, 1.0),
        ({"network_challenge_rate": 1.0}, ErrorKind.CHALLENGE, None),
    ],
)
def test_fault_knobs(
    settings: NetworkSettings,
    configure_sandbox: ConfigureSandbox,
    knobs: dict[str, float],
    kind: ErrorKind,
    retry_after: float | None,
) -> None:
    logged_in = asyncio.run(login(settings, "demo_bakery", PASSWORD))
    configure_sandbox(**knobs)

    async def work() -> NetworkError:
        async with network_client(settings, logged_in.session) as network:
            with pytest.raises(NetworkError) as caught:
                await network.follow(str(SHOP.pk))
            return caught.value

    error = asyncio.run(work())
    assert (error.kind, error.retry_after) == (kind, retry_after)
    assert logged_in.session not in str(error)


def test_block_after_answers_feedback_required(
    settings: NetworkSettings, configure_sandbox: ConfigureSandbox
) -> None:
    configure_sandbox(network_block_after=2)

    async def work(network: HttpNetwork) -> NetworkError:
        posts = await network.user_posts(str(SHOP.pk), 3)
        await network.like(posts[0].post_id)
        await network.like(posts[1].post_id)
        await network.follow(str(SHOP.pk))  # another action's budget
        with pytest.raises(NetworkError) as caught:
            await network.like(posts[2].post_id)
        return caught.value

    error = as_account(settings, work)
    assert error.kind is ErrorKind.BLOCKED and "Action Blocked" in str(error)
    control(settings, "PUT", "_control/accounts/demo_gallery/block_budget", budget=1)
    configure_sandbox(network_block_after=0)

    async def gallery(network: HttpNetwork) -> ErrorKind:
        await network.follow(str(SHOP.pk))
        with pytest.raises(NetworkError) as caught:
            await network.follow(str(BIG.pk))
        return caught.value.kind

    assert as_account(settings, gallery, "demo_gallery") is ErrorKind.BLOCKED


def test_a_challenged_or_revoked_account(settings: NetworkSettings) -> None:
    logged_in = asyncio.run(login(settings, "demo_studio", PASSWORD))

    async def call() -> NetworkError:
        async with network_client(settings, logged_in.session) as network:
            with pytest.raises(NetworkError) as caught:
                await network.profile("corner_shop")
            return caught.value

    control(settings, "POST", "_control/accounts/demo_studio/challenge")
    challenged = asyncio.run(call())
    assert challenged.kind is ErrorKind.CHALLENGE and "challenge_required" in str(challenged)
    control(settings, "DELETE", "_control/accounts/demo_studio/challenge")
    assert control(settings, "POST", "_control/accounts/demo_studio/revoke")["revoked"] >= 1
    revoked = asyncio.run(call())
    assert revoked.kind is ErrorKind.CHALLENGE and "login_required" in str(revoked)
    assert logged_in.session not in str(revoked)


def test_an_action_that_times_out_was_applied_once(
    settings: NetworkSettings, configure_sandbox: ConfigureSandbox
) -> None:
    logged_in = asyncio.run(login(settings, "demo_bakery", PASSWORD))
    configure_sandbox(network_timeout_rate=1.0)

    async def like() -> NetworkError:
        async with network_client(settings, logged_in.session) as network:
            with pytest.raises(NetworkError) as caught:
                await network.like(f"{SHOP.pk}_3")
            await network.friendship(str(SHOP.pk))  # not an action: answered
            return caught.value

    error = asyncio.run(like())
    assert error.kind is ErrorKind.UNKNOWN_OUTCOME
    assert logged_in.session not in str(error)
    configure_sandbox(network_timeout_rate=0.0)
    assert as_account(settings, lambda network: network.has_liked(f"{SHOP.pk}_3"))
    counts = control(settings, "GET", f"_counters/demo_bakery/like/{SHOP.pk}_3")
    assert counts == {"received": 1, "applied": 1, "duplicates": 0}


def test_an_unreachable_network(settings: NetworkSettings) -> None:
    nowhere = settings.model_copy(update={"base_url": "http://127.0.0.1:9/network"})

    async def work() -> list[NetworkError]:
        errors = []
        async with network_client(nowhere, "some-session-token-123") as network:
            for call in (network.profile("x"), network.like("1_1"), network.follow("11")):
                try:
                    await call
                except NetworkError as exc:
                    errors.append(exc)
        return errors

    errors = asyncio.run(work())
    assert [error.kind for error in errors] == [ErrorKind.TRANSIENT] * 3  # never sent: no doubt
    with pytest.raises(NetworkError) as caught:
        asyncio.run(login(nowhere, "demo_bakery", PASSWORD))
    assert caught.value.kind is ErrorKind.TRANSIENT
