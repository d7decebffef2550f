"""Implied volatility: round trips, robustness at the extremes, NaN with a reason."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from cockpit.pricing import (
    MAX_VOL,
    IvReason,
    implied_vol,
    implied_vol_with_reasons,
    price,
    vega,
)

EPS = float(np.finfo(np.float64).eps)
FIVE_MINUTES = 5 / (365 * 24 * 60)


@settings(max_examples=1000, deadline=None)
@given(
    f=st.floats(1.0, 1e7),
    # Moneyness in standard deviations, ln(K/F) = z·σ√T: a fixed ln(K/F) of 0.5 is about 0.1
    # of a standard deviation for a two-year 300%-vol option and 16,000 for a five-minute
    # 1%-vol one, so drawing z covers deep in and out of the money at every T and σ.
    z=st.floats(-8.0, 8.0),
    t=st.floats(FIVE_MINUTES, 2.0),
    sigma=st.floats(0.01, 3.0),
    r=st.floats(-0.05, 0.20),
    call=st.booleans(),
)
# The root on the inflection point √(2|ln(F/K)|), where the solver splits its bracket in two.
@example(f=1.0, z=1.0, t=1.0, sigma=2.0, r=0.0, call=True)
@example(f=24_000.0, z=0.0, t=FIVE_MINUTES, sigma=0.01, r=0.065, call=False)
def test_implied_vol_recovers_the_vol_that_priced_the_option(
    f: float, z: float, t: float, sigma: float, r: float, call: bool
) -> None:
    k = f * math.exp(z * sigma * math.sqrt(t))
    value = float(price(f, k, t, rate=r, vol=sigma, is_call=call))
    time_value = value * math.exp(r * t) - max(f - k if call else k - f, 0.0)
    # A price is a float: its last bits are worth about eps·max(F, K), which moves σ by that
    # much divided by vega. Where that is more than 1e-7·σ the price carries next to no
    # information about σ (vega tiny against the price: deep in the money, where the time
    # value drowns in the intrinsic value) and the case is skipped, as are time values under
    # 1e-12·F: what is left of them after subtracting the intrinsic value is rounding.
    undiscounted_vega = float(vega(f, k, t, rate=r, vol=sigma, is_call=call)) * math.exp(r * t)
    assume(time_value >= 1e-12 * max(f, k) and undiscounted_vega > 0.0)
    rounding_in_vol = 16 * EPS * max(f, k) / undiscounted_vega
    assume(rounding_in_vol <= 1e-7 * sigma)

    solved, reason = implied_vol_with_reasons(value, f, k, t, rate=r, is_call=call)
    assert str(reason) == IvReason.OK
    assert abs(float(solved) - sigma) <= 1e-10 * sigma + rounding_in_vol


@pytest.mark.parametrize("minutes", [1, 5, 30])
@pytest.mark.parametrize("strike", [23_000.0, 23_900.0, 24_000.0, 24_100.0, 25_000.0])
def test_minutes_before_expiry_near_and_far_from_the_money(minutes: int, strike: float) -> None:
    t = minutes / (365 * 24 * 60)
    for call in (True, False):
        for sigma in (0.05, 0.15, 0.8):
            value = price(24_000.0, strike, t, rate=0.065, vol=sigma, is_call=call)
            solved, reason = implied_vol_with_reasons(
                value, 24_000.0, strike, t, rate=0.065, is_call=call
            )
            tv = float(value) * math.exp(0.065 * t) - max(
                24_000.0 - strike if call else strike - 24_000.0, 0.0
            )
            # Hundreds of standard deviations from the money the time value underflows or
            # drowns in the intrinsic value: no information about σ is left.
            assert str(reason) in {IvReason.OK, IvReason.NO_TIME_VALUE}
            if tv >= 1e-12 * 24_000.0:
                assert str(reason) == IvReason.OK
                assert float(solved) == pytest.approx(sigma, rel=1e-9)


def test_deep_in_the_money_is_solved_through_the_out_of_the_money_side() -> None:
    # A NIFTY call 3,000 points in the money a week out: the time value is ₹0.57 of a
    # ₹3,000 price, yet the vol comes back to nine digits.
    f, k, t, r, sigma = 24_000.0, 21_000.0, 7 / 365, 0.065, 0.25
    call = price(f, k, t, rate=r, vol=sigma, is_call=True)
    put = price(f, k, t, rate=r, vol=sigma, is_call=False)
    assert float(call) - float(put) == pytest.approx(math.exp(-r * t) * (f - k), abs=1e-9)
    vols = implied_vol(np.array([call, put]), f, k, t, rate=r, is_call=np.array([True, False]))
    np.testing.assert_allclose(vols, [sigma, sigma], rtol=1e-9)


@pytest.mark.filterwarnings("error")
def test_out_of_bounds_prices_are_nan_with_a_reason_and_the_valid_ones_still_solve() -> None:
    f, k, t, r = 100.0, 90.0, 0.5, 0.05
    disc = math.exp(-r * t)
    good_call = float(price(f, k, t, rate=r, vol=0.3, is_call=True))
    good_put = float(price(f, k, t, rate=r, vol=0.45, is_call=False))
    too_high_vol = float(price(f, k, t, rate=r, vol=12.0, is_call=True))
    cases = [
        # (price, forward, strike, years, is_call, expected vol or NaN, reason)
        (good_call, f, k, t, True, 0.3, IvReason.OK),
        (disc * 10.0 - 0.01, f, k, t, True, math.nan, IvReason.BELOW_INTRINSIC),
        (disc * f + 0.01, f, k, t, True, math.nan, IvReason.ABOVE_UPPER_BOUND),
        (good_put, f, k, t, False, 0.45, IvReason.OK),
        (disc * k + 0.01, f, k, t, False, math.nan, IvReason.ABOVE_UPPER_BOUND),
        (-0.01, f, 110.0, t, True, math.nan, IvReason.BELOW_INTRINSIC),
        (disc * 10.0, f, k, t, True, math.nan, IvReason.NO_TIME_VALUE),
        (0.0, f, 110.0, t, True, math.nan, IvReason.NO_TIME_VALUE),
        (good_call, f, k, 0.0, True, math.nan, IvReason.NON_POSITIVE_TIME),
        (good_call, f, k, -1.0, True, math.nan, IvReason.NON_POSITIVE_TIME),
        (good_call, 0.0, k, t, True, math.nan, IvReason.NON_POSITIVE_FORWARD),
        (good_call, f, -5.0, t, True, math.nan, IvReason.NON_POSITIVE_STRIKE),
        (math.nan, f, k, t, True, math.nan, IvReason.NOT_FINITE),
        (good_call, math.inf, k, t, True, math.nan, IvReason.NOT_FINITE),
        (too_high_vol, f, k, t, True, math.nan, IvReason.ABOVE_MAX_VOL),
        (good_call, f, k, t, True, 0.3, IvReason.OK),
    ]
    prices, forwards, strikes, times, calls, expected, reasons = map(
        np.array, zip(*cases, strict=True)
    )
    vols, why = implied_vol_with_reasons(prices, forwards, strikes, times, rate=r, is_call=calls)
    assert why.tolist() == [str(reason) for reason in reasons]
    np.testing.assert_allclose(vols, expected.astype(float), rtol=1e-9)  # NaNs compare equal
    assert (why == IvReason.BELOW_INTRINSIC).sum() == 2
    np.testing.assert_array_equal(
        implied_vol(prices, forwards, strikes, times, rate=r, is_call=calls), vols
    )


def test_max_vol_is_the_search_ceiling() -> None:
    value = price(100.0, 100.0, 0.25, rate=0.0, vol=4.0, is_call=True)
    assert float(implied_vol(value, 100.0, 100.0, 0.25, rate=0.0, is_call=True)) == (
        pytest.approx(4.0, rel=1e-9)
    )
    vol, reason = implied_vol_with_reasons(
        value, 100.0, 100.0, 0.25, rate=0.0, is_call=True, max_vol=3.0
    )
    assert np.isnan(vol)
    assert str(reason) == IvReason.ABOVE_MAX_VOL
    assert MAX_VOL == 10.0


def test_broadcasts_a_smile_grid_and_accepts_scalars() -> None:
    strikes = np.linspace(23_000.0, 25_000.0, 9)[:, None]  # (9, 1)
    expiries = np.array([7 / 365, 14 / 365, 30 / 365])  # (3,)
    sigma = 0.12 + 0.2 * np.log(strikes / 24_000.0) ** 2 + 0.0 * expiries  # (9, 3)
    values = price(24_000.0, strikes, expiries, rate=0.065, vol=sigma, is_call=False)
    vols, reasons = implied_vol_with_reasons(
        values, 24_000.0, strikes, expiries, rate=0.065, is_call=False
    )
    assert vols.shape == reasons.shape == (9, 3)
    assert (reasons == IvReason.OK).all()
    np.testing.assert_allclose(vols, sigma, rtol=1e-9)
    one, why = implied_vol_with_reasons(1.7011, 19.0, 19.0, 0.75, rate=0.1, is_call=True)
    assert one.shape == why.shape == ()
    assert float(one) == pytest.approx(0.28, abs=1e-4)


def test_vectorised_implied_vols_equal_element_wise_ones() -> None:
    rng = np.random.default_rng(2024)
    n = 10_000
    f = rng.uniform(1_000.0, 50_000.0, n)
    k = f * np.exp(rng.normal(0.0, 0.15, n))
    t = np.exp(rng.uniform(math.log(FIVE_MINUTES), math.log(1.0), n))
    sigma = rng.uniform(0.05, 1.5, n)
    call = rng.random(n) < 0.5
    values = price(f, k, t, rate=0.065, vol=sigma, is_call=call)
    # A tenth of the quotes are nonsense: they must come back NaN without disturbing the rest.
    bad = rng.random(n) < 0.1
    values = np.where(bad, -values - 1.0, values)
    vols, reasons = implied_vol_with_reasons(values, f, k, t, rate=0.065, is_call=call)
    assert (reasons[bad] == IvReason.BELOW_INTRINSIC).all()
    assert np.isnan(vols[bad]).all()
    undiscounted_vega = vega(f, k, t, rate=0.065, vol=sigma, is_call=call) * np.exp(0.065 * t)
    with np.errstate(all="ignore"):  # zero vega far from the money: no bound
        rounding_in_vol = 16 * EPS * np.maximum(f, k) / undiscounted_vega
    for i in rng.choice(n, 300, replace=False):
        one, why = implied_vol_with_reasons(
            float(values[i]),
            float(f[i]),
            float(k[i]),
            float(t[i]),
            rate=0.065,
            is_call=bool(call[i]),
        )
        assert str(why) == reasons[i]
        if why == IvReason.OK:
            assert float(one) == pytest.approx(float(vols[i]), rel=1e-12, abs=rounding_in_vol[i])
            assert float(one) == pytest.approx(sigma[i], rel=1e-10, abs=rounding_in_vol[i])
        else:
            assert np.isnan(one) and np.isnan(vols[i])
