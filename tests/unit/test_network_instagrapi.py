"""connectors.growth.instagrapi_backend on instagrapi's own pydantic types, with a stand-in client."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

pytest.importorskip("instagrapi")

from instagrapi import exceptions as ig
from instagrapi.types import Location, Media, Relationship, User, UserShort

from connectors.growth import instagrapi_backend as backend
from connectors.growth.base import Network, NetworkError
from rules.growth import ErrorKind, Friendship, Page, Profile, UserRef

TAKEN = datetime(2025, 12, 1, 12, tzinfo=UTC)


def short(pk: str = "1001", **fields: Any) -> UserShort:
    values: dict[str, Any] = {"username": f"user{pk}", "full_name": "Sofia Nielsen", "is_private": False}
    return UserShort(pk=pk, **(values | fields))


def user(**fields: Any) -> User:
    values: dict[str, Any] = {
        "pk": "11",
        "username": "corner_shop",
        "full_name": "Corner Shop",
        "is_private": False,
        "profile_pic_url": "https://example.com/p.jpg",
        "is_verified": False,
        "media_count": 45,
        "follower_count": 1200,
        "following_count": 800,
        "is_business": True,
        "biography": "Handmade goods shop",
    }
    return User(**(values | fields))


def media(media_id: str = "3001_1001", **fields: Any) -> Media:
    values: dict[str, Any] = {
        "pk": media_id.split("_")[0],
        "id": media_id,
        "code": "Cabc",
        "taken_at": TAKEN,
        "media_type": 1,
        "user": short(),
        "like_count": 12,
        "caption_text": "Sunday #Coffee #travel",
        "usertags": [],
        "sponsor_tags": [],
        "location": Location(pk=213385402, name="Moscow, Russia"),
        "has_liked": False,
    }
    return Media(**(values | fields))


def relationship(**fields: Any) -> Relationship:
    values = dict.fromkeys(
        (
            "blocking", "followed_by", "following", "incoming_request", "is_bestie", "is_blocking_reel",
            "is_muting_reel", "is_private", "is_restricted", "muting", "outgoing_request",
        ),
        False,
    )  # fmt: skip
    return Relationship(user_id="11", **(values | fields))


class StandIn:
    """instagrapi's ``Client`` methods the backend calls, answering from memory or raising `fail`."""

    user_id = "1"
    username = "demo_bakery"

    def __init__(self, fail: BaseException | None = None) -> None:
        self.fail = fail
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.liked: set[str] = set()
        self.following: set[str] = set()
        self.settings: dict[str, Any] = {}

    def _call(self, name: str, *args: object) -> None:
        self.calls.append((name, args))
        if self.fail is not None:
            raise self.fail

    def user_info_by_username_v1(self, username: str) -> User:
        self._call("user_info_by_username_v1", username)
        return user(username=username)

    def user_info_v1(self, user_id: str) -> User:
        self._call("user_info_v1", user_id)
        return user(pk=user_id)

    def user_followers_v1_chunk(
        self, user_id: str, max_amount: int, max_id: str
    ) -> tuple[list[UserShort], str]:
        self._call("user_followers_v1_chunk", user_id, max_amount, max_id)
        return ([short("5"), short("6")], "" if max_id else "cursor-2")

    def user_following_v1_chunk(
        self, user_id: str, max_amount: int, max_id: str
    ) -> tuple[list[UserShort], str]:
        self._call("user_following_v1_chunk", user_id, max_amount, max_id)
        return ([short("7", is_private=None, full_name=None)], "")

    def user_medias_v1(self, user_id: str, amount: int) -> list[Media]:
        self._call("user_medias_v1", user_id, amount)
        return [media(f"{3000 + n}_{user_id}") for n in range(amount + 2)]

    def hashtag_medias_recent_v1(self, name: str, amount: int) -> list[Media]:
        self._call("hashtag_medias_recent_v1", name, amount)
        return [media(caption_text=f"#{name}", location=None)]

    def location_medias_recent_v1(self, location_pk: int, amount: int) -> list[Media]:
        self._call("location_medias_recent_v1", location_pk, amount)
        return [media(caption_text="")]

    def media_like(self, media_id: str) -> bool:
        self._call("media_like", media_id)
        self.liked.add(media_id)
        return True

    def media_info_v1(self, media_pk: str) -> Media:
        self._call("media_info_v1", media_pk)
        return media(has_liked=any(liked.startswith(f"{media_pk}_") for liked in self.liked))

    def user_follow(self, user_id: str) -> bool:
        self._call("user_follow", user_id)
        self.following.add(user_id)
        return True

    def user_unfollow(self, user_id: str) -> bool:
        self._call("user_unfollow", user_id)
        self.following.discard(user_id)
        return True

    def user_friendship_v1(self, user_id: str) -> Relationship:
        self._call("user_friendship_v1", user_id)
        private = user_id == "12"
        return relationship(
            following=user_id in self.following and not private,
            outgoing_request=user_id in self.following and private,
            followed_by=user_id == "5",
        )

    def login(self, username: str, password: str) -> bool:
        self._call("login", username, password)
        return True

    def get_settings(self) -> dict[str, Any]:
        return {"cookies": {"sessionid": "secret-session-id"}, "uuids": {}}

    def set_settings(self, settings: dict[str, Any]) -> bool:
        self.settings = settings
        return True


