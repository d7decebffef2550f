"""The paper exchange's market: seeded, deterministic prices for every contract in the universe.

**Underlyings.** Each underlying's spot follows geometric Brownian motion with Poisson jumps
of log-normal size (Merton), in fixed steps of one second of market time, and only while the
regular session is open (09:15–15:30 IST on the calendar's trading days). Volatility is
annual over trading time: a step is ``dt = 1 / (252 × 22,500)`` of a year, so a session
carries a day of variance. Per step, with uniforms ``u0, u1, u2``::

    z_diffusion = √(−2 ln(1−u0)) · cos(2π u1)          (Box–Muller; z_jump uses sin)
    log S += −(σ²/2 + λκ)·dt + σ√dt · z_diffusion + [u2 < λ·dt] · σ_J · z_jump

with ``κ = e^{σ_J²/2} − 1`` (the jump compensator: the spot is a martingale, no drift). The
uniforms are drawn as ``Generator.random((n, 3))`` and summed with a sequential cumulative
sum, so a path is the same whether it is advanced one second at a time or a day at once: it
is a pure function of the seed, the underlying's id and the number of steps. Each underlying
has its own ``numpy.random.Generator`` (PCG64) seeded by ``SeedSequence(seed,
spawn_key=(id, 0))`` — what ``SeedSequence(seed).spawn`` gives its ``id``-th child — so adding
an underlying changes nobody else's path. At each session open the spot gaps by
``N(0, (0.5 · σ/√252)²)`` in log terms, drawn from a second stream (``spawn_key=(id, 1)``).

**Contracts.** Prices are taken at the *pricing time*: the end of the last step, which stands
still while the market is closed, so nothing moves overnight (time decay shows at the next
open). Futures trade at the forward ``F = S·e^{rT}``, ``T`` in years to the expiry's 15:30
IST close, ACT/365. Options are Black-76 on that forward with a volatility smile per expiry::

    σ(K, T) = σ_atm(T) · clip(1 + skew·x + curvature·x², 0.5, 3),  x = ln(K/F) / √max(T, 1/365)
    σ_atm(T) = σ_underlying · (1 + 0.10 · e^{−days/10})       (near expiries a bit higher)

(index skew −0.35, curvature 0.8; stocks −0.15 and 0.6). Quotes put a bid and an ask around
the theoretical value, the bid rounded down and the ask up to the 5-paise tick, never
crossed; the half-spread is a fraction of the premium that widens away from the money and
near expiry, floored at half a tick::

    half = max(tick/2, value · h · liquidity · (1 + |z|) · (1 + 1.5/(1 + days)))
    z = ln(K/F) / (σ·√max(T, 1/365))  (standard moneyness),  h = 0.0005 for options

(``liquidity`` 1 for indices, 3 for stocks). Futures use ``max(tick/2, F · 0.00001 ·
liquidity)`` and a stock's cash market ``max(tick/2, S · 0.0001)``. So the spread is wider
*relative to the premium* far from the money and near expiry (in rupees a deep ITM option's
spread is the widest). A bid below 5 paise is not shown: a worthless option has asks only.
Five levels a side are ``tick · max(1, ⌊half/tick⌋)`` apart; each level's size is 1 to
``round(60 · (0.1 + w))`` lots (futures 40), ``w = e^{−z²/2}`` at the day's open, and its order
count 1 to min(lots, 20), both from a SplitMix64 hash of (token, step ÷ 5, side, level):
deterministic, redrawn every five steps, and free of the spot's random streams. A stock's
cash-market "lot" for sizes is 25 shares. Index rows carry the last price and OHLC only.

**Day statistics** are functions of the state, not of who asked when: ``ohlc.close`` is the
previous session's close (Kite's convention); an option's open is its value at the day's open
and its high and low come from the underlying's day high and low at the current pricing
time; volume grows linearly through the session at a rate set at the open (higher near the
money); open interest is larger near the money; ``average_price`` is the typical price
(open + high + low + last) / 4 on the tick.

Index options cash-settle at :meth:`Market.settlement_price`, the spot at 15:30 on expiry
day, recorded as each session closes. The market is plain Python and numpy: no I/O, no clock
(the server calls :meth:`Market.advance` with the seconds a :class:`MarketClock` hands it), no
threads. Quotes are computed per underlying as numpy arrays over every contract at once and
cached until the next step; :class:`Quote` objects are built on request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from cockpit import pricing
from cockpit.domain.calendar import IST, TradingCalendar
from cockpit.domain.instruments import InstrumentType, UnknownInstrumentError
from cockpit.domain.market_data import DepthLevel, Ohlc, Quote
from cockpit.domain.money import Paise
from cockpit.exchange.universe import UnderlyingModel, Universe

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SESSION_SECONDS = 22_500  # 09:15-15:30
TRADING_DAYS_PER_YEAR = 252
STEP_YEARS = 1.0 / (TRADING_DAYS_PER_YEAR * SESSION_SECONDS)
YEAR_SECONDS = 365 * 86_400
GAP_FRACTION = 0.5  # overnight gap σ as a fraction of a day's σ
COARSE_AFTER_SESSIONS = 10  # set_time aggregates whole sessions beyond this many
DEPTH_RESAMPLE_STEPS = 5
DEPTH_LEVELS = 5

_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_SMILE_T = 1.0 / 365
_FORMAT = 1

# Row kinds in a pricing frame.
_INDEX, _STOCK, _FUTURE, _CALL, _PUT = 0, 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class SmileParameters:
    """σ(K, T) = σ_atm(T) · clip(1 + skew·x + curvature·x², floor, cap), x = ln(K/F)/√T."""

    skew: float
    curvature: float
    term_boost: float = 0.10
    term_days: float = 10.0
    floor: float = 0.5
    cap: float = 3.0


INDEX_SMILE = SmileParameters(skew=-0.35, curvature=0.8)
STOCK_SMILE = SmileParameters(skew=-0.15, curvature=0.6)


@dataclass(frozen=True, slots=True)
class SpreadParameters:
    """Half-spreads as fractions of the price; see the module docstring for the formula."""

    option: float = 0.0005
    future: float = 0.00001
    cash: float = 0.0001
    expiry_boost: float = 1.5
    stock_liquidity: float = 3.0


SPREADS = SpreadParameters()


# ---- time helpers ------------------------------------------------------------------------


def _to_us(at: datetime) -> int:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"market time must be timezone-aware, got naive {at.isoformat()}")
    return (at - _EPOCH) // timedelta(microseconds=1)


def _from_us(us: int) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(IST)


def _ist_date(us: int) -> date:
    return _from_us(us).date()


# ---- hashing for depth sizes ---------------------------------------------------------------

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finaliser: a deterministic, well-spread hash of each element."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M2
    x = x ^ (x >> np.uint64(27))
    x = x * _M3
    return x ^ (x >> np.uint64(31))


def _hash(tokens: npt.NDArray[np.uint64], salt: int) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        return _mix(tokens * _M1 + np.uint64(salt & 0xFFFFFFFFFFFFFFFF))


# ---- per-underlying state ------------------------------------------------------------------


def _generator(seed: int, ident: int, stream: int) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(ident, stream)))
    )


class _Path:
    """One underlying's simulated spot and its session statistics (mutable)."""

    def __init__(self, model: UnderlyingModel, seed: int, spot: float) -> None:
        self.model = model
        self.log_spot = math.log(spot)
        self.rng = _generator(seed, model.id, 0)
        self.gap_rng = _generator(seed, model.id, 1)
        self.day: date | None = None  # the session last opened
        self.day_closed = False
        self.day_open = spot
        self.day_high = spot
        self.day_low = spot
        self.prev_close: float | None = None
        self.prev_day: date | None = None
        self.closes: dict[date, float] = {}
        sigma = model.volatility
        lam = model.jump_intensity
        kappa = math.expm1(0.5 * model.jump_sigma**2)
        self._drift = -(0.5 * sigma * sigma + lam * kappa) * STEP_YEARS
        self._diffusion = sigma * math.sqrt(STEP_YEARS)
        self._jump_p = lam * STEP_YEARS
        self._gap_sigma = GAP_FRACTION * sigma / math.sqrt(TRADING_DAYS_PER_YEAR)

    @property
    def spot(self) -> float:
        return math.exp(self.log_spot)

    def open_day(self, day: date, *, gap: bool) -> None:
        if self.day is not None:
            self.prev_day = self.day
            self.prev_close = self.closes.get(self.day, self.spot)
        if gap:
            self.log_spot += self._gap_sigma * float(self.gap_rng.standard_normal())
        spot = self.spot
        self.day, self.day_closed = day, False
        self.day_open = self.day_high = self.day_low = spot

    def close_day(self) -> None:
        if self.day is not None and not self.day_closed:
            self.closes[self.day] = self.spot
            self.day_closed = True
            # Settlement needs recent closes only; keep about three months.
            cutoff = self.day - timedelta(days=100)
            for old in [d for d in self.closes if d < cutoff]:
                del self.closes[old]

    def step(self, n: int) -> None:
        """``n`` one-second steps, vectorised; identical to ``n`` calls of ``step(1)``."""
        if n <= 0:
            return
        u = self.rng.random((n, 3))
        radius = np.sqrt(-2.0 * np.log1p(-u[:, 0]))
        angle = 2.0 * np.pi * u[:, 1]
        returns = self._drift + self._diffusion * radius * np.cos(angle)
        if self._jump_p > 0:
            jumps = u[:, 2] < self._jump_p
            returns = returns + np.where(jumps, self.model.jump_sigma * radius * np.sin(angle), 0.0)
        path = np.cumsum(np.concatenate(([self.log_spot], returns)))
        self.log_spot = float(path[-1])
        self.day_high = max(self.day_high, math.exp(float(path[1:].max())))
        self.day_low = min(self.day_low, math.exp(float(path[1:].min())))

    def step_session_aggregated(self) -> None:
        """A whole session in one draw: the day's diffusion and its jumps summed."""
        u = self.rng.random(3)
        radius = math.sqrt(-2.0 * math.log1p(-float(u[0])))
        z1 = radius * math.cos(2.0 * math.pi * float(u[1]))
        z2 = radius * math.sin(2.0 * math.pi * float(u[1]))
        jumps = _poisson_inverse(self._jump_p * SESSION_SECONDS, float(u[2]))
        self.log_spot += (
            self._drift * SESSION_SECONDS
            + self._diffusion * math.sqrt(SESSION_SECONDS) * z1
            + math.sqrt(jumps) * self.model.jump_sigma * z2
        )
        spot = self.spot
        self.day_high = max(self.day_high, spot)
        self.day_low = min(self.day_low, spot)

    # ---- snapshot --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "log_spot": self.log_spot,
            "day": None if self.day is None else self.day.isoformat(),
            "day_closed": self.day_closed,
            "day_open": self.day_open,
            "day_high": self.day_high,
            "day_low": self.day_low,
            "prev_close": self.prev_close,
            "prev_day": None if self.prev_day is None else self.prev_day.isoformat(),
            "closes": {d.isoformat(): v for d, v in sorted(self.closes.items())},
            "rng": _rng_state(self.rng),
            "gap_rng": _rng_state(self.gap_rng),
        }

    def load(self, data: Mapping[str, Any]) -> None:
        self.log_spot = float(data["log_spot"])
        self.day = None if data["day"] is None else date.fromisoformat(data["day"])
        self.day_closed = bool(data["day_closed"])
        self.day_open = float(data["day_open"])
        self.day_high = float(data["day_high"])
        self.day_low = float(data["day_low"])
        self.prev_close = None if data["prev_close"] is None else float(data["prev_close"])
        self.prev_day = None if data["prev_day"] is None else date.fromisoformat(data["prev_day"])
        self.closes = {date.fromisoformat(d): float(v) for d, v in data["closes"].items()}
        _set_rng_state(self.rng, data["rng"])
        _set_rng_state(self.gap_rng, data["gap_rng"])


