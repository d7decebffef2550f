from __future__ import annotations

import itertools
from collections import deque
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cockpit.domain.groups import (
    KIND_STATES,
    MANUAL_OVERRIDE_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    ChildOrder,
    ExitRules,
    GroupKind,
    GroupState,
    IllegalTransitionError,
    Leg,
    LegRole,
    LegSpec,
    OrderGroup,
    PricePolicy,
    StateChange,
    UnknownChildError,
)
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderStatus, Product, Side

IST = ZoneInfo("Asia/Kolkata")
AT = datetime(2026, 11, 25, 10, 0, tzinfo=IST)
EXPIRY = date(2026, 12, 29)
S = GroupState

# Written out again here, not read from the module, so an accidental edit of the table fails.
EXPECTED: dict[GroupState, set[GroupState]] = {
    S.CREATED: {S.VALIDATED, S.REJECTED},
    S.VALIDATED: {S.PROTECTION_WORKING, S.RISK_WORKING, S.REJECTED},
    S.PROTECTION_WORKING: {S.PROTECTION_FILLED, S.UNWINDING, S.FLAT, S.NEEDS_ATTENTION},
    S.PROTECTION_FILLED: {S.RISK_WORKING, S.COMPLETE, S.UNWINDING, S.NEEDS_ATTENTION},
    S.RISK_WORKING: {
        S.COMPLETE,
        S.EMERGENCY_HEDGING,
        S.UNWINDING,
        S.NEEDS_ATTENTION,
        S.PROTECTION_FILLED,
    },
    S.EMERGENCY_HEDGING: {S.COMPLETE, S.UNWINDING, S.NEEDS_ATTENTION, S.RISK_WORKING},
    S.UNWINDING: {S.FLAT, S.NEEDS_ATTENTION},
    S.NEEDS_ATTENTION: {S.COMPLETE, S.FLAT, S.UNWINDING, S.EMERGENCY_HEDGING},
    S.COMPLETE: set(),
    S.FLAT: set(),
    S.REJECTED: set(),
}
PAIRS = list(itertools.product(GroupState, GroupState))


def spec(role: LegRole = LegRole.PROTECTION, **changes: Any) -> LegSpec:
    fields: dict[str, Any] = {
        "role": role,
        "side": role.side,
        "tradingsymbol": "FINNIFTY26DEC24800PE",
        "instrument_token": 1001,
        "exchange": "NFO",
        "underlying": "FINNIFTY",
        "expiry": EXPIRY,
        "strike": Decimal(24800),
        "right": "PE",
        "lot_size": 65,
        "tick_size_paise": 5,
        "freeze_quantity": 1800,
        "quantity": 65,
    }
    fields.update(changes)
    return LegSpec(**fields)


def long_put(quantity: int = 65) -> LegSpec:
    return spec(LegRole.PROTECTION, quantity=quantity)


def short_put(quantity: int = 65) -> LegSpec:
    return spec(
        LegRole.RISK,
        tradingsymbol="FINNIFTY26DEC25000PE",
        instrument_token=1002,
        strike=Decimal(25000),
        quantity=quantity,
    )


def group(
    *specs: LegSpec, kind: GroupKind = GroupKind.ENTRY, state: GroupState = S.CREATED
) -> OrderGroup:
    legs = [Leg(s) for s in (specs or (long_put(), short_put()))]
    return OrderGroup(group_id="G1", kind=kind, legs=legs, created_at=AT, state=state)


def shaped_for(before: GroupState, after: GroupState) -> OrderGroup:
    """An entry group whose legs let the guarded edges through."""
    if (before, after) == (S.VALIDATED, S.RISK_WORKING):
        return group(short_put(), state=before)
    if (before, after) == (S.PROTECTION_FILLED, S.COMPLETE):
        return group(long_put(), state=before)
    return group(state=before)


def fill(child: ChildOrder, quantity: int, price: int, status: OrderStatus) -> None:
    child.sent = True
    child.filled_quantity = quantity
    child.average_price = Paise(price)
    child.status = status


# ---- the table ------------------------------------------------------------------------


def test_every_state_has_a_row_and_terminal_states_are_those_without_exits() -> None:
    assert set(TRANSITIONS) == set(GroupState)
    assert {s for s, nxt in TRANSITIONS.items() if not nxt} == TERMINAL_STATES
    assert {S.COMPLETE, S.FLAT, S.REJECTED} == TERMINAL_STATES
    assert all(s.is_terminal == (s in TERMINAL_STATES) for s in GroupState)
    assert {S.NEEDS_ATTENTION} == MANUAL_OVERRIDE_STATES


