"""Credit spreads planned from a valued chain: which strikes, what credit, what can go wrong.

:func:`plan_spread` turns a :class:`SpreadRequest` (a bull put, bear call or iron condor; the
short chosen by explicit strike, by distance from spot or by target delta; the protection by
width in points or in listed strikes) into a :class:`SpreadPlan`: the legs in execution order
(protection, the buys, first), the credit at mids and at the touch, maximum profit and loss,
breakevens, the probability of profit (:mod:`cockpit.strategies.probability`), reward to risk
and the exit plan. A leg is priced at its mid (``(bid + ask) // 2`` paise, as the chain shows
it) or, with a warning, at its last price when it has no two-sided quote; the credit and losses
are exact integer paise for the whole quantity. A condor's maximum loss is its wider side's
width less the total credit (only one side can finish in the money). Every input the plan
cannot honour raises :class:`SpreadError` naming the field at fault. :meth:`SpreadPlan.to_group`
hands the plan to execution as an ENTRY :class:`~cockpit.domain.groups.OrderGroup`;
:func:`adjustment_due` says when a live spread has moved far enough to act on. Plain typed
Python: no Qt, no asyncio, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from cockpit.domain.groups import ExitRules, GroupKind, Leg, LegRole, LegSpec, OrderGroup
from cockpit.domain.instruments import Instrument, OptionChain
from cockpit.domain.money import Paise, format_inr
from cockpit.marketdata.chain import ChainSide, ChainStrike, ChainView
from cockpit.strategies.probability import iv_at, prob_above, prob_below, prob_between

DEFAULT_WIDTH_STRIKES = 2
_RUPEE_CENTS = Decimal("0.01")


class Structure(StrEnum):
    """A bull put credit spread sells put K1 and buys put K2 < K1; a bear call credit spread
    sells call K1 and buys call K2 > K1; an iron condor is both."""

    BULL_PUT = "bull-put"
    BEAR_CALL = "bear-call"
    IRON_CONDOR = "iron-condor"


class SpreadError(ValueError):
    """A spread request the chain cannot honour; ``field`` names the input at fault
    (``"width"``, ``"short_strike"``, ``"short_delta"``, ``"lots"``, ``"expiry"``,
    ``"quotes"``, ``"distance"``, ...) and the message names it and its value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class SpreadRequest:
    """What the trader asks for. The short strike comes from ``short_strike`` if given, else
    ``distance_points`` from spot (below for puts, above for calls), else the listed strike
    whose |delta| is closest to ``short_delta``. For a condor ``short_strike`` is the put
    short; its call short is ``call_short_strike`` or, if not given, the listed strike as far
    above the forward as the put is below it. The width is ``width_points`` or
    ``width_strikes`` listed strikes (2 if neither); ``call_width_points`` sets a condor's
    call side apart (default: ``width_points``)."""

    structure: Structure
    lots: int = 1
    short_delta: float | None = 0.20
    short_strike: Decimal | None = None
    call_short_strike: Decimal | None = None
    distance_points: Decimal | None = None
    width_points: Decimal | None = None
    width_strikes: int | None = None
    call_width_points: Decimal | None = None

    def __post_init__(self) -> None:
        # A CLI passes "bull-put"; the planner compares enum members.
        try:
            structure = Structure(self.structure)
        except ValueError:
            known = ", ".join(Structure)
            raise SpreadError(
                "structure", f"structure {self.structure!r} is not one of {known}"
            ) from None
        object.__setattr__(self, "structure", structure)


@dataclass(frozen=True, slots=True)
class ExitPlan:
    """Take profit at ``target_pct`` % of the credit kept, stop when the loss reaches
    ``stop_pct`` % of the credit; adjust when the loss reaches ``adjust_loss_pct_of_max`` % of
    the maximum loss or a short's |delta| reaches ``adjust_short_delta``."""

    target_pct: int = 50
    stop_pct: int = 100
    adjust_loss_pct_of_max: int = 20
    adjust_short_delta: float = 0.35

    def __post_init__(self) -> None:
        ExitRules(self.target_pct, self.stop_pct)  # the same bounds as execution's
        if not 0 < self.adjust_loss_pct_of_max <= 100:
            raise ValueError(
                f"exit plan: adjust_loss_pct_of_max must be 1 to 100, "
                f"got {self.adjust_loss_pct_of_max!r}"
            )
        if not 0 < self.adjust_short_delta < 1:
            raise ValueError(
                f"exit plan: adjust_short_delta must be between 0 and 1, "
                f"got {self.adjust_short_delta!r}"
            )


