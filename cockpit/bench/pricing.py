"""Benchmark of :mod:`cockpit.pricing`: implied volatility of 10,000 options, against
:func:`scipy.optimize.brentq` solving them one at a time in the same run, with the price and greeks
timings beside it. The options are an index-like book: forwards around 24,000, strikes within about
±15% of the forward, expiries from five minutes to a year, vols 8%-60%, calls and puts mixed. Each
time is the median of several runs of one vectorised call. Minutes from expiry, a strike a few
percent away is hundreds of standard deviations from the money: its time value underflows to zero
(or, in the money, is lost in the rounding of the intrinsic value) and its IV is NaN with "no time
value", as it should be. The baseline is the textbook loop — ``brentq`` on a scalar Black-76 written
with :func:`math.erfc`, the fastest per-option pricer plain Python has — over the options that have
an implied vol; it is timed on a random subset of them and scaled to all.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq  # type: ignore[import-untyped]  # scipy ships no stubs

from cockpit.bench.figure import Figure, median_seconds
from cockpit.pricing import greeks, implied_vol, implied_vol_with_reasons, price

FIVE_MINUTES = 5 / (365 * 24 * 60)
RATE = 0.065
OPTIONS = 10_000
TARGET_MS = 20.0
TARGET_RATIO = 50.0
_SQRT_HALF = math.sqrt(0.5)


def book(n: int, seed: int = 1) -> dict[str, npt.NDArray[Any]]:
    """``n`` options: forward, strike, years, vol and is_call arrays."""
    rng = np.random.default_rng(seed)
    forward = 24_000.0 * np.exp(rng.normal(0.0, 0.02, n))
    strike = np.round(forward * np.exp(rng.normal(0.0, 0.07, n)) / 50.0) * 50.0
    years = np.exp(rng.uniform(np.log(FIVE_MINUTES), 0.0, n))
    vol = rng.uniform(0.08, 0.60, n)
    is_call = rng.random(n) < 0.5
    return {"forward": forward, "strike": strike, "years": years, "vol": vol, "is_call": is_call}


def _scalar_price(f: float, k: float, t: float, vol: float, call: bool) -> float:
    sd = vol * math.sqrt(t)
    d1 = math.log(f / k) / sd + 0.5 * sd
    d2 = d1 - sd
    discount = math.exp(-RATE * t)
    if call:
        return discount * (
            f * 0.5 * math.erfc(-d1 * _SQRT_HALF) - k * 0.5 * math.erfc(-d2 * _SQRT_HALF)
        )
    return discount * (k * 0.5 * math.erfc(d2 * _SQRT_HALF) - f * 0.5 * math.erfc(d1 * _SQRT_HALF))


def _brentq_vol(premium: float, f: float, k: float, t: float, call: bool) -> float:
    return float(
        brentq(lambda vol: _scalar_price(f, k, t, vol, call) - premium, 1e-6, 10.0, maxiter=200)
    )


def run(quick: bool) -> list[Figure]:
    repeats = 5 if quick else 21
    b = book(OPTIONS)
    f, k, t, v, c = b["forward"], b["strike"], b["years"], b["vol"], b["is_call"]
    premiums = price(f, k, t, rate=RATE, vol=v, is_call=c)
    iv_s = median_seconds(lambda: implied_vol(premiums, f, k, t, rate=RATE, is_call=c), repeats)
    vols, reasons = implied_vol_with_reasons(premiums, f, k, t, rate=RATE, is_call=c)
    solvable = np.flatnonzero(reasons == "")

    rng = np.random.default_rng(7)
    subset = rng.choice(solvable, size=min(solvable.size, 200 if quick else 1_000), replace=False)
    started = time.perf_counter()
    found = [
        _brentq_vol(float(premiums[i]), float(f[i]), float(k[i]), float(t[i]), bool(c[i]))
        for i in subset
    ]
    brentq_s = (time.perf_counter() - started) * solvable.size / subset.size
    disagreement = float(np.max(np.abs(np.array(found) - vols[subset]) / vols[subset]))
    ratio = brentq_s / iv_s

    price_s = median_seconds(lambda: price(f, k, t, rate=RATE, vol=v, is_call=c), repeats)
    greeks_s = median_seconds(lambda: greeks(f, k, t, rate=RATE, vol=v, is_call=c), repeats)
    labels, counts = np.unique(reasons, return_counts=True)
    outcome = ", ".join(
        f"{label or 'solved'} {count:,}" for label, count in zip(labels, counts, strict=True)
    )
    context = (
        f"median of {repeats} runs; {outcome}; price {price_s * 1e3:.2f} ms, "
        f"greeks {greeks_s * 1e3:.2f} ms for the same {OPTIONS:,}"
    )
    return [
        Figure(
            "implied vol, 10,000 options",
            iv_s * 1e3,
            "ms",
            f"< {TARGET_MS:g} ms",
            iv_s * 1e3 < TARGET_MS,
            context,
        ),
        Figure(
            "implied vol vs brentq per option",
            ratio,
            "×",
            f"≥ {TARGET_RATIO:g}×",
            ratio >= TARGET_RATIO,
            f"brentq (scalar Black-76 on math.erfc, default tolerances) timed on {subset.size:,} "
            f"of the {solvable.size:,} options with an IV and scaled to all: "
            f"{brentq_s * 1e3:,.0f} ms; largest relative difference of the two vols "
            f"{disagreement:.1e}",
        ),
    ]


__all__ = ["OPTIONS", "book", "run"]
