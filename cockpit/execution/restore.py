"""Rebuilding order groups from the journal's materialised state after a restart.

The coordinator journals every group as a ``groups`` row (its kind, state, legs with everything a
:class:`~cockpit.domain.groups.LegSpec` needs) and every child order as a ``children`` row (tag,
quantity, limit, order id, the broker's status and fills — already corrected by
:func:`cockpit.store.recovery.reconcile_journal`, so the broker has won by the time a group is
rebuilt here). :func:`restore_group` turns those rows back into an
:class:`~cockpit.domain.groups.OrderGroup` with its children in leg order, marks the children
recovery found were never sent (terminal, nothing filled) and the legs that unwind filled
protection (journalled with ``"unwind": true``; for rows written before that flag, a sell of a
contract the same group bought as protection). Rows from older versions that lack a leg's lot,
tick or freeze figures are completed from the instrument store; a group that can be rebuilt
from neither is reported with the reason and left to the trader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cockpit.domain.groups import (
    ChildOrder,
    ExitRules,
    GroupKind,
    GroupState,
    Leg,
    LegRole,
    LegSpec,
    OrderGroup,
    PricePolicy,
)
from cockpit.domain.instruments import InstrumentStore
from cockpit.domain.money import Paise
from cockpit.domain.orders import NO_PAISE, OrderStatus, Product, Side

#: What :func:`cockpit.store.recovery.reconcile_journal` writes for an intent the broker never saw.
NEVER_SENT = "NEVER SENT"


class RestoreError(ValueError):
    """A journalled group that cannot be rebuilt; the message names the group and the field."""


@dataclass(slots=True)
class RestoredGroup:
    """A group rebuilt from the journal, with what the rows said beyond the group itself."""

    group: OrderGroup
    unwind_legs: set[int] = field(default_factory=set)
    never_sent: set[str] = field(default_factory=set)  # child ids

    def sent_quantity(self, index: int) -> int:
        """Quantity of leg ``index`` that went to the broker (children never sent excluded)."""
        return sum(
            c.quantity for c in self.group.legs[index].children if c.child_id not in self.never_sent
        )


def policy_row(policy: PricePolicy) -> dict[str, Any]:
    return {
        "offset_ticks": policy.offset_ticks,
        "chase_steps": policy.chase_steps,
        "chase_every_s": policy.chase_every_s,
        "chase_step_ticks": policy.chase_step_ticks,
        "max_chase_ticks": policy.max_chase_ticks,
    }


def restore_group(
    row: Mapping[str, Any],
    children: Mapping[str, Mapping[str, Any]],
    store: InstrumentStore,
) -> RestoredGroup:
    """The group of ``row`` with its children (``children`` may hold every group's rows)."""
    group_id = str(row.get("group_id") or "")
    if not group_id:
        raise RestoreError(f"a journalled group row has no group_id: {dict(row)!r}")
    where = f"journalled group {group_id}"
    try:
        kind = GroupKind(row["kind"])
        state = GroupState(row["state"])
        created_at = datetime.fromisoformat(row["created_at"])
        legs_rows = list(row["legs"])
    except (KeyError, ValueError, TypeError) as error:
        raise RestoreError(f"{where}: unreadable group row ({error})") from None
    legs: list[Leg] = []
    unwind: set[int] = set()
    for index, leg_row in enumerate(legs_rows):
        try:
            spec = _spec(leg_row, store)
        except (KeyError, ValueError, TypeError, LookupError) as error:
            raise RestoreError(f"{where}: leg {index} cannot be rebuilt ({error})") from None
        legs.append(Leg(spec=spec))
        if leg_row.get("unwind"):
            unwind.add(index)
    if not any("unwind" in leg_row for leg_row in legs_rows):
        # Rows written before the flag: a sell of a contract this group bought as protection.
        bought = {leg.spec.instrument_token for leg in legs if leg.spec.role is LegRole.PROTECTION}
        unwind = {
            i
            for i, leg in enumerate(legs)
            if leg.spec.role is LegRole.RISK and leg.spec.instrument_token in bought
        }
    never_sent: set[str] = set()
    mine = [c for c in children.values() if c.get("group_id") == group_id]
    for child_row in sorted(mine, key=lambda c: (int(c["leg_index"]), int(c.get("seq") or 0))):
        child = _child(child_row, where, len(legs))
        if child_row.get("status") == NEVER_SENT:
            never_sent.add(child.child_id)
        legs[child.leg_index].children.append(child)
    rules = row.get("exit_rules")
    try:
        group = OrderGroup(
            group_id=group_id,
            kind=kind,
            legs=legs,
            created_at=created_at,
            state=state,
            parent_id=row.get("parent_id"),
            exit_rules=ExitRules(**rules) if rules else None,
        )
    except (ValueError, TypeError) as error:
        raise RestoreError(f"{where}: {error}") from None
    return RestoredGroup(group=group, unwind_legs=unwind, never_sent=never_sent)


def _spec(leg: Mapping[str, Any], store: InstrumentStore) -> LegSpec:
    token = int(leg["instrument_token"])
    lot, tick, freeze = leg.get("lot_size"), leg.get("tick_size_paise"), leg.get("freeze_quantity")
    exchange = leg.get("exchange")
    if lot is None or tick is None or exchange is None:
        instrument = store.get(token)
        lot, tick = instrument.lot_size, instrument.tick_size_paise
        freeze, exchange = instrument.freeze_quantity, str(instrument.exchange)
    policy = leg.get("price_policy")
    return LegSpec(
        role=LegRole(leg["role"]),
        side=Side(leg["side"]),
        tradingsymbol=str(leg["tradingsymbol"]),
        instrument_token=token,
        exchange=str(exchange),
        underlying=str(leg["underlying"]),
        expiry=date.fromisoformat(leg["expiry"]),
        strike=Decimal(str(leg["strike"])),
        right=str(leg["right"]),
        lot_size=int(lot),
        tick_size_paise=int(tick),
        freeze_quantity=None if freeze is None else int(freeze),
        quantity=int(leg["quantity"]),
        product=Product(leg.get("product") or Product.NRML),
        price_policy=PricePolicy(**policy) if policy else PricePolicy(),
    )


def _child(row: Mapping[str, Any], where: str, legs: int) -> ChildOrder:
    child_id = str(row.get("child_id") or "")
    try:
        leg_index = int(row["leg_index"])
        if not 0 <= leg_index < legs:
            raise ValueError(f"leg {leg_index} of a group with {legs} legs")
        status_text = row.get("status")
        never_sent = status_text == NEVER_SENT
        status = OrderStatus.REJECTED if never_sent else _status(status_text)
        price = row.get("price")
        average = row.get("average_price")
        return ChildOrder(
            child_id=child_id,
            leg_index=leg_index,
            seq=int(row.get("seq") or child_id.rsplit("-", 1)[-1]),
            tag=str(row["tag"]),
            quantity=int(row["quantity"]),
            price=None if price is None else Paise(int(price)),
            order_id=row.get("order_id"),
            status=status,
            filled_quantity=0 if never_sent else int(row.get("filled_quantity") or 0),
            average_price=NO_PAISE if average is None else Paise(int(average)),
            sent=True,
        )
    except (KeyError, ValueError, TypeError) as error:
        raise RestoreError(
            f"{where}: child {child_id or '?'} cannot be rebuilt ({error})"
        ) from None


def _status(text: Any) -> OrderStatus | None:
    if text is None:
        return None
    return OrderStatus(text)