@dataclass(frozen=True, slots=True)
class PlannedLeg:
    """A leg and the market it was planned on. ``mid`` is the price the plan used: the mid of
    a two-sided quote or, when there is none, the last price (the plan warns)."""

    spec: LegSpec
    bid: Paise | None
    ask: Paise | None
    mid: Paise | None
    iv: float | None
    delta: float | None


@dataclass(frozen=True, slots=True)
class SpreadPlan:
    """A priced spread ready to send; amounts are paise for the whole quantity, breakevens
    rupees. ``quantity`` is units per leg (lots × lot size)."""

    structure: Structure
    underlying: str
    expiry: date
    lots: int
    lot_size: int
    quantity: int
    legs: tuple[PlannedLeg, ...]
    credit_mid: Paise
    credit_touch: Paise
    max_profit: Paise
    max_loss: Paise
    breakevens: tuple[Decimal, ...]
    pop: float
    reward_risk: float
    spot: Paise | None
    forward: Paise | None
    years: float
    exit_plan: ExitPlan
    warnings: tuple[str, ...] = ()

    @property
    def short_legs(self) -> tuple[PlannedLeg, ...]:
        return tuple(leg for leg in self.legs if leg.spec.role is LegRole.RISK)

    @property
    def long_legs(self) -> tuple[PlannedLeg, ...]:
        return tuple(leg for leg in self.legs if leg.spec.role is LegRole.PROTECTION)

    def exit_rules(self) -> ExitRules:
        return ExitRules(
            target_pct_of_credit=self.exit_plan.target_pct,
            stop_pct_of_credit=self.exit_plan.stop_pct,
        )

    def to_group(self, group_id: str, created_at: datetime) -> OrderGroup:
        """An ENTRY group of the legs in execution order (protection first) with this plan's
        exit rules."""
        return OrderGroup(
            group_id=group_id,
            kind=GroupKind.ENTRY,
            legs=[Leg(leg.spec) for leg in self.legs],
            created_at=created_at,
            exit_rules=self.exit_rules(),
        )


@dataclass(frozen=True, slots=True)
class _Pick:
    """One chosen option: its role, the listed instrument and its valued side."""

    role: LegRole
    right: str
    strike: Decimal
    instrument: Instrument
    side: ChainSide


def _rupees(paise: int) -> str:
    return format_inr(Paise(paise))


def _validate(request: SpreadRequest, chain: OptionChain, view: ChainView) -> None:
    lots = request.lots
    if isinstance(lots, bool) or not isinstance(lots, int) or lots <= 0:
        raise SpreadError("lots", f"lots must be a whole number ≥ 1, got {lots!r}")
    if chain.expiry != view.expiry or chain.underlying != view.underlying:
        raise SpreadError(
            "expiry",
            f"expiry: the chain is {chain.underlying} {chain.expiry} but the valued view is "
            f"{view.underlying} {view.expiry}",
        )
    if view.years <= 0 or view.expiry < view.at.date():
        raise SpreadError(
            "expiry", f"expiry {view.expiry} has passed (as of {view.at:%Y-%m-%d %H:%M})"
        )
    delta = request.short_delta
    if delta is not None and not (isinstance(delta, float | int) and 0 < delta < 0.5):
        raise SpreadError("short_delta", f"short_delta must be between 0 and 0.5, got {delta!r}")
    if request.width_points is not None and request.width_strikes is not None:
        raise SpreadError(
            "width",
            f"width: give width_points ({request.width_points}) or width_strikes "
            f"({request.width_strikes}), not both",
        )
    for name in ("width_points", "call_width_points"):
        points = getattr(request, name)
        if points is not None and not (isinstance(points, Decimal | int) and points > 0):
            raise SpreadError("width", f"width: {name} must be positive, got {points!r}")
    strikes = request.width_strikes
    if strikes is not None and (isinstance(strikes, bool) or not isinstance(strikes, int)):
        raise SpreadError("width", f"width: width_strikes must be a whole number, got {strikes!r}")
    if strikes is not None and strikes <= 0:
        raise SpreadError("width", f"width: width_strikes must be ≥ 1, got {strikes!r}")
    distance = request.distance_points
    if distance is not None and not (isinstance(distance, Decimal | int) and distance > 0):
        raise SpreadError(
            "distance", f"distance: distance_points must be positive, got {distance!r}"
        )


