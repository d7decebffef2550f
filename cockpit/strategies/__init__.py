"""Option strategies: credit spreads planned from a valued chain (:mod:`.spreads`), their
payoff over a price grid (:mod:`.payoff`) and the chain-implied probabilities behind their
probability of profit (:mod:`.probability`). Plain typed Python over the domain, market-data
and pricing packages: no Qt, no asyncio, no I/O.
"""

from __future__ import annotations

from cockpit.strategies.spreads import (
    ExitPlan,
    PlannedLeg,
    SpreadError,
    SpreadPlan,
    SpreadRequest,
    Structure,
    adjustment_due,
    plan_spread,
)

__all__ = [
    "ExitPlan",
    "PlannedLeg",
    "SpreadError",
    "SpreadPlan",
    "SpreadRequest",
    "Structure",
    "adjustment_due",
    "plan_spread",
]
