"""Black-76 prices and greeks of European options on a forward, vectorised over numpy arrays.

Inputs are the forward ``F`` (``forward``), strike ``K`` (``strike``), time to expiry ``T``
in years (``years``), the continuously compounded rate ``r`` (``rate``), the annual
volatility ``σ`` (``vol``) and ``is_call`` (a bool or bool array); all of them broadcast
against each other and Python scalars are accepted. ``rate``, ``vol`` and ``is_call`` are
keyword-only: six floats in a row are too easy to pass in the wrong order. With
``d1 = (ln(F/K) + σ²T/2)/(σ√T)`` and ``d2 = d1 − σ√T`` a call is worth
``e^{−rT}(F·N(d1) − K·N(d2))`` and a put ``e^{−rT}(K·N(−d2) − F·N(−d1))``; prices are in the
units of ``F`` and ``K``. Both are computed as discounted intrinsic value plus the
out-of-the-money option's value (the time value, equal for the call and the put by
put–call parity), so a price is never below its discounted intrinsic value and
``C − P = e^{−rT}(F − K)`` holds to rounding.
``N`` is :func:`scipy.special.ndtr`, accurate deep in the tails. Greeks are plain
derivatives, the forward held fixed: delta ``∂V/∂F``; gamma ``∂²V/∂F²``; vega ``∂V/∂σ`` per
1.00 of volatility (divide by 100 for a vol point); theta ``−∂V/∂T`` per year of calendar
time (divide by 365 for a day; the clock runs ACT/365); rho ``∂V/∂r`` per 1.00 of rate
(``−T·V``: with ``F`` fixed only the discount depends on ``r``). Where the total volatility
``σ√T`` is zero (``T = 0`` or ``σ = 0``) or below ``1e-100``, the option is worth its
discounted intrinsic value and the greeks take their limits, with the Dirac masses at the
strike reported as zero so every greek stays finite: delta is ``±e^{−rT}`` in the money, 0
out of it and half at the money; gamma 0; theta ``r·V``. Invalid elements (``F ≤ 0``,
``K ≤ 0``, ``T < 0``, ``σ < 0`` or NaN) give NaN in their place, never an exception or a
warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr  # type: ignore[import-untyped]  # scipy ships no stubs

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
#: Anything that converts to a float array: a Python float, a list, an array.
Floats = npt.ArrayLike
#: ``True`` for a call, ``False`` for a put: a bool or a bool array.
Rights = bool | np.bool_ | BoolArray

#: Below this total volatility ``σ√T`` an option is treated as expired (worth intrinsic).
MIN_TOTAL_VOL = 1e-100

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def normal_cdf(x: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """The standard normal distribution function, accurate far into both tails (``ndtr``);
    into ``out`` when given."""
    return np.asarray(ndtr(x) if out is None else ndtr(x, out=out), dtype=np.float64)


def normal_pdf(x: FloatArray) -> FloatArray:
    """The standard normal density ``e^{−x²/2}/√(2π)`` (0 at ±∞)."""
    return np.asarray(_INV_SQRT_2PI * np.exp(-0.5 * x * x), dtype=np.float64)


def as_rights(is_call: Rights) -> BoolArray:
    """``is_call`` as a bool array; anything else (strings, numbers) is a programming error."""
    rights = np.asarray(is_call)
    if rights.dtype != np.bool_:
        raise TypeError(f"is_call must be a bool or a bool array, got dtype {rights.dtype}")
    return rights


def undiscounted_time_value(forward: FloatArray, strike: FloatArray, sd: FloatArray) -> FloatArray:
    """The undiscounted out-of-the-money option's value at total volatility ``sd = σ√T > 0``.

    That is the call's when ``F ≤ K`` and the put's when ``F > K``: the time value of both the
    call and the put of this strike."""
    d1 = np.log(forward / strike) / sd + 0.5 * sd
    return _out_of_the_money_value(forward, strike, d1, sd)


def _out_of_the_money_value(
    forward: FloatArray, strike: FloatArray, d1: FloatArray, sd: FloatArray
) -> FloatArray:
    # The out-of-the-money side avoids subtracting two nearly equal numbers deep in the money;
    # rounding can still leave a tiny negative, floored at zero.
    sign = np.where(forward > strike, -1.0, 1.0)
    value = sign * (forward * normal_cdf(sign * d1) - strike * normal_cdf(sign * (d1 - sd)))
    return np.asarray(np.maximum(value, 0.0), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Greeks:
    """Black-76 price and greeks, arrays of the broadcast shape (units in the module doc)."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray


