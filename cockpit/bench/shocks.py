"""Benchmark of :mod:`cockpit.risk.shocks`: a 100-leg × 21 price × 14 IV × 3 widening shock grid,
against a naive per-cell loop in the same run. The book is 100 distinct contracts: 20 NIFTY iron
condors (lot 75, spot 24,000, three expiries a week to five weeks out), 4 BANKNIFTY iron condors
(lot 30, spot 54,000) and 4 futures, with a smile of implied vols and quotes a tick or 1% wide
around the model value. The grid figure is the median wall time of ``shock_grid`` (P&L and the
SPAN-like margin of every cell: 294 margin states × 16 scenarios × 100 legs ≈ 470,000 Black-76
revaluations). The naive loop prices every cell, leg and margin scenario one scalar
``cockpit.pricing.price`` call at a time in Python; it is timed on a few (IV, price) cells (all
three widenings each) and scaled to the 294 cells. A third figure in the detail, the per-cell loop,
calls the vectorised margin estimate and pricing once per (IV, price) cell over all 294 cells.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import numpy as np

from cockpit import pricing
from cockpit.bench.figure import Figure, median_seconds
from cockpit.clock import IST
from cockpit.domain.money import Paise
from cockpit.risk.margin import (
    DEFAULT_PARAMETERS,
    MIN_VOL,
    MIN_YEARS,
    SCENARIOS,
    MarginLegs,
    MarketState,
    estimate_margin_arrays,
)
from cockpit.risk.shocks import DEFAULT_AXES, ShockLeg, shock_grid

NOW = datetime(2026, 1, 13, 10, 0, tzinfo=IST)
FUNDS = Paise(5_000_000_00)  # ₹50 lakh
TARGET_MS = 15.0
TARGET_RATIO = 100.0
_YEAR_SECONDS = 365.0 * 24 * 3600


def _leg(
    token: int,
    underlying: str,
    spot: float,
    lot: int,
    days: int,
    strike: float | None,
    is_call: bool,
    lots: int,
) -> ShockLeg:
    expiry = datetime.combine((NOW + timedelta(days=days)).date(), NOW.time(), tzinfo=IST)
    expiry = expiry.replace(hour=15, minute=30)
    years = (expiry - NOW).total_seconds() / _YEAR_SECONDS
    forward = spot * 100
    if strike is None:
        value, vol = forward, 0.0
    else:
        vol = 0.12 + 1.5 * np.log(strike / spot) ** 2 + (0.02 if underlying != "NIFTY" else 0.0)
        value = float(
            pricing.price(forward, strike * 100, years, rate=0.0, vol=vol, is_call=is_call)
        )
    half = max(5, 5 * round(value * 0.005 / 5))
    mid = 5 * round(value / 5)
    return ShockLeg(
        instrument_token=token,
        underlying=underlying,
        expiry=expiry,
        quantity=lots * lot,
        lot_size=lot,
        bid=Paise(max(0, mid - half)),
        ask=Paise(mid + half),
        mark=Paise(mid),
        forward=Paise(round(forward)),
        spot=Paise(round(forward)),
        vol=vol,
        strike=None if strike is None else Paise(round(strike * 100)),
        is_call=is_call,
    )


def book() -> list[ShockLeg]:
    """The 100-leg benchmark portfolio (distinct contracts)."""
    legs: list[ShockLeg] = []

    def condor(underlying: str, spot: float, lot: int, days: int, inner: int, width: int) -> None:
        for strike, call, side in (
            (spot - inner, False, -1),
            (spot - inner - width, False, 1),
            (spot + inner, True, -1),
            (spot + inner + width, True, 1),
        ):
            legs.append(_leg(len(legs) + 1, underlying, spot, lot, days, strike, call, 2 * side))

    for n in range(20):
        condor("NIFTY", 24_000, 75, (7, 14, 35)[n % 3], 150 + 50 * (n // 3), 100 + 50 * (n % 2))
    for n in range(4):
        condor("BANKNIFTY", 54_000, 30, (35, 63)[n % 2], 500 + 300 * n, 200)
    for days in (35, 63):
        legs.append(_leg(len(legs) + 1, "NIFTY", 24_000, 75, days, None, False, -1))
        legs.append(_leg(len(legs) + 1, "BANKNIFTY", 54_000, 30, days, None, False, 1))
    return legs


def _scalar_value(leg: ShockLeg, forward: float, vol: float, years: float) -> float:
    if leg.strike is None:
        return forward
    return float(
        pricing.price(
            forward, leg.strike, years, rate=0.0, vol=max(vol, MIN_VOL), is_call=leg.is_call
        )
    )


def naive_cell(legs: list[ShockLeg], price: float, iv: float) -> tuple[list[float], float]:
    """One (IV, price) cell the slow way: P&L for each widening and the margin, one scalar
    pricing call per leg and per SPAN scenario."""
    p = DEFAULT_PARAMETERS
    pnl = [0.0 for _ in DEFAULT_AXES.widening]
    value_now: dict[str, float] = {}
    scenario_value: dict[str, list[float]] = {}
    exposure = 0.0
    for leg in legs:
        years = max((leg.expiry - NOW).total_seconds() / _YEAR_SECONDS, MIN_YEARS)
        fwd, vol = leg.forward * (1 + price), leg.vol * (1 + iv)
        now = _scalar_value(leg, leg.forward, leg.vol, years)
        shocked = _scalar_value(leg, fwd, vol, years)
        mid = max(leg.mark + shocked - now, 0.0)
        half = (leg.ask - leg.bid) / 2
        for w_i, w in enumerate(DEFAULT_AXES.widening):
            exit_price = max(mid - w * half if leg.quantity > 0 else mid + w * half, 0.0)
            pnl[w_i] += leg.quantity * (exit_price - leg.mark)
        psr, vsr = p.psr(leg.underlying), max(p.vsr_fraction * vol, p.index_vsr_floor)
        value_now[leg.underlying] = value_now.get(leg.underlying, 0.0) + leg.quantity * shocked
        values = scenario_value.setdefault(leg.underlying, [0.0] * len(SCENARIOS))
        for s, (move, vol_move, _) in enumerate(SCENARIOS):
            scenario = _scalar_value(leg, fwd * (1 + move * psr), vol + vol_move * vsr, years)
            values[s] += leg.quantity * scenario
        if leg.strike is None or leg.quantity < 0:
            exposure += p.index_elm * abs(leg.quantity) * leg.spot * (1 + price)
    span = 0.0
    for u, values in scenario_value.items():
        weighted = [w * (value_now[u] - v) for v, (_, _, w) in zip(values, SCENARIOS, strict=True)]
        span += max(0.0, *weighted)
    return pnl, span + exposure


def per_cell_vectorised(legs: list[ShockLeg]) -> None:
    """Every (IV, price) cell in a Python loop, each one vectorised over legs."""
    n = len(legs)
    margin_legs = MarginLegs(
        underlying=tuple(leg.underlying for leg in legs),
        quantity=np.array([leg.quantity for leg in legs], dtype=np.float64),
        is_option=np.array([leg.is_option for leg in legs]),
        is_call=np.array([leg.is_call for leg in legs]),
        strike=np.array([leg.strike or 0 for leg in legs], dtype=np.float64),
        years=np.array([(leg.expiry - NOW).total_seconds() / _YEAR_SECONDS for leg in legs]),
        expiry=np.array([leg.expiry.toordinal() for leg in legs], dtype=np.int64),
        expires_today=np.zeros(n, dtype=np.bool_),
    )
    forward = np.array([leg.forward for leg in legs], dtype=np.float64)
    vol = np.array([leg.vol for leg in legs])
    for iv in DEFAULT_AXES.iv:
        for price in DEFAULT_AXES.price:
            state = MarketState(forward * (1 + price), forward * (1 + price), vol * (1 + iv))
            estimate_margin_arrays(margin_legs, state)


def run(quick: bool) -> list[Figure]:
    legs = book()
    repeats = 7 if quick else 31
    grid_s = median_seconds(lambda: shock_grid(legs, funds=FUNDS, now=NOW), repeats)
    sample = [(0.3, -0.03), (1.0, 0.1)]
    if not quick:
        sample += [(-0.3, 0.0), (0.5, -0.1)]
    started = time.perf_counter()
    for iv, price in sample:
        naive_cell(legs, price, iv)
    cells = len(DEFAULT_AXES.iv) * len(DEFAULT_AXES.price)
    naive_s = (time.perf_counter() - started) * cells / len(sample)
    per_cell_s = median_seconds(lambda: per_cell_vectorised(legs), 1 if quick else 3)
    ratio = naive_s / grid_s
    return [
        Figure(
            "shock grid, 100 legs × 21 × 14 × 3",
            grid_s * 1e3,
            "ms",
            f"median < {TARGET_MS:g} ms",
            grid_s * 1e3 < TARGET_MS,
            f"median of {repeats} runs of shock_grid: P&L of {len(DEFAULT_AXES.widening) * cells} "
            f"cells and the margin of {cells} states × {len(SCENARIOS)} SPAN scenarios",
        ),
        Figure(
            "shock grid vs naive per-cell loop",
            ratio,
            "×",
            f"≥ {TARGET_RATIO:g}×",
            ratio >= TARGET_RATIO,
            f"naive loop (one scalar price call per leg and SPAN scenario) timed on "
            f"{len(sample)} of {cells} (IV, price) cells and scaled: {naive_s * 1e3:,.0f} ms; "
            f"per-cell loop vectorised over legs {per_cell_s * 1e3:,.1f} ms "
            f"= {per_cell_s / grid_s:.1f}× the grid",
        ),
    ]


__all__ = ["FUNDS", "NOW", "book", "naive_cell", "per_cell_vectorised", "run"]