def test_state_values_are_lowercase_names() -> None:
    assert all(s.value == s.name.lower() for s in GroupState)


@pytest.mark.parametrize(("before", "after"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_transition_table_matches_the_lifecycle(before: GroupState, after: GroupState) -> None:
    assert (after in TRANSITIONS[before]) == (after in EXPECTED[before])


@pytest.mark.parametrize(("before", "after"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_entry_group_transition_is_allowed_exactly_by_the_table(
    before: GroupState, after: GroupState
) -> None:
    g = shaped_for(before, after)
    later = AT + timedelta(seconds=3)
    if after in EXPECTED[before]:
        change = g.transition(after, later, "because")
        assert change == StateChange(at=later, before=before, after=after, reason="because")
        assert g.state is after
        assert g.history == [change]
    else:
        with pytest.raises(IllegalTransitionError) as caught:
            g.transition(after, later, "because")
        assert str(caught.value).startswith(f"group G1: {before} → {after} is not allowed")
        assert caught.value.before is before and caught.value.after is after
        assert g.state is before
        assert g.history == []


def test_illegal_transition_message_lists_what_is_allowed() -> None:
    g = group(state=S.UNWINDING)
    with pytest.raises(IllegalTransitionError, match=r"allowed: flat, needs_attention\)"):
        g.transition(S.COMPLETE, AT)


def test_illegal_transition_from_a_terminal_state_says_it_is_terminal() -> None:
    g = group(state=S.COMPLETE)
    with pytest.raises(
        IllegalTransitionError,
        match=r"group G1: complete → unwinding is not allowed \(allowed: none — complete is",
    ):
        g.transition(S.UNWINDING, AT)


def test_every_state_is_reachable_and_every_state_can_end() -> None:
    seen = {S.CREATED}
    queue = deque([S.CREATED])
    while queue:
        for nxt in TRANSITIONS[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    assert seen == set(GroupState)
    for state in GroupState:
        reach = {state}
        frontier = [state]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in reach:
                    reach.add(nxt)
                    frontier.append(nxt)
        assert reach & TERMINAL_STATES, state


def test_skipping_to_risk_with_protection_legs_is_refused() -> None:
    g = group(state=S.VALIDATED)
    with pytest.raises(IllegalTransitionError, match="protection legs, which must go before"):
        g.transition(S.RISK_WORKING, AT)
    assert g.allowed_next == {S.PROTECTION_WORKING, S.REJECTED}
    assert g.state is S.VALIDATED


def test_a_group_without_protection_may_go_straight_to_risk() -> None:
    g = group(short_put(), kind=GroupKind.EXIT, state=S.VALIDATED)
    g.transition(S.RISK_WORKING, AT, "sell the longs: no shorts to buy back")
    assert g.state is S.RISK_WORKING


def test_protection_filled_completes_only_without_risk_legs() -> None:
    with_risk = group(state=S.PROTECTION_FILLED)
    assert not with_risk.can_transition(S.COMPLETE)
    with pytest.raises(IllegalTransitionError, match="risk legs still to work"):
        with_risk.transition(S.COMPLETE, AT)
    hedge = group(long_put(), kind=GroupKind.HEDGE, state=S.PROTECTION_FILLED)
    hedge.transition(S.COMPLETE, AT, "hedge filled")
    assert hedge.state is S.COMPLETE


KIND_PAIRS = [
    (kind, before, after)
    for kind in GroupKind
    for before, after in PAIRS
    if after in EXPECTED[before] and before in KIND_STATES[kind]
]


@pytest.mark.parametrize(
    ("kind", "before", "after"),
    KIND_PAIRS,
    ids=[f"{k}:{a}->{b}" for k, a, b in KIND_PAIRS],
)
def test_each_kind_enters_only_its_states(
    kind: GroupKind, before: GroupState, after: GroupState
) -> None:
    specs: tuple[LegSpec, ...] = {
        (S.VALIDATED, S.RISK_WORKING): (short_put(),),
        (S.PROTECTION_FILLED, S.COMPLETE): (long_put(),),
    }.get((before, after), (long_put(), short_put()))
    if kind is GroupKind.HEDGE:
        specs = (long_put(),)
    g = group(*specs, kind=kind, state=before)
    guarded = kind is GroupKind.HEDGE and (before, after) == (S.VALIDATED, S.RISK_WORKING)
    if after in KIND_STATES[kind] and not guarded:
        g.transition(after, AT)
        assert g.state is after
    else:
        with pytest.raises(IllegalTransitionError):
            g.transition(after, AT)
        assert g.state is before


def test_exit_and_hedge_groups_never_unwind() -> None:
    assert S.UNWINDING not in KIND_STATES[GroupKind.EXIT]
    assert S.UNWINDING not in KIND_STATES[GroupKind.HEDGE]
    assert S.EMERGENCY_HEDGING not in KIND_STATES[GroupKind.HEDGE]
    assert KIND_STATES[GroupKind.ENTRY] == set(GroupState)
    g = group(kind=GroupKind.EXIT, state=S.RISK_WORKING)
    with pytest.raises(IllegalTransitionError, match="exit groups never enter unwinding"):
        g.transition(S.UNWINDING, AT)


def test_a_group_cannot_be_built_in_a_state_its_kind_never_uses() -> None:
    with pytest.raises(ValueError, match="hedge groups are never unwinding"):
        group(long_put(), kind=GroupKind.HEDGE, state=S.UNWINDING)


def test_transition_needs_an_aware_time_and_leaves_state_alone_otherwise() -> None:
    g = group()
    with pytest.raises(ValueError, match="timezone-aware"):
        g.transition(S.VALIDATED, datetime(2026, 11, 25, 10, 0))
    assert g.state is S.CREATED and g.history == []


@st.composite
def walks(draw: st.DrawFn) -> tuple[OrderGroup, list[GroupState]]:
    kind = draw(st.sampled_from(GroupKind))
    shape: tuple[LegSpec, ...]
    if kind is GroupKind.HEDGE:
        shape = (long_put(),)
    else:
        shape = draw(st.sampled_from([(long_put(), short_put()), (long_put(),), (short_put(),)]))
    g = group(*shape, kind=kind)
    targets = draw(st.lists(st.sampled_from(GroupState), max_size=30))
    return g, targets


@given(walks())
def test_random_walks_obey_the_table_and_keep_a_consistent_history(
    walk: tuple[OrderGroup, list[GroupState]],
) -> None:
    g, targets = walk
    at = AT
    for target in targets:
        before = g.state
        allowed = g.allowed_next
        at += timedelta(milliseconds=250)
        if target in allowed:
            g.transition(target, at)
            assert g.state is target
        else:
            with pytest.raises(IllegalTransitionError):
                g.transition(target, at)
            assert g.state is before
        assert allowed <= TRANSITIONS[before]
        assert g.state in KIND_STATES[g.kind]
    states = [S.CREATED] + [c.after for c in g.history]
    assert [c.before for c in g.history] == states[:-1]
    assert all(c.after in TRANSITIONS[c.before] for c in g.history)
    assert g.state is states[-1]
    assert all(c.before not in TERMINAL_STATES for c in g.history)


# ---- price policy -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "bid", "ask", "offset", "expected"),
    [
        (Side.BUY, 10000, 10020, 0, 10010),
        (Side.SELL, 10000, 10020, 0, 10010),
        (Side.BUY, 10000, 10020, 1, 10015),
        (Side.SELL, 10000, 10020, 1, 10005),
        # mid 100.025: a buy rounds down, a sell up — never against us
        (Side.BUY, 10000, 10005, 0, 10000),
        (Side.SELL, 10000, 10005, 0, 10005),
        (Side.BUY, 10000, 10005, 1, 10005),
        (Side.SELL, 10000, 10005, 1, 10000),
        (Side.BUY, 10000, 10000, 2, 10010),
        # a sell never prices below one tick
        (Side.SELL, 5, 10, 3, 5),
    ],
)
def test_first_limit_is_mid_plus_offset_rounded_in_our_favour(
    side: Side, bid: int, ask: int, offset: int, expected: int
) -> None:
    policy = PricePolicy(offset_ticks=offset)
    assert policy.first_limit(side, Paise(bid), Paise(ask), 5) == expected


@pytest.mark.parametrize(
    ("bid", "ask"), [(None, 10000), (10000, None), (None, None), (0, 10000), (10010, 10000)]
)
def test_first_limit_is_none_without_a_two_sided_market(bid: int | None, ask: int | None) -> None:
    for side in Side:
        assert PricePolicy().first_limit(side, bid, ask, 5) is None  # type: ignore[arg-type]


@given(
    bid_ticks=st.integers(1, 100_000),
    spread_ticks=st.integers(0, 50),
    offset=st.integers(0, 30),
    tick=st.sampled_from([5, 10, 100]),
    side=st.sampled_from(Side),
)
def test_first_limit_is_on_the_grid_and_within_a_tick_of_the_target(
    bid_ticks: int, spread_ticks: int, offset: int, tick: int, side: Side
) -> None:
    bid, ask = bid_ticks * tick, (bid_ticks + spread_ticks) * tick
    limit = PricePolicy(offset_ticks=offset).first_limit(side, Paise(bid), Paise(ask), tick)
    assert limit is not None
    assert limit % tick == 0 and limit >= tick
    twice_target = bid + ask + 2 * side.sign * offset * tick
    if side is Side.BUY:
        assert twice_target - 2 * tick < 2 * limit <= twice_target
    else:
        assert 2 * limit >= twice_target
        assert limit == tick or 2 * limit < twice_target + 2 * tick


def test_chase_moves_toward_crossing_then_stops() -> None:
    policy = PricePolicy()  # 3 steps of 2 ticks, at most 10
    first = Paise(10010)
    assert [policy.chased_limit(Side.BUY, first, n, 5) for n in (1, 2, 3, 4)] == [
        10020,
        10030,
        10040,
        None,
    ]
    assert [policy.chased_limit(Side.SELL, first, n, 5) for n in (1, 2, 3, 4)] == [
        10000,
        9990,
        9980,
        None,
    ]


def test_chase_stops_at_the_bound_after_reaching_it() -> None:
    policy = PricePolicy(chase_steps=5, chase_step_ticks=4, max_chase_ticks=10)
    steps = [policy.chased_limit(Side.BUY, Paise(1000), n, 5) for n in range(1, 6)]
    assert steps == [1020, 1040, 1050, None, None]


def test_a_sell_chase_stops_at_one_tick() -> None:
    steps = [PricePolicy().chased_limit(Side.SELL, Paise(20), n, 5) for n in (1, 2, 3)]
    assert steps == [10, 5, None]


def test_chase_refuses_a_bad_step_or_an_off_grid_first_limit() -> None:
    with pytest.raises(ValueError, match="chase step must be 1 or more"):
        PricePolicy().chased_limit(Side.BUY, Paise(1000), 0, 5)
    with pytest.raises(ValueError, match="on the 5-paise grid"):
        PricePolicy().chased_limit(Side.BUY, Paise(1002), 1, 5)
    with pytest.raises(ValueError, match="tick must be a positive"):
        PricePolicy().first_limit(Side.BUY, Paise(1000), Paise(1005), 0)


@given(
    steps=st.integers(0, 8),
    step_ticks=st.integers(0, 6),
    max_ticks=st.integers(0, 20),
    first_ticks=st.integers(1, 400),
    side=st.sampled_from(Side),
)
def test_chase_never_goes_beyond_the_bound_and_always_moves(
    steps: int, step_ticks: int, max_ticks: int, first_ticks: int, side: Side
) -> None:
    policy = PricePolicy(chase_steps=steps, chase_step_ticks=step_ticks, max_chase_ticks=max_ticks)
    first = Paise(first_ticks * 5)
    previous = first
    exhausted = False
    for n in range(1, steps + 3):
        price = policy.chased_limit(side, first, n, 5)
        if price is None:
            exhausted = True
            continue
        assert not exhausted, "a chase resumed after it was exhausted"
        assert n <= steps
        assert abs(price - first) <= max_ticks * 5
        assert (price - previous) * side.sign > 0
        assert price % 5 == 0 and price >= 5
        previous = price


@pytest.mark.parametrize(
    "changes",
    [
        {"offset_ticks": -1},
        {"chase_steps": -1},
        {"chase_every_s": 0},
        {"chase_every_s": float("nan")},
        {"chase_step_ticks": 1.5},
        {"max_chase_ticks": True},
    ],
)
def test_price_policy_refuses_nonsense(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="price policy"):
        PricePolicy(**changes)


# ---- exit rules --------------------------------------------------------------------


def test_exit_rules_compare_against_the_credit_exactly() -> None:
    rules = ExitRules()  # target 50 %, stop 100 %
    credit = Paise(4000)  # ₹40 a unit
    assert rules.target_hit(credit, Paise(2000))
    assert not rules.target_hit(credit, Paise(2005))
    assert rules.stop_hit(credit, Paise(8000))  # loss ₹40 = 100 % of the credit
    assert not rules.stop_hit(credit, Paise(7995))
    tight = ExitRules(target_pct_of_credit=80, stop_pct_of_credit=150)
    assert tight.target_hit(credit, Paise(3200)) and not tight.target_hit(credit, Paise(3205))
    assert tight.stop_hit(credit, Paise(10000)) and not tight.stop_hit(credit, Paise(9995))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target_pct_of_credit": 100}, "target must be 0 to 99"),
        ({"target_pct_of_credit": -5}, "target must be 0 to 99"),
        ({"stop_pct_of_credit": 0}, "stop must be a positive"),
    ],
)
def test_exit_rules_refuse_nonsense(changes: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExitRules(**changes)


def test_exit_rules_need_a_credit() -> None:
    with pytest.raises(ValueError, match="apply to a credit"):
        ExitRules().target_hit(Paise(0), Paise(0))


# ---- legs and children -------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": 100}, r"quantity 100 is not a whole number of lots of 65 \(nearest: 65\)"),
        ({"quantity": -65}, "quantity must be a whole number ≥ 0"),
        ({"side": Side.SELL}, "a protection leg must BUY, got SELL"),
        ({"freeze_quantity": 50}, "freeze quantity 50 is below one lot of 65"),
        ({"right": "XX"}, "right must be CE or PE"),
        ({"strike": Decimal(0)}, "strike must be a positive Decimal"),
        ({"exchange": "NYSE"}, "not a Kite exchange"),
        ({"lot_size": 0}, "lot size must be positive"),
        ({"tick_size_paise": 0}, "tick size must be positive"),
        ({"instrument_token": 0}, "instrument_token must be positive"),
        ({"underlying": ""}, "underlying must be given"),
        ({"expiry": AT}, "expiry must be a date"),
    ],
)
def test_leg_spec_refuses_what_cannot_be_traded(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**changes)


def test_a_risk_leg_must_sell() -> None:
    with pytest.raises(ValueError, match="leg FINNIFTY26DEC24800PE: a risk leg must SELL"):
        spec(LegRole.RISK, side=Side.BUY)


def test_leg_spec_knows_its_lots_and_key() -> None:
    s = short_put(195)
    assert s.lots == 3 and s.signed_quantity == -195
    assert s.contract_key == ("FINNIFTY", EXPIRY, "PE")
    assert s.product is Product.NRML and s.price_policy == PricePolicy()
    assert spec(quantity=0).quantity == 0  # a risk leg cut back to nothing


def test_child_order_is_working_from_sent_until_terminal() -> None:
    child = ChildOrder("c1", 0, 1, "cG1a001", 130)
    assert not child.is_working and child.remaining == 0 and not child.is_terminal
    child.sent = True
    assert child.is_working and child.remaining == 130
    child.status = OrderStatus.OPEN
    child.filled_quantity = 65
    assert child.is_working and child.remaining == 65
    child.status = OrderStatus.CANCELLED
    assert child.is_terminal and not child.is_working and child.remaining == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tag": "has-dash"}, "letters and digits"),
        ({"tag": "x" * 21}, "letters and digits"),
        ({"quantity": 0}, "quantity must be positive"),
        ({"filled_quantity": 200}, "filled quantity 200 must be 0 to 130"),
        ({"leg_index": -1}, "leg_index must be"),
        ({"child_id": ""}, "child_id must be given"),
    ],
)
def test_child_order_refuses_nonsense(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "child_id": "c1",
        "leg_index": 0,
        "seq": 1,
        "tag": "cG1a001",
        "quantity": 130,
    }
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        ChildOrder(**fields)


