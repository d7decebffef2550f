"""Logging in: Kite's login address and checksum, the session exchange (Kite's sample answer
and the paper exchange over loopback), and a session that never shows its token."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from cockpit.broker.base import BrokerNetworkError, BrokerProtocolError, TokenExpiredError
from cockpit.broker.login import (
    Session,
    create_session,
    login_url,
    paper_login,
    session_checksum,
)
from cockpit.clock import IST
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.server import PAPER_API_KEY, PAPER_API_SECRET, ExchangeConfig

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kite"
START = datetime(2026, 12, 1, 10, 0, tzinfo=IST)


@pytest.fixture(scope="module")
def exchange() -> Iterator[ExchangeThread]:
    with ExchangeThread(ExchangeConfig(seed=7, speed=0, start=START, rate_limits=False)) as t:
        yield t


def test_login_url_is_kites_page_for_the_app() -> None:
    assert login_url("abc123") == "https://kite.zerodha.com/connect/login?v=3&api_key=abc123"


def test_checksum_is_sha256_of_key_token_and_secret() -> None:
    expected = hashlib.sha256(b"keytokensecret").hexdigest()
    assert session_checksum("key", "token", "secret") == expected


def test_the_session_exchange_posts_the_checksum_and_reads_kites_sample_answer() -> None:
    posted: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/session/token")
        assert request.headers["X-Kite-Version"] == "3"
        posted.append(dict(httpx.QueryParams(request.content.decode())))
        return httpx.Response(
            200,
            content=(FIXTURES / "generate_session.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        )

    async def main() -> Session:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await create_session(
                "XXXXXX", "reqtoken1", "s3cret", base_url="https://kite.test", client=client
            )

    session = asyncio.run(main())
    assert posted == [
        {
            "api_key": "XXXXXX",
            "request_token": "reqtoken1",
            "checksum": hashlib.sha256(b"XXXXXXreqtoken1s3cret").hexdigest(),
        }
    ]
    assert (session.user_id, session.api_key, session.access_token) == (
        "XX0000",
        "XXXXXX",
        "XXXXXX",
    )
    assert session.login_time == datetime(2021, 1, 1, 16, 15, 14, tzinfo=IST)
    assert session.authorization == "token XXXXXX:XXXXXX"


def test_a_session_for_another_api_key_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=(FIXTURES / "generate_session.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        )

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await create_session("mine", "t", "s", base_url="https://kite.test", client=client)

    with pytest.raises(BrokerProtocolError, match="another api_key"):
        asyncio.run(main())


def test_paper_login_gets_a_working_session(exchange: ExchangeThread) -> None:
    session = asyncio.run(paper_login(exchange.url))
    assert (session.api_key, session.user_id) == (PAPER_API_KEY, "PA0001")
    assert len(session.access_token) == 32
    assert session.login_time.tzinfo is not None
    response = httpx.get(
        f"{exchange.url}/user/profile",
        headers={"Authorization": session.authorization, "X-Kite-Version": "3"},
    )
    assert response.json()["data"]["user_id"] == "PA0001"


def test_the_session_repr_hides_the_token(exchange: ExchangeThread) -> None:
    session = asyncio.run(paper_login(exchange.url))
    assert session.access_token not in repr(session)
    assert session.access_token not in str(session)
    assert "PA0001" in repr(session)


def test_a_wrong_secret_is_a_token_error_that_does_not_echo_it(exchange: ExchangeThread) -> None:
    answer = httpx.get(f"{exchange.url}/connect/login", params={"api_key": PAPER_API_KEY})
    token = answer.json()["data"]["request_token"]
    with pytest.raises(TokenExpiredError, match="Invalid `checksum`") as refused:
        asyncio.run(create_session(PAPER_API_KEY, token, "wrong-secret", base_url=exchange.url))
    assert "wrong-secret" not in str(refused.value)
    assert PAPER_API_SECRET not in str(refused.value)
    assert refused.value.broker_message == "Invalid `checksum`."


def test_an_unreachable_broker_is_a_network_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await paper_login("http://127.0.0.1:9", client=client)

    with pytest.raises(BrokerNetworkError, match="could not reach the paper exchange"):
        asyncio.run(main())
