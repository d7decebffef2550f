"""Black-76 implied volatility: the annual ``σ`` that reprices each option, vectorised.

Inputs follow :mod:`cockpit.pricing.black76` (price in the units of ``F`` and ``K``, ``T`` in
years, ``r`` continuously compounded, discount ``e^{−rT}``) and broadcast against each other.
The solver works on the undiscounted time value ``b = price·e^{rT} − intrinsic``, which by
put–call parity is the out-of-the-money option's value, so a deep in-the-money quote is
solved as the accurate far out-of-the-money one. It finds the total volatility ``s = σ√T``
by Newton steps on vega, safeguarded per element: the root starts bracketed (below by
inverting the at-the-money value, which bounds every strike's; on one side by the inflection
point ``√(2|ln(F/K)|)`` where vega peaks; above by ``max_vol·√T``), every evaluation narrows
the bracket, and a step that is not finite or leaves it is replaced by bisection, so every
element converges. More than a standard deviation out of the money, where ``b`` is
exponentially small, the step is taken on ``ln b`` against ``1/s²`` (nearly a straight line
there: plain Newton would crawl); elsewhere on ``b`` against ``s``. All elements iterate
together in numpy, only the unconverged ones recomputed, with a fixed cap on iterations (six
or seven suffice across moneyness, minutes to years and 1%–300% vol): no Python loop per
option. An element that cannot be solved is NaN, never an exception, and
:func:`implied_vol_with_reasons` says why, as an :class:`IvReason`: ``T``, ``F`` or ``K`` is
not positive; the price is below the discounted intrinsic value or above the upper bound
(``e^{−rT}F`` for a call, ``e^{−rT}K`` for a put); it is the intrinsic value to within
rounding (no time value, so no information about ``σ``); or the vol would exceed
``max_vol``.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy.special import erfinv, ndtri  # type: ignore[import-untyped]  # no stubs

from cockpit.pricing.black76 import (
    FloatArray,
    Floats,
    Rights,
    as_rights,
    normal_cdf,
    normal_pdf,
    undiscounted_time_value,
)

#: Highest volatility searched (1000% a year); a price that needs more is NaN.
MAX_VOL = 10.0
MAX_ITERATIONS = 100

# A price within a few of its own ulps of a bound is on it: a price computed by ``price`` at
# the intrinsic value or the upper bound must not be reported outside it by rounding alone.
# (Relative to the price, so a far out-of-the-money price of 1e-100 still counts.)
_BOUND_ULPS = 16 * np.finfo(np.float64).eps
# Newton converges quadratically: after a step this small relative to s, the next one would
# be below rounding, so the element is done.
_STEP_TOLERANCE = 1e-8
_BRACKET_TOLERANCE = 4 * np.finfo(np.float64).eps
_SLACK = 1e-9


class IvReason(StrEnum):
    """Why an implied volatility is NaN ("" when it was solved)."""

    OK = ""
    NOT_FINITE = "not finite"
    NON_POSITIVE_TIME = "non-positive time"
    NON_POSITIVE_FORWARD = "non-positive forward"
    NON_POSITIVE_STRIKE = "non-positive strike"
    BELOW_INTRINSIC = "below intrinsic"
    NO_TIME_VALUE = "no time value"
    ABOVE_UPPER_BOUND = "above upper bound"
    ABOVE_MAX_VOL = "above max vol"
    NO_CONVERGENCE = "no convergence"


_REASONS = list(IvReason)
_CODE = {reason: np.int8(i) for i, reason in enumerate(_REASONS)}
_LABELS = np.array([reason.value for reason in _REASONS])


def implied_vol(
    price: Floats,
    forward: Floats,
    strike: Floats,
    years: Floats,
    *,
    rate: Floats,
    is_call: Rights,
    max_vol: float = MAX_VOL,
) -> FloatArray:
    """The Black-76 implied volatility of each price; NaN where none exists (see
    :func:`implied_vol_with_reasons` for why)."""
    vols, _ = implied_vol_with_reasons(
        price, forward, strike, years, rate=rate, is_call=is_call, max_vol=max_vol
    )
    return vols


def implied_vol_with_reasons(
    price: Floats,
    forward: Floats,
    strike: Floats,
    years: Floats,
    *,
    rate: Floats,
    is_call: Rights,
    max_vol: float = MAX_VOL,
) -> tuple[FloatArray, npt.NDArray[np.str_]]:
    """``(vols, reasons)``: implied volatilities (NaN where unsolved) and, per element, the
    :class:`IvReason` value as a string array (``""`` where solved), both of the broadcast
    shape of the inputs."""
    floats = [np.asarray(a, dtype=np.float64) for a in (price, forward, strike, years, rate)]
    *broadcast, rights = np.broadcast_arrays(*floats, as_rights(is_call))
    shape = rights.shape
    p, f, k, t, r = (a.ravel() for a in broadcast)
    calls = rights.ravel()
    codes = np.zeros(p.shape, dtype=np.int8)
    vols = np.full(p.shape, np.nan)

    def flag(mask: npt.NDArray[np.bool_], reason: IvReason) -> None:
        # The first reason found for an element is the one reported.
        codes[mask & (codes == 0)] = _CODE[reason]

    with np.errstate(all="ignore"):
        finite = np.isfinite(p) & np.isfinite(f) & np.isfinite(k) & np.isfinite(t) & np.isfinite(r)
        flag(~finite, IvReason.NOT_FINITE)
        flag(t <= 0, IvReason.NON_POSITIVE_TIME)
        flag(f <= 0, IvReason.NON_POSITIVE_FORWARD)
        flag(k <= 0, IvReason.NON_POSITIVE_STRIKE)
        undiscounted = p * np.exp(r * t)
        intrinsic = np.maximum(np.where(calls, f - k, k - f), 0.0)
        time_value = undiscounted - intrinsic
        tolerance = _BOUND_ULPS * np.abs(undiscounted)
        flag(time_value < -tolerance, IvReason.BELOW_INTRINSIC)
        flag(time_value <= tolerance, IvReason.NO_TIME_VALUE)
        # The time value is at most min(F, K): the call's e^{rT}·price ≤ F, the put's ≤ K.
        ceiling = np.minimum(f, k)
        flag(time_value > ceiling + tolerance, IvReason.ABOVE_UPPER_BOUND)
        flag(time_value >= ceiling - tolerance, IvReason.ABOVE_MAX_VOL)

        todo = np.flatnonzero(codes == 0)
        sd_max = max_vol * np.sqrt(t[todo])
        reachable = undiscounted_time_value(f[todo], k[todo], sd_max) >= time_value[todo]
        codes[todo[~reachable]] = _CODE[IvReason.ABOVE_MAX_VOL]
        todo = todo[reachable]

        sd, solved = _solve(f[todo], k[todo], time_value[todo], sd_max[reachable])
        vols[todo] = sd / np.sqrt(t[todo])
        codes[todo[~solved]] = _CODE[IvReason.NO_CONVERGENCE]
    vols[codes != 0] = np.nan
    return vols.reshape(shape), _LABELS[codes].reshape(shape)


def _floats(values: object) -> FloatArray:
    """A scipy result (untyped: scipy ships no stubs) as a float array."""
    return np.asarray(values, dtype=np.float64)


def _solve(
    f: FloatArray, k: FloatArray, target: FloatArray, hi: FloatArray
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Total volatility ``s`` with ``undiscounted_time_value(f, k, s) == target`` on
    ``(0, hi]``, and whether each converged; ``0 < target < min(f, k)`` for every element."""
    n = f.shape[0]
    x = np.log(f / k)
    ax = np.abs(x)
    ceiling = np.minimum(f, k)
    # At any s the at-the-money option has the most time value per √(FK): b ≤ √(FK)·erf(s/√8).
    # Inverting it bounds the root from below (less a margin for rounding).
    at_the_money = np.sqrt(8.0) * _floats(erfinv(target / np.sqrt(f * k)))
    # The inflection point s_c = √(2|x|), where vega peaks, splits the root's range in two:
    # below it ln b ≈ −x²/(2s²) + 3·ln s, above it b approaches its ceiling min(F, K) like a
    # normal tail. Starting points from each branch's asymptotic shape (the approach of
    # P. Jäckel, "By Implication", 2006), never below the at-the-money bound.
    inflection = np.sqrt(2.0 * ax)
    at_inflection = undiscounted_time_value(f, k, np.where(inflection > 0, inflection, 1.0))
    at_inflection = np.where(inflection > 0, at_inflection, 0.0)
    lower_branch = target < at_inflection
    # Bounds found by analysis rather than by evaluating b get a little slack: rounding in the
    # target can put a root that sits on one a hair outside it.
    lo = np.where(lower_branch, 0.0, (1.0 - _SLACK) * inflection)
    lo = np.maximum(lo, (1.0 - 1e-6) * at_the_money)
    hi = np.where(lower_branch, (1.0 + _SLACK) * inflection, hi)
    lower_guess = np.sqrt(2.0 * x * x / (ax - 4.0 * np.log(target / at_inflection)))
    upper_guess = -2.0 * _floats(
        ndtri((ceiling - target) / (ceiling - at_inflection) * normal_cdf(-0.5 * inflection))
    )
    sd = np.maximum(np.where(lower_branch, lower_guess, upper_guess), at_the_money)
    sd = np.where((sd > lo) & (sd < hi), sd, np.where(lo > 0, np.sqrt(lo * hi), 0.5 * hi))
    log_target = np.log(target)

    result = np.full(n, np.nan)
    solved = np.zeros(n, dtype=np.bool_)
    active = np.arange(n)
    for _ in range(MAX_ITERATIONS):
        if active.size == 0:
            break
        s = sd[active]
        fa, ka, ta = f[active], k[active], target[active]
        value = undiscounted_time_value(fa, ka, s)
        # Update the bracket: the value rises with s.
        below = value < ta
        lo[active] = np.where(below, s, lo[active])
        hi[active] = np.where(below, hi[active], s)
        d1 = x[active] / s + 0.5 * s
        slope = fa * normal_pdf(d1)  # ∂b/∂s, the undiscounted vega per unit of total vol
        # Over a standard deviation out of the money (s < |x|), Newton on ln b against
        # u = 1/s², where ln b ≈ −x²/(2s²) + 3·ln s is nearly linear; elsewhere on b against s.
        lower = s < ax[active]
        gap = np.log(value) - log_target[active]
        u = 1.0 / (s * s) + 2.0 * gap * value / (slope * s * s * s)
        candidate = np.where(lower, 1.0 / np.sqrt(u), s - (value - ta) / slope)
        steps = candidate - s
        la, ha = lo[active], hi[active]
        inside = np.isfinite(candidate) & (candidate > la) & (candidate < ha)
        bisect = np.where(la > 0, np.sqrt(la * ha), 0.5 * ha)
        nxt = np.where(inside, candidate, bisect)
        # After a step this small the candidate is at the root to rounding. Should rounding put
        # it a hair outside the bracket, the bracket's edge is nearer the root still.
        small = np.abs(steps) <= _STEP_TOLERANCE * s
        done = (value == ta) | small | (ha - la <= _BRACKET_TOLERANCE * ha)
        done_at = np.where(value == ta, s, np.where(small, np.clip(candidate, la, ha), nxt))
        finished = active[done]
        result[finished] = done_at[done]
        solved[finished] = True
        sd[active] = nxt
        active = active[~done]
    return result, solved


__all__ = [
    "MAX_ITERATIONS",
    "MAX_VOL",
    "IvReason",
    "implied_vol",
    "implied_vol_with_reasons",
]
