"""The order-groups dock's panel: every group, its legs and their child orders, as a tree.

:class:`GroupTreeModel` is a ``QAbstractItemModel`` of three levels — groups (newest first),
their legs, the legs' child orders — with the columns name, state, filled/qty, average price,
P&L and updated. It holds immutable row snapshots, not the coordinator's live groups: the
coordinator mutates its :class:`~cockpit.domain.groups.OrderGroup` objects in place, so the
model re-reads a group only when told it changed and announces exactly what moved (new rows
with ``beginInsertRows``, changed rows with ``dataChanged``). :class:`GroupsPanel` marks groups
dirty on each ``GroupChanged`` and re-reads them from the coordinator's ``groups`` mapping on a
single-shot timer, so a burst of fills costs at most ``refresh_hz`` repaints a second. P&L is
marked to the latest traded price when the app gives a price lookup, else left blank.

Rows are coloured by state (:class:`Tone`, also readable through :data:`TONE_ROLE`). The
context menu offers the manual overrides — force close, resolve NEEDS_ATTENTION, accept
unhedged exposure, cancel a working order — each behind the
:class:`~cockpit.ui.override_dialog.OverrideDialog`; a confirmed one is emitted as
:attr:`GroupsPanel.overrideRequested` with an :class:`OverrideRequest`. The panel calls no
service: the app decides what an override does.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, overload

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMenu,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from cockpit.clock import IST
from cockpit.domain.groups import ChildOrder, GroupState, Leg, OrderGroup
from cockpit.domain.money import Paise, format_inr
from cockpit.execution.events import GroupChanged
from cockpit.ui.naming import named as _named
from cockpit.ui.override_dialog import OverrideAction, OverrideDialog, OverrideRequest
from cockpit.ui.table_header import column_header

log = logging.getLogger(__name__)


_Index = QModelIndex | QPersistentModelIndex

PriceLookup = Callable[[int], Paise | None]
"""instrument_token → the latest traded price in paise, or None if not known."""

COLUMNS = ("Name", "State", "Filled/Qty", "Avg ₹", "P&L ₹", "Updated")
NAME, STATE, FILLED, AVERAGE, PNL, UPDATED = range(len(COLUMNS))
HEADER_TIPS = {PNL: "Filled quantity marked to the latest traded price; blank when unknown"}
_NUMERIC = frozenset({FILLED, AVERAGE, PNL})

TONE_ROLE = Qt.ItemDataRole.UserRole + 1
"""A row's :class:`Tone` as text, for tests and for delegates that colour by it."""


class Tone(StrEnum):
    NEUTRAL = "neutral"
    GOOD = "good"  # complete, filled
    MUTED = "muted"  # flat, cancelled
    WORKING = "working"  # orders at the exchange or about to be
    ALERT = "alert"  # needs attention, emergency hedging
    DIM = "dim"  # rejected


_S = GroupState
_GROUP_TONES: Mapping[GroupState, Tone] = {
    _S.COMPLETE: Tone.GOOD,
    _S.FLAT: Tone.MUTED,
    _S.REJECTED: Tone.DIM,
    _S.NEEDS_ATTENTION: Tone.ALERT,
    _S.EMERGENCY_HEDGING: Tone.ALERT,
}
_TONE_COLOURS: Mapping[Tone, QColor] = {
    Tone.GOOD: QColor("#2e7d32"),
    Tone.MUTED: QColor("#757575"),
    Tone.WORKING: QColor("#b26a00"),
    Tone.ALERT: QColor("#c62828"),
    Tone.DIM: QColor(150, 150, 150),
}
_ALERT_BACKGROUND = QColor(198, 40, 40, 36)

# Where a force close or an acceptance makes no sense: nothing is open.
_NOTHING_OPEN = frozenset({_S.FLAT, _S.REJECTED})


class NodeKind(StrEnum):
    ROOT = "root"
    GROUP = "group"
    LEG = "leg"
    CHILD = "child"


@dataclass(eq=False, slots=True)
class _Node:
    """One row: a snapshot of what it shows, and where it sits in the tree."""

    nid: int
    kind: NodeKind
    parent: _Node | None
    group_id: str
    child_id: str | None = None
    row: int = 0
    cells: tuple[str, ...] = ("",) * len(COLUMNS)
    tone: Tone = Tone.NEUTRAL
    state: str = ""  # a group's state, a child's status
    working: bool = False  # a child order that may still fill (cancellable)
    tooltip: str = ""
    children: list[_Node] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    cells: tuple[str, ...]  # every column but UPDATED
    tone: Tone
    state: str = ""
    working: bool = False
    tooltip: str = ""