def network(client: StandIn) -> backend.InstagrapiNetwork:
    return backend.InstagrapiNetwork(client, page_size=50)  # type: ignore[arg-type]


def test_it_is_a_network() -> None:
    implemented: Network = network(StandIn())
    assert implemented is not None


def test_records_from_instagrapi_types() -> None:
    assert backend.profile(user()) == Profile(
        "11", "corner_shop", "Corner Shop", "Handmade goods shop", False, True, 1200, 800, 45
    )
    assert backend.profile(user(biography=None, full_name="")).bio == ""
    assert backend.user_ref(UserShort(pk="9")) == UserRef("9", "", "", False)
    found = backend.post(media())
    assert (found.post_id, found.owner.user_id, found.taken_at, found.like_count) == (
        "3001_1001",
        "1001",
        TAKEN,
        12,
    )
    assert (found.hashtags, found.location_id, found.has_liked) == (("coffee", "travel"), "213385402", False)
    assert backend.post(media(location=None, has_liked=None, caption_text="")).location_id is None
    assert backend.friendship(relationship(following=True, followed_by=True)) == Friendship(True, True, False)
    assert backend.friendship(relationship(outgoing_request=True)).follow_applied


def test_reads() -> None:
    client = StandIn()
    net = network(client)

    async def run() -> tuple[Any, ...]:
        return (
            await net.profile("corner_shop"),
            await net.profile_by_id("13"),
            await net.followers("11"),
            await net.followers("11", "cursor-2"),
            await net.followings("11"),
            await net.user_posts("11", 3),
            await net.hashtag_posts("#Coffee", 5),
            await net.location_posts("213385402", 5),
        )

    by_name, by_id, first, last, followings, posts, tagged, located = asyncio.run(run())
    assert by_name.username == "corner_shop" and by_id.user_id == "13"
    assert first == Page(
        [UserRef("5", "user5", "Sofia Nielsen"), UserRef("6", "user6", "Sofia Nielsen")], "cursor-2"
    )
    assert last.next_cursor is None and followings.items == [UserRef("7", "user7")]
    assert len(posts) == 3 and tagged[0].hashtags == ("coffee",) and located[0].caption == ""
    assert ("user_followers_v1_chunk", ("11", 50, "cursor-2")) in client.calls
    assert ("hashtag_medias_recent_v1", ("coffee", 5)) in client.calls
    assert ("location_medias_recent_v1", (213385402, 5)) in client.calls