def _reference(view: ChainView) -> Decimal | None:
    """Spot in rupees (the forward if there is no spot)."""
    price = view.spot if view.spot is not None else view.forward
    return None if price is None else Decimal(int(price)) / 100


def _side_of(row: ChainStrike, right: str) -> ChainSide | None:
    return row.put if right == "PE" else row.call


def _listed(chain: OptionChain, right: str) -> list[Decimal]:
    """The strikes at which ``right`` is listed, ascending."""
    return [r.strike for r in chain.rows if (r.put if right == "PE" else r.call) is not None]


def _short_strike(
    request: SpreadRequest, chain: OptionChain, view: ChainView, right: str, put_short: Decimal
) -> Decimal:
    """The short strike for ``right`` (``put_short``: the condor's put short, for symmetry)."""
    explicit = request.short_strike if right == "PE" else request.call_short_strike
    field = "short_strike" if right == "PE" else "call_short_strike"
    if right == "CE" and request.structure is Structure.BEAR_CALL and explicit is None:
        explicit, field = request.short_strike, "short_strike"
    if explicit is not None:
        if Decimal(explicit) not in _listed(chain, right):
            raise SpreadError(
                field,
                f"{field} {explicit} is not a listed {right} strike of {chain.underlying} "
                f"{chain.expiry}",
            )
        return Decimal(explicit)
    if right == "CE" and request.structure is Structure.IRON_CONDOR and put_short:
        # The call short mirrors the put short about the forward.
        centre = Decimal(int(view.forward)) / 100 if view.forward is not None else _reference(view)
        if centre is None:
            raise SpreadError("short_strike", "short_strike: no forward or spot to mirror it on")
        target = 2 * centre - put_short
        return min(_listed(chain, "CE"), key=lambda k: (abs(k - target), k))
    if request.distance_points is not None:
        reference = _reference(view)
        if reference is None:
            raise SpreadError(
                "distance", f"distance {request.distance_points}: no spot to measure it from"
            )
        distance = Decimal(request.distance_points)
        target = reference - distance if right == "PE" else reference + distance
        # A tie goes further out of the money.
        return min(
            _listed(chain, right), key=lambda k: (abs(k - target), k if right == "PE" else -k)
        )
    return _strike_by_delta(request, view, right)


def _strike_by_delta(request: SpreadRequest, view: ChainView, right: str) -> Decimal:
    target = request.short_delta
    if target is None:
        raise SpreadError(
            "short_delta", "short_delta is None and no short_strike or distance_points was given"
        )
    candidates = [
        (abs(abs(side.delta) - target), row.strike)
        for row in view.rows
        if (side := _side_of(row, right)) is not None and side.delta is not None
    ]
    if not candidates:
        raise SpreadError(
            "quotes",
            f"quotes: no {right} of {view.underlying} {view.expiry} has a delta to choose "
            f"a {target} delta short by",
        )
    # A tie goes further out of the money (the smaller |delta| wins on equal distance).
    best = min(candidates, key=lambda c: (c[0], c[1] if right == "PE" else -c[1]))
    return best[1]


def _long_strike(request: SpreadRequest, chain: OptionChain, right: str, short: Decimal) -> Decimal:
    listed = _listed(chain, right)
    points = request.width_points
    if right == "CE" and request.call_width_points is not None:
        points = request.call_width_points
    if points is not None:
        strike = short - Decimal(points) if right == "PE" else short + Decimal(points)
        if strike not in listed:
            raise SpreadError(
                "width",
                f"width {points} points: protection strike {strike} {right} is not listed "
                f"(short {short})",
            )
        return strike
    count = request.width_strikes if request.width_strikes is not None else DEFAULT_WIDTH_STRIKES
    index = listed.index(short) + (-count if right == "PE" else count)
    if not 0 <= index < len(listed):
        raise SpreadError(
            "width",
            f"width {count} strikes: no listed {right} that far from the short {short}",
        )
    return listed[index]