@dataclass(frozen=True, slots=True)
class _Terms:
    """The shared pieces of every formula, computed once per call."""

    forward: FloatArray
    strike: FloatArray
    years: FloatArray
    rate: FloatArray
    vol: FloatArray
    is_call: BoolArray
    invalid: BoolArray
    expired: BoolArray  # σ√T below MIN_TOTAL_VOL: intrinsic value and limit greeks
    sd: FloatArray  # σ√T, 1 where expired (never used there)
    d1: FloatArray  # ±∞ or 0 where expired: the limit as σ√T → 0
    discount: FloatArray


def _terms(
    forward: Floats, strike: Floats, years: Floats, *, rate: Floats, vol: Floats, is_call: Rights
) -> _Terms:
    floats = [np.asarray(a, dtype=np.float64) for a in (forward, strike, years, rate, vol)]
    *broadcast, rights = np.broadcast_arrays(*floats, as_rights(is_call))
    f, k, t, r, v = broadcast
    with np.errstate(all="ignore"):
        invalid = ~((f > 0) & (k > 0) & (t >= 0) & (v >= 0) & np.isfinite(r))
        invalid |= ~(np.isfinite(f) & np.isfinite(k) & np.isfinite(t) & np.isfinite(v))
        raw_sd = v * np.sqrt(t)
        expired = ~invalid & ~(raw_sd >= MIN_TOTAL_VOL)
        sd = np.where(expired | invalid, 1.0, raw_sd)
        x = np.log(f / k)
        limit = np.where(x > 0, np.inf, np.where(x < 0, -np.inf, 0.0))
        d1 = np.where(expired, limit, x / sd + 0.5 * sd)
        discount = np.exp(-r * t)
    return _Terms(f, k, t, r, v, rights, invalid, expired, sd, d1, discount)


def _finish(values: FloatArray, terms: _Terms) -> FloatArray:
    return np.asarray(np.where(terms.invalid, np.nan, values), dtype=np.float64)


def _price(terms: _Terms) -> FloatArray:
    f, k = terms.forward, terms.strike
    intrinsic = np.maximum(np.where(terms.is_call, f - k, k - f), 0.0)
    with np.errstate(all="ignore"):
        time_value = _out_of_the_money_value(f, k, terms.d1, terms.sd)
        time_value = np.where(terms.expired, 0.0, time_value)
        return _finish(terms.discount * (intrinsic + time_value), terms)


def _delta(terms: _Terms) -> FloatArray:
    # The put's own N(−d1), not N(d1) − 1: a far out-of-the-money put keeps its digits.
    signed = np.where(terms.is_call, normal_cdf(terms.d1), -normal_cdf(-terms.d1))
    return _finish(terms.discount * signed, terms)


def _gamma(terms: _Terms, pdf: FloatArray) -> FloatArray:
    with np.errstate(all="ignore"):
        gamma = terms.discount * pdf / (terms.forward * terms.sd)
    return _finish(np.where(terms.expired, 0.0, gamma), terms)


def _vega(terms: _Terms, pdf: FloatArray) -> FloatArray:
    with np.errstate(all="ignore"):
        return _finish(terms.discount * terms.forward * pdf * np.sqrt(terms.years), terms)