def _poisson_inverse(mean: float, u: float) -> int:
    """The Poisson(mean) count whose CDF first exceeds ``u`` (mean is small: a few a day)."""
    k, p = 0, math.exp(-mean)
    cdf = p
    while u > cdf and k < 1000:
        k += 1
        p *= mean / k
        cdf += p
    return k


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    state = rng.bit_generator.state
    inner = state["state"]
    # 128-bit integers as hex text: JSON readers other than Python's lose big integers.
    return {
        "bit_generator": state["bit_generator"],
        "state": format(inner["state"], "x"),
        "inc": format(inner["inc"], "x"),
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }


def _set_rng_state(rng: np.random.Generator, data: Mapping[str, Any]) -> None:
    if data["bit_generator"] != "PCG64":
        raise ValueError(f"market snapshot has a {data['bit_generator']} state, expected PCG64")
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int(data["state"], 16), "inc": int(data["inc"], 16)},
        "has_uint32": int(data["has_uint32"]),
        "uinteger": int(data["uinteger"]),
    }


# ---- static per-underlying contract arrays --------------------------------------------------


class _Book:
    """An underlying's contracts as arrays, in the universe's order (spot row first)."""

    def __init__(self, universe: Universe, model: UnderlyingModel, calendar: TradingCalendar):
        name = model.name
        rows = [universe.spot_instrument(name), *universe.futures(name)]
        for expiry in universe.expiries(name):
            rows.extend(universe.options(name, expiry))
        n = len(rows)
        self.model = model
        self.tokens: IntArray = np.array([r.instrument_token for r in rows], dtype=np.int64)
        self.position = {int(t): i for i, t in enumerate(self.tokens)}
        kind = np.empty(n, dtype=np.int64)
        strike = np.ones(n)
        expiry_close = np.zeros(n)
        for i, r in enumerate(rows):
            if r.instrument_type is InstrumentType.EQ:
                kind[i] = _INDEX if model.is_index else _STOCK
            elif r.instrument_type is InstrumentType.FUT:
                kind[i] = _FUTURE
            else:
                kind[i] = _CALL if r.instrument_type is InstrumentType.CE else _PUT
                strike[i] = float(r.strike or 1)
            if r.expiry is not None:
                expiry_close[i] = _to_us(calendar.session_close(r.expiry)) / _US
        self.kind = kind
        self.is_option = (kind == _CALL) | (kind == _PUT)
        self.is_call = kind == _CALL
        self.strike = strike
        self.expiry_close = expiry_close
        # Index values are quoted to the paisa; everything else on its tick (5 paise).
        self.tick: IntArray = np.array([max(r.tick_size_paise, 1) for r in rows], dtype=np.int64)
        self.lot: IntArray = np.array([max(r.lot_size, 1) for r in rows], dtype=np.int64)
        # Depth is shown in lots; a cash-market "lot" for sizing is 25 shares.
        self.size_unit: IntArray = np.where(kind == _STOCK, 25, self.lot).astype(np.int64)
        self.hash_tokens = self.tokens.astype(np.uint64)
        self.smile = INDEX_SMILE if model.is_index else STOCK_SMILE
        self.liquidity = 1.0 if model.is_index else SPREADS.stock_liquidity


