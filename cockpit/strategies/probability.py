"""Probabilities of where the underlying ends at expiry, read from the option chain's own
implied distribution. The model is Black-76's risk-neutral lognormal: ``ln S_T`` is normal with
mean ``ln F − σ²T/2`` and variance ``σ²T``, so ``P(S_T > K) = N(d2)`` with
``d2 = (ln(F/K) − σ²T/2)/(σ√T)``. The volatility for a level is the chain's implied
volatility interpolated at that strike (:func:`iv_at`: linear in strike between listed
strikes, each strike's out-of-the-money option preferred — the put below the forward, the call
above — and flat beyond the last quoted strike), which is how a trader reads "the market's
probability" off a smile. Its limits, stated so nobody mistakes it for a forecast: it is a
risk-neutral probability (no drift or risk premium, so it understates the chance of a short
option expiring worthless when implied vol trades above realised), taking a single σ per level
is not a consistent density across levels (a condor's two breakevens use two different
lognormals, and the difference is floored at zero), the fat tails the skew implies between
strikes are only approximated, and for a level outside the quoted strikes the edge volatility
is assumed. Pure functions of floats and a :class:`~cockpit.marketdata.chain.ChainView`;
no Qt, no asyncio.
"""

from __future__ import annotations

import math

import numpy as np

from cockpit.marketdata.chain import ChainView
from cockpit.pricing.black76 import normal_cdf


def _d2(level: float, forward: float, years: float, vol: float) -> float:
    if level <= 0 or forward <= 0 or years < 0 or vol < 0:
        raise ValueError(
            f"probability needs level, forward > 0 and years, vol ≥ 0; got level {level}, "
            f"forward {forward}, years {years}, vol {vol}"
        )
    sd = vol * math.sqrt(years)
    if sd < 1e-12:
        # No uncertainty left: the underlying ends at the forward.
        return math.inf if forward > level else -math.inf
    return (math.log(forward / level) - 0.5 * sd * sd) / sd


def prob_above(level: float, forward: float, years: float, vol: float) -> float:
    """Risk-neutral ``P(S_T > level)`` under a lognormal with forward ``forward`` and
    volatility ``vol`` over ``years`` (``N(d2)``)."""
    return float(normal_cdf(np.array(_d2(level, forward, years, vol))))


def prob_below(level: float, forward: float, years: float, vol: float) -> float:
    """Risk-neutral ``P(S_T < level)`` (``N(−d2)``)."""
    return float(normal_cdf(np.array(-_d2(level, forward, years, vol))))


def prob_between(
    low: float, high: float, forward: float, years: float, vol_low: float, vol_high: float
) -> float:
    """``P(low < S_T < high)``, each bound priced with its own volatility (see the module
    docstring for why that is an approximation); never below zero."""
    if high <= low:
        return 0.0
    inside = prob_above(low, forward, years, vol_low) - prob_above(high, forward, years, vol_high)
    return max(inside, 0.0)


def smile(view: ChainView) -> tuple[np.ndarray, np.ndarray]:
    """The chain's implied volatilities by strike (rupees, ascending), one per strike that has
    one: the out-of-the-money side's (put below the forward, call at or above it), else the
    other side's."""
    reference = view.forward if view.forward is not None else view.spot
    forward = float(reference) / 100 if reference is not None else None
    strikes: list[float] = []
    vols: list[float] = []
    for row in view.rows:
        strike = float(row.strike)
        put_iv = row.put.iv if row.put is not None else None
        call_iv = row.call.iv if row.call is not None else None
        otm, itm = (
            (put_iv, call_iv) if forward is not None and strike < forward else (call_iv, put_iv)
        )
        vol = otm if otm is not None else itm
        if vol is not None and math.isfinite(vol) and vol > 0:
            strikes.append(strike)
            vols.append(vol)
    return np.array(strikes, dtype=np.float64), np.array(vols, dtype=np.float64)


def iv_at(view: ChainView, strike: float) -> float | None:
    """The chain's implied volatility at ``strike`` rupees: linear between listed strikes,
    flat beyond the quoted ends; None when no strike has an implied volatility."""
    strikes, vols = smile(view)
    if strikes.size == 0:
        return None
    return float(np.interp(strike, strikes, vols))


__all__ = ["iv_at", "prob_above", "prob_below", "prob_between", "smile"]
