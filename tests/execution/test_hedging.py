"""Emergency hedges: debounce on an injected clock, exactly the uncovered quantity, never an
over-hedge on repeated triggers, auto and confirm (countdown, approve, hold)."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from pathlib import Path

from cockpit.domain.instruments import Exchange
from cockpit.domain.money import Paise
from cockpit.domain.orders import OrderRequest, OrderType, Product, Side
from cockpit.execution.coordinator import ExecutionSettings
from cockpit.execution.events import HedgeProposed, HedgeResolved
from cockpit.execution.exposure import ExposureKey, Uncovered
from cockpit.execution.hedger import BUY_BACK, BUY_PROTECTION, HedgePolicy, Hedger, ShortLine
from tests.execution.engine_broker import EngineBroker
from tests.execution.helpers import option, world

KEY = ExposureKey("NIFTY", date(2026, 12, 8), "CE")


def uncovered(quantity: int) -> dict[ExposureKey, Uncovered]:
    return {
        KEY: Uncovered(
            key=KEY,
            short_quantity=quantity,
            long_quantity=0,
            uncovered_quantity=quantity,
            premium=Paise(0),
            delta=0.0,
            worst_case_loss=None,
        )
    }


def test_debounce_is_500_ms_per_key_on_the_injected_clock() -> None:
    store = EngineBroker(__import__("cockpit.bus", fromlist=["EventBus"]).EventBus()).store
    chain = store.chain("NIFTY", KEY.expiry)
    short = option(store, "NIFTY", KEY.expiry, 26200, "CE")
    shorts = [ShortLine(KEY, Decimal(26200), short.tradingsymbol, short.instrument_token, 65)]
    hedger = Hedger(debounce_s=0.5)

    def evaluate(at: float, working: int = 0, quantity: int = 65) -> list:
        return hedger.evaluate(
            uncovered(quantity), {KEY: working}, shorts, lambda k: chain, lambda t: Paise(1000), at
        )

    assert evaluate(10.0) == []  # breach seen
    assert evaluate(10.49) == []  # not yet 500 ms
    proposals = evaluate(10.5)
    assert len(proposals) == 1 and proposals[0].quantity == 65
    remedies = {r.name: r for r in proposals[0].remedies}
    assert remedies[BUY_BACK].orders[0].tradingsymbol == short.tradingsymbol
    assert remedies[BUY_BACK].estimated_cost == 1000 * 65
    assert remedies[BUY_PROTECTION].orders[0].tradingsymbol.endswith("26250CE")
    # Repeated triggers while the proposal is pending never propose more.
    assert evaluate(10.6) == [] and evaluate(11.5) == []
    hedger.settled(KEY, 65)
    # Sent and working: counted, still nothing more.
    assert evaluate(12.0, working=65) == []
    # The breach grows by a lot: only the difference is proposed.
    grown = evaluate(12.1, working=65, quantity=130)
    assert [p.quantity for p in grown] == [65]
    hedger.settled(KEY, 65)
    # It closes: the debounce starts over next time.
    assert evaluate(13.0, quantity=0) == []
    assert evaluate(13.1, quantity=65) == []
    assert len(evaluate(13.6, quantity=65)) == 1


def naked_short(venue: EngineBroker, strike: int, lots: int = 1) -> OrderRequest:
    expiry = venue.store.expiries("NIFTY")[0]
    instrument = option(venue.store, "NIFTY", expiry, strike, "CE")
    bid = venue.market.quote(instrument.instrument_token).bids[0].price
    return OrderRequest(
        tradingsymbol=instrument.tradingsymbol,
        exchange=Exchange.NFO,
        side=Side.SELL,
        quantity=65 * lots,
        order_type=OrderType.LIMIT,
        product=Product.NRML,
        price=Paise(bid - 100),
    )


def test_an_external_naked_short_is_bought_back_once_with_policy_auto(tmp_path: Path) -> None:
    settings = ExecutionSettings(hedge_policy=HedgePolicy.AUTO)

    async def scenario() -> None:
        async with world(tmp_path, settings=settings) as (coordinator, venue, _watch, bus):
            proposed: list[HedgeProposed] = []
            resolved: list[HedgeResolved] = []
            bus.subscribe(HedgeProposed, proposed.append)
            bus.subscribe(HedgeResolved, resolved.append)
            request = naked_short(venue, 26200, lots=2)
            await venue.place(request)
            external = await coordinator.reconcile_positions()
            assert [q for _, q in external.values()] == [-130]
            for _ in range(100):  # triggers keep coming: reconciliation, watchdog
                await asyncio.sleep(0.05)
                await coordinator.reconcile_positions()
                if resolved and coordinator.groups[resolved[0].group_id].is_terminal:
                    break
            assert len(proposed) == 1 and proposed[0].deadline is None
            assert proposed[0].uncovered_quantity == 130
            assert [r.outcome for r in resolved] == ["sent"]
            hedge = coordinator.groups[resolved[0].group_id]
            assert str(hedge.state) == "complete"
            positions = {p.tradingsymbol: p.quantity for p in await venue.positions()}
            assert positions[request.tradingsymbol] == 0  # bought back exactly, never more
            assert all(e.uncovered_quantity == 0 for e in coordinator.exposures.values())

    asyncio.run(scenario())


def test_confirm_policy_sends_the_default_after_the_countdown(tmp_path: Path) -> None:
    settings = ExecutionSettings(hedge_policy=HedgePolicy.CONFIRM, hedge_countdown_s=0.4)

    async def scenario() -> None:
        async with world(tmp_path, settings=settings) as (coordinator, venue, _, bus):
            proposed: list[HedgeProposed] = []
            resolved: list[HedgeResolved] = []
            bus.subscribe(HedgeProposed, proposed.append)
            bus.subscribe(HedgeResolved, resolved.append)
            request = naked_short(venue, 26250)
            await venue.place(request)
            await coordinator.reconcile_positions()
            for _ in range(60):
                await asyncio.sleep(0.05)
                if resolved:
                    break
            assert len(proposed) == 1
            assert proposed[0].deadline is not None
            assert proposed[0].deadline - proposed[0].unhedged_since >= 0.4
            assert resolved[0].outcome == "sent" and resolved[0].remedy == BUY_BACK

    asyncio.run(scenario())


def test_a_hold_is_a_journalled_override_and_sends_nothing(tmp_path: Path) -> None:
    settings = ExecutionSettings(hedge_policy=HedgePolicy.CONFIRM, hedge_countdown_s=30)

    async def scenario() -> None:
        async with world(tmp_path, settings=settings) as (coordinator, venue, _, bus):
            proposed: list[HedgeProposed] = []
            bus.subscribe(HedgeProposed, proposed.append)
            await venue.place(naked_short(venue, 26300))
            await coordinator.reconcile_positions()
            for _ in range(40):
                await asyncio.sleep(0.05)
                if proposed:
                    break
            orders_before = len(venue.engine.orders())
            await coordinator.hold(proposed[0].proposal_id, "I want this short: covered call")
            await asyncio.sleep(0.3)
            assert len(venue.engine.orders()) == orders_before
            overrides = await coordinator._journal.state("overrides")
            assert overrides[proposed[0].proposal_id]["reason"] == (
                "I want this short: covered call"
            )

    asyncio.run(scenario())
