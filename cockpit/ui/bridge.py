"""The event→signal bridge: the one place where domain events become Qt signals.

Services publish frozen domain events on the :class:`~cockpit.bus.EventBus`; this object
subscribes once and re-emits each as a signal named for the fact. Widgets connect to these
signals and never to the bus, the broker or the journal.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from cockpit.bus import EventBus
from cockpit.domain.events import (
    AlertRaised,
    ConnectionChanged,
    FundsChanged,
    MarketClockChanged,
)
from cockpit.execution.events import (
    ExposureChanged,
    GroupChanged,
    HedgeProposed,
    HedgeResolved,
    RecoveryFinished,
    RecoveryProgressed,
)


class EventBridge(QObject):
    marketClockChanged = Signal(object)
    connectionChanged = Signal(object)
    fundsChanged = Signal(object)
    groupChanged = Signal(object)  # GroupChanged
    exposureChanged = Signal(object)  # ExposureChanged
    hedgeProposed = Signal(object)  # HedgeProposed
    hedgeResolved = Signal(object)  # HedgeResolved
    alertRaised = Signal(object)  # AlertRaised
    recoveryProgressed = Signal(object)  # RecoveryProgressed
    recoveryFinished = Signal(object)  # RecoveryFinished

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("eventBridge")
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(MarketClockChanged, self.marketClockChanged.emit),
            bus.subscribe(ConnectionChanged, self.connectionChanged.emit),
            bus.subscribe(FundsChanged, self.fundsChanged.emit),
            bus.subscribe(GroupChanged, self.groupChanged.emit),
            bus.subscribe(ExposureChanged, self.exposureChanged.emit),
            bus.subscribe(HedgeProposed, self.hedgeProposed.emit),
            bus.subscribe(HedgeResolved, self.hedgeResolved.emit),
            bus.subscribe(AlertRaised, self.alertRaised.emit),
            bus.subscribe(RecoveryProgressed, self.recoveryProgressed.emit),
            bus.subscribe(RecoveryFinished, self.recoveryFinished.emit),
        ]

    def detach(self) -> None:
        """Stop listening (at shutdown, before the widgets go away)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
