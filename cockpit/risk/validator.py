"""The position validator: does the broker hold what the order groups say we hold?

This module is responsible for comparing, instrument by instrument, the quantity the order
groups expect (every leg's filled quantity, signed: + bought, − sold, netted by instrument
token across groups, so an exit or a hedge nets against the entry it closes or covers) with the
broker's net position quantity, and for grading each difference: CRITICAL when the broker's
positions break the hedged invariant on that instrument's (underlying, expiry, right) — short
quantity above long — and WARNING otherwise. Equal quantities are not reported. A breach the
groups themselves account for (a group mid emergency hedge) is the exposure monitor's to
report, not a reconciliation difference; here it makes every difference on its key CRITICAL.
:func:`mismatch_alert` turns a :class:`Mismatch` into an :class:`~cockpit.risk.alerts.AlertDraft`
keyed by instrument, so the same difference found on every reconciliation dedupes onto one
alert. It is pure: the caller passes the groups, the broker's positions and an instrument
lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from cockpit.broker.base import Position
from cockpit.domain.events import AlertSeverity
from cockpit.domain.groups import OrderGroup
from cockpit.domain.instruments import Instrument
from cockpit.domain.money import Paise
from cockpit.execution.exposure import ExposureKey, PositionLine, Uncovered, uncovered_by_key
from cockpit.risk.alerts import AlertDraft

SOURCE = "position-validator"


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One instrument whose broker quantity differs from the groups' (signed, + long).

    ``variance_pct`` is (broker − expected) ÷ |expected| × 100, None when nothing was
    expected. ``key`` is None for a non-option (a future, or a token the lookup does not know);
    ``breach`` is the broker's exposure on ``key`` when it breaks the hedged invariant.
    """

    instrument_token: int
    tradingsymbol: str
    key: ExposureKey | None
    group_ids: tuple[str, ...]
    expected: int
    broker: int
    variance_pct: float | None
    severity: AlertSeverity
    breach: Uncovered | None = None

    @property
    def difference(self) -> int:
        return self.broker - self.expected


def expected_quantities(groups: Iterable[OrderGroup]) -> dict[int, tuple[int, tuple[str, ...]]]:
    """Instrument token → (net filled quantity, ids of the groups that traded it)."""
    net: dict[int, int] = {}
    owners: dict[int, dict[str, None]] = {}
    for group in groups:
        for leg in group.legs:
            token = leg.spec.instrument_token
            net[token] = net.get(token, 0) + leg.signed_filled
            owners.setdefault(token, {})[group.group_id] = None
    return {token: (quantity, tuple(owners[token])) for token, quantity in net.items()}


def _broker_quantities(positions: Iterable[Position]) -> tuple[dict[int, int], dict[int, str]]:
    # Kite lists one row per product (NRML, MIS); the validator compares the net of all.
    quantities: dict[int, int] = {}
    symbols: dict[int, str] = {}
    for position in positions:
        token = position.instrument_token
        quantities[token] = quantities.get(token, 0) + position.quantity
        symbols.setdefault(token, position.tradingsymbol)
    return quantities, symbols


def _option(lookup: Callable[[int], Instrument], token: int) -> Instrument | None:
    try:
        instrument = lookup(token)
    except KeyError:
        return None
    return instrument if instrument.is_option else None


def _key(instrument: Instrument) -> ExposureKey:
    assert instrument.expiry is not None
    return ExposureKey(instrument.name, instrument.expiry, str(instrument.instrument_type))


def _broker_breaches(
    quantities: Mapping[int, int], options: Mapping[int, Instrument]
) -> dict[ExposureKey, Uncovered]:
    lines = []
    for token, quantity in quantities.items():
        instrument = options.get(token)
        if instrument is None or quantity == 0:
            continue
        assert instrument.strike is not None
        strike = instrument.strike
        lines.append(PositionLine(_key(instrument), Decimal(strike), quantity, Paise(0)))
    return {k: u for k, u in uncovered_by_key(lines).items() if u.is_breach}


def validate_positions(
    groups: Iterable[OrderGroup],
    positions: Iterable[Position],
    instruments: Callable[[int], Instrument],
) -> list[Mismatch]:
    """Every instrument whose broker quantity differs from what ``groups`` filled, CRITICAL
    first, then by trading symbol. ``instruments`` finds a contract by token
    (``InstrumentStore.get``); KeyError means unknown."""
    expected = expected_quantities(groups)
    broker, symbols = _broker_quantities(positions)
    tokens = set(expected) | set(broker)
    options = {t: i for t in tokens if (i := _option(instruments, t)) is not None}
    breaches = _broker_breaches(broker, options)
    found = []
    for token in tokens:
        want, owners = expected.get(token, (0, ()))
        have = broker.get(token, 0)
        if want == have:
            continue
        instrument = options.get(token)
        key = None if instrument is None else _key(instrument)
        breach = None if key is None else breaches.get(key)
        if instrument is not None:
            symbol = instrument.tradingsymbol
        else:
            symbol = symbols.get(token, f"token {token}")
        found.append(
            Mismatch(
                instrument_token=token,
                tradingsymbol=symbol,
                key=key,
                group_ids=owners,
                expected=want,
                broker=have,
                variance_pct=None if want == 0 else (have - want) * 100 / abs(want),
                severity=AlertSeverity.WARNING if breach is None else AlertSeverity.CRITICAL,
                breach=breach,
            )
        )
    found.sort(key=lambda m: (m.severity is not AlertSeverity.CRITICAL, m.tradingsymbol))
    return found


def _signed(quantity: int) -> str:
    return f"{quantity:+d}" if quantity else "0"


def mismatch_alert(mismatch: Mismatch) -> AlertDraft:
    """The alert for ``mismatch``: keyed by instrument, so it dedupes across reconciliations
    (and a WARNING that turns into a breach escalates the same alert to CRITICAL)."""
    m = mismatch
    owners = ", ".join(m.group_ids) if m.group_ids else "no group"
    variance = "" if m.variance_pct is None else f" ({m.variance_pct:+.1f}%)"
    message = (
        f"{m.tradingsymbol}: broker holds {_signed(m.broker)}, groups expect "
        f"{_signed(m.expected)} ({owners}); difference {_signed(m.difference)}{variance}"
    )
    if m.breach is not None:
        b = m.breach
        message += (
            f". Hedged invariant broken at the broker on {b.key}: short {b.short_quantity} > "
            f"long {b.long_quantity}, {b.uncovered_quantity} uncovered"
        )
        title = f"Unhedged short at broker: {b.key}"
    else:
        title = f"Position mismatch: {m.tradingsymbol}"
    return AlertDraft(
        key=f"{SOURCE}:{m.instrument_token}",
        severity=m.severity,
        title=title,
        message=message,
        source=SOURCE,
        group_id=m.group_ids[0] if len(m.group_ids) == 1 else None,
    )
