"""A SPAN-like margin **estimate** for a portfolio of NSE option and future legs, as numpy arrays.

This module is Cockpit's one margin model (the paper exchange's funds checks and margin
endpoints call it, and so do the shock grids): pure functions over parallel arrays of legs,
one element per contract, with the market state (forward, spot, vol) allowed extra leading
batch axes so a whole grid of shocked states is estimated in one call. It follows NSE
Clearing's SPAN as summarised in ``/work/shared/reference/nse-fo.md`` (section SPAN; sources
there: NSE Clearing's SPAN risk-parameter page, NSE circulars, SEBI/HO/MRD/TPD-1/P/CIR/2024/132
of 1 Oct 2024 for the expiry-day exposure margin, Kite margin output for the exposure rate).
Per underlying the portfolio is revalued (Black-76 on the forward, via :mod:`cockpit.pricing`;
futures one for one; the scenario revaluation takes the normal distribution function from
:mod:`cockpit.pricing.normal`, to an absolute 1e-13) under the 16 risk scenarios: price 0,
±1/3, ±2/3, ±1 × PSR with volatility up and down by VSR (loss counted in full), and ±2 × PSR
with volatility unchanged (loss counted 35%); each contract moves by its own PSR, and the worst
weighted portfolio loss is the scan risk. The short option minimum charge (NSE: 3% of the
notional of short index options, 7.5% for stock options, charged when it exceeds the scan risk)
floors the scan risk.
SPAN is ``max(scan risk, short option minimum) − net long option value`` (a long option's
premium is paid in cash, not blocked), never below zero; underlyings add up. Exposure margin
(ELM) is charged on futures (forward × quantity) and short options (spot × quantity), plus the
expiry-day extra on short index options. Premium paid by buys is part of the total; premium
received by sells is reported and **never netted** (OpenAlgo issue #1620: Kite's basket margin
nets the credit, so a hedged basket looks cheaper than what is blocked while its legs fill).

Simplifications (why this is an estimate, not NSE's figure): PSR and VSR come from
:class:`MarginParameters`, not the day's SPAN file; VSR is 25% of each option's own model
volatility (NSE uses the underlying's EWMA volatility) with the index/stock floors; no
calendar-spread charge, no inter-commodity credit, no delivery margin; the short option minimum
of the options of one underlying and expiry is capped at their largest possible loss at expiry
from current value (NSE counts every short option in full: here a defined-risk vertical spread
pays at most its spread risk, an uncovered short the full minimum); net option value is only
deducted when net long. Amounts are paise; batched results are unrounded floats and
:func:`estimate_margin` rounds every component up to the next paisa.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cockpit.domain.money import Paise
from cockpit.pricing.black76 import normal_cdf
from cockpit.pricing.normal import normal_tail_ratio

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

MIN_YEARS = 1e-6  # at expiry Black-76 collapses to intrinsic value; keep σ√T positive
MIN_VOL = 0.01

#: (price move as a fraction of PSR, volatility move as a multiple of VSR, loss weight)
SCENARIOS: tuple[tuple[float, int, float], ...] = (
    (0.0, +1, 1.0),
    (0.0, -1, 1.0),
    (+1 / 3, +1, 1.0),
    (+1 / 3, -1, 1.0),
    (-1 / 3, +1, 1.0),
    (-1 / 3, -1, 1.0),
    (+2 / 3, +1, 1.0),
    (+2 / 3, -1, 1.0),
    (-2 / 3, +1, 1.0),
    (-2 / 3, -1, 1.0),
    (+1.0, +1, 1.0),
    (+1.0, -1, 1.0),
    (-1.0, +1, 1.0),
    (-1.0, -1, 1.0),
    (+2.0, 0, 0.35),
    (-2.0, 0, 0.35),
)
_PRICE_MOVES = np.array([s[0] for s in SCENARIOS])
_WEIGHTS = np.array([s[2] for s in SCENARIOS])
# The three volatility moves (+1, −1, 0 × VSR) and which one each scenario uses.
_VOL_VARIANTS = np.array([1.0, -1.0, 0.0])
_VOL_VARIANT_OF = np.array([{1: 0, -1: 1, 0: 2}[s[1]] for s in SCENARIOS])
# The scenarios in the order of their volatility move, so the scenarios of one move are a
# contiguous run that shares one total volatility (broadcast, not gathered), then one row more:
# the state itself (no price move, volatility unchanged), revalued with them.
_BY_VOL_MOVE = np.argsort(_VOL_VARIANT_OF, kind="stable")
_SCENARIO_ROWS = len(SCENARIOS)
_REVALUED_MOVES = np.append(_PRICE_MOVES[_BY_VOL_MOVE], 0.0)
_REVALUED_SPANS = tuple(
    (int(variant), slice(int(first), int(first + count)))
    for variant, first, count in zip(
        *np.unique(
            np.append(_VOL_VARIANT_OF[_BY_VOL_MOVE], 2), return_index=True, return_counts=True
        ),
        strict=True,
    )
)

#: Scenario revaluations are done in blocks of about this many (state × scenario × leg)
#: elements: big enough that the ~60 numpy calls a block takes cost little beside their
#: arithmetic, small enough that its ten work arrays (~8 MB) stay in the last-level cache.
#: Measured on the 100-leg shock grid (2-core EPYC, 32 MB L3): 16k elements 13.7 ms, 48k
#: 14.0, 96k 12.6, 128k 13.3, 192k 13.5 (medians).
_BLOCK_ELEMENTS = 96 * 1024

DEFAULT_INDICES = frozenset(
    {"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "SENSEX", "BANKEX"}
)


@dataclass(frozen=True, slots=True)
class MarginParameters:
    """Scan ranges and charge rates, as fractions (dated in nse-fo.md, SPAN section)."""

    index_underlyings: frozenset[str] = DEFAULT_INDICES
    index_psr: float = 0.093
    #: Index options expiring beyond ``long_dated_years`` scan over a wider range.
    index_long_dated_psr: float = 0.177
    long_dated_years: float = 0.75
    stock_psr: float = 0.142
    psr_override: dict[str, float] = field(default_factory=dict)
    vsr_fraction: float = 0.25
    index_vsr_floor: float = 0.04
    stock_vsr_floor: float = 0.10
    index_elm: float = 0.02
    stock_elm: float = 0.035
    expiry_day_extra_elm: float = 0.02
    index_short_option_minimum: float = 0.03
    stock_short_option_minimum: float = 0.075
    rate: float = 0.0

    def is_index(self, underlying: str) -> bool:
        return underlying in self.index_underlyings

    def psr(self, underlying: str) -> float:
        if underlying in self.psr_override:
            return self.psr_override[underlying]
        return self.index_psr if self.is_index(underlying) else self.stock_psr


DEFAULT_PARAMETERS = MarginParameters()


@dataclass(frozen=True, slots=True)
class MarginLegs:
    """A portfolio as parallel arrays, one element per contract (net the quantities of one
    contract first: shorts are counted per element). ``quantity`` is signed units (+ long),
    ``strike`` paise (ignored for futures), ``years`` to expiry, ``expiry`` any integer that
    is equal for contracts of one expiry (e.g. ``date.toordinal()``), ``expires_today`` marks
    contracts in their expiry day (extra exposure on short index options)."""

    underlying: tuple[str, ...]
    quantity: FloatArray
    is_option: BoolArray
    is_call: BoolArray
    strike: FloatArray
    years: FloatArray
    expiry: IntArray
    expires_today: BoolArray

    def __post_init__(self) -> None:
        n = len(self.underlying)
        arrays = {
            "quantity": self.quantity,
            "is_option": self.is_option,
            "is_call": self.is_call,
            "strike": self.strike,
            "years": self.years,
            "expiry": self.expiry,
            "expires_today": self.expires_today,
        }
        for name, array in arrays.items():
            if np.shape(array) != (n,):
                raise ValueError(f"MarginLegs.{name} has shape {np.shape(array)}, expected ({n},)")
        if not np.all(np.isfinite(self.quantity)):
            raise ValueError("MarginLegs.quantity must be finite")
        if not np.all(np.isfinite(self.years) & (self.years >= 0)):
            raise ValueError("MarginLegs.years must be finite and not negative")
        if np.any(self.is_option & ~(np.isfinite(self.strike) & (self.strike > 0))):
            raise ValueError("MarginLegs.strike must be positive for every option")

    def __len__(self) -> int:
        return len(self.underlying)


@dataclass(frozen=True, slots=True)
class MarketState:
    """Forward (of each leg's expiry), spot (of its underlying) in paise and model vol of
    every leg: arrays shaped ``(..., n)``; the leading axes are batch axes (shocked states)."""

    forward: FloatArray
    spot: FloatArray
    vol: FloatArray


@dataclass(frozen=True, slots=True)
class MarginArrays:
    """Unrounded paise, each shaped like the state's batch axes; ``span_by_underlying`` has
    one more axis, in the order of ``underlyings``."""

    underlyings: tuple[str, ...]
    scan_risk: FloatArray
    short_option_minimum: FloatArray
    net_long_option_value: FloatArray
    span_by_underlying: FloatArray
    span: FloatArray
    exposure: FloatArray


@dataclass(frozen=True, slots=True)
class MarginEstimate:
    """One state's estimate in paise, each component rounded up to the next paisa.
    ``span`` already includes the short option minimum where it binds (reported beside it);
    ``total`` never subtracts ``premium_received``."""

    span: Paise
    exposure: Paise
    short_option_minimum: Paise
    premium_paid: Paise
    premium_received: Paise
    span_by_underlying: dict[str, Paise] = field(default_factory=dict)

    @property
    def total(self) -> Paise:
        return Paise(self.span + self.exposure + self.premium_paid)


def ceil_paise(value: float) -> Paise:
    """Up to the next paisa, never below zero; a float within 1e-6 of a whole paisa is that
    paisa (so 100.0000000001 is not charged as 101)."""
    return Paise(max(0, math.ceil(value - 1e-6)))


def option_value(
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    years: npt.ArrayLike,
    *,
    rate: float,
    vol: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> FloatArray:
    """Black-76 prices in the units of forward and strike, as :func:`cockpit.pricing.price`
    computes them (discounted intrinsic plus time value), with the margin model's floors:
    time at least ``MIN_YEARS`` and volatility at least ``MIN_VOL``. Inputs must be valid
    (positive forward and strike); they broadcast against each other."""
    t = np.maximum(np.asarray(years, dtype=np.float64), MIN_YEARS)
    sd = np.maximum(np.asarray(vol, dtype=np.float64), MIN_VOL) * np.sqrt(t)
    sign = np.where(np.asarray(is_call, dtype=np.bool_), 1.0, -1.0)
    return _black76(
        np.asarray(forward, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        sd,
        sign,
        np.exp(-rate * t) if rate else None,
    )


def _black76(
    forward: FloatArray,
    strike: FloatArray,
    sd: FloatArray,
    sign: FloatArray,
    discount: FloatArray | None,
) -> FloatArray:
    """Discounted intrinsic value plus :mod:`cockpit.pricing`'s Black-76 time value at total
    volatility ``sd = σ√T > 0``; ``sign`` is +1 for calls and −1 for puts. The time value is
    the out-of-the-money option's, written ``min(F, K)·N(u) − max(F, K)·N(u − σ√T)`` with
    ``u = σ√T/2 − |ln(F/K)|/(σ√T)`` — call and put alike, no sign to select — and worked out
    in place, a handful of arrays of the broadcast shape instead of one per operation."""
    shape = np.broadcast_shapes(forward.shape, strike.shape, sd.shape, sign.shape)
    upper = np.divide(forward, strike, out=np.empty(shape))
    np.log(upper, out=upper)
    np.abs(upper, out=upper)
    upper /= sd
    half_sd = 0.5 * sd
    lower = np.add(upper, half_sd, out=np.empty(shape))
    np.negative(lower, out=lower)  # u − σ√T
    np.subtract(half_sd, upper, out=upper)  # u
    normal_cdf(upper, out=upper)
    normal_cdf(lower, out=lower)
    upper *= np.minimum(forward, strike)
    lower *= np.maximum(forward, strike)
    upper -= lower
    value = np.maximum(upper, 0.0, out=upper)
    intrinsic = np.subtract(forward, strike, out=lower)
    intrinsic *= sign
    value += np.maximum(intrinsic, 0.0, out=intrinsic)
    if discount is not None:
        value *= discount
    return value


def premium_flows(
    quantity: npt.ArrayLike, price: npt.ArrayLike, is_option: npt.ArrayLike
) -> tuple[Paise, Paise]:
    """(premium paid by option buys, premium received by option sells), exactly in paise:
    ``price`` is paise per unit, ``quantity`` signed units; futures carry no premium."""
    q = np.asarray(quantity, dtype=np.int64)
    value = np.where(np.asarray(is_option, dtype=np.bool_), np.asarray(price, dtype=np.int64), 0)
    flows = value * np.abs(q)
    return Paise(int(flows[q > 0].sum())), Paise(int(flows[q < 0].sum()))


# ---- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layout:
    """What does not depend on the market state: per-leg rates and the grouping matrices."""

    underlyings: tuple[str, ...]
    by_underlying: FloatArray  # (n, U) one-hot
    option: IntArray  # indices of option legs
    future: IntArray  # indices of future legs
    psr: FloatArray  # (n,)
    vsr_floor: FloatArray  # (n,)
    elm_rate: FloatArray  # (n,) including the expiry-day extra where it applies
    som_rate: FloatArray  # (n,)
    by_group: FloatArray  # (n, G) one-hot over (underlying, expiry) for option legs
    group_underlying: FloatArray  # (G, U) one-hot
    group_min_payoff: FloatArray  # (G,) lowest payoff at expiry, −inf if unbounded


def _layout(legs: MarginLegs, params: MarginParameters) -> _Layout:
    names = sorted(set(legs.underlying))
    position = {u: i for i, u in enumerate(names)}
    u_index = np.array([position[u] for u in legs.underlying], dtype=np.int64)
    n, n_u = len(legs), len(names)
    by_underlying = np.zeros((n, n_u))
    by_underlying[np.arange(n), u_index] = 1.0
    index = np.array([params.is_index(u) for u in legs.underlying], dtype=np.bool_)
    psr = np.array([params.psr(u) for u in legs.underlying], dtype=np.float64)
    overridden = np.array([u in params.psr_override for u in legs.underlying], dtype=np.bool_)
    long_dated = index & legs.is_option & ~overridden & (legs.years > params.long_dated_years)
    psr = np.where(long_dated, params.index_long_dated_psr, psr)
    short = legs.quantity < 0
    elm = np.where(index, params.index_elm, params.stock_elm)
    extra = index & legs.is_option & short & legs.expires_today
    elm = np.where(extra, elm + params.expiry_day_extra_elm, elm)
    charged = ~legs.is_option | short
    som = np.where(index, params.index_short_option_minimum, params.stock_short_option_minimum)

    option = np.flatnonzero(legs.is_option)
    keys = sorted({(int(u_index[i]), int(legs.expiry[i])) for i in option})
    by_group = np.zeros((n, len(keys)))
    group_underlying = np.zeros((len(keys), n_u))
    for g, (u, expiry) in enumerate(keys):
        members = option[(u_index[option] == u) & (legs.expiry[option] == expiry)]
        by_group[members, g] = 1.0
        group_underlying[g, u] = 1.0
    return _Layout(
        underlyings=tuple(names),
        by_underlying=by_underlying,
        option=option,
        future=np.flatnonzero(~legs.is_option),
        psr=psr,
        vsr_floor=np.where(index, params.index_vsr_floor, params.stock_vsr_floor),
        elm_rate=np.where(charged, elm, 0.0),
        som_rate=np.where(legs.is_option & short, som, 0.0),
        by_group=by_group,
        group_underlying=group_underlying,
        group_min_payoff=_lowest_payoff_at_expiry(legs, by_group),
    )


def _lowest_payoff_at_expiry(legs: MarginLegs, by_group: FloatArray) -> FloatArray:
    """Each group's lowest payoff over underlying prices S ≥ 0 at expiry (paise), −inf when
    more calls are short than long. The payoff is piecewise linear with kinks at strikes, so
    its minimum is at S = 0, at a strike, or (falling) at infinity."""
    q = np.where(legs.is_option, legs.quantity, 0.0)
    points = np.concatenate([[0.0], legs.strike[legs.is_option]])
    k = legs.strike[None, :]
    intrinsic = np.maximum(np.where(legs.is_call, points[:, None] - k, k - points[:, None]), 0.0)
    payoff = np.where(legs.is_option, intrinsic, 0.0) @ (q[:, None] * by_group)  # (points, G)
    call_slope = np.where(legs.is_call, q, 0.0) @ by_group
    return np.asarray(np.where(call_slope < 0, -np.inf, payoff.min(axis=0)), dtype=np.float64)


def _check_state(legs: MarginLegs, state: MarketState) -> tuple[int, ...]:
    n = len(legs)
    try:
        shape = np.broadcast_shapes(
            np.shape(state.forward), np.shape(state.spot), np.shape(state.vol), (n,)
        )
    except ValueError as error:
        raise ValueError(f"market state does not broadcast to {n} legs: {error}") from None
    if len(shape) == 0 or shape[-1] != n:
        raise ValueError(f"market state must end in an axis of {n} legs, got shape {shape}")
    for name in ("forward", "spot"):
        values = np.asarray(getattr(state, name))
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"market state: every {name} must be a positive number of paise")
    vol = np.asarray(state.vol)
    if not np.all(np.isfinite(vol) & (vol >= 0)):
        raise ValueError("market state: every vol must be finite and not negative")
    return tuple(shape[:-1])


def _scan(
    legs: MarginLegs,
    layout: _Layout,
    forward: FloatArray,
    vol: FloatArray,
    params: MarginParameters,
) -> tuple[FloatArray, FloatArray]:
    """(worst weighted loss per underlying, value of each leg) for a flat batch of states:
    ``forward`` and ``vol`` are (m, n); results are (m, U) and (m, n)."""
    m = forward.shape[0]
    opt, fut = layout.option, layout.future
    qg = legs.quantity[:, None] * layout.by_underlying  # (n, U)
    moves = _REVALUED_MOVES[:, None] * layout.psr[None, :]  # (17, n)
    # Futures move one for one with their forward: linear, no revaluation needed.
    change = (forward[:, None, fut] * moves[None, :_SCENARIO_ROWS, fut]) @ qg[fut]  # (m, 16, U)
    values = forward.copy()
    if opt.size:
        t = np.maximum(legs.years[opt], MIN_YEARS)
        rows = min(m, max(1, _BLOCK_ELEMENTS // (len(_REVALUED_MOVES) * opt.size)))
        scenarios = _Scenarios.of(
            forward=forward[:, opt],
            vol=vol[:, opt],
            strike=legs.strike[opt],
            sqrt_years=np.sqrt(t),
            vsr_floor=layout.vsr_floor[opt],
            vsr_fraction=params.vsr_fraction,
            factor=1.0 + moves[:, opt],
            sign=np.where(legs.is_call[opt], 1.0, -1.0),
            discount=np.exp(-params.rate * t) if params.rate else None,
            rows=rows,
        )
        qg_opt = qg[opt]
        for start in range(0, m, rows):
            stop = min(m, start + rows)
            revalued = scenarios.values(start, stop)  # (17, states, n)
            values[start:stop, opt] = revalued[-1]
            worth = (revalued.reshape(-1, opt.size) @ qg_opt).reshape(*revalued.shape[:2], -1)
            change[start:stop] += (worth[:-1] - worth[-1]).transpose(1, 0, 2)
    worst = (-change * _WEIGHTS[_BY_VOL_MOVE, None]).max(axis=1)
    return worst, values


@dataclass(frozen=True, slots=True)
class _Scenarios:
    """The revaluation of the option legs of a batch of states under every scenario and, as a
    17th row, unmoved. Arranged so each numpy pass runs over long contiguous rows: states ×
    legs are flattened (state-major), a block of states is a (scenario, state × leg) array,
    and what does not depend on the state (strike, call or put, each scenario's price factor
    and its logarithm) is tiled once to a block's width. What the scenarios of a state share is
    computed once per state: ``ln(F/K)`` — a moved forward's log-moneyness is then one
    addition, not a logarithm per element — and, per volatility move, ``σ√T/2`` and
    ``−1/(σ√T)``. The blocks reuse one set of work arrays: a fresh array of a block's size is
    above the allocator's mmap threshold, and its page faults cost more than the arithmetic."""

    n: int  # option legs
    forward: FloatArray  # (m·n,)
    vol: FloatArray  # (m·n,)
    vsr_fraction: float
    vsr_floor: FloatArray  # (rows·n,), tiled like the rest
    sqrt_years: FloatArray  # (rows·n,)
    factor: FloatArray  # (17, rows·n): 1 + price move
    log_factor: FloatArray  # (17, rows·n)
    strike: FloatArray  # (rows·n,)
    signed_factor: FloatArray  # (17, rows·n): the factor, negative for puts
    signed_strike: FloatArray  # (rows·n,): the strike, negative for puts
    discount: FloatArray | None  # (rows·n,)
    work: FloatArray  # (10, 17, rows·n)
    state_work: FloatArray  # (4, 3, rows·n)

    @classmethod
    def of(
        cls,
        *,
        forward: FloatArray,
        vol: FloatArray,
        strike: FloatArray,
        sqrt_years: FloatArray,
        vsr_floor: FloatArray,
        vsr_fraction: float,
        factor: FloatArray,
        sign: FloatArray,
        discount: FloatArray | None,
        rows: int,
    ) -> _Scenarios:
        """``forward`` and ``vol`` (m, n), ``factor`` (17, n); the rest (n,)."""
        n = forward.shape[1]
        tiled_factor = np.tile(factor, (1, rows))
        return cls(
            n=n,
            forward=forward.reshape(-1),
            vol=vol.reshape(-1),
            vsr_fraction=vsr_fraction,
            vsr_floor=np.tile(vsr_floor, rows),
            sqrt_years=np.tile(sqrt_years, rows),
            factor=tiled_factor,
            log_factor=np.log(tiled_factor),
            strike=np.tile(strike, rows),
            signed_factor=tiled_factor * np.tile(sign, rows),
            signed_strike=np.tile(strike * sign, rows),
            discount=None if discount is None else np.tile(discount, rows),
            work=np.empty((10, *tiled_factor.shape)),
            state_work=np.empty((4, len(_VOL_VARIANTS), rows * n)),
        )

    def _state_terms(self, here: slice) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``ln(F/K)``, and ``σ√T/2`` and ``−1/(σ√T)`` after each volatility move (VSR a
        fraction of the leg's vol, floored), for the states of ``here``."""
        width = here.stop - here.start
        sd, half_sd, neg_inv_sd, other = self.state_work[:, :, :width]
        moneyness = other[0]
        vol = self.vol[here]
        vsr = np.multiply(vol, self.vsr_fraction, out=other[1])
        np.maximum(vsr, self.vsr_floor[:width], out=vsr)
        for variant, move in enumerate(_VOL_VARIANTS):
            np.multiply(vsr, move, out=sd[variant])
            sd[variant] += vol
        np.maximum(sd, MIN_VOL, out=sd)
        sd *= self.sqrt_years[:width]
        np.multiply(sd, 0.5, out=half_sd)
        np.divide(-1.0, sd, out=neg_inv_sd)
        np.divide(self.forward[here], self.strike[:width], out=moneyness)
        np.log(moneyness, out=moneyness)
        return moneyness, half_sd, neg_inv_sd

    def values(self, start: int, stop: int) -> FloatArray:
        """Black-76 value of every option leg in every scenario of states ``start:stop``,
        shaped (17, states, n) and valid until the next call — the formula of
        :func:`_black76` (discounted intrinsic value plus the out-of-the-money option's value)
        in a form with one ``exp`` and no branch. With ``a = −|ln(F/K)|/(σ√T)``,
        ``u = a + σ√T/2`` and ``d = a − σ√T/2 < 0``, the out-of-the-money value of a call and a
        put alike is ``min(F, K)·N(u) − max(F, K)·N(d)``; since ``min(F, K)·φ(u) =
        max(F, K)·φ(d)``, that is ``min(F, K)·[u ≥ 0] − G·(sgn(u)·R(|u|) + R(|d|))`` with
        ``G = min(F, K)·e^{−u²/2}`` and ``R`` :func:`~cockpit.pricing.normal.normal_tail_ratio`
        (each ``N`` to an absolute 1e-13)."""
        here = slice(start * self.n, stop * self.n)
        width = here.stop - here.start
        k, factor = self.strike[:width], self.factor[:, :width]
        forward = self.forward[here]
        moneyness, half_sd, neg_inv_sd = self._state_terms(here)
        work = self.work[:, :, :width]
        tails, ratios, scratch = work[0:2], work[2:4], work[4:6]  # N's arguments, both at once
        upper, lower = tails
        density, smaller, value = work[6:9]
        signed = work[9]
        np.add(moneyness, self.log_factor[:, :width], out=upper)
        np.abs(upper, out=upper)
        for variant, span in _REVALUED_SPANS:
            half = half_sd[variant]
            np.multiply(upper[span], neg_inv_sd[variant], out=upper[span])
            np.subtract(half, upper[span], out=lower[span])
            np.add(upper[span], half, out=upper[span])
        # upper is u (never −0: σ√T/2 > 0 is added last), lower is |d| = −d.
        np.multiply(forward, factor, out=smaller)
        np.minimum(smaller, k, out=smaller)
        # min(F, K)·[u ≥ 0] as ½·min(F, K) ± ½·min(F, K): exact, and no mask to gather.
        np.multiply(smaller, 0.5, out=value)
        value += np.copysign(value, upper, out=signed)
        np.multiply(upper, upper, out=density)
        density *= -0.5
        np.exp(density, out=density)  # underflow to 0 far out of the money: numpy ignores it
        density *= smaller  # G
        np.copysign(density, upper, out=signed)
        np.abs(upper, out=upper)
        normal_tail_ratio(tails, out=ratios, scratch=scratch, scale=-1.0)
        ratios[0] *= signed
        ratios[1] *= density
        value += ratios[0]
        value += ratios[1]
        np.maximum(value, 0.0, out=value)
        intrinsic = np.multiply(forward, self.signed_factor[:, :width], out=density)
        intrinsic -= self.signed_strike[:width]
        np.maximum(intrinsic, 0.0, out=intrinsic)
        value += intrinsic
        if self.discount is not None:
            value *= self.discount[:width]
        return np.asarray(value.reshape(len(factor), stop - start, self.n), dtype=np.float64)


def estimate_margin_arrays(
    legs: MarginLegs, state: MarketState, params: MarginParameters = DEFAULT_PARAMETERS
) -> MarginArrays:
    """The SPAN-like estimate (scan risk, short option minimum, SPAN, exposure) of ``legs`` in
    every state of ``state``'s batch axes, unrounded paise, vectorised over states × legs."""
    batch = _check_state(legs, state)
    n = len(legs)
    layout = _layout(legs, params)
    full = (*batch, n)
    forward = np.broadcast_to(np.asarray(state.forward, dtype=np.float64), full).reshape(-1, n)
    spot = np.broadcast_to(np.asarray(state.spot, dtype=np.float64), full).reshape(-1, n)
    vol = np.broadcast_to(np.asarray(state.vol, dtype=np.float64), full).reshape(-1, n)

    worst, values = _scan(legs, layout, forward, vol, params)
    q = legs.quantity
    option_q = np.where(legs.is_option, q, 0.0)
    net_long = np.maximum((values * option_q) @ layout.by_underlying, 0.0)
    # Short option minimum per (underlying, expiry), capped at the group's largest loss.
    group_value = (values * option_q) @ layout.by_group
    charge = (spot * layout.som_rate * np.abs(q)) @ layout.by_group
    som_groups = np.maximum(np.minimum(charge, group_value - layout.group_min_payoff), 0.0)
    som = som_groups @ layout.group_underlying
    span_u = np.maximum(np.maximum(worst, som) - net_long, 0.0)
    notional = np.where(legs.is_option, spot, forward) * np.abs(q)
    exposure = (notional * layout.elm_rate).sum(axis=1)

    def shaped(a: FloatArray, *extra: int) -> FloatArray:
        return np.asarray(a.reshape((*batch, *extra)), dtype=np.float64)

    n_u = len(layout.underlyings)
    return MarginArrays(
        underlyings=layout.underlyings,
        scan_risk=shaped(np.maximum(worst, 0.0).sum(axis=1)),
        short_option_minimum=shaped(som.sum(axis=1)),
        net_long_option_value=shaped(net_long.sum(axis=1)),
        span_by_underlying=shaped(span_u, n_u),
        span=shaped(span_u.sum(axis=1)),
        exposure=shaped(exposure),
    )


def estimate_margin(
    legs: MarginLegs,
    state: MarketState,
    params: MarginParameters = DEFAULT_PARAMETERS,
    *,
    premium_price: npt.ArrayLike | None = None,
) -> MarginEstimate:
    """The estimate of one state (arrays shaped ``(n,)``) in paise, rounded up per
    underlying. ``premium_price`` (paise per unit, one per leg; 0 for positions already
    held) prices the premium of the legs still to be traded; without it there is none."""
    arrays = estimate_margin_arrays(legs, state, params)
    if arrays.span.shape != ():
        raise ValueError(f"estimate_margin takes one state; got batch shape {arrays.span.shape}")
    by_underlying = {
        u: ceil_paise(float(v))
        for u, v in zip(arrays.underlyings, arrays.span_by_underlying, strict=True)
    }
    paid = received = Paise(0)
    if premium_price is not None:
        paid, received = premium_flows(legs.quantity, premium_price, legs.is_option)
    return MarginEstimate(
        span=Paise(sum(by_underlying.values())),
        exposure=ceil_paise(float(arrays.exposure)),
        short_option_minimum=ceil_paise(float(arrays.short_option_minimum)),
        premium_paid=paid,
        premium_received=received,
        span_by_underlying=by_underlying,
    )


__all__ = [
    "DEFAULT_PARAMETERS",
    "MIN_VOL",
    "MIN_YEARS",
    "SCENARIOS",
    "MarginArrays",
    "MarginEstimate",
    "MarginLegs",
    "MarginParameters",
    "MarketState",
    "ceil_paise",
    "estimate_margin",
    "estimate_margin_arrays",
    "option_value",
    "premium_flows",
]