@dataclass(frozen=True, slots=True)
class _FrameRows:
    """A frame's quote fields as Python lists: one conversion per frame instead of one numpy
    scalar per field per quote."""

    at: datetime
    last: list[Paise]
    ohlc: list[list[Paise]]
    average: list[Paise]
    volume: list[int]
    oi: list[int]
    last_qty: list[int]
    bid_levels: list[int]
    bid_px: list[list[Paise]]
    bid_qty: list[list[int]]
    bid_orders: list[list[int]]
    ask_px: list[list[Paise]]
    ask_qty: list[list[int]]
    ask_orders: list[list[int]]


@dataclass(frozen=True, slots=True)
class _Depth:
    """Five levels a side as (n, 5) arrays, best first. ``bid_levels`` counts the bid levels
    at or above one tick (0 for a worthless option or an index); index rows have no asks
    (their ask quantities are 0 and are not shown)."""

    bid_levels: IntArray
    bid_px: IntArray
    bid_qty: IntArray
    bid_orders: IntArray
    ask_px: IntArray
    ask_qty: IntArray
    ask_orders: IntArray


@dataclass(slots=True)
class _Frame:
    """An underlying's computed market at one pricing time (arrays aligned with its book)."""

    at_us: int
    theo: FloatArray  # rupees
    vol: FloatArray
    last: IntArray  # paise
    ohlc: IntArray  # (n, 4) open, high, low, close
    average: IntArray
    volume: IntArray
    oi: IntArray
    last_qty: IntArray
    depth: _Depth
    _rows: _FrameRows | None = None

    def rows(self) -> _FrameRows:
        if self._rows is None:
            self._rows = _FrameRows(
                at=_from_us(self.at_us),
                last=self.last.tolist(),
                ohlc=self.ohlc.tolist(),
                average=self.average.tolist(),
                volume=self.volume.tolist(),
                oi=self.oi.tolist(),
                last_qty=self.last_qty.tolist(),
                bid_levels=self.depth.bid_levels.tolist(),
                bid_px=self.depth.bid_px.tolist(),
                bid_qty=self.depth.bid_qty.tolist(),
                bid_orders=self.depth.bid_orders.tolist(),
                ask_px=self.depth.ask_px.tolist(),
                ask_qty=self.depth.ask_qty.tolist(),
                ask_orders=self.depth.ask_orders.tolist(),
            )
        return self._rows