def _theta(terms: _Terms, pdf: FloatArray, value: FloatArray) -> FloatArray:
    # −∂V/∂T = r·V − e^{−rT}·F·φ(d1)·σ/(2√T); the decay term's limit at expiry is 0 off the
    # strike (and a Dirac mass on it, reported as 0).
    with np.errstate(all="ignore"):
        decay = terms.discount * terms.forward * pdf * terms.vol / (2.0 * np.sqrt(terms.years))
        decay = np.where(terms.expired, 0.0, decay)
        return _finish(terms.rate * value - decay, terms)


def _rho(terms: _Terms, value: FloatArray) -> FloatArray:
    return _finish(-terms.years * value, terms)


def price(
    forward: Floats, strike: Floats, years: Floats, *, rate: Floats, vol: Floats, is_call: Rights
) -> FloatArray:
    """Black-76 option price ``e^{−rT}·(intrinsic + time value)``, in the units of F and K."""
    return _price(_terms(forward, strike, years, rate=rate, vol=vol, is_call=is_call))


def delta(
    forward: Floats, strike: Floats, years: Floats, *, rate: Floats, vol: Floats, is_call: Rights
) -> FloatArray:
    """``∂V/∂F``: ``e^{−rT}·N(d1)`` for a call, ``−e^{−rT}·N(−d1)`` for a put."""
    return _delta(_terms(forward, strike, years, rate=rate, vol=vol, is_call=is_call))


def gamma(
    forward: Floats, strike: Floats, years: Floats, *, rate: Floats, vol: Floats, is_call: Rights
) -> FloatArray:
    """``∂²V/∂F²``: ``e^{−rT}·φ(d1)/(F·σ√T)``, the same for a call and a put."""
    terms = _terms(forward, strike, years, rate=rate, vol=vol, is_call=is_call)
    return _gamma(terms, normal_pdf(terms.d1))


def vega(
    forward: Floats, strike: Floats, years: Floats, *, rate: Floats, vol: Floats, is_call: Rights
) -> FloatArray:
    """``∂V/∂σ`` per 1.00 of volatility: ``e^{−rT}·F·φ(d1)·√T`` (call and put alike)."""
    terms = _terms(forward, strike, years, rate=rate, vol=vol, is_call=is_call)
    return _vega(terms, normal_pdf(terms.d1))


def theta(
    forward: Floats, strike: Floats, years: Floats, *, rate: Floats, vol: Floats, is_call: Rights
) -> FloatArray:
    """``−∂V/∂T`` per year, the forward fixed: ``r·V − e^{−rT}·F·φ(d1)·σ/(2√T)``."""
    terms = _terms(forward, strike, years, rate=rate, vol=vol, is_call=is_call)
    return _theta(terms, normal_pdf(terms.d1), _price(terms))


def rho(
    forward: Floats, strike: Floats, years: Floats, *, rate: Floats, vol: Floats, is_call: Rights
) -> FloatArray:
    """``∂V/∂r`` per 1.00 of rate, the forward fixed: ``−T·V``."""
    terms = _terms(forward, strike, years, rate=rate, vol=vol, is_call=is_call)
    return _rho(terms, _price(terms))


def greeks(
    forward: Floats, strike: Floats, years: Floats, *, rate: Floats, vol: Floats, is_call: Rights
) -> Greeks:
    """Price and every greek at once, ``d1`` and ``φ(d1)`` computed a single time."""
    terms = _terms(forward, strike, years, rate=rate, vol=vol, is_call=is_call)
    pdf = normal_pdf(terms.d1)
    value = _price(terms)
    return Greeks(
        price=value,
        delta=_delta(terms),
        gamma=_gamma(terms, pdf),
        vega=_vega(terms, pdf),
        theta=_theta(terms, pdf, value),
        rho=_rho(terms, value),
    )


__all__ = [
    "MIN_TOTAL_VOL",
    "BoolArray",
    "FloatArray",
    "Floats",
    "Greeks",
    "Rights",
    "delta",
    "gamma",
    "greeks",
    "normal_cdf",
    "normal_pdf",
    "price",
    "rho",
    "theta",
    "undiscounted_time_value",
    "vega",
]
