"""Black-76 option prices, greeks and implied volatility, vectorised over numpy arrays.

This package is Cockpit's one option-pricing model, used by the paper exchange (quotes and
margin) and by everything that values options. Conventions everywhere: forward ``F``, strike
``K`` (prices come out in their units: paise in, paise out), time to expiry ``T`` in years,
rate ``r`` continuously compounded, volatility ``σ`` annual, and Black-76 discounting by
``e^{−rT}``; every function broadcasts its arguments against each other (numpy arrays of any
matching shape or Python scalars, ``is_call`` a bool or a bool array) and returns arrays
without a Python loop per option. Greeks are plain derivatives with the forward held fixed:
vega per 1.00 of volatility, theta per year, rho per 1.00 of rate (details in
:mod:`cockpit.pricing.black76`). Bad elements become NaN in place, never an exception midway
through an array; :func:`implied_vol_with_reasons` says why. Plain numpy and scipy: no Qt, no
asyncio, no I/O.
"""

from __future__ import annotations

from cockpit.pricing.black76 import (
    Greeks,
    delta,
    gamma,
    greeks,
    price,
    rho,
    theta,
    vega,
)
from cockpit.pricing.implied_volatility import (
    MAX_VOL,
    IvReason,
    implied_vol,
    implied_vol_with_reasons,
)

__all__ = [
    "MAX_VOL",
    "Greeks",
    "IvReason",
    "delta",
    "gamma",
    "greeks",
    "implied_vol",
    "implied_vol_with_reasons",
    "price",
    "rho",
    "theta",
    "vega",
]