@dataclass(slots=True)
class _DayProfile:
    """Values fixed for a session: each contract's open and previous close, its volume and
    open-interest weights."""

    day: date | None
    open_value: FloatArray
    prev_value: FloatArray
    weight: FloatArray


# ---- the market ------------------------------------------------------------------------------


class Market:
    """The simulated market. See the module docstring for the model.

    ``spot``, ``forward`` and ``settlement_price`` answer in paise, as the matching engine
    and margin model read them; ``spot_rupees``, ``forward_rupees`` and ``theoretical`` give
    the model's float rupees.
    """

    def __init__(
        self,
        universe: Universe,
        calendar: TradingCalendar,
        *,
        seed: int,
        start: datetime,
        rate: float = 0.065,
    ) -> None:
        self._calendar = calendar
        self._seed = int(seed)
        self._rate = float(rate)
        self._now_us = _to_us(start)
        self._step_count = 0
        self._paths: dict[str, _Path] = {}
        self._universe = universe
        self._books: dict[str, _Book] = {}
        self._where: dict[int, tuple[str, int]] = {}
        self._frames: dict[str, _Frame] = {}
        self._profiles: dict[str, _DayProfile] = {}
        self._quotes: dict[int, Quote] = {}
        self._published: dict[str, tuple[IntArray, npt.NDArray[np.int64]]] = {}
        self._version = 0
        self._set_universe(universe)

    # ---- construction ----------------------------------------------------------------------

    def _new_path(self, model: UnderlyingModel) -> _Path:
        path = _Path(model, self._seed, model.spot)
        # The session in progress or last held at start is the path's current day (no gap).
        day = self._current_session_day(self._now_us)
        if day is not None:
            path.open_day(day, gap=False)
            if self._now_us >= _to_us(self._calendar.session_close(day)):
                path.close_day()
        return path

    def _current_session_day(self, us: int) -> date | None:
        """The trading day whose session is open at ``us`` or was the last to open."""
        day = _ist_date(us)
        if self._calendar.is_trading_day(day) and us >= _to_us(self._calendar.session_open(day)):
            return day
        try:
            return self._calendar.previous_trading_day(day)
        except ValueError:
            return None

    def set_universe(self, universe: Universe) -> None:
        """Switch to a rolled universe (a new trading day's contracts). Underlyings keep
        their paths; a new underlying starts at its seed spot; expired contracts' tokens
        stop being quoted (the matching engine settles their positions before the roll)."""
        self._set_universe(universe)

    def _set_universe(self, universe: Universe) -> None:
        self._universe = universe
        paths: dict[str, _Path] = {}
        for model in universe.underlyings:
            old = self._paths.get(model.name)
            if old is not None and old.model.id != model.id:
                raise ValueError(
                    f"underlying {model.name} changed id from {old.model.id} to {model.id}"
                )
            paths[model.name] = old if old is not None else self._new_path(model)
        self._paths = paths
        self._books = {m.name: _Book(universe, m, self._calendar) for m in universe.underlyings}
        self._where = {
            token: (name, i)
            for name, book in self._books.items()
            for token, i in book.position.items()
        }
        self._profiles.clear()
        self._published = {}
        self._invalidate()

    def _invalidate(self) -> None:
        self._version += 1
        self._frames.clear()
        self._quotes.clear()

    # ---- clock -------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return _from_us(self._now_us)

    @property
    def step_count(self) -> int:
        """One-second session steps the market has moved through (aggregated ones included)."""
        return self._step_count

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def universe(self) -> Universe:
        return self._universe

    def is_open(self) -> bool:
        return self._calendar.session_state(self.now).is_open

    def advance(self, seconds: float) -> None:
        """Move market time forward; every whole second that ends inside a session is one
        step of every underlying."""
        if not seconds >= 0:
            raise ValueError(f"market time cannot move backwards ({seconds} s)")
        self._run_to(self._now_us + round(seconds * _US), coarse=False)

    def set_time(self, at: datetime) -> None:
        """Jump market time forward to ``at`` (the admin control); backwards raises.

        Up to ten sessions are stepped second by second, exactly as :meth:`advance` would.
        Beyond that, each whole session inside the span is one aggregated draw (its diffusion
        and Poisson jump count summed; day high/low then only know the open and close), so
        a jump of months costs milliseconds; partial sessions at either end are still
        stepped by the second. The path then differs from advancing by the second, but is
        as deterministic.
        """
        target = _to_us(at)
        if target < self._now_us:
            raise ValueError(
                f"market time cannot move backwards from {self.now.isoformat()} to "
                f"{at.astimezone(IST).isoformat()}"
            )
        self._run_to(target, coarse=True)

    def _sessions(self, start_us: int, end_us: int) -> list[tuple[date, int, int]]:
        days: list[tuple[date, int, int]] = []
        day = _ist_date(start_us)
        last = _ist_date(end_us)
        while day <= last:
            if self._calendar.is_trading_day(day):
                open_us = _to_us(self._calendar.session_open(day))
                close_us = _to_us(self._calendar.session_close(day))
                if end_us >= open_us and start_us <= close_us:
                    days.append((day, open_us, close_us))
            day += timedelta(days=1)
        return days

    def _run_to(self, target_us: int, *, coarse: bool) -> None:
        start_us = self._now_us
        if target_us == start_us:
            return
        sessions = self._sessions(start_us, target_us)
        aggregate = coarse and len(sessions) > COARSE_AFTER_SESSIONS
        moved = False
        for day, open_us, close_us in sessions:
            paths = list(self._paths.values())
            for path in paths:
                if path.day != day:
                    path.close_day()
                    path.open_day(day, gap=True)
                    moved = True
            lo, hi = max(start_us, open_us), min(target_us, close_us)
            steps = hi // _US - lo // _US if hi > lo else 0
            if steps > 0:
                if aggregate and lo == open_us and hi == close_us and start_us < open_us:
                    for path in paths:
                        path.step_session_aggregated()
                else:
                    for path in paths:
                        path.step(steps)
                self._step_count += steps
                moved = True
            if target_us >= close_us:
                for path in paths:
                    path.close_day()
        self._now_us = target_us
        if moved or self._pricing_us(start_us) != self._pricing_us(target_us):
            self._invalidate()

    def _pricing_us(self, us: int) -> int:
        """The pricing time for market time ``us``: the end of the last step (whole seconds,
        within the last session that opened)."""
        day = self._current_session_day(us)
        if day is None:
            return (us // _US) * _US
        close_us = _to_us(self._calendar.session_close(day))
        return min((us // _US) * _US, close_us)

    # ---- fault injection -----------------------------------------------------------------------

    def gap(self, underlying: str, pct: float) -> None:
        """Move ``underlying`` by ``pct`` percent at once (``gap("NIFTY", -5)``)."""
        path = self._path(underlying)
        if not pct > -100:
            raise ValueError(f"a gap of {pct}% would leave {underlying} at or below zero")
        path.log_spot += math.log1p(pct / 100.0)
        spot = path.spot
        path.day_high = max(path.day_high, spot)
        path.day_low = min(path.day_low, spot)
        self._invalidate()

    # ---- underlying values -------------------------------------------------------------------

    def _path(self, underlying: str) -> _Path:
        try:
            return self._paths[underlying]
        except KeyError:
            listed = ", ".join(self._paths)
            raise UnknownInstrumentError(
                f"no underlying {underlying} in the market (listed: {listed})"
            ) from None

    def spot_rupees(self, underlying: str) -> float:
        return self._path(underlying).spot

    def spot(self, underlying: str) -> Paise:
        """The underlying's level in paise (rounded to the paisa)."""
        return Paise(round(self.spot_rupees(underlying) * 100))

    def years_to_expiry(self, expiry: date) -> float:
        """ACT/365 years from the pricing time to 15:30 IST on ``expiry`` (0 once past)."""
        close_us = _to_us(self._calendar.session_close(expiry))
        return max(close_us - self._pricing_us(self._now_us), 0) / _US / YEAR_SECONDS

    def forward_rupees(self, underlying: str, expiry: date) -> float:
        return self.spot_rupees(underlying) * math.exp(self._rate * self.years_to_expiry(expiry))

    def forward(self, underlying: str, expiry: date) -> Paise:
        """Cost of carry, ``F = S·e^{rT}``, in paise."""
        return Paise(round(self.forward_rupees(underlying, expiry) * 100))

    def settlement_price(self, underlying: str, expiry: date) -> Paise:
        """The spot at the expiry's 15:30 close, what index options cash-settle at.

        Raises ValueError before that close (or for a close older than the market keeps).
        """
        path = self._path(underlying)
        close = path.closes.get(expiry)
        if close is None:
            raise ValueError(
                f"{underlying} {expiry}: no settlement price (the market is at "
                f"{self.now.isoformat()}; settlement is the spot at 15:30 on expiry day)"
            )
        return Paise(round(close * 100))

    # ---- contract values -----------------------------------------------------------------------

    def _locate(self, token: int) -> tuple[str, int]:
        try:
            return self._where[token]
        except KeyError:
            raise UnknownInstrumentError(
                f"no instrument with token {token} in the market"
            ) from None

    def theoretical(self, token: int) -> float:
        """The model value in rupees: the spot, the forward, or the Black-76 option value."""
        name, i = self._locate(token)
        return float(self._frame(name).theo[i])

    def model_vol(self, token: int) -> float:
        """The smile's volatility for an option; the expiry's ATM volatility for a future;
        the underlying's volatility for its spot row."""
        name, i = self._locate(token)
        return float(self._frame(name).vol[i])

    def quote(self, token: int) -> Quote:
        cached = self._quotes.get(token)
        if cached is not None:
            return cached
        name, i = self._locate(token)
        quote = self._build_quote(token, self._books[name], self._frame(name), i)
        self._quotes[token] = quote
        return quote

    def quotes(self, tokens: Iterable[int]) -> dict[int, Quote]:
        return {token: self.quote(token) for token in tokens}

    def changed_tokens(self) -> set[int]:
        """Tokens whose quote changed since the previous call (all of them on the first
        call, and after a universe switch); the server pushes ticks for these."""
        changed: set[int] = set()
        for name, book in self._books.items():
            frame = self._frame(name)
            signature = np.column_stack(
                (
                    frame.last,
                    frame.depth.bid_px[:, 0],
                    frame.depth.ask_px[:, 0],
                    frame.depth.bid_levels,
                    frame.volume,
                    frame.oi,
                    frame.ohlc,
                    frame.depth.bid_qty,
                    frame.depth.ask_qty,
                )
            )
            previous = self._published.get(name)
            if previous is None or previous[0].shape != signature.shape:
                differs = np.ones(len(book.tokens), dtype=np.bool_)
            else:
                differs = np.any(signature != previous[0], axis=1)
            self._published[name] = (signature, book.tokens)
            changed.update(book.tokens[differs].tolist())
        return changed

    # ---- computing a frame -----------------------------------------------------------------------

    def _frame(self, name: str) -> _Frame:
        frame = self._frames.get(name)
        if frame is None:
            frame = self._compute(name)
            self._frames[name] = frame
        return frame

    def _values(
        self, book: _Book, spot: float, at_s: float
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """(value, vol, forward, years) of every row at spot ``spot`` and time ``at_s``."""
        years = np.where(book.kind >= _FUTURE, np.maximum(book.expiry_close - at_s, 0.0), 0.0)
        years = years / YEAR_SECONDS
        forward = spot * np.exp(self._rate * years)
        vol = self._smile(book, forward, years)
        value = np.where(book.kind >= _FUTURE, forward, spot)
        if book.is_option.any():
            option = pricing.price(
                forward, book.strike, years, rate=self._rate, vol=vol, is_call=book.is_call
            )
            value = np.where(book.is_option, option, value)
        return value, vol, forward, years

    def _smile(self, book: _Book, forward: FloatArray, years: FloatArray) -> FloatArray:
        p = book.smile
        days = years * 365.0
        atm = book.model.volatility * (1.0 + p.term_boost * np.exp(-days / p.term_days))
        x = np.log(book.strike / forward) / np.sqrt(np.maximum(years, _MIN_SMILE_T))
        factor = np.clip(1.0 + p.skew * x + p.curvature * x * x, p.floor, p.cap)
        return np.where(
            book.is_option, atm * factor, np.where(book.kind == _FUTURE, atm, book.model.volatility)
        )

    def _profile(self, name: str, book: _Book, path: _Path) -> _DayProfile:
        profile = self._profiles.get(name)
        if profile is not None and profile.day == path.day:
            return profile
        if path.day is None:
            at_open = self._pricing_us(self._now_us) / _US
        else:
            at_open = _to_us(self._calendar.session_open(path.day)) / _US
        open_value, vol, forward, years = self._values(book, path.day_open, at_open)
        if path.prev_close is not None and path.prev_day is not None:
            at_prev = _to_us(self._calendar.session_close(path.prev_day)) / _US
            prev_value = self._values(book, path.prev_close, at_prev)[0]
        else:
            prev_value = open_value
        z = _moneyness(book, forward, years, vol)
        weight = np.exp(-0.5 * z * z)
        profile = _DayProfile(path.day, open_value, prev_value, weight)
        self._profiles[name] = profile
        return profile

    def _compute(self, name: str) -> _Frame:
        book = self._books[name]
        path = self._paths[name]
        at_us = self._pricing_us(self._now_us)
        at_s = at_us / _US
        theo, vol, forward, years = self._values(book, path.spot, at_s)
        profile = self._profile(name, book, path)
        theo_p = theo * 100.0
        last = np.where(
            book.kind == _INDEX,
            np.round(theo_p).astype(np.int64),
            np.maximum(_round_nearest(theo_p, book.tick), book.tick),
        )
        ohlc = _day_ohlc(
            book,
            last,
            profile,
            high_value=self._values(book, path.day_high, at_s)[0],
            low_value=self._values(book, path.day_low, at_s)[0],
        )
        volume, oi = _activity(book, profile.weight, self._session_elapsed(path, at_us))
        average = np.where(
            volume > 0, _round_nearest(ohlc[:, :3].sum(axis=1) / 4.0 + last / 4.0, book.tick), 0
        )
        last_qty_lots = 1 + (
            _hash(book.hash_tokens, self._step_count * 3 + 7) % np.uint64(4)
        ).astype(np.int64)
        touch = _touch(book, theo_p, _moneyness(book, forward, years, vol), years)
        return _Frame(
            at_us=at_us,
            theo=theo,
            vol=vol,
            last=last,
            ohlc=ohlc,
            average=average,
            volume=volume,
            oi=oi,
            last_qty=np.where(volume > 0, last_qty_lots * book.size_unit, 0),
            depth=_depth(book, touch, profile.weight, self._step_count),
        )

    def _session_elapsed(self, path: _Path, at_us: int) -> float:
        if path.day is None:
            return 0.0
        open_us = _to_us(self._calendar.session_open(path.day))
        return float(min(max(at_us - open_us, 0) / _US, SESSION_SECONDS))

    def _build_quote(self, token: int, book: _Book, frame: _Frame, i: int) -> Quote:
        rows = frame.rows()
        ohlc = Ohlc(*rows.ohlc[i])
        if book.kind[i] == _INDEX:
            return Quote(instrument_token=token, at=rows.at, last_price=rows.last[i], ohlc=ohlc)
        n = rows.bid_levels[i]
        bids = (
            tuple(map(DepthLevel, rows.bid_px[i][:n], rows.bid_qty[i][:n], rows.bid_orders[i][:n]))
            if n
            else ()
        )
        asks = tuple(map(DepthLevel, rows.ask_px[i], rows.ask_qty[i], rows.ask_orders[i]))
        return Quote(
            instrument_token=token,
            at=rows.at,
            last_price=rows.last[i],
            last_quantity=rows.last_qty[i],
            average_price=rows.average[i],
            volume=rows.volume[i],
            open_interest=rows.oi[i],
            ohlc=ohlc,
            bids=bids,
            asks=asks,
        )

    # ---- snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to continue the identical path (JSON-serialisable)."""
        return {
            "format": _FORMAT,
            "seed": self._seed,
            "rate": self._rate,
            "now_us": self._now_us,
            "step_count": self._step_count,
            "underlyings": {
                name: {"id": path.model.id, **path.to_dict()} for name, path in self._paths.items()
            },
        }

    @classmethod
    def restore(
        cls, universe: Universe, calendar: TradingCalendar, snapshot: Mapping[str, Any]
    ) -> Market:
        """The market a :meth:`snapshot` describes, over ``universe`` (typically rebuilt for
        the snapshot's day). Underlyings the snapshot lacks start at their seed spot at the
        snapshot's time; ones the universe no longer lists are dropped."""
        if snapshot.get("format") != _FORMAT:
            raise ValueError(f"market snapshot format {snapshot.get('format')!r} is not {_FORMAT}")
        start = _from_us(int(snapshot["now_us"]))
        market = cls(
            universe,
            calendar,
            seed=int(snapshot["seed"]),
            start=start,
            rate=float(snapshot["rate"]),
        )
        market._step_count = int(snapshot["step_count"])
        saved: Mapping[str, Any] = snapshot["underlyings"]
        for name, path in market._paths.items():
            data = saved.get(name)
            if data is None:
                continue
            if int(data["id"]) != path.model.id:
                raise ValueError(
                    f"market snapshot: {name} has id {data['id']}, universe has {path.model.id}"
                )
            path.load(data)
        market._invalidate()
        return market


def _round_nearest(values_paise: FloatArray, tick: IntArray) -> IntArray:
    return (np.floor(values_paise / tick + 0.5).astype(np.int64) * tick).astype(np.int64)


def _moneyness(book: _Book, forward: FloatArray, years: FloatArray, vol: FloatArray) -> FloatArray:
    """Standard moneyness ln(K/F)/(σ√T) of options (0 elsewhere); T floored at a day."""
    sd = np.maximum(vol, 1e-6) * np.sqrt(np.maximum(years, _MIN_SMILE_T))
    return np.where(book.is_option, np.log(book.strike / forward) / sd, 0.0)


def _touch(
    book: _Book, theo_p: FloatArray, z: FloatArray, years: FloatArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Best bid (0 = none), best ask and the spacing between levels, in paise; see the
    module docstring for the half-spread."""
    tick = book.tick
    option_h = (
        SPREADS.option
        * book.liquidity
        * (1.0 + np.abs(z))
        * (1.0 + SPREADS.expiry_boost / (1.0 + years * 365.0))
    )
    rel = np.where(
        book.is_option,
        option_h,
        np.where(book.kind == _FUTURE, SPREADS.future * book.liquidity, SPREADS.cash),
    )
    half = np.maximum(tick / 2.0, theo_p * rel)
    bid = np.floor((theo_p - half) / tick).astype(np.int64) * tick
    ask = np.ceil((theo_p + half) / tick).astype(np.int64) * tick
    ask = np.maximum(np.maximum(ask, tick), bid + tick)
    bid = np.where(bid >= tick, bid, 0)
    spacing = tick * np.maximum(1, np.floor(half / tick).astype(np.int64))
    return bid, ask, spacing


def _day_ohlc(
    book: _Book,
    last: IntArray,
    profile: _DayProfile,
    *,
    high_value: FloatArray,
    low_value: FloatArray,
) -> IntArray:
    """(n, 4) open, high, low and previous close in paise. Calls, futures and spots make
    their day high at the underlying's high; puts at its low."""
    tick = book.tick
    index_row = book.kind == _INDEX
    rising = book.kind != _PUT

    def on_tick(rupees: FloatArray, *, floor_at_tick: bool = True) -> IntArray:
        paise = rupees * 100.0
        rounded = _round_nearest(paise, tick)
        if floor_at_tick:
            rounded = np.maximum(rounded, tick)
        return np.where(index_row, np.round(paise).astype(np.int64), rounded)

    open_ = on_tick(profile.open_value)
    close = on_tick(profile.prev_value)
    high = np.maximum(
        np.maximum(open_, last),
        on_tick(np.where(rising, high_value, low_value), floor_at_tick=False),
    )
    low = np.minimum(np.minimum(open_, last), on_tick(np.where(rising, low_value, high_value)))
    return np.column_stack((open_, high, low, close))


def _activity(book: _Book, weight: FloatArray, elapsed: float) -> tuple[IntArray, IntArray]:
    """(volume, open interest) in units: volume grows linearly through the session at a rate
    fixed at the open (higher near the money); open interest is larger near the money."""
    kind = book.kind
    lots_per_second = np.where(
        book.is_option,
        0.5 * (0.02 + weight),
        np.where(kind == _FUTURE, 0.2, np.where(kind == _STOCK, 50.0, 0.0)),
    )
    volume = (np.floor(lots_per_second * elapsed) * book.lot).astype(np.int64)
    growth = elapsed / SESSION_SECONDS
    oi_lots = np.where(
        book.is_option,
        np.round(4000.0 * (0.05 + weight) * (1.0 + 0.25 * growth)),
        np.where(kind == _FUTURE, np.round(20000.0 * (1.0 + 0.1 * growth)), 0.0),
    )
    return volume, (oi_lots * book.lot).astype(np.int64)


def _depth(
    book: _Book,
    touch: tuple[IntArray, IntArray, IntArray],
    weight: FloatArray,
    step_count: int,
) -> _Depth:
    """Five levels a side, best first: prices ``spacing`` apart (bids below a tick dropped),
    sizes in whole lots from a hash of (token, step bucket, side, level), larger near the
    money; index rows get none."""
    bid, ask, spacing = touch
    levels = np.arange(DEPTH_LEVELS, dtype=np.int64)
    bid_px = bid[:, None] - spacing[:, None] * levels[None, :]
    ask_px = ask[:, None] + spacing[:, None] * levels[None, :]
    quoted = book.kind != _INDEX
    bid_levels = np.where(quoted & (bid > 0), (bid_px >= book.tick[:, None]).sum(axis=1), 0).astype(
        np.int64
    )
    bucket = step_count // DEPTH_RESAMPLE_STEPS
    max_lots = np.maximum(
        1, np.round(np.where(book.is_option, 60.0, 40.0) * (0.1 + weight))
    ).astype(np.uint64)
    n = len(book.tokens)
    sizes = {}
    for side in ("bid", "ask"):
        quantity = np.empty((n, DEPTH_LEVELS), dtype=np.int64)
        orders = np.empty((n, DEPTH_LEVELS), dtype=np.int64)
        for level in range(DEPTH_LEVELS):
            salt = (bucket * 16 + (8 if side == "ask" else 0) + level) * 2
            lots = 1 + (_hash(book.hash_tokens, salt) % max_lots).astype(np.int64)
            cap = np.minimum(lots, 20).astype(np.uint64)
            orders[:, level] = 1 + (_hash(book.hash_tokens, salt + 1) % cap).astype(np.int64)
            quantity[:, level] = lots * book.size_unit
        sizes[side] = (np.where(quoted[:, None], quantity, 0), orders)
    return _Depth(
        bid_levels=bid_levels,
        bid_px=bid_px,
        bid_qty=sizes["bid"][0],
        bid_orders=sizes["bid"][1],
        ask_px=ask_px,
        ask_qty=sizes["ask"][0],
        ask_orders=sizes["ask"][1],
    )


class MarketClock:
    """Wall-clock seconds × speed → market seconds, for the server's timer to feed
    :meth:`Market.advance`. Pure: the caller passes its monotonic clock readings."""

    def __init__(self, wall_start: float, speed: float = 1.0) -> None:
        self._check_speed(speed)
        self._speed = float(speed)
        self._last = float(wall_start)

    @staticmethod
    def _check_speed(speed: float) -> None:
        if not (speed >= 0 and math.isfinite(speed)):
            raise ValueError(f"market speed must be a finite number ≥ 0, got {speed}")

    @property
    def speed(self) -> float:
        return self._speed

    def take(self, wall_now: float) -> float:
        """Market seconds due since the previous call (or the start)."""
        if wall_now < self._last:
            raise ValueError(f"wall clock went backwards ({wall_now} < {self._last})")
        due = (wall_now - self._last) * self._speed
        self._last = float(wall_now)
        return due

    def set_speed(self, speed: float, wall_now: float) -> float:
        """Change the speed (0 pauses); returns the market seconds due at the old speed."""
        self._check_speed(speed)
        due = self.take(wall_now)
        self._speed = float(speed)
        return due


__all__ = [
    "INDEX_SMILE",
    "SESSION_SECONDS",
    "SPREADS",
    "STEP_YEARS",
    "STOCK_SMILE",
    "Market",
    "MarketClock",
    "SmileParameters",
    "SpreadParameters",
]
