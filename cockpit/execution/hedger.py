"""Emergency hedges: when the hedged invariant breaks, propose exactly the orders that restore
it — no more.

For each underlying/expiry/right whose short quantity exceeds its long quantity, the hedger
waits out a debounce (500 ms by default, per key: a protection fill that is merely late must
not trigger a hedge), then proposes buying the difference — counting hedges already working
and proposals not yet decided, so repeated triggers never over-hedge. Two remedies, each with
its estimated cost from the latest quotes: **buy back** the uncovered short at its own strike,
or **buy protection** at the next strike further out of the money that is listed. Which one
is the default is the trader's setting (buy back, by default: it removes the risk outright).
Pure: the coordinator passes in exposures, working hedge quantities, quotes and the clock.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from cockpit.domain.instruments import Instrument, OptionChain
from cockpit.domain.money import Paise
from cockpit.execution.events import HedgeOrder, HedgeRemedy
from cockpit.execution.exposure import ExposureKey, Uncovered

BUY_BACK = "buy back"
BUY_PROTECTION = "buy protection"


class HedgePolicy(enum.StrEnum):
    AUTO = "auto"
    CONFIRM = "confirm"


@dataclass(frozen=True, slots=True)
class ShortLine:
    """A short option position the coordinator holds (filled), for choosing what to buy."""

    key: ExposureKey
    strike: Decimal
    tradingsymbol: str
    instrument_token: int
    quantity: int  # units short, positive


@dataclass(frozen=True, slots=True)
class Proposal:
    proposal_id: str
    key: ExposureKey
    quantity: int
    remedies: tuple[HedgeRemedy, ...]
    default_remedy: str
    legs: Mapping[str, tuple[tuple[Instrument, int], ...]]  # remedy → (instrument, quantity)


@dataclass(slots=True)
class _KeyState:
    breach_since: float | None = None
    pending: int = 0  # proposed, not yet sent or held


@dataclass(slots=True)
class Hedger:
    debounce_s: float = 0.5
    default_remedy: str = BUY_BACK
    _keys: dict[ExposureKey, _KeyState] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def evaluate(
        self,
        exposures: Mapping[ExposureKey, Uncovered],
        working_hedges: Mapping[ExposureKey, int],
        shorts: list[ShortLine],
        chain_of: Callable[[ExposureKey], OptionChain | None],
        ask_of: Callable[[int], Paise | None],
        now: float,
    ) -> list[Proposal]:
        """Proposals due at ``now``; call on every exposure change and from the watchdog."""
        proposals: list[Proposal] = []
        for key, exposure in exposures.items():
            state = self._keys.setdefault(key, _KeyState())
            uncovered = exposure.uncovered_quantity
            if uncovered <= 0:
                state.breach_since = None
                continue
            if state.breach_since is None:
                state.breach_since = now
            if now - state.breach_since < self.debounce_s:
                continue
            needed = uncovered - working_hedges.get(key, 0) - state.pending
            if needed <= 0:
                continue
            proposal = self._propose(key, needed, shorts, chain_of(key), ask_of)
            if proposal is not None:
                state.pending += needed
                proposals.append(proposal)
        return proposals

    def settled(self, key: ExposureKey, quantity: int) -> None:
        """A proposal for ``quantity`` was sent (now a working hedge) or held."""
        state = self._keys.setdefault(key, _KeyState())
        state.pending = max(0, state.pending - quantity)

    def breach_since(self, key: ExposureKey) -> float | None:
        state = self._keys.get(key)
        return state.breach_since if state is not None else None

    def _propose(
        self,
        key: ExposureKey,
        quantity: int,
        shorts: list[ShortLine],
        chain: OptionChain | None,
        ask_of: Callable[[int], Paise | None],
    ) -> Proposal | None:
        mine = sorted(
            (s for s in shorts if s.key == key and s.quantity > 0),
            # The short nearest the money is the most dangerous: buy it back first.
            key=lambda s: s.strike if key.right == "PE" else -s.strike,
            reverse=True,
        )
        if not mine:
            return None
        back: list[tuple[Instrument, int]] = []
        left = quantity
        for short in mine:
            take = min(left, short.quantity)
            instrument = _instrument(chain, short.strike, key.right)
            if take > 0 and instrument is not None:
                back.append((instrument, take))
                left -= take
            if left == 0:
                break
        remedies: list[HedgeRemedy] = []
        legs: dict[str, tuple[tuple[Instrument, int], ...]] = {}
        if back and left == 0:
            remedies.append(_remedy(BUY_BACK, back, ask_of))
            legs[BUY_BACK] = tuple(back)
        protection = _further_out(chain, mine[0].strike, key.right)
        if protection is not None:
            remedies.append(_remedy(BUY_PROTECTION, [(protection, quantity)], ask_of))
            legs[BUY_PROTECTION] = ((protection, quantity),)
        if not remedies:
            return None
        default = self.default_remedy if self.default_remedy in legs else remedies[0].name
        return Proposal(
            proposal_id=f"h{next(self._ids)}",
            key=key,
            quantity=quantity,
            remedies=tuple(remedies),
            default_remedy=default,
            legs=legs,
        )


def _instrument(chain: OptionChain | None, strike: Decimal, right: str) -> Instrument | None:
    if chain is None:
        return None
    for row in chain.rows:
        if row.strike == strike:
            return row.call if right == "CE" else row.put
    return None


def _further_out(chain: OptionChain | None, strike: Decimal, right: str) -> Instrument | None:
    """The next listed strike beyond ``strike``, away from the money."""
    if chain is None:
        return None
    rows = [r for r in chain.rows if (r.strike > strike if right == "CE" else r.strike < strike)]
    rows.sort(key=lambda r: r.strike, reverse=right == "PE")
    for row in rows:
        instrument = row.call if right == "CE" else row.put
        if instrument is not None:
            return instrument
    return None


def _remedy(
    name: str, legs: list[tuple[Instrument, int]], ask_of: Callable[[int], Paise | None]
) -> HedgeRemedy:
    orders = []
    cost: int | None = 0
    for instrument, quantity in legs:
        ask = ask_of(instrument.instrument_token)
        orders.append(HedgeOrder(instrument.tradingsymbol, "BUY", quantity, ask))
        cost = None if cost is None or ask is None else cost + ask * quantity
    return HedgeRemedy(name, tuple(orders), Paise(cost) if cost is not None else None)