def test_leg_counts_filled_working_and_not_yet_sent() -> None:
    leg = Leg(long_put(390))
    a, b, c, d = (ChildOrder(f"c{i}", 0, i, f"t{i}", 65 if i < 4 else 195) for i in range(1, 5))
    leg.children.extend([a, b, c, d])
    fill(a, 65, 6000, OrderStatus.COMPLETE)
    fill(b, 0, 0, OrderStatus.CANCELLED)
    fill(c, 30, 6010, OrderStatus.OPEN)  # partly filled, still working
    # d (195) not sent yet
    assert leg.filled_quantity == 95
    assert leg.working_quantity == 35
    assert leg.released_quantity == 130
    assert leg.open_quantity == 390 - 95 - 35  # cancelled 65 and unsent 195
    assert not leg.is_filled
    assert leg.signed_filled == 95
    assert leg.filled_value == 65 * 6000 + 30 * 6010


def test_leg_average_price_is_fill_weighted_and_rounds_half_up() -> None:
    leg = Leg(long_put(130))
    a, b = ChildOrder("a", 0, 1, "ta", 65), ChildOrder("b", 0, 2, "tb", 65)
    leg.children.extend([a, b])
    assert leg.average_price == 0
    fill(a, 65, 10001, OrderStatus.COMPLETE)
    fill(b, 65, 10002, OrderStatus.COMPLETE)
    assert leg.average_price == 10002  # 10001.5 → up
    fill(b, 65, 10004, OrderStatus.COMPLETE)
    assert leg.average_price == 10003  # exact
    b.filled_quantity, b.average_price = 130, Paise(10002)
    assert leg.average_price == 10002  # (650065 + 1300260) / 195 = 10001.67 → 10002
    assert leg.is_filled
    sold = Leg(short_put(65))
    sold.children.append(ChildOrder("s", 0, 1, "ts", 65))
    fill(sold.children[0], 65, 9000, OrderStatus.COMPLETE)
    assert sold.signed_filled == -65


