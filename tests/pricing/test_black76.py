"""Black-76 prices and greeks: published values, derivatives, limits at expiry, parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.pricing import delta, gamma, greeks, price, rho, theta, vega

# Forward and strike over seven orders of magnitude (a rupee to NIFTY in paise).
forwards = st.floats(1.0, 1e7)
log_moneyness = st.floats(-3.0, 3.0)
years = st.floats(0.0, 2.0)
vols = st.floats(0.0, 3.0)
rates = st.floats(-0.05, 0.20)


def test_haug_black76_example_call_equals_put_1_7011() -> None:
    # Haug, "The Complete Guide to Option Pricing Formulas", Black-76 example: at the money
    # the call and the put are worth the same.
    call = price(19.0, 19.0, 0.75, rate=0.10, vol=0.28, is_call=True)
    put = price(19.0, 19.0, 0.75, rate=0.10, vol=0.28, is_call=False)
    assert round(float(call), 4) == 1.7011
    assert round(float(put), 4) == 1.7011


def test_hand_computed_at_the_money_value_and_greeks() -> None:
    # At the money d1 = σ√T/2, d2 = −σ√T/2: everything follows from N(±0.1) and φ(0.1).
    f, t, r, sigma = 100.0, 1.0, 0.05, 0.2
    disc = math.exp(-r * t)
    n = 0.5 * (1 + math.erf(0.1 / math.sqrt(2)))
    pdf = math.exp(-0.005) / math.sqrt(2 * math.pi)
    call_value = disc * f * (2 * n - 1)
    g = greeks(f, f, t, rate=r, vol=sigma, is_call=True)
    assert float(g.price) == pytest.approx(call_value, rel=1e-14)
    assert float(g.price) == pytest.approx(7.577082, abs=1e-6)
    assert float(g.delta) == pytest.approx(disc * n, rel=1e-14)
    assert float(g.gamma) == pytest.approx(disc * pdf / (f * sigma), rel=1e-14)
    assert float(g.vega) == pytest.approx(disc * f * pdf, rel=1e-14)
    assert float(g.theta) == pytest.approx(r * call_value - disc * f * pdf * sigma / 2, rel=1e-13)
    assert float(g.rho) == pytest.approx(-t * call_value, rel=1e-14)


@pytest.mark.parametrize(
    ("f", "k", "t", "r", "sigma", "call"),
    [
        (100.0, 100.0, 0.5, 0.05, 0.25, True),
        (100.0, 120.0, 0.1, 0.03, 0.40, True),
        (100.0, 80.0, 1.5, 0.07, 0.15, False),
        (24_000.0, 23_500.0, 3 / 365, 0.065, 0.14, False),
        (24_000.0, 24_600.0, 1 / 365, 0.065, 0.18, True),
    ],
)
def test_greeks_match_finite_differences_of_price(
    f: float, k: float, t: float, r: float, sigma: float, call: bool
) -> None:
    def v(**bump: float) -> float:
        args = {"f": f, "t": t, "r": r, "sigma": sigma} | bump
        return float(
            price(args["f"], k, args["t"], rate=args["r"], vol=args["sigma"], is_call=call)
        )

    g = greeks(f, k, t, rate=r, vol=sigma, is_call=call)
    # Steps small against one standard deviation of the forward, so O(h²) errors stay tiny.
    hf, hs, ht, hr = 1e-4 * f * sigma * math.sqrt(t), 1e-5, 1e-5 * t, 1e-6
    assert float(g.delta) == pytest.approx((v(f=f + hf) - v(f=f - hf)) / (2 * hf), rel=1e-6)
    assert float(g.gamma) == pytest.approx(
        (v(f=f + hf) - 2 * v() + v(f=f - hf)) / (hf * hf), rel=1e-4
    )
    assert float(g.vega) == pytest.approx(
        (v(sigma=sigma + hs) - v(sigma=sigma - hs)) / (2 * hs), rel=1e-6
    )
    # Theta is −∂V/∂T per year: time passing shortens T.
    assert float(g.theta) == pytest.approx(-(v(t=t + ht) - v(t=t - ht)) / (2 * ht), rel=1e-5)
    assert float(g.rho) == pytest.approx((v(r=r + hr) - v(r=r - hr)) / (2 * hr), rel=1e-6)


def test_greeks_match_the_single_greek_functions() -> None:
    rng = np.random.default_rng(7)
    f = rng.uniform(50, 150, 1000)
    k = rng.uniform(50, 150, 1000)
    t = rng.uniform(0, 2, 1000)
    sigma = rng.uniform(0, 1, 1000)
    call = rng.random(1000) < 0.5
    g = greeks(f, k, t, rate=0.06, vol=sigma, is_call=call)
    for name, fn in [
        ("price", price),
        ("delta", delta),
        ("gamma", gamma),
        ("vega", vega),
        ("theta", theta),
        ("rho", rho),
    ]:
        np.testing.assert_array_equal(
            getattr(g, name), fn(f, k, t, rate=0.06, vol=sigma, is_call=call)
        )


@settings(max_examples=300, deadline=None)
@given(f=forwards, x=log_moneyness, t=years, sigma=vols, r=rates)
def test_put_call_parity(f: float, x: float, t: float, sigma: float, r: float) -> None:
    k = f * math.exp(x)
    call = float(price(f, k, t, rate=r, vol=sigma, is_call=True))
    put = float(price(f, k, t, rate=r, vol=sigma, is_call=False))
    assert call - put == pytest.approx(math.exp(-r * t) * (f - k), abs=1e-12 * max(f, k))


@settings(max_examples=300, deadline=None)
@given(f=forwards, x=log_moneyness, t=st.floats(1e-6, 2.0), sigma=st.floats(0.01, 3.0))
def test_signs_and_bounds_of_price_and_greeks(f: float, x: float, t: float, sigma: float) -> None:
    k = f * math.exp(x)
    r = 0.0  # with r = 0 theta is pure decay: never positive
    for call in (True, False):
        g = greeks(f, k, t, rate=r, vol=sigma, is_call=call)
        intrinsic = max(f - k, 0.0) if call else max(k - f, 0.0)
        assert intrinsic <= float(g.price) <= (f if call else k)
        assert (0.0 <= float(g.delta) <= 1.0) if call else (-1.0 <= float(g.delta) <= 0.0)
        assert float(g.gamma) >= 0.0
        assert float(g.vega) >= 0.0
        assert float(g.theta) <= 0.0


@pytest.mark.filterwarnings("error")
def test_at_expiry_price_is_intrinsic_and_greeks_take_finite_limits() -> None:
    f = np.array([110.0, 90.0, 100.0, 110.0, 90.0, 100.0])
    call = np.array([True, True, True, False, False, False])
    g = greeks(f, 100.0, 0.0, rate=0.07, vol=0.3, is_call=call)
    np.testing.assert_array_equal(g.price, [10.0, 0.0, 0.0, 0.0, 10.0, 0.0])
    np.testing.assert_array_equal(g.delta, [1.0, 0.0, 0.5, 0.0, -1.0, -0.5])
    np.testing.assert_array_equal(g.gamma, np.zeros(6))
    np.testing.assert_array_equal(g.vega, np.zeros(6))
    # −∂V/∂T of e^{−rT}·intrinsic is r·intrinsic.
    np.testing.assert_allclose(g.theta, 0.07 * g.price)
    np.testing.assert_array_equal(g.rho, np.zeros(6))


@pytest.mark.filterwarnings("error")
def test_zero_vol_is_discounted_intrinsic_and_tiny_time_stays_finite() -> None:
    disc = math.exp(-0.05 * 0.5)
    zero_vol = price([120.0, 80.0], 100.0, 0.5, rate=0.05, vol=0.0, is_call=True)
    np.testing.assert_allclose(zero_vol, [20.0 * disc, 0.0], rtol=1e-15)
    # A second before expiry, at the money: large but finite gamma and theta.
    second = 1.0 / (365 * 86_400)
    g = greeks(
        100.0, [100.0, 100.0, 100.0], [second, 1e-300, 0.0], rate=0.05, vol=0.2, is_call=True
    )
    for values in (g.price, g.delta, g.gamma, g.vega, g.theta, g.rho):
        assert np.all(np.isfinite(values))
    assert float(g.price[0]) == pytest.approx(
        100.0 * 0.2 * math.sqrt(second) / math.sqrt(2 * math.pi), rel=1e-6
    )
    assert float(g.gamma[0]) > 1.0


@pytest.mark.filterwarnings("error")
def test_invalid_elements_are_nan_and_the_rest_are_priced() -> None:
    f = np.array([100.0, -1.0, 100.0, 100.0, 100.0, np.nan, 100.0])
    k = np.array([100.0, 100.0, 0.0, 100.0, 100.0, 100.0, 100.0])
    t = np.array([1.0, 1.0, 1.0, -0.1, 1.0, 1.0, 1.0])
    sigma = np.array([0.2, 0.2, 0.2, 0.2, -0.2, 0.2, 0.2])
    g = greeks(f, k, t, rate=0.0, vol=sigma, is_call=True)
    for values in (g.price, g.delta, g.gamma, g.vega, g.theta, g.rho):
        assert np.isnan(values[1:6]).all()
        assert np.isfinite(values[[0, 6]]).all()
    assert float(g.price[0]) == pytest.approx(7.965567455405804, rel=1e-14)


def test_broadcasts_over_shapes_and_accepts_scalars() -> None:
    strikes = np.linspace(90.0, 110.0, 5)[:, None]  # (5, 1)
    expiries = np.array([0.1, 0.5, 1.0])  # (3,)
    grid = price(100.0, strikes, expiries, rate=0.05, vol=0.2, is_call=True)
    assert grid.shape == (5, 3)
    assert float(grid[2, 1]) == float(price(100.0, 100.0, 0.5, rate=0.05, vol=0.2, is_call=True))
    scalar = price(100.0, 100.0, 0.5, rate=0.05, vol=0.2, is_call=np.True_)
    assert isinstance(scalar, np.ndarray)
    assert scalar.shape == ()
    g = greeks(100.0, strikes, expiries, rate=0.05, vol=0.2, is_call=np.array([True, False, True]))
    assert g.theta.shape == (5, 3)


def test_is_call_must_be_boolean() -> None:
    with pytest.raises(TypeError, match="is_call must be a bool"):
        price(100.0, 100.0, 0.5, rate=0.05, vol=0.2, is_call=np.array(["CE", "PE"]))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is_call must be a bool"):
        price(100.0, 100.0, 0.5, rate=0.05, vol=0.2, is_call=np.array([1, 0]))  # type: ignore[arg-type]


def test_vectorised_prices_equal_element_wise_prices() -> None:
    rng = np.random.default_rng(11)
    n = 10_000
    f = rng.uniform(1_000.0, 50_000.0, n)
    k = f * np.exp(rng.normal(0.0, 0.2, n))
    t = rng.uniform(0.0, 1.0, n)
    sigma = rng.uniform(0.05, 1.0, n)
    call = rng.random(n) < 0.5
    g = greeks(f, k, t, rate=0.065, vol=sigma, is_call=call)
    for i in rng.choice(n, 300, replace=False):
        one = greeks(f[i], k[i], t[i], rate=0.065, vol=sigma[i], is_call=bool(call[i]))
        for name in ("price", "delta", "gamma", "vega", "theta", "rho"):
            # numpy's SIMD loops may round exp/log a last bit differently from scalars.
            assert float(getattr(one, name)) == pytest.approx(
                float(getattr(g, name)[i]), rel=1e-13, abs=1e-300
            )
