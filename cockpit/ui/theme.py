"""The window's colours: the system's scheme, or an explicit light or dark palette.

:func:`apply_theme` is the one place the application's palette is set. ``system`` follows the
platform (``QStyleHints.colorScheme()``, which tracks the desktop's light/dark setting) with
the style's own palette; ``light`` and ``dark`` set a full :class:`QPalette` (every role, and
the disabled group) chosen for readable contrast — body text at least 7:1 against its
background, disabled text and placeholders at least 4.5:1 — and ask the platform for the
matching scheme so native parts (title bars, file dialogs) follow where they can. Styles that
ignore palettes (Windows' ``windowsvista``) are switched to Fusion for an explicit theme.
:func:`contrast_ratio` is WCAG 2's formula, used by the tests.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from cockpit.config import Theme

_Role = QPalette.ColorRole
_Group = QPalette.ColorGroup

# Styles that draw with the platform's own colours and ignore QPalette.
_PALETTE_BLIND_STYLES = frozenset({"windowsvista"})

_DARK: dict[QPalette.ColorRole, str] = {
    _Role.Window: "#202124",
    _Role.WindowText: "#e8eaed",
    _Role.Base: "#17181a",
    _Role.AlternateBase: "#26282b",
    _Role.Text: "#e8eaed",
    _Role.Button: "#2d2f33",
    _Role.ButtonText: "#e8eaed",
    _Role.BrightText: "#ff8a80",
    _Role.Highlight: "#3b6fc4",
    _Role.HighlightedText: "#ffffff",
    _Role.Link: "#8ab4f8",
    _Role.LinkVisited: "#c58af9",
    _Role.ToolTipBase: "#303134",
    _Role.ToolTipText: "#e8eaed",
    _Role.PlaceholderText: "#9aa0a6",
    _Role.Light: "#3c4043",
    _Role.Midlight: "#34363a",
    _Role.Mid: "#2a2c2f",
    _Role.Dark: "#111213",
    _Role.Shadow: "#000000",
    _Role.Accent: "#3b6fc4",
}
_DARK_DISABLED: dict[QPalette.ColorRole, str] = {
    _Role.WindowText: "#8f959b",
    _Role.Text: "#8f959b",
    _Role.ButtonText: "#8f959b",
    _Role.Highlight: "#3c4043",
    _Role.HighlightedText: "#9aa0a6",
}

_LIGHT: dict[QPalette.ColorRole, str] = {
    _Role.Window: "#f3f3f3",
    _Role.WindowText: "#1f1f1f",
    _Role.Base: "#ffffff",
    _Role.AlternateBase: "#f5f7fa",
    _Role.Text: "#1f1f1f",
    _Role.Button: "#ececec",
    _Role.ButtonText: "#1f1f1f",
    _Role.BrightText: "#b3261e",
    _Role.Highlight: "#1a5fb4",
    _Role.HighlightedText: "#ffffff",
    _Role.Link: "#0b57d0",
    _Role.LinkVisited: "#6f2da8",
    _Role.ToolTipBase: "#ffffdc",
    _Role.ToolTipText: "#1f1f1f",
    _Role.PlaceholderText: "#6b6b6b",
    _Role.Light: "#ffffff",
    _Role.Midlight: "#f7f7f7",
    _Role.Mid: "#b8b8b8",
    _Role.Dark: "#9e9e9e",
    _Role.Shadow: "#767676",
    _Role.Accent: "#1a5fb4",
}
_LIGHT_DISABLED: dict[QPalette.ColorRole, str] = {
    _Role.WindowText: "#6e6e6e",
    _Role.Text: "#6e6e6e",
    _Role.ButtonText: "#6e6e6e",
    _Role.Highlight: "#c8c8c8",
    _Role.HighlightedText: "#3c3c3c",
}


def _palette(
    colours: dict[QPalette.ColorRole, str], disabled: dict[QPalette.ColorRole, str]
) -> QPalette:
    palette = QPalette()
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))  # every group
    for role, colour in disabled.items():
        palette.setColor(_Group.Disabled, role, QColor(colour))
    return palette


def dark_palette() -> QPalette:
    return _palette(_DARK, _DARK_DISABLED)


def light_palette() -> QPalette:
    return _palette(_LIGHT, _LIGHT_DISABLED)


def apply_theme(app: QApplication, theme: Theme | str) -> None:
    """Colour the whole application by ``theme`` (``system``, ``light`` or ``dark``; the
    settings' ``auto`` means ``system``). Safe to call again when the setting changes."""
    chosen = Theme(theme)
    hints = app.styleHints()
    if chosen is Theme.SYSTEM:
        hints.unsetColorScheme()
        style = app.style()
        app.setPalette(style.standardPalette())
        return
    style_name = app.style().name().lower()
    if style_name in _PALETTE_BLIND_STYLES:
        app.setStyle("Fusion")
    dark = chosen is Theme.DARK
    hints.setColorScheme(Qt.ColorScheme.Dark if dark else Qt.ColorScheme.Light)
    app.setPalette(dark_palette() if dark else light_palette())


def is_dark(palette: QPalette) -> bool:
    """Whether ``palette`` draws light text on a dark window (for colours picked in code)."""
    return palette.color(_Role.Window).lightness() < palette.color(_Role.WindowText).lightness()


def contrast_ratio(first: QColor, second: QColor) -> float:
    """WCAG 2 contrast ratio of two colours, from 1 (same) to 21 (black on white)."""

    def luminance(colour: QColor) -> float:
        def channel(value: float) -> float:
            return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

        return (
            0.2126 * channel(colour.redF())
            + 0.7152 * channel(colour.greenF())
            + 0.0722 * channel(colour.blueF())
        )

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


__all__ = ["apply_theme", "contrast_ratio", "dark_palette", "is_dark", "light_palette"]