def test_credit_of_a_filled_bull_put_spread() -> None:
    # FINNIFTY bull put 25000/24800 × 65: sell at ₹100, buy at ₹60 → ₹40 a unit
    g = group()
    long_leg, short_leg = g.legs
    long_leg.children.append(ChildOrder("G1p1", 0, 1, "p1", 65))
    short_leg.children.append(ChildOrder("G1r1", 1, 1, "r1", 65))
    assert g.credit == 0
    fill(long_leg.children[0], 65, 6000, OrderStatus.COMPLETE)
    assert g.credit == -390000  # only the protection: a debit so far
    fill(short_leg.children[0], 65, 10000, OrderStatus.COMPLETE)
    assert g.credit == 260000  # ₹2,600 = ₹40 × 65


def test_group_finds_children_and_their_legs() -> None:
    g = group()
    child = ChildOrder("G1r1", 1, 1, "r1", 65)
    g.legs[1].children.append(child)
    assert g.child("G1r1") is child
    assert g.leg_of(child) is g.legs[1]
    with pytest.raises(UnknownChildError, match="group G1 has no child order nope"):
        g.child("nope")
    stranger = ChildOrder("X", 1, 1, "x", 65)
    with pytest.raises(UnknownChildError, match="child order X is not one of group G1's"):
        g.leg_of(stranger)


