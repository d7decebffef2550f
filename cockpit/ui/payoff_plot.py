"""The strategy builder's payoff chart (objectName ``payoffPlot``): P&L against the underlying.

Two curves over one price grid: the P&L at expiry (solid) and today's mark-to-model P&L
(dashed, Black-76 with each leg's IV). The area between the expiry curve and zero is shaded
green where the position makes money and red where it loses (two ``FillBetweenItem``s
against a zero line). A vertical line marks the spot, short dashed lines the breakevens.
Moving the mouse over the chart reads out the price under the cursor and both P&Ls
(``payoffReadout``), mapped through the view box (``scene().sigMouseMoved`` +
``vb.mapSceneToView``). The widget computes nothing about the strategy: :func:`curves_for`
asks :mod:`cockpit.strategies.payoff` for the arrays and :meth:`PayoffPlot.show_curves` draws
whatever it is given, so tests can draw known arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cockpit.marketdata.chain import DEFAULT_RATE
from cockpit.strategies.payoff import expiry_payoff, legs_of, price_grid, today_pnl

if TYPE_CHECKING:
    from cockpit.strategies.spreads import SpreadPlan

PROFIT_FILL = (46, 160, 67, 60)
LOSS_FILL = (218, 54, 51, 60)
EXPIRY_PEN = (25, 118, 210)
TODAY_PEN = (230, 126, 34)


@dataclass(frozen=True, slots=True)
class PayoffCurves:
    """Rupee P&L of the whole position at each grid price; ``today`` None when an IV is
    missing (the curve cannot be valued)."""

    prices: np.ndarray
    expiry: np.ndarray
    today: np.ndarray | None
    spot: float | None
    breakevens: tuple[float, ...]


def curves_for(plan: SpreadPlan, *, rate: float = DEFAULT_RATE) -> PayoffCurves:
    """The plan's expiry and today curves from the pure payoff module."""
    legs = legs_of(plan)
    prices = price_grid(plan)
    expiry = expiry_payoff(legs, prices)
    ivs = [leg.iv for leg in plan.legs]
    today: np.ndarray | None = None
    if ivs and all(iv is not None for iv in ivs):
        vols = np.asarray([float(iv) for iv in ivs], dtype=np.float64)
        today = today_pnl(legs, prices, plan.years, rate, vols)
    spot = None if plan.spot is None else float(plan.spot) / 100
    return PayoffCurves(prices, expiry, today, spot, tuple(float(b) for b in plan.breakevens))


def _money(value: float) -> str:
    sign = "-" if value < 0 else "+"
    return f"{sign}₹{abs(value):,.0f}"


