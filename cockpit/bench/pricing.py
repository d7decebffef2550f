"""Benchmark of :mod:`cockpit.pricing`: implied volatility of 10,000 options, against
:func:`scipy.optimize.brentq` solving them one at a time in the same run, with the price and greeks
timings beside it. The options are an index-like book: forwards around 24,000, strikes within about
±15% of the forward, expiries from five minutes to a year, vols 8%-60%, calls and puts mixed; each
time is the median of several runs of one vectorised call. Minutes from expiry a strike a few
percent away is hundreds of standard deviations from the money: its time value underflows to zero
(or, in the money, is lost in the rounding of the intrinsic value) and its IV is NaN with "no time
value", as it should be. The baseline is what the vectorised solver replaces — ``brentq`` on the
package's own pricer (:func:`cockpit.pricing.price` called with scalars), one option at a time, over
the options that have an implied vol — timed on a random subset and scaled to all; the detail also
has ``brentq`` on a hand-written plain-Python Black-76 (:func:`math.erfc`), the fastest a per-option
loop gets, for scale.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
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


def _erfc_price(f: float, k: float, t: float, vol: float, call: bool) -> float:
    """Black-76 for one option in plain Python (:func:`math.erfc`), the textbook way."""
    sd = vol * math.sqrt(t)
    d1 = math.log(f / k) / sd + 0.5 * sd
    d2 = d1 - sd
    discount = math.exp(-RATE * t)
    if call:
        return discount * (
            f * 0.5 * math.erfc(-d1 * _SQRT_HALF) - k * 0.5 * math.erfc(-d2 * _SQRT_HALF)
        )
    return discount * (k * 0.5 * math.erfc(d2 * _SQRT_HALF) - f * 0.5 * math.erfc(d1 * _SQRT_HALF))


def _cockpit_price(f: float, k: float, t: float, vol: float, call: bool) -> float:
    """Black-76 for one option through :func:`cockpit.pricing.price`, the package's pricer."""
    return float(price(f, k, t, rate=RATE, vol=vol, is_call=call))


def _brentq_vol(
    pricer: Callable[[float, float, float, float, bool], float],
    f: float,
    k: float,
    t: float,
    call: bool,
    premium: float,
) -> float:
    return float(brentq(lambda vol: pricer(f, k, t, vol, call) - premium, 1e-6, 10.0, maxiter=200))


def brentq_seconds(
    pricer: Callable[[float, float, float, float, bool], float],
    b: dict[str, npt.NDArray[Any]],
    premiums: npt.NDArray[np.float64],
    subset: npt.NDArray[np.intp],
) -> tuple[float, npt.NDArray[np.float64]]:
    """(seconds, vols) of :func:`scipy.optimize.brentq` (default tolerances, vol in
    [1e-6, 10]) solving each option of ``subset`` one at a time with ``pricer``."""
    f, k, t, c = b["forward"], b["strike"], b["years"], b["is_call"]
    started = time.perf_counter()
    found = [
        _brentq_vol(pricer, float(f[i]), float(k[i]), float(t[i]), bool(c[i]), float(premiums[i]))
        for i in subset
    ]
    return time.perf_counter() - started, np.array(found, dtype=np.float64)


def run(quick: bool) -> list[Figure]:
    repeats = 5 if quick else 21
    b = book(OPTIONS)
    f, k, t, v, c = b["forward"], b["strike"], b["years"], b["vol"], b["is_call"]
    premiums = price(f, k, t, rate=RATE, vol=v, is_call=c)
    iv_s = median_seconds(lambda: implied_vol(premiums, f, k, t, rate=RATE, is_call=c), repeats)
    vols, reasons = implied_vol_with_reasons(premiums, f, k, t, rate=RATE, is_call=c)
    solvable = np.flatnonzero(reasons == "")
    rng = np.random.default_rng(7)
    picks = rng.permutation(solvable)
    same, same_vols = brentq_seconds(_cockpit_price, b, premiums, picks[: 40 if quick else 200])
    same *= solvable.size / len(same_vols)
    textbook, textbook_vols = brentq_seconds(
        _erfc_price, b, premiums, picks[: 200 if quick else 1_000]
    )
    textbook *= solvable.size / len(textbook_vols)
    agree = np.abs(same_vols / vols[picks[: len(same_vols)]] - 1)
    ratio = same / iv_s

    price_s = median_seconds(lambda: price(f, k, t, rate=RATE, vol=v, is_call=c), repeats)
    greeks_s = median_seconds(lambda: greeks(f, k, t, rate=RATE, vol=v, is_call=c), repeats)
    labels, counts = np.unique(reasons, return_counts=True)
    outcome = ", ".join(
        f"{label or 'solved'} {count:,}" for label, count in zip(labels, counts, strict=True)
    )
    return [
        Figure(
            "implied vol, 10,000 options",
            iv_s * 1e3,
            "ms",
            f"< {TARGET_MS:g} ms",
            iv_s * 1e3 < TARGET_MS,
            f"median of {repeats} runs; {outcome}; price {price_s * 1e3:.2f} ms, "
            f"greeks {greeks_s * 1e3:.2f} ms for the same {OPTIONS:,}",
        ),
        Figure(
            "implied vol vs brentq per option",
            ratio,
            "×",
            f"≥ {TARGET_RATIO:g}×",
            ratio >= TARGET_RATIO,
            f"brentq on cockpit.pricing.price, one option at a time, timed on {len(same_vols)} of "
            f"the {solvable.size:,} options with an IV and scaled to all: {same * 1e3:,.0f} ms "
            f"(vols agree to {np.median(agree):.0e} median, {agree.max():.0e} at worst); "
            f"brentq on a plain-Python math.erfc Black-76 instead ({len(textbook_vols)} timed): "
            f"{textbook * 1e3:,.0f} ms, {textbook / iv_s:.0f}× the vectorised solver",
        ),
    ]


__all__ = ["OPTIONS", "book", "brentq_seconds", "run"]