def _rupees(value: int) -> str:
    return format_inr(Paise(value), symbol=False)


def _signed_rupees(value: int) -> str:
    return ("+" if value > 0 else "") + _rupees(value)


def _clock_text(at: datetime) -> str:
    return f"{at.astimezone(IST):%H:%M:%S}"


def _words(state: str) -> str:
    return state.replace("_", " ")


def leg_pnl(leg: Leg, price_of: PriceLookup | None) -> int | None:
    """The leg's filled quantity marked to the latest price, in paise; None when nothing has
    filled or the price is unknown."""
    filled = leg.filled_quantity
    if not filled or price_of is None:
        return None
    price = price_of(leg.spec.instrument_token)
    if price is None:
        return None
    return leg.spec.side.sign * (filled * price - leg.filled_value)


def group_pnl(group: OrderGroup, price_of: PriceLookup | None) -> int | None:
    """Cash from the fills plus what the open quantity is worth at the latest price, in paise.
    A contract bought and sold back within the group needs no price (its P&L is realised);
    None when nothing has filled or an open contract has no price."""
    net: dict[int, int] = {}
    cash = 0
    for leg in group.legs:
        if not leg.filled_quantity:
            continue
        token = leg.spec.instrument_token
        net[token] = net.get(token, 0) + leg.signed_filled
        cash -= leg.spec.side.sign * leg.filled_value
    if not net:
        return None
    for token, quantity in net.items():
        if not quantity:
            continue
        price = price_of(token) if price_of is not None else None
        if price is None:
            return None
        cash += quantity * price
    return cash


def _group_snapshot(group: OrderGroup, price_of: PriceLookup | None) -> _Snapshot:
    filled = sum(leg.filled_quantity for leg in group.legs)
    quantity = sum(leg.spec.quantity for leg in group.legs)
    pnl = group_pnl(group, price_of)
    state = group.state
    tone = _GROUP_TONES.get(state, Tone.WORKING)
    tooltip = f"{group.kind} group {group.group_id}: {_words(state)}"
    if group.history and group.history[-1].reason:
        tooltip += f" — {group.history[-1].reason}"
    return _Snapshot(
        cells=(
            f"{group.group_id} · {group.kind}",
            _words(state),
            f"{filled}/{quantity}",
            "",
            "" if pnl is None else _signed_rupees(pnl),
        ),
        tone=tone,
        state=str(state),
        tooltip=tooltip,
    )


def _leg_status(leg: Leg) -> tuple[str, Tone]:
    filled, quantity = leg.filled_quantity, leg.spec.quantity
    if quantity == 0 and not leg.children:
        return "nothing to send", Tone.MUTED
    if filled >= quantity:
        return "filled", Tone.GOOD
    if leg.working_quantity:
        return ("part filled, working" if filled else "working"), Tone.WORKING
    if not leg.children:
        return "not sent", Tone.NEUTRAL
    if any(c.sent and c.status is None for c in leg.children):
        return "sending", Tone.WORKING
    if filled:
        return "part filled", Tone.WORKING
    last = leg.children[-1].status
    if last is not None and last.value == "REJECTED":
        return "rejected", Tone.DIM
    return "cancelled", Tone.MUTED


def _leg_snapshot(leg: Leg, price_of: PriceLookup | None) -> _Snapshot:
    spec = leg.spec
    status, tone = _leg_status(leg)
    filled = leg.filled_quantity
    pnl = leg_pnl(leg, price_of)
    return _Snapshot(
        cells=(
            f"{spec.tradingsymbol} {spec.side} {spec.role}",
            status,
            f"{filled}/{spec.quantity}",
            _rupees(leg.average_price) if filled else "",
            "" if pnl is None else _signed_rupees(pnl),
        ),
        tone=tone,
        tooltip=(
            f"{spec.side} {spec.quantity} {spec.tradingsymbol} ({spec.role}); "
            f"{filled} filled, {leg.working_quantity} working"
        ),
    )


