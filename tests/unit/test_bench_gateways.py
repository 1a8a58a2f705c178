"""The gateway contract the benchmark gateways keep (bench.plain_gateway, bench.http_server)."""

from __future__ import annotations

import json

from bench.plain_gateway import Deliveries

TOKEN = "t" * 32
AUTH = f"Bearer {TOKEN}"


def body(**fields: object) -> bytes:
    return json.dumps({"id": 7, "phone": "79000000007", "text": "hi"} | fields).encode()


def test_a_valid_send_is_accepted_and_a_bad_one_refused_with_its_reason() -> None:
    deliveries = Deliveries(TOKEN)
    assert deliveries.check(AUTH, body(), 7) is None
    assert deliveries.check("Bearer wrong", body(), 7) == (
        401,
        '{"code": 2, "message": "invalid or missing token"}',
    )
    assert deliveries.check(None, body(), 7)[0] == 401  # type: ignore[index]
    for bad in (body(id=8), body(phone="89000000007"), body(text=""), b"not json", b'{"id": 7}'):
        assert deliveries.check(AUTH, bad, 7) == (400, '{"code": 1, "message": "bad body"}')


def test_the_report_counts_deliveries_and_names_duplicates() -> None:
    deliveries = Deliveries(TOKEN)
    deliveries.counts.update([1, 2, 2, 3, 3, 3])
    assert deliveries.report() == {"delivered": 3, "accepted": 6, "duplicates": {2: 2, 3: 3}}
