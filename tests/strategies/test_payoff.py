"""The payoff chart's numbers: expiry P&L by hand at a few prices, today's P&L tending to it as
expiry nears, and the grid around the forward."""

from __future__ import annotations

import numpy as np
import pytest

from cockpit.strategies import SpreadPlan
from cockpit.strategies.payoff import PayoffLeg, expiry_payoff, legs_of, price_grid, today_pnl
from tests.strategies.test_spreads import bull_put, condor


@pytest.fixture
def plan() -> SpreadPlan:
    return bull_put()  # 25,800/25,600 PE, ₹40 credit, 130 units


def test_legs_of_signs_quantities_and_premiums(plan: SpreadPlan) -> None:
    assert legs_of(plan) == [
        PayoffLeg(25600.0, "PE", 130, 40.0),
        PayoffLeg(25800.0, "PE", -130, 80.0),
    ]


def test_bull_put_expiry_payoff_by_hand(plan: SpreadPlan) -> None:
    prices = np.array([25000.0, 25600.0, 25700.0, 25760.0, 25800.0, 26500.0])
    pnl = expiry_payoff(legs_of(plan), prices)
    credit, max_loss = plan.credit_mid / 100, plan.max_loss / 100
    assert pnl == pytest.approx([-max_loss, -max_loss, -60 * 130, 0.0, credit, credit])
    assert credit == 5200 and max_loss == 20800


def test_condor_expiry_payoff_loses_most_on_the_wider_side() -> None:
    plan = condor()
    legs = legs_of(plan)
    pnl = expiry_payoff(legs, np.array([25000.0, 25540.0, 25900.0, 26260.0, 27000.0]))
    assert pnl == pytest.approx([-(200 - 60) * 65, 0, 60 * 65, 0, -(300 - 60) * 65])
    grid = price_grid(plan)
    assert expiry_payoff(legs, grid).min() == pytest.approx(-plan.max_loss / 100)
    assert expiry_payoff(legs, grid).max() == pytest.approx(plan.max_profit / 100)


def test_today_pnl_tends_to_the_expiry_payoff(plan: SpreadPlan) -> None:
    legs = legs_of(plan)
    grid = price_grid(plan)
    at_expiry = expiry_payoff(legs, grid)
    errors = [
        float(np.max(np.abs(today_pnl(legs, grid, years, 0.065, 0.15) - at_expiry)))
        for years in (0.05, 0.01, 1e-4, 1e-9)
    ]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1.0  # under a rupee on a ₹20,800 risk
    # Before expiry the spread is worth less than its extremes: the P&L stays inside them.
    now = today_pnl(legs, grid, 0.05, 0.065, np.array([0.16, 0.15]))
    assert np.all(now <= plan.max_profit / 100) and np.all(now >= -plan.max_loss / 100)


def test_today_pnl_at_the_plan_prices_is_zero_when_the_model_agrees() -> None:
    leg = PayoffLeg(100.0, "CE", 1, 0.0)
    from cockpit.pricing import price

    value = float(price(100.0, 100.0, 0.2, rate=0.0, vol=0.2, is_call=True))
    paid = PayoffLeg(100.0, "CE", 1, value)
    assert today_pnl([paid], [100.0], 0.2, 0.0, 0.2) == pytest.approx([0.0], abs=1e-12)
    assert today_pnl([leg], [100.0], 0.2, 0.0, 0.2) == pytest.approx([3.5670], abs=1e-4)


def test_price_grid_is_centred_on_the_forward_and_holds_every_strike(plan: SpreadPlan) -> None:
    grid = price_grid(plan, points=101, span=0.05)
    assert grid.size == 101 and np.all(np.diff(grid) > 0)
    assert grid[50] == pytest.approx(25950.0)
    assert grid[0] == pytest.approx(25950 * 0.95) and grid[-1] == pytest.approx(25950 * 1.05)
    narrow = price_grid(plan, span=0.001)
    assert narrow[0] <= 25600 and narrow[-1] >= 25800