def _child_snapshot(child: ChildOrder) -> _Snapshot:
    if child.status is not None:
        status = child.status.value.lower()
    else:
        status = "sending" if child.sent else "not sent"
    name = child.status.value if child.status is not None else ""
    if name == "COMPLETE":
        tone = Tone.GOOD
    elif name == "CANCELLED":
        tone = Tone.MUTED
    elif name == "REJECTED":
        tone = Tone.DIM
    elif child.is_working:
        tone = Tone.WORKING
    else:
        tone = Tone.NEUTRAL
    limit = f"limit {_rupees(child.price)}" if child.price is not None else "no limit yet"
    order = f"order {child.order_id}" if child.order_id else "no order id yet"
    return _Snapshot(
        cells=(
            child.tag,
            status,
            f"{child.filled_quantity}/{child.quantity}",
            _rupees(child.average_price) if child.filled_quantity else "",
            "",
        ),
        tone=tone,
        state=name,
        working=child.is_working,
        tooltip=f"{child.tag}: {order}, {limit}",
    )


class GroupTreeModel(QAbstractItemModel):
    """Groups (newest first) → legs → child orders; see the module docstring."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._root = _Node(nid=0, kind=NodeKind.ROOT, parent=None, group_id="")
        self._nodes: dict[int, _Node] = {0: self._root}
        self._ids = itertools.count(1)
        self._groups: dict[str, _Node] = {}
        self._brushes = {tone: QBrush(colour) for tone, colour in _TONE_COLOURS.items()}
        self._alert_brush = QBrush(_ALERT_BACKGROUND)
        self._bold = QFont()
        self._bold.setBold(True)
        self._italic = QFont()
        self._italic.setItalic(True)

    # ---- Qt model API -----------------------------------------------------------------

    def index(self, row: int, column: int, parent: _Index = QModelIndex()) -> QModelIndex:
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        node = self._node(parent)
        return self.createIndex(row, column, node.children[row].nid)

    @overload
    def parent(self) -> QObject | None: ...

    @overload
    def parent(self, child: _Index) -> QModelIndex: ...

    def parent(self, child: _Index | None = None) -> QObject | QModelIndex | None:
        if child is None:
            return QObject.parent(self)
        if not child.isValid():
            return QModelIndex()
        up = self._node(child).parent
        if up is None or up.kind is NodeKind.ROOT:
            return QModelIndex()
        return self.createIndex(up.row, 0, up.nid)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return len(COLUMNS)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        return column_header(COLUMNS, section, orientation, role, HEADER_TIPS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self._node(index)
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return node.cells[column]
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._brushes.get(node.tone)
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._alert_brush if node.tone is Tone.ALERT else None
        if role == Qt.ItemDataRole.FontRole:
            if node.tone is Tone.DIM:
                return self._italic
            if node.tone is Tone.ALERT or (node.kind is NodeKind.GROUP and column == NAME):
                return self._bold
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return node.tooltip or None
        if role == TONE_ROLE:
            return str(node.tone)
        return None

    # ---- ours --------------------------------------------------------------------------

    def _node(self, index: _Index) -> _Node:
        if not index.isValid():
            return self._root
        return self._nodes[index.internalId()]

    def _index_of(self, node: _Node, column: int = 0) -> QModelIndex:
        if node.kind is NodeKind.ROOT:
            return QModelIndex()
        return self.createIndex(node.row, column, node.nid)

    def kind_at(self, index: _Index) -> NodeKind:
        return self._node(index).kind

    def group_id_at(self, index: _Index) -> str | None:
        node = self._node(index)
        return node.group_id or None

    def group_state_at(self, index: _Index) -> str:
        node = self._node(index)
        while node.kind not in (NodeKind.GROUP, NodeKind.ROOT) and node.parent is not None:
            node = node.parent
        return node.state

    def child_at(self, index: _Index) -> tuple[str | None, bool]:
        """(child id, is working) of a child-order row; (None, False) for other rows."""
        node = self._node(index)
        if node.kind is not NodeKind.CHILD:
            return None, False
        return node.child_id, node.working

    def group_index(self, group_id: str) -> QModelIndex:
        node = self._groups.get(group_id)
        return QModelIndex() if node is None else self._index_of(node)

    def group_ids(self) -> list[str]:
        return [node.group_id for node in self._root.children]

    def states(self) -> list[str]:
        return [node.state for node in self._root.children]

    def _new_node(self, kind: NodeKind, parent: _Node, group_id: str, row: int) -> _Node:
        node = _Node(nid=next(self._ids), kind=kind, parent=parent, group_id=group_id, row=row)
        self._nodes[node.nid] = node
        return node

    @staticmethod
    def _fill(node: _Node, snap: _Snapshot, updated: str) -> None:
        node.cells = (*snap.cells, updated)
        node.tone = snap.tone
        node.state = snap.state
        node.working = snap.working
        node.tooltip = snap.tooltip

    def _build_child(self, leg_node: _Node, child: ChildOrder, row: int, updated: str) -> _Node:
        node = self._new_node(NodeKind.CHILD, leg_node, leg_node.group_id, row)
        node.child_id = child.child_id
        self._fill(node, _child_snapshot(child), updated)
        return node

    def _build_leg(
        self, group_node: _Node, leg: Leg, row: int, updated: str, price_of: PriceLookup | None
    ) -> _Node:
        node = self._new_node(NodeKind.LEG, group_node, group_node.group_id, row)
        self._fill(node, _leg_snapshot(leg, price_of), updated)
        node.children = [
            self._build_child(node, child, i, updated) for i, child in enumerate(leg.children)
        ]
        return node

    def _update(self, node: _Node, snap: _Snapshot, at: str | None, *, touch: bool = False) -> None:
        """Apply ``snap``; a change other than P&L alone (or ``touch``: any event on a group)
        moves the row's updated time to ``at``."""
        old = node.cells
        moved = touch or snap.cells[:PNL] != old[:PNL] or snap.state != node.state
        updated = at if (moved and at is not None) else old[UPDATED]
        if (*snap.cells, updated) == old and (snap.tone, snap.state, snap.working) == (
            node.tone,
            node.state,
            node.working,
        ):
            node.tooltip = snap.tooltip
            return
        self._fill(node, snap, updated)
        self.dataChanged.emit(self._index_of(node, 0), self._index_of(node, len(COLUMNS) - 1))

    def _append(self, parent: _Node, built: list[_Node]) -> None:
        if not built:
            return
        first = len(parent.children)
        self.beginInsertRows(self._index_of(parent), first, first + len(built) - 1)
        parent.children.extend(built)
        self.endInsertRows()

    def _forget(self, node: _Node) -> None:
        for child in node.children:
            self._forget(child)
        self._nodes.pop(node.nid, None)

    def _trim(self, parent: _Node, keep: int) -> None:
        """Drop rows past ``keep`` (a snapshot with fewer rows than shown: never expected)."""
        if len(parent.children) <= keep:
            return
        self.beginRemoveRows(self._index_of(parent), keep, len(parent.children) - 1)
        for gone in parent.children[keep:]:
            self._forget(gone)
        del parent.children[keep:]
        self.endRemoveRows()

    def upsert(
        self, group: OrderGroup, at: datetime | None, price_of: PriceLookup | None = None
    ) -> None:
        """Show ``group`` as it is now: a new group is inserted at the top; a known one
        announces only its changed rows and appends new legs and child orders. ``at`` is the
        time of the change (None for a price-only refresh, which moves no updated time)."""
        stamp = _clock_text(at) if at is not None else None
        node = self._groups.get(group.group_id)
        if node is None:
            # Shown for the first time (e.g. recovered at start-up): its last recorded change.
            last = group.history[-1].at if group.history else group.created_at
            self._insert_group(group, stamp or _clock_text(last), price_of)
            return
        self._update(node, _group_snapshot(group, price_of), stamp, touch=True)
        for i, leg in enumerate(group.legs[: len(node.children)]):
            leg_node = node.children[i]
            self._update(leg_node, _leg_snapshot(leg, price_of), stamp)
            shown = len(leg_node.children)
            for j, child in enumerate(leg.children[:shown]):
                self._update(leg_node.children[j], _child_snapshot(child), stamp)
            self._trim(leg_node, len(leg.children))
            self._append(
                leg_node,
                [
                    self._build_child(leg_node, child, shown + k, stamp or "")
                    for k, child in enumerate(leg.children[shown:])
                ],
            )
        shown = len(node.children)
        self._trim(node, len(group.legs))
        self._append(
            node,
            [
                self._build_leg(node, leg, shown + k, stamp or "", price_of)
                for k, leg in enumerate(group.legs[shown:])
            ],
        )

    def _insert_group(self, group: OrderGroup, stamp: str, price_of: PriceLookup | None) -> None:
        node = self._new_node(NodeKind.GROUP, self._root, group.group_id, 0)
        self._fill(node, _group_snapshot(group, price_of), stamp)
        node.children = [
            self._build_leg(node, leg, i, stamp, price_of) for i, leg in enumerate(group.legs)
        ]
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._root.children.insert(0, node)
        for row, sibling in enumerate(self._root.children):
            sibling.row = row
        self._groups[group.group_id] = node
        self.endInsertRows()


