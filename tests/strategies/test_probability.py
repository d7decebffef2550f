"""The lognormal probabilities behind a spread's POP: hand values, identities, a Monte-Carlo
check, and the chain's smile read at a strike."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cockpit.strategies.probability import iv_at, prob_above, prob_below, prob_between, smile
from tests.strategies import Q, make_world


def test_hand_value_at_the_forward() -> None:
    # F = K = 100, σ = 20%, T = 1: d2 = −σ√T/2 = −0.1, N(−0.1) = 0.460172
    assert prob_above(100, 100, 1.0, 0.2) == pytest.approx(0.4601722, abs=1e-6)
    assert prob_below(100, 100, 1.0, 0.2) == pytest.approx(0.5398278, abs=1e-6)


def test_monte_carlo_agrees() -> None:
    forward, years, vol = 25950.0, 27 / 365, 0.15
    z = np.random.default_rng(7).standard_normal(200_000)
    terminal = forward * np.exp(-0.5 * vol**2 * years + vol * math.sqrt(years) * z)
    for level in (25000.0, 25760.0, 26300.0):
        assert prob_above(level, forward, years, vol) == pytest.approx(
            float(np.mean(terminal > level)), abs=0.01
        )
    inside = float(np.mean((terminal > 25500) & (terminal < 26400)))
    assert prob_between(25500, 26400, forward, years, vol, vol) == pytest.approx(inside, abs=0.01)


def test_no_time_or_no_vol_leaves_the_forward() -> None:
    assert prob_above(99, 100, 0.0, 0.2) == 1.0
    assert prob_above(101, 100, 0.5, 0.0) == 0.0
    assert prob_between(101, 99, 100, 1.0, 0.2, 0.2) == 0.0


def test_nonsense_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="forward"):
        prob_above(100, 0, 1.0, 0.2)
    with pytest.raises(ValueError, match="vol"):
        prob_above(100, 100, 1.0, -0.2)


@given(
    level=st.floats(1, 1e6),
    forward=st.floats(1, 1e6),
    years=st.floats(1e-4, 3),
    vol=st.floats(0.01, 2),
)
def test_above_and_below_are_complementary_probabilities(
    level: float, forward: float, years: float, vol: float
) -> None:
    above, below = prob_above(level, forward, years, vol), prob_below(level, forward, years, vol)
    assert 0 <= above <= 1 and 0 <= below <= 1
    assert above + below == pytest.approx(1.0, abs=1e-12)
    assert prob_above(level * 1.01, forward, years, vol) <= above


def test_smile_takes_the_out_of_the_money_side_and_interpolates() -> None:
    quotes = {
        (25800, "PE"): Q(iv=0.17),
        (25800, "CE"): Q(iv=0.99),  # in the money below the forward: ignored
        (25900, "PE"): Q(iv=0.16),
        (26000, "CE"): Q(iv=0.14),
        (26000, "PE"): Q(iv=0.99),
    }
    _, view = make_world(quotes, strikes=(25800, 25900, 26000))  # forward 25,950
    strikes, vols = smile(view)
    assert strikes.tolist() == [25800, 25900, 26000]
    assert vols.tolist() == [0.17, 0.16, 0.14]
    assert iv_at(view, 25850) == pytest.approx(0.165)
    assert iv_at(view, 25000) == pytest.approx(0.17)  # flat beyond the ends
    assert iv_at(view, 27000) == pytest.approx(0.14)


def test_no_implied_volatility_gives_none() -> None:
    _, view = make_world({}, strikes=(25800, 25900), iv=lambda k: math.nan)
    assert iv_at(view, 25850) is None
