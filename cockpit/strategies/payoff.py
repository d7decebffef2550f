"""Payoff of a planned spread over a grid of underlying prices, for the payoff chart: P&L at
expiry (intrinsic value less premium) and today's theoretical P&L (Black-76 on each grid price
taken as the forward, with the volatility given per leg), both in rupees for the legs' signed
quantities and vectorised with numpy, one array operation per leg. Premiums are what the plan
used (the mid, or the last price when there was no two-sided quote): paid for a long, received
for a short. Floats are fine here because these are chart values, never order prices. No Qt,
no asyncio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cockpit.pricing import price
from cockpit.strategies.spreads import SpreadPlan

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PayoffLeg:
    """One leg for the payoff: ``strike`` rupees, ``right`` ``"CE"``/``"PE"``, ``quantity``
    signed units (+ long, − short), ``premium`` rupees per unit as entered."""

    strike: float
    right: str
    quantity: int
    premium: float


def legs_of(plan: SpreadPlan) -> list[PayoffLeg]:
    """The plan's legs with their signed quantities and the premiums the plan used."""
    legs: list[PayoffLeg] = []
    for leg in plan.legs:
        spec = leg.spec
        premium = float(leg.mid) / 100 if leg.mid is not None else 0.0
        legs.append(PayoffLeg(float(spec.strike), spec.right, spec.signed_quantity, premium))
    return legs


def price_grid(plan: SpreadPlan, points: int = 401, span: float = 0.08) -> FloatArray:
    """``points`` prices in rupees from ``span`` below to ``span`` above the forward (spot, or
    the middle of the strikes, if there is no forward), widened to keep every strike inside."""
    strikes = [float(leg.spec.strike) for leg in plan.legs]
    reference = plan.forward if plan.forward is not None else plan.spot
    centre = float(reference) / 100 if reference is not None else (min(strikes) + max(strikes)) / 2
    low = min(centre * (1 - span), min(strikes) * 0.99)
    high = max(centre * (1 + span), max(strikes) * 1.01)
    return np.linspace(low, high, points, dtype=np.float64)


def expiry_payoff(legs: Sequence[PayoffLeg], prices: npt.ArrayLike) -> FloatArray:
    """P&L in rupees at expiry at each price: Σ quantity × (intrinsic − premium)."""
    grid = np.asarray(prices, dtype=np.float64)
    total = np.zeros_like(grid)
    for leg in legs:
        intrinsic = (
            np.maximum(grid - leg.strike, 0.0)
            if leg.right == "CE"
            else np.maximum(leg.strike - grid, 0.0)
        )
        total += leg.quantity * (intrinsic - leg.premium)
    return total


def today_pnl(
    legs: Sequence[PayoffLeg],
    prices: npt.ArrayLike,
    years: float,
    rate: float,
    vols: npt.ArrayLike | float,
) -> FloatArray:
    """Theoretical P&L in rupees now at each price taken as the forward: Σ quantity ×
    (Black-76 value − premium). ``vols`` is one volatility for every leg or one per leg."""
    grid = np.asarray(prices, dtype=np.float64)
    sigma = np.broadcast_to(np.asarray(vols, dtype=np.float64), (len(legs),))
    total = np.zeros_like(grid)
    for leg, vol in zip(legs, sigma, strict=True):
        value = price(grid, leg.strike, years, rate=rate, vol=float(vol), is_call=leg.right == "CE")
        total += leg.quantity * (np.asarray(value, dtype=np.float64) - leg.premium)
    return total


__all__ = ["PayoffLeg", "expiry_payoff", "legs_of", "price_grid", "today_pnl"]