@dataclass(frozen=True, slots=True)
class _MenuEntry:
    action: OverrideAction
    object_name: str
    text: str


_GROUP_ENTRIES = (
    _MenuEntry(OverrideAction.FORCE_CLOSE, "forceCloseAction", "Force close…"),
    _MenuEntry(
        OverrideAction.RESOLVE_ATTENTION, "resolveAttentionAction", "Resolve NEEDS_ATTENTION…"
    ),
    _MenuEntry(OverrideAction.ACCEPT_EXPOSURE, "acceptExposureAction", "Accept unhedged exposure…"),
)
_CANCEL_ENTRY = _MenuEntry(OverrideAction.CANCEL_ORDER, "cancelOrderAction", "Cancel order…")

_OVERRIDE_WORDS: Mapping[OverrideAction, tuple[str, str]] = {
    OverrideAction.FORCE_CLOSE: (
        "Force close group {group}",
        "Close everything group {group} holds now: buy back its shorts first, then sell "
        "its protection.",
    ),
    OverrideAction.RESOLVE_ATTENTION: (
        "Resolve NEEDS_ATTENTION on group {group}",
        "Group {group} stopped because the cockpit could not tell what happened. Say what "
        "you checked at the broker and how it should be resolved.",
    ),
    OverrideAction.ACCEPT_EXPOSURE: (
        "Accept unhedged exposure of group {group}",
        "Leave group {group}'s uncovered shorts unhedged: no emergency hedge is sent for "
        "them. You carry the naked short risk.",
    ),
    OverrideAction.CANCEL_ORDER: (
        "Cancel order {child} of group {group}",
        "Cancel the working child order {child}. Its unfilled quantity is not sent again.",
    ),
}


