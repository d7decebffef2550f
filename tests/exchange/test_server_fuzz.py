"""Fuzz: whatever arrives — wrong fields, wrong types, unknown ids, garbage bodies, odd paths —
the paper exchange answers with Kite's envelope and a message, and never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.clock import IST
from cockpit.exchange.embedded import ExchangeThread
from cockpit.exchange.errors import ErrorType
from cockpit.exchange.server import ExchangeConfig

from .test_server import login

KITE_ERROR_TYPES = {t.value for t in ErrorType}
PATHS = [
    "/session/token",
    "/user/profile",
    "/user/margins",
    "/user/margins/{x}",
    "/instruments",
    "/instruments/{x}",
    "/quote",
    "/quote/ltp",
    "/quote/ohlc",
    "/orders",
    "/orders/{variety}",
    "/orders/{x}",
    "/orders/{variety}/{x}",
    "/orders/{x}/trades",
    "/trades",
    "/portfolio/positions",
    "/portfolio/holdings",
    "/margins/orders",
    "/margins/basket",
    "/admin/status",
    "/admin/faults",
    "/admin/gap",
    "/admin/time",
    "/admin/speed",
    "/{x}",
]
FIELDS = [
    "exchange",
    "tradingsymbol",
    "transaction_type",
    "quantity",
    "product",
    "order_type",
    "price",
    "trigger_price",
    "validity",
    "validity_ttl",
    "disclosed_quantity",
    "tag",
    "market_protection",
    "autoslice",
    "variety",
    "api_key",
    "request_token",
    "checksum",
    "i",
]
PLAUSIBLE = [
    "NFO",
    "NSE",
    "BUY",
    "SELL",
    "LIMIT",
    "MARKET",
    "SL",
    "SL-M",
    "NRML",
    "MIS",
    "CNC",
    "DAY",
    "IOC",
    "TTL",
    "65",
    "0",
    "-65",
    "1e9",
    "NaN",
    "inf",
    "12.345",
    "-1",
    "true",
    "regular",
    "amo",
    "NIFTY26D0126000CE",
    "NIFTY26DECFUT",
    "NFO:NIFTY26D0126000CE",
    "NSE:NIFTY 50",
    "x" * 40,
]
text_values = st.one_of(st.sampled_from(PLAUSIBLE), st.text(max_size=30))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    config = ExchangeConfig(
        seed=3, speed=0, start=datetime(2026, 12, 1, 10, 0, tzinfo=IST), rate_limits=False
    )
    with ExchangeThread(config) as thread, login(thread.url) as authorised:
        yield authorised


def check_envelope(response: httpx.Response) -> None:
    assert response.status_code != 500, response.text
    if response.headers.get("content-type", "").startswith("text/csv"):
        assert response.status_code == 200
        return
    body = response.json()
    if body["status"] == "success":
        assert response.status_code == 200
        assert "data" in body
        return
    assert body["status"] == "error", body
    assert body["error_type"] in KITE_ERROR_TYPES, body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    assert 400 <= response.status_code < 600


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    template=st.sampled_from(PATHS),
    x=st.one_of(
        st.sampled_from(["equity", "NFO", "999", "261201000000001"]),
        st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=12),
    ),
    variety=st.sampled_from(["regular", "amo", "co", "iceberg", "bogus"]),
    form=st.dictionaries(st.sampled_from(FIELDS), text_values, max_size=10),
    body_kind=st.sampled_from(["form", "json", "garbage", "none"]),
    json_body=json_values,
    garbage=st.binary(max_size=200),
    authorised=st.booleans(),
)
def test_every_answer_is_a_kite_envelope_never_a_500(
    client: httpx.Client,
    method: str,
    template: str,
    x: str,
    variety: str,
    form: dict[str, str],
    body_kind: str,
    json_body: object,
    garbage: bytes,
    authorised: bool,
) -> None:
    path = template.replace("{x}", quote(x, safe="")).replace("{variety}", variety)
    headers = dict(client.headers) if authorised else {"X-Kite-Version": "3"}
    kwargs: dict[str, object] = {}
    if body_kind == "form" and method in {"POST", "PUT"}:
        kwargs["data"] = form
    elif body_kind == "json":
        kwargs["content"] = json.dumps(json_body, allow_nan=True).encode()
        headers["Content-Type"] = "application/json"
    elif body_kind == "garbage":
        kwargs["content"] = garbage
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if method in {"GET", "DELETE"}:
        kwargs.pop("data", None)
        kwargs["params"] = form
    response = client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
    check_envelope(response)


def test_a_wrong_kite_version_and_unknown_routes_are_named(client: httpx.Client) -> None:
    answer = client.get("/user/profile", headers={"X-Kite-Version": "2"})
    assert answer.status_code == 400
    assert answer.json()["message"] == "Invalid `X-Kite-Version` header '2'; expected 3."
    missing = client.get("/nowhere/at/all")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Route not found: GET /nowhere/at/all"
    wrong = client.patch("/orders")
    assert wrong.status_code == 405 and wrong.json()["error_type"] == "GeneralException"