def _pick(role: LegRole, right: str, strike: Decimal, chain: OptionChain, view: ChainView) -> _Pick:
    instrument = chain.row(strike).put if right == "PE" else chain.row(strike).call
    valued = next((r for r in view.rows if r.strike == strike), None)
    side = _side_of(valued, right) if valued is not None else None
    if instrument is None or side is None:
        field = "width" if role is LegRole.PROTECTION else "short_strike"
        raise SpreadError(field, f"{field}: {strike} {right} is not in the chain")
    return _Pick(role, right, strike, instrument, side)


def _price(pick: _Pick, warnings: list[str]) -> tuple[Paise, Paise]:
    """(price used for the plan, price at the touch) for one leg, in paise per unit."""
    side = pick.side
    symbol = side.tradingsymbol
    two_sided = side.bid is not None and side.ask is not None and 0 < side.bid <= side.ask
    if two_sided and side.mid is not None and side.bid is not None and side.ask is not None:
        touch = side.ask if pick.role is LegRole.PROTECTION else side.bid
        return side.mid, touch
    if side.ltp is None or side.ltp <= 0:
        raise SpreadError(
            "quotes", f"quotes: {symbol} has no bid, ask or last price to plan the spread on"
        )
    warnings.append(f"no two-sided quote for {symbol}; used LTP {_rupees(side.ltp)}")
    return side.ltp, side.ltp


def _legs_for(
    request: SpreadRequest, chain: OptionChain, view: ChainView
) -> tuple[list[_Pick], dict[str, Decimal]]:
    """The picks in execution order and the width in points of each side (by right)."""
    rights = {
        Structure.BULL_PUT: ("PE",),
        Structure.BEAR_CALL: ("CE",),
        Structure.IRON_CONDOR: ("PE", "CE"),
    }[request.structure]
    shorts: list[_Pick] = []
    longs: list[_Pick] = []
    widths: dict[str, Decimal] = {}
    put_short = Decimal(0)
    for right in rights:
        short = _short_strike(request, chain, view, right, put_short)
        if right == "PE":
            put_short = short if request.short_strike is not None else Decimal(0)
        long = _long_strike(request, chain, right, short)
        widths[right] = abs(short - long)
        longs.append(_pick(LegRole.PROTECTION, right, long, chain, view))
        shorts.append(_pick(LegRole.RISK, right, short, chain, view))
    if len(shorts) == 2 and shorts[0].strike >= shorts[1].strike:
        raise SpreadError(
            "short_strike",
            f"short_strike: the put short {shorts[0].strike} must be below the call short "
            f"{shorts[1].strike}",
        )
    return longs + shorts, widths


def plan_spread(
    request: SpreadRequest,
    chain: OptionChain,
    view: ChainView,
    *,
    exit_plan: ExitPlan = ExitPlan(),
) -> SpreadPlan:
    """Plan ``request`` on ``chain`` valued as ``view`` (see the module docstring)."""
    _validate(request, chain, view)
    picks, widths = _legs_for(request, chain, view)
    lot_sizes = {p.instrument.lot_size for p in picks}
    if len(lot_sizes) != 1:
        raise SpreadError("lots", f"lots: the legs have different lot sizes {sorted(lot_sizes)}")
    lot_size = lot_sizes.pop()
    quantity = request.lots * lot_size
    warnings: list[str] = []
    priced = [(p, *_price(p, warnings)) for p in picks]
    sign = {LegRole.RISK: 1, LegRole.PROTECTION: -1}
    credit_unit = sum(sign[p.role] * used for p, used, _ in priced)
    touch_unit = sum(sign[p.role] * touch for p, _, touch in priced)
    if credit_unit <= 0:
        raise SpreadError(
            "quotes",
            f"quotes: the spread pays no credit at mids ({_rupees(credit_unit)} a unit); "
            "the quotes are stale or crossed",
        )
    width_paise = int(max(widths.values()) * 100)
    if credit_unit >= width_paise:
        raise SpreadError(
            "quotes",
            f"quotes: credit {_rupees(credit_unit)} a unit is not less than the width "
            f"{_rupees(width_paise)}; the quotes are inconsistent",
        )
    credit_mid = Paise(credit_unit * quantity)
    max_loss = Paise(width_paise * quantity - credit_mid)
    per_unit = (Decimal(credit_unit) / 100).quantize(_RUPEE_CENTS, ROUND_HALF_UP)
    shorts = {p.right: p.strike for p in picks if p.role is LegRole.RISK}
    breakevens = tuple(
        shorts[right] - per_unit if right == "PE" else shorts[right] + per_unit
        for right in ("PE", "CE")
        if right in shorts
    )
    pop = _pop(request.structure, breakevens, view, warnings)
    legs = tuple(_planned(p, used, quantity) for p, used, _ in priced)
    return SpreadPlan(
        structure=request.structure,
        underlying=chain.underlying,
        expiry=chain.expiry,
        lots=request.lots,
        lot_size=lot_size,
        quantity=quantity,
        legs=legs,
        credit_mid=credit_mid,
        credit_touch=Paise(touch_unit * quantity),
        max_profit=credit_mid,
        max_loss=max_loss,
        breakevens=breakevens,
        pop=pop,
        reward_risk=credit_mid / max_loss,
        spot=view.spot,
        forward=view.forward,
        years=view.years,
        exit_plan=exit_plan,
        warnings=tuple(warnings),
    )