class PayoffPlot(QWidget):
    """A read-out line over a pyqtgraph plot of the payoff curves."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("payoffPlot")
        self.setAccessibleName("Payoff chart")
        self.curves: PayoffCurves | None = None

        self.readout = QLabel("Move the mouse over the chart to read the P&L at a price.")
        self.readout.setObjectName("payoffReadout")
        self.readout.setAccessibleName("Payoff read-out")
        self.readout.setWordWrap(True)

        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        self.plot = pg.PlotWidget(background=palette.color(QPalette.ColorRole.Base))
        self.plot.setObjectName("payoffPlotView")
        self.plot.setMinimumHeight(220)
        item = self.plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        item.hideButtons()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
            axis.enableAutoSIPrefix(False)
        item.setLabel("bottom", "Underlying at expiry")
        item.setLabel("left", "P&L ₹")
        self.legend = item.addLegend(offset=(8, 8), labelTextColor=text)

        self.zero = pg.PlotCurveItem(pen=pg.mkPen(text, width=1))
        self.profit_edge = pg.PlotCurveItem(pen=None)
        self.loss_edge = pg.PlotCurveItem(pen=None)
        self.profit_fill = pg.FillBetweenItem(self.profit_edge, self.zero, brush=PROFIT_FILL)
        self.loss_fill = pg.FillBetweenItem(self.loss_edge, self.zero, brush=LOSS_FILL)
        self.expiry_curve = pg.PlotDataItem(pen=pg.mkPen(EXPIRY_PEN, width=2), name="At expiry")
        self.today_curve = pg.PlotDataItem(
            pen=pg.mkPen(TODAY_PEN, width=1.5, style=Qt.PenStyle.DashLine), name="Today"
        )
        for graphic in (
            self.profit_fill,
            self.loss_fill,
            self.zero,
            self.profit_edge,
            self.loss_edge,
            self.expiry_curve,
            self.today_curve,
        ):
            item.addItem(graphic)
        self.spot_line = pg.InfiniteLine(
            angle=90,
            movable=False,
            pen=pg.mkPen(text, width=1),
            label="Spot",
            labelOpts={"position": 0.95, "color": text, "anchors": [(0, 0), (0, 0)]},
        )
        self.spot_line.setVisible(False)
        item.addItem(self.spot_line, ignoreBounds=True)
        self.cursor_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen(text, width=1, style=Qt.PenStyle.DotLine)
        )
        self.cursor_line.setVisible(False)
        item.addItem(self.cursor_line, ignoreBounds=True)
        self.breakeven_lines: list[pg.InfiniteLine] = []
        self.plot.scene().sigMouseMoved.connect(self._mouse_moved)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.readout)
        layout.addWidget(self.plot, 1)

    # ---- drawing ---------------------------------------------------------------------------

    def show_plan(self, plan: SpreadPlan) -> None:
        self.show_curves(curves_for(plan))

    def show_curves(self, curves: PayoffCurves) -> None:
        self.curves = curves
        x = np.asarray(curves.prices, dtype=np.float64)
        y = np.asarray(curves.expiry, dtype=np.float64)
        self.zero.setData(x, np.zeros_like(x))
        self.profit_edge.setData(x, np.maximum(y, 0.0))
        self.loss_edge.setData(x, np.minimum(y, 0.0))
        self.expiry_curve.setData(x, y)
        if curves.today is None:
            self.today_curve.setData([], [])
            self.today_curve.setVisible(False)
        else:
            self.today_curve.setData(x, np.asarray(curves.today, dtype=np.float64))
            self.today_curve.setVisible(True)
        if curves.spot is None:
            self.spot_line.setVisible(False)
        else:
            # Visible first: a hidden line's label ignores new text.
            self.spot_line.setVisible(True)
            self.spot_line.setValue(curves.spot)
            self.spot_line.label.setFormat(f"Spot {curves.spot:,.0f}")
        self._set_breakevens(curves.breakevens)
        # Fit now (auto-range would wait for the next paint): the read-out maps the cursor
        # through this range.
        self.plot.getPlotItem().vb.autoRange(padding=0.06)
        self.readout.setText("Move the mouse over the chart to read the P&L at a price.")

    def clear(self) -> None:
        self.curves = None
        for graphic in (
            self.zero,
            self.profit_edge,
            self.loss_edge,
            self.expiry_curve,
            self.today_curve,
        ):
            graphic.setData([], [])
        self.spot_line.setVisible(False)
        self.cursor_line.setVisible(False)
        self._set_breakevens(())
        self.readout.setText("Build a spread to see its payoff.")

    def _set_breakevens(self, values: Sequence[float]) -> None:
        item = self.plot.getPlotItem()
        for line in self.breakeven_lines:
            item.removeItem(line)
        self.breakeven_lines = []
        text = self.palette().color(QPalette.ColorRole.Text)
        for value in values:
            line = pg.InfiniteLine(
                pos=value,
                angle=90,
                movable=False,
                pen=pg.mkPen(text, width=1, style=Qt.PenStyle.DashLine),
                label=f"BE {value:,.0f}",
                labelOpts={"position": 0.08, "color": text, "anchors": [(0, 1), (0, 1)]},
            )
            item.addItem(line, ignoreBounds=True)
            self.breakeven_lines.append(line)

    # ---- read-out --------------------------------------------------------------------------

    def values_at(self, price: float) -> tuple[float, float | None] | None:
        """(expiry P&L, today's P&L) at ``price``, interpolated; None outside the grid."""
        curves = self.curves
        if curves is None or len(curves.prices) == 0:
            return None
        x = np.asarray(curves.prices, dtype=np.float64)
        if not x[0] <= price <= x[-1]:
            return None
        expiry = float(np.interp(price, x, curves.expiry))
        today = None if curves.today is None else float(np.interp(price, x, curves.today))
        return expiry, today

    def readout_at(self, price: float) -> str:
        values = self.values_at(price)
        if values is None:
            return ""
        expiry, today = values
        text = f"At {price:,.0f}: expiry {_money(expiry)}"
        if today is not None:
            text += f" · today {_money(today)}"
        return text

    def _mouse_moved(self, pos: QPointF) -> None:
        item = self.plot.getPlotItem()
        if not item.sceneBoundingRect().contains(pos):
            return
        point = item.vb.mapSceneToView(pos)
        self.show_readout(point.x())

    def show_readout(self, price: float) -> None:
        if not math.isfinite(price):
            return
        text = self.readout_at(price)
        if not text:
            self.cursor_line.setVisible(False)
            return
        self.readout.setText(text)
        self.cursor_line.setValue(price)
        self.cursor_line.setVisible(True)
