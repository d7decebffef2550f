"""Credit spreads planned from hand-made chains (every number checked by hand) and from the
paper exchange's chain (strike choice, credit and probability of profit in a real market)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import numpy as np
import pytest

from cockpit.domain.groups import ExitRules, GroupKind, GroupState, LegRole
from cockpit.domain.instruments import InstrumentStore
from cockpit.domain.orders import Side
from cockpit.exchange.market import Market
from cockpit.exchange.universe import build_universe, load_underlyings
from cockpit.marketdata.chain import value_chain
from cockpit.reference_data import load_calendar, load_contract_specs
from cockpit.strategies import (
    ExitPlan,
    SpreadError,
    SpreadPlan,
    SpreadRequest,
    Structure,
    adjustment_due,
    plan_spread,
)
from cockpit.strategies.probability import iv_at, prob_above, prob_below
from tests.strategies import NOW, Q, expired, make_world, symbol

D = Decimal

BULL_PUT_QUOTES = {
    (25800, "PE"): Q("79.50", "80.50", "80.00"),
    (25600, "PE"): Q("39.50", "40.50", "40.00"),
}
BEAR_CALL_QUOTES = {
    (26000, "CE"): Q("79.00", "81.00", "80.00"),
    (26200, "CE"): Q("39.00", "41.00", "40.00"),
}
# Put side 200 wide for ₹30, call side 300 wide for ₹30: ₹60 a unit in all.
CONDOR_QUOTES = {
    (25600, "PE"): Q("59.50", "60.50"),
    (25400, "PE"): Q("29.50", "30.50"),
    (26200, "CE"): Q("49.50", "50.50"),
    (26500, "CE"): Q("19.50", "20.50"),
}


def bull_put(lots: int = 2) -> SpreadPlan:
    chain, view = make_world(BULL_PUT_QUOTES)
    request = SpreadRequest(
        Structure.BULL_PUT, lots=lots, short_strike=D(25800), width_points=D(200)
    )
    return plan_spread(request, chain, view)


def condor() -> SpreadPlan:
    chain, view = make_world(CONDOR_QUOTES)
    request = SpreadRequest(
        Structure.IRON_CONDOR,
        short_strike=D(25600),
        call_short_strike=D(26200),
        width_points=D(200),
        call_width_points=D(300),
    )
    return plan_spread(request, chain, view)


def test_bull_put_hand_checked_credit_loss_and_breakeven() -> None:
    plan = bull_put()
    assert plan.structure is Structure.BULL_PUT
    assert (plan.lots, plan.lot_size, plan.quantity) == (2, 65, 130)
    assert plan.credit_mid == 520_000  # (80 − 40) × 130 = ₹5,200
    assert plan.max_profit == plan.credit_mid
    assert plan.credit_touch == 507_000  # sell at 79.50, buy at 40.50: ₹39 × 130
    assert plan.max_loss == 2_080_000  # (200 − 40) × 130 = ₹20,800
    assert plan.breakevens == (D("25760.00"),)
    assert plan.reward_risk == pytest.approx(5200 / 20800)
    assert [leg.spec.strike for leg in plan.legs] == [D(25600), D(25800)]
    assert [leg.mid for leg in plan.legs] == [4000, 8000]
    assert plan.warnings == ()


def test_bear_call_is_the_mirror_image() -> None:
    chain, view = make_world(BEAR_CALL_QUOTES)
    request = SpreadRequest(Structure.BEAR_CALL, lots=2, short_strike=D(26000), width_points=D(200))
    plan = plan_spread(request, chain, view)
    assert plan.credit_mid == 520_000
    assert plan.credit_touch == (79 - 41) * 130 * 100
    assert plan.max_loss == 2_080_000
    assert plan.breakevens == (D("26040.00"),)
    assert [(leg.spec.strike, leg.spec.right) for leg in plan.legs] == [
        (D(26200), "CE"),
        (D(26000), "CE"),
    ]


def test_condor_max_loss_uses_the_wider_side() -> None:
    plan = condor()
    assert plan.quantity == 65
    assert plan.credit_mid == 60 * 65 * 100
    assert plan.credit_touch == (59.5 - 30.5 + 49.5 - 20.5) * 65 * 100
    assert plan.max_loss == (300 - 60) * 65 * 100  # the 300-point call side
    assert plan.breakevens == (D("25540.00"), D("26260.00"))
    assert [(leg.spec.strike, leg.spec.right, leg.spec.role) for leg in plan.legs] == [
        (D(25400), "PE", LegRole.PROTECTION),
        (D(26500), "CE", LegRole.PROTECTION),
        (D(25600), "PE", LegRole.RISK),
        (D(26200), "CE", LegRole.RISK),
    ]


def _monte_carlo_above(level: float, forward: float, years: float, vol: float) -> float:
    z = np.random.default_rng(20261202).standard_normal(200_000)
    terminal = forward * np.exp(-0.5 * vol * vol * years + vol * np.sqrt(years) * z)
    return float(np.mean(terminal > level))


def skew(strike: int) -> float:
    """A put skew: 15% at 26,000, two vol points more every 1,000 points lower."""
    return 0.15 + 0.00002 * (26000 - strike)


def test_pop_matches_monte_carlo_on_the_same_lognormal() -> None:
    worlds = {
        Structure.BULL_PUT: make_world(BULL_PUT_QUOTES, iv=skew),
        Structure.BEAR_CALL: make_world(BEAR_CALL_QUOTES, iv=skew),
        Structure.IRON_CONDOR: make_world(CONDOR_QUOTES, iv=skew),
    }
    view = worlds[Structure.BULL_PUT][1]
    forward, years = 25950.0, view.years
    requests = {
        Structure.BULL_PUT: SpreadRequest(
            Structure.BULL_PUT, short_strike=D(25800), width_points=D(200)
        ),
        Structure.BEAR_CALL: SpreadRequest(
            Structure.BEAR_CALL, short_strike=D(26000), width_points=D(200)
        ),
        Structure.IRON_CONDOR: SpreadRequest(
            Structure.IRON_CONDOR,
            short_strike=D(25600),
            call_short_strike=D(26200),
            width_points=D(200),
            call_width_points=D(300),
        ),
    }
    plans = {s: plan_spread(r, *worlds[s]) for s, r in requests.items()}

    (be,) = plans[Structure.BULL_PUT].breakevens
    vol = skew(25760)
    assert iv_at(view, float(be)) == pytest.approx(vol)
    mc = _monte_carlo_above(float(be), forward, years, vol)
    assert plans[Structure.BULL_PUT].pop == pytest.approx(mc, abs=0.01)
    assert plans[Structure.BULL_PUT].pop == pytest.approx(prob_above(25760, forward, years, vol))

    (be,) = plans[Structure.BEAR_CALL].breakevens
    mc = 1 - _monte_carlo_above(float(be), forward, years, skew(26040))
    assert plans[Structure.BEAR_CALL].pop == pytest.approx(mc, abs=0.01)
    assert plans[Structure.BEAR_CALL].pop == pytest.approx(
        prob_below(26040, forward, years, skew(26040))
    )

    low, high = (float(b) for b in plans[Structure.IRON_CONDOR].breakevens)
    mc = _monte_carlo_above(low, forward, years, skew(25540)) - _monte_carlo_above(
        high, forward, years, skew(26260)
    )
    assert plans[Structure.IRON_CONDOR].pop == pytest.approx(mc, abs=0.01)
    assert 0 < plans[Structure.IRON_CONDOR].pop < plans[Structure.BULL_PUT].pop


DELTAS = {
    (25500, "PE"): Q("20", "21", delta=-0.10),
    (25600, "PE"): Q("30", "31", delta=-0.14),
    (25700, "PE"): Q("45", "46", delta=-0.19),
    (25800, "PE"): Q("65", "66", delta=-0.26),
    (25900, "PE"): Q("95", "96", delta=-0.35),
    (26000, "CE"): Q("95", "96", delta=0.36),
    (26100, "CE"): Q("65", "66", delta=0.27),
    (26200, "CE"): Q("45", "46", delta=0.21),
    (26300, "CE"): Q("30", "31", delta=0.15),
    (26400, "CE"): Q("20", "21", delta=0.11),
    (26500, "CE"): Q("12", "13", delta=0.08),
}


@pytest.mark.parametrize(
    ("structure", "target", "shorts", "longs"),
    [
        (Structure.BULL_PUT, 0.20, [D(25700)], [D(25500)]),
        (Structure.BULL_PUT, 0.25, [D(25800)], [D(25600)]),
        (Structure.BEAR_CALL, 0.20, [D(26200)], [D(26400)]),
        (Structure.BEAR_CALL, 0.13, [D(26300)], [D(26500)]),
        (Structure.IRON_CONDOR, 0.20, [D(25700), D(26200)], [D(25500), D(26400)]),
    ],
)
def test_delta_target_picks_the_listed_strike_with_the_closest_delta(
    structure: Structure, target: float, shorts: list[Decimal], longs: list[Decimal]
) -> None:
    chain, view = make_world(DELTAS)
    plan = plan_spread(SpreadRequest(structure, short_delta=target), chain, view)
    assert [leg.spec.strike for leg in plan.legs if leg.spec.role is LegRole.RISK] == shorts
    assert [leg.spec.strike for leg in plan.legs if leg.spec.role is LegRole.PROTECTION] == longs
    assert all(leg.delta is not None for leg in plan.legs)


@pytest.mark.parametrize(
    ("width", "long"),
    [
        ({"width_strikes": 1}, D(25700)),
        ({"width_strikes": 3}, D(25500)),
        ({"width_points": D(300)}, D(25500)),
        ({}, D(25600)),  # two listed strikes by default
    ],
)
def test_width_in_strikes_or_points(width: dict[str, object], long: Decimal) -> None:
    chain, view = make_world(DELTAS)
    request = SpreadRequest(Structure.BULL_PUT, short_strike=D(25800), **width)  # type: ignore[arg-type]
    plan = plan_spread(request, chain, view)
    assert plan.legs[0].spec.strike == long
    assert plan.max_loss == int(D(25800) - long) * 100 * 65 - plan.credit_mid


def test_width_in_strikes_follows_uneven_listing() -> None:
    strikes = (25400, 25500, 25600, 25800, 26000, 26200)
    quotes = {(k, "PE"): Q(str((k - 25300) // 4), str((k - 25300) // 4 + 1)) for k in strikes}
    chain, view = make_world(quotes, strikes=strikes)
    request = SpreadRequest(Structure.BULL_PUT, short_strike=D(26000), width_strikes=2)
    assert plan_spread(request, chain, view).legs[0].spec.strike == D(25600)


def test_distance_from_spot_picks_the_nearest_strike_ties_further_out() -> None:
    chain, view = make_world(DELTAS)  # spot 25,900
    request = SpreadRequest(Structure.IRON_CONDOR, distance_points=D(250), width_strikes=1)
    plan = plan_spread(request, chain, view)
    # 25,650 and 26,150 fall between listed strikes: the one further from the money is taken.
    shorts = [leg.spec.strike for leg in plan.legs if leg.spec.role is LegRole.RISK]
    assert shorts == [D(25600), D(26200)]


def test_condor_call_short_mirrors_an_explicit_put_short_about_the_forward() -> None:
    chain, view = make_world(DELTAS)  # forward 25,950: 25,600 is 350 below, 26,300 350 above
    request = SpreadRequest(Structure.IRON_CONDOR, short_strike=D(25600), width_strikes=1)
    plan = plan_spread(request, chain, view)
    shorts = [leg.spec.strike for leg in plan.legs if leg.spec.role is LegRole.RISK]
    assert shorts == [D(25600), D(26300)]


def test_a_leg_without_a_two_sided_quote_is_priced_at_its_last_price_with_a_warning() -> None:
    quotes = {(25800, "PE"): Q("79.50", "80.50"), (25600, "PE"): Q(bid="39.00", ltp="41.00")}
    chain, view = make_world(quotes)
    request = SpreadRequest(Structure.BULL_PUT, short_strike=D(25800), width_points=D(200))
    plan = plan_spread(request, chain, view)
    assert plan.credit_mid == (80 - 41) * 65 * 100
    assert plan.credit_touch == (79.5 - 41) * 65 * 100
    assert plan.warnings == (f"no two-sided quote for {symbol(25600, 'PE')}; used LTP ₹41.00",)


def _bull(**fields: object) -> SpreadRequest:
    base: dict[str, object] = {
        "structure": Structure.BULL_PUT,
        "short_strike": D(25800),
        "width_points": D(200),
    }
    return SpreadRequest(**(base | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (_bull(lots=0), "lots"),
        (_bull(lots=-1), "lots"),
        (_bull(width_points=D(0)), "width"),
        (_bull(width_points=D(-100)), "width"),
        (_bull(width_points=D(150)), "width"),  # 25,650 is not listed
        (_bull(width_points=None, width_strikes=0), "width"),
        (_bull(width_points=None, width_strikes=99), "width"),  # below the lowest strike
        (_bull(width_strikes=2), "width"),  # both widths given
        (_bull(short_strike=D(25850)), "short_strike"),
        (_bull(short_strike=None, short_delta=0.5), "short_delta"),
        (_bull(short_strike=None, short_delta=0.0), "short_delta"),
        (_bull(short_strike=None, short_delta=-0.2), "short_delta"),
        (_bull(short_strike=None, short_delta=None), "short_delta"),
        (_bull(short_strike=None, distance_points=D(0)), "distance"),
        (_bull(short_strike=D(25900), width_points=D(100)), "quotes"),  # no quotes at all
        (
            _bull(structure=Structure.IRON_CONDOR, call_short_strike=D(26250)),
            "call_short_strike",
        ),
    ],
)
def test_every_refusal_names_its_field(request_: SpreadRequest, field: str) -> None:
    chain, view = make_world(BULL_PUT_QUOTES | DELTAS | {(25900, "PE"): Q()})
    with pytest.raises(SpreadError) as raised:
        plan_spread(request_, chain, view)
    assert raised.value.field == field
    assert field in str(raised.value)


def test_structure_may_be_given_by_name_and_a_wrong_name_is_refused() -> None:
    chain, view = make_world(BULL_PUT_QUOTES)
    request = SpreadRequest("bull-put", short_strike=D(25800), width_points=D(200))  # type: ignore[arg-type]
    assert request.structure is Structure.BULL_PUT
    assert plan_spread(request, chain, view).credit_mid == 40 * 65 * 100
    with pytest.raises(SpreadError, match="bull-call") as raised:
        SpreadRequest("bull-call")  # type: ignore[arg-type]
    assert raised.value.field == "structure"


def test_an_expired_chain_is_refused() -> None:
    chain, view = make_world(BULL_PUT_QUOTES)
    with pytest.raises(SpreadError, match="expiry") as raised:
        plan_spread(_bull(), chain, expired(view))
    assert raised.value.field == "expiry"
    later = replace(view, at=datetime(2027, 1, 4, 10, 0, tzinfo=NOW.tzinfo))
    with pytest.raises(SpreadError) as raised:
        plan_spread(_bull(), chain, later)
    assert raised.value.field == "expiry"


def test_short_strike_field_message_names_the_value() -> None:
    chain, view = make_world(BULL_PUT_QUOTES)
    with pytest.raises(SpreadError, match="short_strike 25850 is not a listed PE strike"):
        plan_spread(_bull(short_strike=D(25850)), chain, view)


def test_to_group_sends_protection_first_with_the_plan_exit_rules() -> None:
    chain, view = make_world(CONDOR_QUOTES)
    request = SpreadRequest(
        Structure.IRON_CONDOR, lots=3, short_strike=D(25600), call_short_strike=D(26200)
    )
    request = replace(request, width_points=D(200), call_width_points=D(300))
    plan = plan_spread(request, chain, view, exit_plan=ExitPlan(target_pct=40, stop_pct=150))
    group = plan.to_group("g1", NOW)
    assert group.kind is GroupKind.ENTRY and group.state is GroupState.CREATED
    assert group.exit_rules == ExitRules(target_pct_of_credit=40, stop_pct_of_credit=150)
    assert [(leg.spec.role, leg.spec.side) for leg in group.legs] == [
        (LegRole.PROTECTION, Side.BUY),
        (LegRole.PROTECTION, Side.BUY),
        (LegRole.RISK, Side.SELL),
        (LegRole.RISK, Side.SELL),
    ]
    assert {leg.spec.quantity for leg in group.legs} == {3 * 65}
    assert {leg.spec.lots for leg in group.legs} == {3}
    assert group.legs[0].spec.tradingsymbol == symbol(25400, "PE")
    assert group.legs[0].spec.freeze_quantity == 1800
    assert bull_put().exit_rules() == ExitRules(50, 100)


def test_adjustment_due_on_loss_share_or_short_delta() -> None:
    plan = bull_put()  # max loss ₹20,800: 20% is ₹4,160
    assert adjustment_due(plan, 415_999, [-0.30]) is None
    message = adjustment_due(plan, 416_000, [-0.30])
    assert message is not None and "20%" in message and "₹20,800.00" in message
    message = adjustment_due(plan, 0, [-0.35])
    assert message is not None and symbol(25800, "PE") in message
    assert adjustment_due(plan, -100_000, [0.1]) is None


def test_exit_plan_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="target"):
        ExitPlan(target_pct=100)
    with pytest.raises(ValueError, match="adjust_short_delta"):
        ExitPlan(adjust_short_delta=1.5)


# --- the paper exchange's chain -------------------------------------------------------------


@pytest.fixture(scope="module")
def paper() -> tuple[object, object]:
    calendar = load_calendar()
    universe = build_universe(load_underlyings(), load_contract_specs(), calendar, NOW.date())
    market = Market(universe, calendar, seed=5, start=NOW)
    store = InstrumentStore(universe.instruments)
    expiry = store.expiries("NIFTY")[1]
    chain = store.chain("NIFTY", expiry)
    quotes = market.quotes([i.instrument_token for i in chain.instruments()])
    future = next((f for f in store.futures("NIFTY") if f.expiry == expiry), None)
    view = value_chain(
        chain,
        quotes,
        now=market.now,
        spot=market.spot("NIFTY"),
        future=market.quote(future.instrument_token) if future else None,
        rate=market.rate,
    )
    return chain, view


@pytest.mark.parametrize("structure", list(Structure))
def test_paper_chain_delta_plans_are_sane(
    structure: Structure, paper: tuple[object, object]
) -> None:
    chain, view = paper
    plan = plan_spread(SpreadRequest(structure, lots=2, short_delta=0.2), chain, view)  # type: ignore[arg-type]
    for short in plan.short_legs:
        right = short.spec.right
        deltas = [
            abs(side.delta)
            for row in view.rows  # type: ignore[attr-defined]
            if (side := row.put if right == "PE" else row.call) is not None
            and side.delta is not None
        ]
        assert short.delta is not None
        assert abs(abs(short.delta) - 0.2) == pytest.approx(min(abs(d - 0.2) for d in deltas))
        assert abs(abs(short.delta) - 0.2) < 0.05
    assert 0 < plan.credit_touch <= plan.credit_mid < plan.max_loss + plan.credit_mid
    assert plan.quantity == 2 * plan.lot_size
    assert 0.5 < plan.pop < 0.95
    assert plan.reward_risk == pytest.approx(plan.max_profit / plan.max_loss)
    group = plan.to_group(f"paper-{structure}", NOW)
    assert [leg.spec.role for leg in group.legs][: len(plan.long_legs)] == [
        LegRole.PROTECTION
    ] * len(plan.long_legs)