class GroupsPanel(QWidget):
    """The groups tree, a one-line summary and the override context menu."""

    overrideRequested = Signal(object)  # OverrideRequest

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        refresh_hz: int = 10,
        price_refresh_s: float = 1.0,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("groupsPanel")
        self.setAccessibleName("Order groups")
        self.model = GroupTreeModel(self)
        self.summary = _named(QLabel("No order groups yet."), "groupsSummary")
        self.tree = _named(QTreeView(), "groupsTree")
        self.tree.setAccessibleName("Order groups, legs and child orders")
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setAllColumnsShowFocus(True)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu_requested)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        widths = {STATE: 140, FILLED: 80, AVERAGE: 75, PNL: 90, UPDATED: 70}
        for column, width in widths.items():
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)
        header.setMinimumSectionSize(60)
        self.model.rowsInserted.connect(self._expand_new_rows)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree)

        self._source: Mapping[str, OrderGroup] | None = None
        self._price_of: PriceLookup | None = None
        self._dirty: dict[str, datetime | None] = {}
        self.override_dialog: OverrideDialog | None = None
        self.timer = QTimer(self)
        self.timer.setObjectName("groupsRefreshTimer")
        self.timer.setSingleShot(True)
        self.timer.setInterval(max(1, 1000 // refresh_hz))
        self.timer.timeout.connect(self.refresh)
        self.price_timer = QTimer(self)
        self.price_timer.setObjectName("groupsPriceTimer")
        self.price_timer.setInterval(max(1, int(price_refresh_s * 1000)))
        self.price_timer.timeout.connect(self.refresh_prices)

    # ---- feeding -------------------------------------------------------------------------

    def attach(self, groups: Mapping[str, OrderGroup], price_of: PriceLookup | None = None) -> None:
        """Read groups from ``groups`` (the coordinator's ``groups``) and show those it
        already holds; ``price_of`` marks P&L to market (refreshed every ``price_refresh_s``)."""
        self._source = groups
        self._price_of = price_of
        for group_id in sorted(groups, key=lambda g: groups[g].created_at):
            self._dirty.setdefault(group_id, None)
        self.refresh()
        if price_of is not None:
            self.price_timer.start()

    def on_group_changed(self, event: GroupChanged) -> None:
        """Mark the group for re-reading on the next refresh (at most ``refresh_hz``/s)."""
        self._dirty[event.group_id] = event.at
        if not self.timer.isActive():
            self.timer.start()

    def refresh(self) -> None:
        self.timer.stop()
        dirty, self._dirty = self._dirty, {}
        if self._source is None:
            return
        for group_id, at in dirty.items():
            group = self._source.get(group_id)
            if group is None:
                log.debug("groups panel: group %s is not known to the coordinator", group_id)
                continue
            self.model.upsert(group, at, self._price_of)
        self._update_summary()

    def refresh_prices(self) -> None:
        """Re-mark P&L of groups with fills to the latest prices (moves no updated time)."""
        if self._source is None or self._price_of is None:
            return
        for group_id in self.model.group_ids():
            group = self._source.get(group_id)
            if group is not None and any(leg.filled_quantity for leg in group.legs):
                self.model.upsert(group, None, self._price_of)

    def stop(self) -> None:
        self.timer.stop()
        self.price_timer.stop()
        if self.override_dialog is not None:
            self.override_dialog.close()

    def _update_summary(self) -> None:
        states = self.model.states()
        if not states:
            self.summary.setText("No order groups yet.")
            return
        attention = sum(s in (_S.NEEDS_ATTENTION, _S.EMERGENCY_HEDGING) for s in states)
        working = sum(s not in _GROUP_TONES for s in states)
        parts = [f"{len(states)} group{'s' if len(states) != 1 else ''}"]
        if working:
            parts.append(f"{working} working")
        if attention:
            parts.append(f"{attention} need{'s' if attention == 1 else ''} attention")
        self.summary.setText(" · ".join(parts))
        self.summary.setStyleSheet("color: #c62828; font-weight: bold;" if attention else "")

    def _expand_new_rows(self, parent: QModelIndex, first: int, last: int) -> None:
        # New groups open on their legs, new legs on their child orders: what just happened
        # is in view; the trader collapses what they are done with.
        for row in range(first, last + 1):
            index = self.model.index(row, 0, parent)
            kind = self.model.kind_at(index)
            if kind is NodeKind.GROUP:
                self.tree.expand(index)
                for leg_row in range(self.model.rowCount(index)):
                    self.tree.expand(self.model.index(leg_row, 0, index))
            elif kind is NodeKind.LEG:
                self.tree.expand(index)

    # ---- overrides -----------------------------------------------------------------------

    def menu_for(self, index: QModelIndex) -> QMenu | None:
        """The override actions for the row at ``index`` (None where there are none)."""
        if not index.isValid():
            return None
        index = index.siblingAtColumn(0)
        kind = self.model.kind_at(index)
        group_id = self.model.group_id_at(index)
        if group_id is None:
            return None
        menu = QMenu(self)
        menu.setObjectName("groupsMenu")
        if kind is NodeKind.CHILD:
            child_id, working = self.model.child_at(index)
            action = self._menu_action(menu, _CANCEL_ENTRY, group_id, child_id)
            action.setEnabled(working)
            return menu
        state = self.model.group_state_at(index)
        for entry in _GROUP_ENTRIES:
            action = self._menu_action(menu, entry, group_id, None)
            if entry.action is OverrideAction.RESOLVE_ATTENTION:
                action.setEnabled(state == _S.NEEDS_ATTENTION)
            else:
                action.setEnabled(state not in _NOTHING_OPEN)
        return menu

    def _menu_action(
        self, menu: QMenu, entry: _MenuEntry, group_id: str, child_id: str | None
    ) -> QAction:
        action = QAction(entry.text, menu)
        action.setObjectName(entry.object_name)
        action.triggered.connect(
            lambda _checked=False: self.request_override(entry.action, group_id, child_id)
        )
        menu.addAction(action)
        return action

    def _context_menu_requested(self, position: QPoint) -> None:
        menu = self.menu_for(self.tree.indexAt(position))
        if menu is None:
            return
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.tree.viewport().mapToGlobal(position))

    def request_override(
        self, action: OverrideAction, group_id: str, child_id: str | None = None
    ) -> OverrideDialog:
        """Ask for the reason; a confirmed one is emitted as ``overrideRequested``."""
        if self.override_dialog is not None:
            self.override_dialog.close()
        title, what = _OVERRIDE_WORDS[action]
        words = {"group": group_id, "child": child_id or ""}
        dialog = OverrideDialog(
            title.format(**words),
            what.format(**words),
            confirm_text=str(action).capitalize(),
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def confirmed(reason: str) -> None:
            request = OverrideRequest(action, group_id, child_id, reason)
            log.info("override requested: %s %s %s: %s", action, group_id, child_id or "", reason)
            self.overrideRequested.emit(request)

        dialog.confirmed.connect(confirmed)
        dialog.finished.connect(lambda _result: self._dialog_closed(dialog))
        self.override_dialog = dialog
        dialog.present()
        return dialog

    def _dialog_closed(self, dialog: OverrideDialog) -> None:
        if self.override_dialog is dialog:
            self.override_dialog = None