def _planned(pick: _Pick, used: Paise, quantity: int) -> PlannedLeg:
    spec = LegSpec.for_instrument(pick.instrument, pick.role, quantity)
    side = pick.side
    return PlannedLeg(spec, side.bid, side.ask, used, side.iv, side.delta)


def _pop(
    structure: Structure, breakevens: tuple[Decimal, ...], view: ChainView, warnings: list[str]
) -> float:
    """Probability of profit at expiry (see :mod:`cockpit.strategies.probability`)."""
    if view.forward is None:
        warnings.append("no forward: probability of profit not computed")
        return math.nan
    forward = float(view.forward) / 100
    vols = [iv_at(view, float(b)) for b in breakevens]
    if any(v is None for v in vols) or any(b <= 0 for b in breakevens):
        warnings.append("no implied volatility in the chain: probability of profit not computed")
        return math.nan
    sigma = [float(v) for v in vols if v is not None]
    levels = [float(b) for b in breakevens]
    if structure is Structure.BULL_PUT:
        return prob_above(levels[0], forward, view.years, sigma[0])
    if structure is Structure.BEAR_CALL:
        return prob_below(levels[0], forward, view.years, sigma[0])
    return prob_between(levels[0], levels[1], forward, view.years, sigma[0], sigma[1])


def adjustment_due(
    plan: SpreadPlan, unrealised_loss: Paise, short_deltas: Sequence[float]
) -> str | None:
    """Why the spread should be adjusted now, or None: the unrealised loss (paise, positive
    for a loss) has reached the plan's share of the maximum loss, or a short's |delta| has
    reached its limit. ``short_deltas`` are in the order of :attr:`SpreadPlan.short_legs`
    (a condor's put short first)."""
    rules = plan.exit_plan
    reasons: list[str] = []
    if (
        unrealised_loss > 0
        and unrealised_loss * 100 >= plan.max_loss * rules.adjust_loss_pct_of_max
    ):
        reasons.append(
            f"loss {_rupees(unrealised_loss)} is at least {rules.adjust_loss_pct_of_max}% of the "
            f"maximum loss {_rupees(plan.max_loss)}"
        )
    shorts = plan.short_legs
    for i, delta in enumerate(short_deltas):
        if math.isfinite(delta) and abs(delta) >= rules.adjust_short_delta:
            name = shorts[i].spec.tradingsymbol if i < len(shorts) else f"short {i + 1}"
            reasons.append(f"{name} delta {delta:+.2f} has reached {rules.adjust_short_delta:.2f}")
    if not reasons:
        return None
    return f"adjust the {plan.structure} on {plan.underlying}: " + "; ".join(reasons)


__all__ = [
    "DEFAULT_WIDTH_STRIKES",
    "ExitPlan",
    "PlannedLeg",
    "SpreadError",
    "SpreadPlan",
    "SpreadRequest",
    "Structure",
    "adjustment_due",
    "plan_spread",
]
