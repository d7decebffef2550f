"""The shock dock's panel (objectName ``shockPanel``): what the portfolio would make or lose, and
how much of the funds its margin would take, if the underlying and IV jumped now. One pyqtgraph
plot (``shockHeatmap``) holds one ``ImageItem`` whose cells are the grid of
:mod:`cockpit.risk.shocks` for one spread widening (``shockWidening``): x the underlying's move,
y the IV change, both placed by index and ticked with the real shock values (the IV axis need
not be evenly spaced). Colour is P&L in rupees on a diverging map centred on zero (levels ±max
|P&L| over the whole grid, so changing the widening keeps the scale) or margin utilisation
centred on 100% (``shockMetric``), explained by a ``ColorBarItem``. The worst P&L cell of the
shown widening is outlined (:attr:`ShockPanel.worst_outline`) and the 100% utilisation frontier
drawn as a stepped line between the last safe and first breaching cells
(:attr:`ShockPanel.frontier_curve`). Hovering reads a cell out (``shockReadout``); the status
line (``shockStatus``) says when the grid was valued and its worst cell, or the error in red.
The panel computes nothing itself: :meth:`ShockPanel.set_grid` draws a given grid, and after
:meth:`ShockPanel.attach` it asks the :class:`~cockpit.shock_service.ShockService` for a new
report when a group or the exposure changes and, with the "+ proposed" scope (``shockScope``),
when the builder plans a spread — coalesced by a single-shot timer to at most one computation
every two seconds, run as a task the panel owns, so a slow or failing broker never blocks the
window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cockpit.broker.base import BrokerError
from cockpit.bus import EventBus
from cockpit.clock import IST
from cockpit.execution.events import ExposureChanged, GroupChanged
from cockpit.risk.shocks import DEFAULT_WIDENINGS, ShockGrid
from cockpit.shock_service import (
    NothingToShockError,
    ShockError,
    ShockReport,
    cell_text,
    shock_text,
    widening_text,
    worst_text,
)
from cockpit.ui.naming import named

if TYPE_CHECKING:
    from cockpit.strategies.spreads import SpreadPlan
    from cockpit.ui.bridge import EventBridge
    from cockpit.ui.builder_panel import BuilderPanel

log = logging.getLogger(__name__)

THROTTLE_MS = 2000
ERROR_STYLE = "color: #c62828;"
EMPTY_TEXT = "No positions — build a spread to see its shocks"
WAITING_TEXT = "Waiting for the broker…"
PNL, UTILISATION = "pnl", "utilisation"
PORTFOLIO, PROPOSED = "portfolio", "proposed"
METRIC_LABELS = {PNL: "P&L (₹)", UTILISATION: "Margin utilisation (%)"}
#: Pixels a tick label needs along each axis ("−10" across, one line of text up).
_LABEL_WIDTH_PX = 44
_LABEL_HEIGHT_PX = 22


class ShockServiceLike(Protocol):
    """What the panel needs of :class:`cockpit.shock_service.ShockService`."""

    async def report(self, plan: SpreadPlan | None = None) -> ShockReport: ...


# ---- text ------------------------------------------------------------------------------------


def axis_ticks(values: Sequence[float], labels: int) -> list[list[tuple[float, str]]]:
    """Ticks at cell centres: labelled (the shock in %, the axis title says "%") every k-th
    cell counted from the zero shock, unlabelled in between, so at most about ``labels``
    labels show."""
    n = len(values)
    step = max(1, math.ceil(n / max(labels, 2)))
    zero = min(range(n), key=lambda k: abs(values[k])) if n else 0
    major = [
        (k + 0.5, shock_text(values[k]).removesuffix("%"))
        for k in range(n)
        if (k - zero) % step == 0
    ]
    minor = [(k + 0.5, "") for k in range(n) if (k - zero) % step != 0]
    return [major, minor]


def _index_of(values: np.ndarray, value: float) -> int:
    return int(np.argmin(np.abs(values - value)))


def frontier_points(grid: ShockGrid) -> tuple[np.ndarray, np.ndarray]:
    """The 100% utilisation frontier as a stepped line in cell coordinates: on each side of
    the zero move, the boundary between the last cell under 100% and the first at or over
    it, row by row; NaN breaks the line where a row has no such cell."""
    xs: list[float] = []
    ys: list[float] = []
    for side in ("down", "up"):
        for i, row in enumerate(grid.frontier):
            shock = getattr(row, side)
            if shock is None:
                if xs and not math.isnan(xs[-1]):
                    xs.append(math.nan)
                    ys.append(math.nan)
                continue
            j = _index_of(grid.price_shocks, shock)
            x = float(j + 1 if side == "down" else j)
            xs += [x, x]
            ys += [float(i), float(i + 1)]
        xs.append(math.nan)
        ys.append(math.nan)
    return np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)


def _colour_maps() -> dict[str, pg.ColorMap]:
    """Red means bad on both: losses on a reversed CET-D1, utilisation over 100% on CET-D1."""
    losses_red = pg.colormap.get("CET-D1", skipCache=True)
    losses_red.reverse()
    return {PNL: losses_red, UTILISATION: pg.colormap.get("CET-D1", skipCache=True)}


# ---- the panel -------------------------------------------------------------------------------


class ShockPanel(QWidget):
    """A heatmap of a shock grid with its controls, read-out and status (module docstring)."""

    gridShown = Signal(object)  # ShockGrid
    shockFailed = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, throttle_ms: int = THROTTLE_MS) -> None:
        super().__init__(parent)
        self.setObjectName("shockPanel")
        self.setAccessibleName("Margin shock heatmap")
        self.grid: ShockGrid | None = None
        self.report: ShockReport | None = None
        self.service: ShockServiceLike | None = None
        self.proposed: SpreadPlan | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.computations = 0
        self._throttle_s = throttle_ms / 1000
        self._last_start: float | None = None
        self._computing = False
        self._again = False
        self._generation = 0
        self._exposures: object = None
        self._detach: list[Callable[[], object]] = []
        self._maps = _colour_maps()

        controls = self._build_controls()
        self.status = named(QLabel(WAITING_TEXT), "shockStatus")
        self.status.setAccessibleName("Shock status")
        self.status.setWordWrap(True)
        self.readout = named(QLabel("Move the mouse over a cell to read it out."), "shockReadout")
        self.readout.setAccessibleName("Shock read-out")
        self.readout.setWordWrap(True)
        self.empty = named(QLabel(WAITING_TEXT), "shockEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)

        self._build_plot()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.plot)
        self.stack.setCurrentWidget(self.empty)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(controls)
        layout.addWidget(self.status)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.readout)

        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._start_compute)
        self.metric_box.currentIndexChanged.connect(self._redraw)
        self.widening_box.currentIndexChanged.connect(self._redraw)
        self.scope_box.currentIndexChanged.connect(self._scope_changed)

    def _build_controls(self) -> QHBoxLayout:
        self.metric_box = named(QComboBox(), "shockMetric")
        self.metric_box.setAccessibleName("Colour by")
        for key, label in METRIC_LABELS.items():
            self.metric_box.addItem(label, key)
        self.widening_box = named(QComboBox(), "shockWidening")
        self.widening_box.setAccessibleName("Spread widening")
        self._fill_widenings(DEFAULT_WIDENINGS)
        self.scope_box = named(QComboBox(), "shockScope")
        self.scope_box.setAccessibleName("Scope")
        self.scope_box.addItem("Portfolio", PORTFOLIO)
        self.scope_box.addItem("Portfolio + proposed", PROPOSED)
        self.scope_box.setEnabled(False)
        self.scope_box.setToolTip("Build a spread in the strategy builder to add it here")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        for text, box in (("Colour", self.metric_box), ("Spread", self.widening_box)):
            controls.addWidget(QLabel(text))
            controls.addWidget(box)
        controls.addWidget(self.scope_box)
        controls.addStretch(1)
        return controls

    def _build_plot(self) -> None:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        self.plot = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base))
        self.plot.setObjectName("shockHeatmap")
        self.plot.setAccessibleName("Shock heatmap")
        self.plot.setMinimumSize(360, 240)
        self.plot.setToolTip(
            "Outlined: the worst P&L at the shown spread widening. Dashed line: where the "
            "margin reaches 100% of the funds."
        )
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setMouseEnabled(x=False, y=False)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
            axis.enableAutoSIPrefix(False)
        # The end cells' labels (−10%, +10%) reach a little past the axis; show them anyway.
        item.getAxis("bottom").setStyle(hideOverlappingLabels=30)
        item.setLabel("bottom", "Underlying move %", color=text)
        item.setLabel("left", "IV change %", color=text)
        self.image = pg.ImageItem(axisOrder="row-major")
        item.addItem(self.image)
        self.colorbar = pg.ColorBarItem(
            values=(-1.0, 1.0),
            colorMap=self._maps[PNL],
            label=METRIC_LABELS[PNL],
            interactive=False,
            colorMapMenu=False,
            width=14,
        )
        self.colorbar.setImageItem(self.image, insert_in=item)
        self.colorbar.axis.setWidth(64)  # room for "−20000" (a narrower axis drops the label)
        for axis in (self.colorbar.axis, self.colorbar.getAxis("left")):
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
            axis.enableAutoSIPrefix(False)
        self.colorbar.getAxis("left").setLabel(METRIC_LABELS[PNL], color=text)
        self.worst_outline = QGraphicsRectItem(QRectF(0, 0, 1, 1))
        outline = pg.mkPen(text, width=3)
        outline.setCosmetic(True)
        self.worst_outline.setPen(outline)
        self.worst_outline.setZValue(10)
        self.worst_outline.setVisible(False)
        item.addItem(self.worst_outline, ignoreBounds=True)
        self.frontier_curve = pg.PlotDataItem(
            pen=pg.mkPen(text, width=2, style=Qt.PenStyle.DashLine), connect="finite"
        )
        self.frontier_curve.setZValue(11)
        item.addItem(self.frontier_curve, ignoreBounds=True)
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)

    # ---- drawing ---------------------------------------------------------------------------

    @property
    def metric_key(self) -> str:
        return str(self.metric_box.currentData())

    @property
    def widening_index(self) -> int:
        return max(self.widening_box.currentIndex(), 0)

    def _fill_widenings(self, values: Sequence[float]) -> None:
        current = self.widening_box.currentIndex()
        self.widening_box.blockSignals(True)
        self.widening_box.clear()
        for value in values:
            self.widening_box.addItem(widening_text(float(value)), float(value))
        self.widening_box.setCurrentIndex(min(max(current, 0), len(values) - 1))
        self.widening_box.blockSignals(False)

    def set_grid(
        self, grid: ShockGrid, at: datetime | None = None, warnings: Sequence[str] = ()
    ) -> None:
        """Draw ``grid`` (valued at ``at``; ``warnings`` go in the status tooltip)."""
        widenings = [float(w) for w in grid.widenings]
        if [self.widening_box.itemData(k) for k in range(self.widening_box.count())] != widenings:
            self._fill_widenings(widenings)
        self.grid = grid
        self.stack.setCurrentWidget(self.plot)
        item = self.plot.getPlotItem()
        self._update_ticks()
        x, y = frontier_points(grid)
        self.frontier_curve.setData(x, y)
        self._redraw()
        item.vb.setRange(
            xRange=(0, grid.price_shocks.size), yRange=(0, grid.iv_shocks.size), padding=0
        )
        self._set_status(at, warnings)
        self.gridShown.emit(grid)

    def _update_ticks(self) -> None:
        """As many tick labels as the plot's size leaves room for."""
        grid = self.grid
        if grid is None:
            return
        item = self.plot.getPlotItem()
        # The plot widget less the left axis and the colour bar; less the bottom axis.
        across = (self.plot.width() - 170) // _LABEL_WIDTH_PX
        up = (self.plot.height() - 60) // _LABEL_HEIGHT_PX
        item.getAxis("bottom").setTicks(axis_ticks([float(v) for v in grid.price_shocks], across))
        item.getAxis("left").setTicks(axis_ticks([float(v) for v in grid.iv_shocks], up))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_ticks()

    def _redraw(self) -> None:
        grid = self.grid
        if grid is None:
            return
        w = min(self.widening_index, grid.widenings.size - 1)
        metric = self.metric_key
        if metric == PNL:
            data = grid.pnl[w] / 100
            reach = max(float(np.max(np.abs(grid.pnl))) / 100, 1.0)
            levels = (-reach, reach)
        else:
            data = grid.utilisation[w] * 100
            reach = max(float(np.max(np.abs(grid.utilisation[0] * 100 - 100))), 1.0)
            levels = (100 - reach, 100 + reach)
        self.image.setImage(np.ascontiguousarray(data), autoLevels=False, levels=levels)
        self.image.setRect(QRectF(0, 0, grid.price_shocks.size, grid.iv_shocks.size))
        self.colorbar.setColorMap(self._maps[metric])
        self.colorbar.setLevels(levels)
        self.colorbar.getAxis("left").setLabel(
            METRIC_LABELS[metric], color=self.palette().color(QPalette.ColorRole.Text)
        )
        i, j = self.worst_cell(w)
        # Inset, so the thick outline of an edge cell is not clipped by the view.
        self.worst_outline.setRect(QRectF(j, i, 1, 1).adjusted(0.06, 0.06, -0.06, -0.06))
        self.worst_outline.setVisible(True)

    def worst_cell(self, widening_index: int) -> tuple[int, int]:
        """(IV index, price index) of the lowest P&L at this widening."""
        assert self.grid is not None
        i, j = np.unravel_index(
            int(np.argmin(self.grid.pnl[widening_index])), self.grid.pnl[0].shape
        )
        return int(i), int(j)

    def show_empty(self, text: str = EMPTY_TEXT) -> None:
        self.grid = None
        self.report = None
        self.image.clear()
        self.frontier_curve.setData([], [])
        self.worst_outline.setVisible(False)
        self.empty.setText(text)
        self.stack.setCurrentWidget(self.empty)
        self.status.setStyleSheet("")
        self.status.setText(text)
        self.status.setToolTip("")

    def show_error(self, message: str) -> None:
        """The error in red; the last grid, if any, stays on screen."""
        self.status.setStyleSheet(ERROR_STYLE)
        self.status.setText(message)
        self.shockFailed.emit(message)

    def _set_status(self, at: datetime | None, warnings: Sequence[str]) -> None:
        grid = self.grid
        assert grid is not None
        parts = [] if at is None else [f"as of {at.astimezone(IST):%H:%M:%S} IST"]
        parts.append(worst_text(grid))
        if warnings:
            parts.append(f"{len(warnings)} IV assumption(s)")
        self.status.setStyleSheet("")
        self.status.setText(" · ".join(parts))
        self.status.setToolTip("\n".join(warnings))

    # ---- read-out --------------------------------------------------------------------------

    def readout_for(self, iv_index: int, price_index: int) -> str:
        """The read-out of one cell at the shown widening."""
        grid = self.grid
        if grid is None:
            return ""
        return cell_text(
            grid, min(self.widening_index, grid.widenings.size - 1), iv_index, price_index
        )

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(IV index, price index) of the cell under view coordinates, or None."""
        grid = self.grid
        if grid is None or not (math.isfinite(x) and math.isfinite(y)):
            return None
        i, j = math.floor(y), math.floor(x)
        if 0 <= i < grid.iv_shocks.size and 0 <= j < grid.price_shocks.size:
            return i, j
        return None

    def _mouse_moved(self, pos: QPointF) -> None:
        vb = self.plot.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(pos):
            return
        point = vb.mapSceneToView(pos)
        cell = self.cell_at(point.x(), point.y())
        if cell is not None:
            self.readout.setText(self.readout_for(*cell))

    # ---- service ---------------------------------------------------------------------------

    def attach(
        self,
        service: ShockServiceLike,
        events: EventBridge | EventBus,
        builder_panel: BuilderPanel | None = None,
    ) -> None:
        """Compute now, then again (throttled) when groups or exposure change; with a
        builder, a planned spread can be added (scope "+ proposed")."""
        self.service = service
        if isinstance(events, EventBus):
            self._detach += [
                events.subscribe(GroupChanged, self._group_changed),
                events.subscribe(ExposureChanged, self._exposure_changed),
            ]
        else:
            events.groupChanged.connect(self._group_changed)
            events.exposureChanged.connect(self._exposure_changed)
            self._detach.append(lambda: events.groupChanged.disconnect(self._group_changed))
            self._detach.append(lambda: events.exposureChanged.disconnect(self._exposure_changed))
        if builder_panel is not None:
            builder_panel.planBuilt.connect(self.set_proposed)
            builder_panel.groupPlaced.connect(self._proposed_placed)
            self._detach.append(lambda: builder_panel.planBuilt.disconnect(self.set_proposed))
            self._detach.append(lambda: builder_panel.groupPlaced.disconnect(self._proposed_placed))
        self.request_refresh()

    def stop(self) -> None:
        """Stop listening and cancel the computation (window shutdown)."""
        self.timer.stop()
        for detach in self._detach:
            with contextlib.suppress(RuntimeError, TypeError):  # the sender is gone
                detach()
        self._detach.clear()
        for task in list(self.tasks):
            task.cancel()
        self.service = None

    def set_proposed(self, plan: SpreadPlan | None) -> None:
        """The spread the builder proposes; None drops it. With nothing else to show, the
        scope switches to "+ proposed" so the spread's own shocks appear."""
        self.proposed = plan
        self.scope_box.setEnabled(plan is not None)
        self.scope_box.setToolTip("" if plan is not None else "Build a spread to add it here")
        if plan is None:
            if self.scope_box.currentData() == PROPOSED:
                self.scope_box.setCurrentIndex(0)  # refreshes through _scope_changed
            return
        if self.grid is None and self.scope_box.currentData() != PROPOSED:
            self.scope_box.setCurrentIndex(1)
            return
        if self.scope_box.currentData() == PROPOSED:
            self._generation += 1
            self.request_refresh()

    def _proposed_placed(self, _group: object) -> None:
        # Once sent, the spread reaches the portfolio as it fills: counting it as proposed
        # too would count it twice.
        self.set_proposed(None)

    def _scope_changed(self, _index: int) -> None:
        self._generation += 1
        self.request_refresh()

    def _group_changed(self, _event: GroupChanged) -> None:
        self.request_refresh()

    def _exposure_changed(self, event: ExposureChanged) -> None:
        # The coordinator's watchdog republishes the same exposure ten times a second.
        if event.exposures != self._exposures:
            self._exposures = event.exposures
            self.request_refresh()

    def request_refresh(self) -> None:
        """Recompute soon: at once if the last computation started over the throttle
        interval ago, else when it has passed; requests in between coalesce."""
        if self.service is None:
            return
        if self._computing:
            self._again = True
            return
        if self.timer.isActive():
            return
        elapsed = math.inf if self._last_start is None else time.monotonic() - self._last_start
        self.timer.start(int(max(0.0, self._throttle_s - elapsed) * 1000))

    def _start_compute(self) -> None:
        if self.service is None:
            return
        plan = self.proposed if self.scope_box.currentData() == PROPOSED else None
        self._computing = True
        self._last_start = time.monotonic()
        self.computations += 1
        self._spawn(self._compute(self.service, plan, self._generation), "shock-grid")

    async def _compute(
        self, service: ShockServiceLike, plan: SpreadPlan | None, generation: int
    ) -> None:
        try:
            report = await service.report(plan)
        except NothingToShockError:
            if generation == self._generation:
                self.show_empty()
            return
        except (ShockError, BrokerError) as error:
            log.warning("shock grid unavailable: %s", error)
            if generation == self._generation:
                self.show_error(f"Shocks unavailable: {error}")
            return
        except Exception as error:
            log.exception("the shock grid could not be computed")
            if generation == self._generation:
                self.show_error(f"Shocks unavailable: {error}")
            return
        finally:
            self._computing = False
            if self._again or generation != self._generation:
                self._again = False
                self.request_refresh()
        if generation == self._generation:
            self.report = report
            self.set_grid(report.grid, report.at, report.warnings)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_event_loop().create_task(coro, name=name)
        self.tasks.add(task)  # qasync keeps only weak references
        task.add_done_callback(self.tasks.discard)
        return task


__all__ = [
    "EMPTY_TEXT",
    "ShockPanel",
    "ShockServiceLike",
    "axis_ticks",
    "frontier_points",
]
