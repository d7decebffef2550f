"""The SPAN-like margin: scenarios, hedge benefit, exposure, premium, basket and order margins."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.clock import IST
from cockpit.domain.money import Paise
from cockpit.exchange.margin import (
    SCENARIOS,
    MarginLeg,
    MarginParameters,
    basket_margin,
    black76,
    exposure_margin,
    order_margins,
    portfolio_margin,
    span_by_underlying,
    years_to_expiry,
)
from tests.exchange.fakes import (
    MONTHLY,
    WEEKLY,
    FakeMarket,
    nifty_future,
    nifty_option,
    stock_option,
)

SPOT = 2_400_000  # NIFTY 24,000.00 in paise
LOT = 65

PE_24000 = nifty_option(1, 24000, "PE")
PE_23800 = nifty_option(2, 23800, "PE")
CE_24000 = nifty_option(3, 24000, "CE")
CE_24500 = nifty_option(4, 24500, "CE")


@pytest.fixture
def market() -> FakeMarket:
    m = FakeMarket()
    m.spots["NIFTY"] = SPOT
    m.spots["RELIANCE"] = 150_000
    m.book(PE_24000, last=90.0, bids=[(89.95, 650)], asks=[(90.05, 650)])
    m.book(PE_23800, last=35.0, bids=[(34.95, 650)], asks=[(35.05, 650)])
    m.book(CE_24000, last=95.0, bids=[(94.95, 650)], asks=[(95.05, 650)])
    return m


def _scalar_black76(f: float, k: float, t: float, sigma: float, call: bool) -> float:
    """An independent scalar Black-76 (math.erf), r = 0, to check the vectorised one."""
    sd = sigma * math.sqrt(t)
    d1 = (math.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd

    def n(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    if call:
        return f * n(d1) - k * n(d2)
    return k * n(-d2) - f * n(-d1)


def test_sixteen_scenarios_fourteen_full_two_at_35_percent() -> None:
    assert len(SCENARIOS) == 16
    assert sum(1 for _, _, w in SCENARIOS if w == 1.0) == 14
    extremes = [(m, v) for m, v, w in SCENARIOS if w == 0.35]
    assert sorted(extremes) == [(-2.0, 0), (2.0, 0)]
    assert {(m, v) for m, v, w in SCENARIOS if w == 1.0} == {
        (m, v) for m in (0.0, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 1.0, -1.0) for v in (1, -1)
    }


def test_naked_short_put_span_is_the_worst_scenario_loss(market: FakeMarket) -> None:
    span = span_by_underlying([MarginLeg(PE_24000, -LOT)], market)["NIFTY"]

    t = years_to_expiry(WEEKLY, market.now)
    f, k, sigma = float(SPOT), 2_400_000.0, 0.15
    vsr = 0.04  # 25% of 15 vol points is below the 4-point index floor
    base = _scalar_black76(f, k, t, sigma, call=False)
    expected = max(
        w * LOT * (_scalar_black76(f * (1 + m * 0.093), k, t, sigma + v * vsr, False) - base)
        for m, v, w in SCENARIOS
    )
    # Within a rupee: rounding up to a paisa plus the normal CDF approximation (7.5e-8).
    assert span == pytest.approx(expected, abs=100)
    # Sanity in rupees: about one 9.3% fall of a lot of NIFTY less the premium.
    assert 1_30_000_00 < span < 1_50_000_00


def test_bull_put_spread_needs_far_less_margin_than_the_naked_short_put(
    market: FakeMarket,
) -> None:
    naked = portfolio_margin([MarginLeg(PE_24000, -LOT, Paise(9000))], [], market)
    spread = portfolio_margin(
        [MarginLeg(PE_24000, -LOT, Paise(9000)), MarginLeg(PE_23800, LOT, Paise(3500))],
        [],
        market,
    )
    assert spread.span < naked.span * 0.1
    # Exposure stays on the short leg even when hedged (as Kite charges it), so the total
    # falls less than the SPAN does.
    assert spread.exposure == naked.exposure
    assert spread.total < naked.total * 0.3
    # The spread's SPAN is its maximum loss: width less the net premium (model prices).
    t = years_to_expiry(WEEKLY, market.now)
    credit = _scalar_black76(SPOT, 2_400_000, t, 0.15, False) - _scalar_black76(
        SPOT, 2_380_000, t, 0.15, False
    )
    assert spread.span <= LOT * (20_000 - credit) + 1


def test_long_option_pays_premium_and_no_span_or_exposure(market: FakeMarket) -> None:
    margin = portfolio_margin([MarginLeg(CE_24000, LOT, Paise(9505))], [], market)
    assert margin.span == 0
    assert margin.exposure == 0
    assert margin.option_premium == 9505 * LOT
    assert margin.total == 9505 * LOT


def test_market_buy_premium_uses_the_best_ask(market: FakeMarket) -> None:
    margin = portfolio_margin([MarginLeg(CE_24000, LOT)], [], market)
    assert margin.option_premium == 9505 * LOT


def test_premium_received_is_reported_but_not_netted(market: FakeMarket) -> None:
    margin = portfolio_margin([MarginLeg(PE_24000, -LOT, Paise(9000))], [], market)
    assert margin.premium_received == 9000 * LOT
    assert margin.option_premium == 0
    assert margin.total == margin.span + margin.exposure


def test_exposure_is_two_percent_of_notional_on_short_index_options_and_futures(
    market: FakeMarket,
) -> None:
    short_put = exposure_margin([MarginLeg(PE_24000, -LOT)], market)
    assert short_put == SPOT * LOT * 2 // 100
    assert exposure_margin([MarginLeg(PE_24000, LOT)], market) == 0
    future = nifty_future()
    market.forwards[("NIFTY", MONTHLY)] = 2_410_000
    assert exposure_margin([MarginLeg(future, -LOT)], market) == 2_410_000 * LOT * 2 // 100


def test_stock_options_use_stock_psr_and_3_5_percent_exposure(market: FakeMarket) -> None:
    put = stock_option(50, 1500, "PE")
    exposure = exposure_margin([MarginLeg(put, -500)], market)
    assert exposure == 150_000 * 500 * 35 // 1000
    span = span_by_underlying([MarginLeg(put, -500)], market)["RELIANCE"]
    index_like = span_by_underlying(
        [MarginLeg(put, -500)], market, MarginParameters(psr_override={"RELIANCE": 0.093})
    )["RELIANCE"]
    assert span > index_like  # 14.2% scan range costs more than 9.3%


def test_short_index_options_pay_two_percent_more_exposure_on_expiry_day(
    market: FakeMarket,
) -> None:
    market.now = datetime(2026, 1, 13, 10, 0, tzinfo=IST)  # WEEKLY's expiry day
    assert exposure_margin([MarginLeg(PE_24000, -LOT)], market) == SPOT * LOT * 4 // 100


def test_long_future_hedged_by_long_put_needs_less_span_than_the_future(
    market: FakeMarket,
) -> None:
    future = nifty_future(expiry=WEEKLY)
    alone = span_by_underlying([MarginLeg(future, LOT)], market)["NIFTY"]
    hedged = span_by_underlying([MarginLeg(future, LOT), MarginLeg(PE_24000, LOT)], market)["NIFTY"]
    assert alone == pytest.approx(SPOT * LOT * 0.093, rel=1e-6)
    assert hedged < alone * 0.1


def test_basket_initial_nets_the_legs_and_orders_are_each_alone(market: FakeMarket) -> None:
    legs = [MarginLeg(PE_24000, -LOT, Paise(9000)), MarginLeg(PE_23800, LOT, Paise(3500))]
    basket = basket_margin(legs, [], market, consider_positions=False)
    alone = order_margins(legs, [], market)
    assert basket.orders == tuple(alone)
    assert basket.initial.total < sum(m.total for m in alone)
    assert basket.final == basket.initial


def test_basket_final_counts_existing_hedge_positions(market: FakeMarket) -> None:
    positions = [MarginLeg(PE_23800, LOT)]
    order = [MarginLeg(PE_24000, -LOT, Paise(9000))]
    basket = basket_margin(order, positions, market, consider_positions=True)
    assert basket.final.span < basket.initial.span * 0.1
    ignoring = basket_margin(order, positions, market, consider_positions=False)
    assert ignoring.final == ignoring.initial


def test_order_margins_with_positions_are_incremental(market: FakeMarket) -> None:
    short = [MarginLeg(PE_24000, -LOT)]
    closing = order_margins([MarginLeg(PE_24000, LOT, Paise(9005))], short, market)[0]
    assert closing.span == 0
    assert closing.exposure == 0
    assert closing.option_premium == 9005 * LOT


def test_an_empty_portfolio_needs_nothing(market: FakeMarket) -> None:
    assert portfolio_margin([], [], market).total == 0
    assert span_by_underlying([MarginLeg(PE_24000, LOT), MarginLeg(PE_24000, -LOT)], market) == {}


@settings(max_examples=200, deadline=None)
@given(
    f=st.floats(1_000, 5_000_000),
    k=st.floats(1_000, 5_000_000),
    t=st.floats(1e-4, 2.0),
    sigma=st.floats(0.02, 1.5),
)
def test_black76_put_call_parity_and_matches_erf(
    f: float, k: float, t: float, sigma: float
) -> None:
    arr = np.array
    call = float(
        black76(arr([f]), arr([k]), arr([t]), rate=0.0, vol=arr([sigma]), is_call=arr([True]))[0]
    )
    put = float(
        black76(arr([f]), arr([k]), arr([t]), rate=0.0, vol=arr([sigma]), is_call=arr([False]))[0]
    )
    assert call - put == pytest.approx(f - k, abs=1e-6 * max(f, k))
    assert call == pytest.approx(_scalar_black76(f, k, t, sigma, True), abs=1e-6 * max(f, k))


def test_years_to_expiry_counts_to_the_1530_close() -> None:
    now = datetime(2026, 1, 13, 9, 30, tzinfo=IST)
    assert years_to_expiry(date(2026, 1, 13), now) == pytest.approx(6 / (365 * 24))
    assert years_to_expiry(date(2026, 1, 12), now) == 0.0