def test_actions() -> None:
    client = StandIn()
    net = network(client)

    async def run() -> tuple[Any, ...]:
        before = await net.has_liked("3001_1001")
        await net.like("3001_1001")
        followed = await net.follow("11")
        requested = await net.follow("12")
        await net.unfollow("11")
        return before, await net.has_liked("3001_1001"), followed, requested, await net.friendship("11")

    before, after, followed, requested, unfollowed = asyncio.run(run())
    assert (before, after) == (False, True)
    assert followed == Friendship(following=True) and requested == Friendship(outgoing_request=True)
    assert unfollowed == Friendship()
    assert ("media_info_v1", ("3001",)) in client.calls


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ig.PleaseWaitFewMinutes("Please wait a few minutes"), ErrorKind.THROTTLED),
        (ig.ClientThrottledError("429"), ErrorKind.THROTTLED),
        (ig.RateLimitError("rate"), ErrorKind.THROTTLED),
        (ig.FeedbackRequired("feedback_required"), ErrorKind.BLOCKED),
        (ig.ChallengeRequired("challenge_required"), ErrorKind.CHALLENGE),
        (ig.LoginRequired("login_required"), ErrorKind.CHALLENGE),
        (ig.TwoFactorRequired("2fa"), ErrorKind.CHALLENGE),
        (AssertionError("Login required"), ErrorKind.CHALLENGE),
        (ig.UserNotFound("User not found"), ErrorKind.NOT_FOUND),
        (ig.MediaNotFound("gone"), ErrorKind.NOT_FOUND),
        (ig.HashtagNotFound("no tag"), ErrorKind.NOT_FOUND),
        (ig.LocationNotFound("no place"), ErrorKind.NOT_FOUND),
        (ig.ClientNotFoundError("404"), ErrorKind.NOT_FOUND),
        (ig.PrivateAccount("Not authorized to view user"), ErrorKind.PERMANENT),
        (ig.BadPassword("The password you entered is incorrect."), ErrorKind.PERMANENT),
        (ig.ClientBadRequestError("400"), ErrorKind.PERMANENT),
        (ig.ClientJSONDecodeError("not json"), ErrorKind.TRANSIENT),
        (ig.ClientError("boom", code=503), ErrorKind.TRANSIENT),
        (ig.ClientRequestTimeout("timed out"), ErrorKind.TRANSIENT),
        (ig.ClientConnectionError("reset"), ErrorKind.TRANSIENT),
        (ConnectionResetError("reset"), ErrorKind.TRANSIENT),
    ],
)
def test_errors_of_reads(exc: BaseException, kind: ErrorKind) -> None:
    with pytest.raises(NetworkError) as caught:
        asyncio.run(network(StandIn(fail=exc)).profile("corner_shop"))
    assert caught.value.kind is kind
    assert str(caught.value).startswith("profile of corner_shop: ")


@pytest.mark.parametrize("exc", [ig.ClientRequestTimeout("timed out"), ig.ClientIncompleteReadError("cut")])
def test_an_action_without_an_answer_has_an_unknown_outcome(exc: BaseException) -> None:
    net = network(StandIn(fail=exc))
    for action in (net.like("3001_1001"), net.follow("11"), net.unfollow("11")):
        with pytest.raises(NetworkError) as caught:
            asyncio.run(action)
        assert caught.value.kind is ErrorKind.UNKNOWN_OUTCOME


def test_a_malformed_answer_is_transient() -> None:
    class Broken(StandIn):
        def user_info_v1(self, user_id: str) -> User:
            return User.model_validate({"pk": user_id})

    with pytest.raises(NetworkError) as caught:
        asyncio.run(network(Broken()).profile_by_id("11"))
    assert caught.value.kind is ErrorKind.TRANSIENT


def test_bad_inputs() -> None:
    net = network(StandIn())
    with pytest.raises(NetworkError) as tag:
        asyncio.run(net.hashtag_posts("not a tag!", 5))
    assert tag.value.kind is ErrorKind.PERMANENT
    with pytest.raises(NetworkError) as place:
        asyncio.run(net.location_posts("moscow", 5))
    assert place.value.kind is ErrorKind.NOT_FOUND


def test_login_and_a_session() -> None:
    client = StandIn()
    logged_in = asyncio.run(backend.login("demo_bakery", "a-long-password", client=client))  # type: ignore[arg-type]
    assert (logged_in.user_id, logged_in.username) == ("1", "demo_bakery")
    assert json.loads(logged_in.session)["cookies"]["sessionid"] == "secret-session-id"
    again = StandIn()
    backend.instagrapi_network(logged_in.session, client=again)  # type: ignore[arg-type]
    assert again.settings == client.get_settings()
    with pytest.raises(NetworkError) as unreadable:
        backend.instagrapi_network("{not json", client=StandIn())  # type: ignore[arg-type]
    assert unreadable.value.kind is ErrorKind.CHALLENGE


def test_a_refused_login_never_shows_the_password() -> None:
    password = "a-long-password-4711"
    failing = StandIn(fail=ig.BadPassword(f"bad password {password}"))
    with pytest.raises(NetworkError) as caught:
        asyncio.run(backend.login("demo_bakery", password, client=failing))  # type: ignore[arg-type]
    assert caught.value.kind is ErrorKind.PERMANENT and password not in str(caught.value)


def test_settings_choose_the_instagrapi_backend() -> None:
    from connectors.growth.backends import open_network
    from connectors.growth.http import HttpNetwork
    from connectors.growth.instagrapi_backend import InstagrapiNetwork
    from core.settings import NetworkSettings

    async def opened(backend: str, session: str) -> type:
        async with open_network(NetworkSettings(backend=backend), session) as network:
            return type(network)

    assert asyncio.run(opened("instagrapi", json.dumps({"uuids": {}}))) is InstagrapiNetwork
    assert asyncio.run(opened("http", "a-session-token")) is HttpNetwork