def test_group_sorts_its_legs_by_role_and_pairs_them_by_contract() -> None:
    calls = {"right": "CE", "tradingsymbol": "FINNIFTY26DEC25400CE"}
    long_call = spec(LegRole.PROTECTION, strike=Decimal(25400), **calls)
    short_call = spec(LegRole.RISK, strike=Decimal(25200), **calls)
    g = group(long_put(), short_put(), long_call, short_call)
    assert [i for i, _ in g.protection_legs] == [0, 2]
    assert [i for i, _ in g.risk_legs] == [1, 3]
    assert [i for i, _ in g.protection_for(1)] == [0]
    assert [i for i, _ in g.protection_for(3)] == [2]
    assert not g.is_terminal


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: group(long_put(), short_put(), kind=GroupKind.HEDGE),
            "a hedge group only buys",
        ),
        (
            lambda: OrderGroup("G1", GroupKind.ENTRY, [], datetime(2026, 11, 25, 10, 0)),
            "created_at must be timezone-aware",
        ),
        (lambda: OrderGroup("", GroupKind.ENTRY, [], AT), "group_id must be given"),
        (
            lambda: OrderGroup(
                "G1", GroupKind.ENTRY, [Leg(long_put(), [ChildOrder("a", 1, 1, "a", 65)])], AT
            ),
            "child a is under leg 0 but says leg 1",
        ),
        (
            lambda: OrderGroup(
                "G1",
                GroupKind.ENTRY,
                [Leg(long_put(), [ChildOrder("a", 0, 1, "a", 65), ChildOrder("a", 0, 2, "b", 65)])],
                AT,
            ),
            "child id a repeats",
        ),
    ],
)
def test_order_group_refuses_inconsistent_groups(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_a_hedge_group_may_start_empty_and_refuses_risk_added_later() -> None:
    g = OrderGroup("H1", GroupKind.HEDGE, [], AT)
    g.legs.append(Leg(long_put()))
    g.legs.append(Leg(short_put()))
    assert g.allowed_next == {S.REJECTED}
    with pytest.raises(IllegalTransitionError, match="a hedge group only buys"):
        g.transition(S.VALIDATED, AT)
    g.transition(S.REJECTED, AT, "a hedge must not sell")
