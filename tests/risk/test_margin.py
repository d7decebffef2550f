"""The SPAN-like margin estimate: scenarios, hedge benefit, short option minimum, exposure,
premium never netted, batched states equal to one state at a time, and input errors."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.risk.margin import (
    SCENARIOS,
    MarginLegs,
    MarginParameters,
    MarketState,
    estimate_margin,
    estimate_margin_arrays,
    option_value,
    premium_flows,
)

SPOT = 2_400_000.0  # NIFTY 24,000.00 in paise
LOT = 75
WEEK = 7 / 365


def _black76(f: float, k: float, t: float, sigma: float, call: bool) -> float:
    """An independent scalar Black-76 (math.erf), r = 0."""
    sd = sigma * math.sqrt(t)
    d1 = (math.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd

    def n(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    return f * n(d1) - k * n(d2) if call else k * n(-d2) - f * n(-d1)


Spec = tuple[
    str, int, float, bool | None, float, int
]  # underlying, qty, strike ₹, call, years, expiry


def _legs(*specs: Spec, today: int | None = None) -> MarginLegs:
    """Legs from (underlying, signed quantity, strike in rupees, is_call or None for a
    future, years, expiry key)."""
    return MarginLegs(
        underlying=tuple(s[0] for s in specs),
        quantity=np.array([s[1] for s in specs], dtype=np.float64),
        is_option=np.array([s[3] is not None for s in specs]),
        is_call=np.array([bool(s[3]) for s in specs]),
        strike=np.array([s[2] * 100.0 for s in specs]),
        years=np.array([s[4] for s in specs]),
        expiry=np.array([s[5] for s in specs], dtype=np.int64),
        expires_today=np.array([s[5] == today for s in specs]),
    )


def _state(n: int, spot: float = SPOT, vol: float | Sequence[float] = 0.15) -> MarketState:
    return MarketState(
        forward=np.full(n, spot), spot=np.full(n, spot), vol=np.broadcast_to(vol, (n,)).copy()
    )


def _put(qty: int, strike: float, years: float = WEEK, expiry: int = 1) -> Spec:
    return ("NIFTY", qty, strike, False, years, expiry)


def test_naked_short_put_span_is_the_worst_weighted_scenario_loss() -> None:
    estimate = estimate_margin(_legs(_put(-LOT, 24000)), _state(1))

    base = _black76(SPOT, SPOT, WEEK, 0.15, call=False)
    vsr = 0.04  # 25% of 15 vol points is below the 4-point index floor
    expected = max(
        w * LOT * (_black76(SPOT * (1 + m * 0.093), SPOT, WEEK, 0.15 + v * vsr, False) - base)
        for m, v, w in SCENARIOS
    )
    assert estimate.span == pytest.approx(expected, abs=1)
    assert estimate.span > estimate.short_option_minimum  # 3% of notional does not bind here
    assert estimate.short_option_minimum == 3 * 2_400_000 * LOT // 100


def test_hedged_bull_put_spread_needs_less_margin_than_the_naked_short_put() -> None:
    naked = estimate_margin(_legs(_put(-LOT, 24000)), _state(1))
    spread = estimate_margin(_legs(_put(-LOT, 24000), _put(LOT, 23800)), _state(2))
    assert spread.span < naked.span * 0.1
    assert spread.total < naked.total
    # The spread's SPAN is at most its largest loss: width less the net premium.
    credit = _black76(SPOT, SPOT, WEEK, 0.15, False) - _black76(SPOT, 2_380_000, WEEK, 0.15, False)
    assert spread.span <= LOT * (20_000 - credit) + 1
    # Exposure margin stays on the hedged short leg (2% of its notional), as Kite charges it.
    assert spread.exposure == naked.exposure == 2 * 2_400_000 * LOT // 100


def test_premium_received_is_reported_but_never_netted() -> None:
    legs = _legs(_put(-LOT, 24000), _put(LOT, 23800))
    estimate = estimate_margin(legs, _state(2), premium_price=[9000, 3500])
    assert estimate.premium_paid == 3500 * LOT
    assert estimate.premium_received == 9000 * LOT
    assert estimate.total == estimate.span + estimate.exposure + 3500 * LOT


def test_premium_flows_are_exact_and_futures_carry_none() -> None:
    assert premium_flows([75, -150, 75], [1005, 2010, 999_999], [True, True, False]) == (
        75 * 1005,
        150 * 2010,
    )


def test_far_out_of_the_money_short_put_pays_the_short_option_minimum() -> None:
    # 20% below spot a week out: no scenario hurts much, so 3% of notional binds.
    estimate = estimate_margin(_legs(_put(-LOT, 19200)), _state(1))
    assert estimate.short_option_minimum == 3 * 2_400_000 * LOT // 100
    assert estimate.span == estimate.short_option_minimum


def test_short_option_minimum_of_a_spread_is_capped_at_its_spread_risk() -> None:
    legs = _legs(_put(-LOT, 19200), _put(LOT, 19100))
    estimate = estimate_margin(legs, _state(2))
    value = option_value(
        [SPOT, SPOT], [1_920_000.0, 1_910_000.0], WEEK, rate=0.0, vol=0.15, is_call=False
    )
    spread_risk = LOT * 10_000 - LOT * (value[0] - value[1])  # width less the credit now
    assert estimate.short_option_minimum == pytest.approx(spread_risk, abs=1)
    assert estimate.span == estimate.short_option_minimum
    assert estimate.span < 0.03 * SPOT * LOT / 5  # not the uncovered short's 3%


def test_a_long_of_another_expiry_does_not_cap_the_short_option_minimum() -> None:
    near, far = _put(-LOT, 19200, WEEK, expiry=1), _put(LOT, 19200, 35 / 365, expiry=2)
    arrays = estimate_margin_arrays(_legs(near, far), _state(2))
    assert float(arrays.short_option_minimum) == pytest.approx(0.03 * SPOT * LOT)


def test_long_options_need_no_span_their_premium_is_paid() -> None:
    legs = _legs(("NIFTY", LOT, 24000, True, WEEK, 1))
    estimate = estimate_margin(legs, _state(1), premium_price=[9505])
    assert (estimate.span, estimate.exposure, estimate.short_option_minimum) == (0, 0, 0)
    assert estimate.total == 9505 * LOT


def test_exposure_on_futures_stock_options_and_expiry_day() -> None:
    future = estimate_margin(_legs(("NIFTY", -LOT, 0, None, WEEK, 1)), _state(1, 2_410_000.0))
    assert future.exposure == 2 * 2_410_000 * LOT // 100
    assert future.span == pytest.approx(0.093 * 2_410_000 * LOT, abs=1)

    stock = estimate_margin(_legs(("HDFCBANK", -550, 1000, False, WEEK, 1)), _state(1, 100_000.0))
    assert stock.exposure == 35 * 100_000 * 550 // 1000

    expiring = estimate_margin(_legs(_put(-LOT, 24000, 2 / (365 * 24)), today=1), _state(1))
    assert expiring.exposure == 4 * 2_400_000 * LOT // 100


def test_stock_options_scan_a_wider_range_than_indices() -> None:
    legs = _legs(("HDFCBANK", -550, 1000, False, WEEK, 1))
    stock = estimate_margin(legs, _state(1, 100_000.0, 0.25))
    as_index = estimate_margin(
        legs, _state(1, 100_000.0, 0.25), MarginParameters(psr_override={"HDFCBANK": 0.093})
    )
    assert stock.span > as_index.span


def test_index_options_beyond_nine_months_scan_the_long_dated_range() -> None:
    legs = _legs(_put(-LOT, 24000, years=1.0))
    wide = estimate_margin(legs, _state(1))
    narrow = estimate_margin(legs, _state(1), MarginParameters(index_long_dated_psr=0.093))
    assert wide.span > narrow.span * 1.3


def test_underlyings_are_netted_separately_and_add_up() -> None:
    nifty = _put(-LOT, 24000)
    bank = ("BANKNIFTY", -30, 54000, False, WEEK, 1)
    together = estimate_margin(_legs(nifty, bank), _state(2))
    assert together.span_by_underlying == {
        "NIFTY": estimate_margin(_legs(nifty), _state(1)).span,
        "BANKNIFTY": estimate_margin(_legs(bank), _state(1)).span,
    }
    assert together.span == sum(together.span_by_underlying.values())


@settings(max_examples=40, deadline=None)
@given(
    moves=st.lists(st.floats(-0.2, 0.2), min_size=1, max_size=6),
    vols=st.lists(st.floats(0.05, 0.8), min_size=1, max_size=6),
)
def test_a_batch_of_states_equals_each_state_on_its_own(
    moves: list[float], vols: list[float]
) -> None:
    legs = _legs(
        _put(-LOT, 24000),
        _put(LOT, 23800),
        ("NIFTY", -LOT, 24500, True, WEEK, 1),
        ("NIFTY", LOT, 0, None, 30 / 365, 2),
    )
    factor = 1.0 + np.array(moves)[None, :, None]
    vol = np.array(vols)[:, None, None] * np.ones(4)
    batch = estimate_margin_arrays(
        legs, MarketState(forward=SPOT * factor, spot=SPOT * factor, vol=vol)
    )
    assert batch.span.shape == (len(vols), len(moves))
    for i, v in enumerate(vols):
        for j, m in enumerate(moves):
            one = estimate_margin_arrays(legs, _state(4, SPOT * (1 + m), v))
            assert batch.span[i, j] == pytest.approx(float(one.span), rel=1e-12, abs=1e-6)
            assert batch.exposure[i, j] == pytest.approx(float(one.exposure), rel=1e-12)
            assert batch.span[i, j] >= 0


def test_inputs_are_checked_and_the_error_names_what_is_wrong() -> None:
    good = _legs(_put(-LOT, 24000))
    with pytest.raises(ValueError, match="quantity"):
        MarginLegs(**{**_fields(good), "quantity": np.array([1.0, 2.0])})
    with pytest.raises(ValueError, match="strike"):
        MarginLegs(**{**_fields(good), "strike": np.array([0.0])})
    with pytest.raises(ValueError, match="forward"):
        estimate_margin(good, MarketState(np.array([0.0]), np.array([SPOT]), np.array([0.2])))
    with pytest.raises(ValueError, match="vol"):
        estimate_margin(good, MarketState(np.array([SPOT]), np.array([SPOT]), np.array([-0.1])))
    with pytest.raises(ValueError, match="one state"):
        estimate_margin(good, MarketState(np.full((2, 1), SPOT), np.array([SPOT]), np.array([0.2])))


def _fields(legs: MarginLegs) -> dict[str, object]:
    return {name: getattr(legs, name) for name in MarginLegs.__slots__}
