"""What the execution layer tells everyone else: groups changing state, exposure changing,
emergency hedges proposed and decided. Frozen values published on the event bus; the window's
docks, the journal and the benchmarks listen to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cockpit.domain.money import Paise
from cockpit.execution.exposure import ExposureKey, ExposureWindow, Uncovered

if TYPE_CHECKING:
    from cockpit.execution.startup import StartupReport


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupChanged:
    """A group's state, a leg's fill or a child order changed; re-read the group."""

    at: datetime
    group_id: str
    state: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExposureChanged:
    """Uncovered short quantity per underlying/expiry/right, and the open unhedged windows.
    ``monotonic`` is the clock reading the windows' times are measured on."""

    at: datetime
    monotonic: float
    exposures: tuple[Uncovered, ...]
    open_windows: tuple[ExposureWindow, ...]

    @property
    def uncovered(self) -> tuple[Uncovered, ...]:
        return tuple(e for e in self.exposures if e.uncovered_quantity > 0)


@dataclass(frozen=True, slots=True)
class HedgeOrder:
    """One order a remedy would send."""

    tradingsymbol: str
    side: str  # "BUY" or "SELL"
    quantity: int
    estimated_price: Paise | None


@dataclass(frozen=True, slots=True)
class HedgeRemedy:
    name: str  # "buy back" or "buy protection"
    orders: tuple[HedgeOrder, ...]
    estimated_cost: Paise | None  # premium paid, paise; None when a price is unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeProposed:
    """An unhedged short needs a hedge. With policy ``confirm`` the default remedy goes out at
    ``deadline`` (monotonic seconds) unless the trader approves another or holds."""

    at: datetime
    proposal_id: str
    key: ExposureKey
    uncovered_quantity: int
    unhedged_since: float  # monotonic
    remedies: tuple[HedgeRemedy, ...]
    default_remedy: str
    deadline: float | None  # None: policy auto, sent at once


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeResolved:
    """A proposal was decided: a remedy sent (``sent``), held by the trader, or overtaken
    (the exposure closed by itself)."""

    at: datetime
    proposal_id: str
    outcome: str  # "sent", "held", "overtaken"
    remedy: str | None = None
    group_id: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryProgressed:
    """Start-up recovery reached step ``step`` of ``total`` (1-based)."""

    at: datetime
    step: int
    total: int
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryFinished:
    """Start-up recovery is done; ``report`` says what it found and did."""

    at: datetime
    report: StartupReport
