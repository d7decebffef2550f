"""The settings dialog: broker and Kite login, hedging, risk limits, shock grid, appearance.

It edits what ``settings.toml`` holds (through :mod:`cockpit.config`, which checks every value
and writes the file 0600) and what the keyring holds (through
:class:`~cockpit.credentials.CredentialStore`: the API secret and today's access token, never
the file). Every text field is checked as it is typed by the same rules that load the file
(:func:`cockpit.config.settings_problems`); an invalid value is refused at the field — a red
line under it (objectName ``<field>Error``) gives the reason — and Save stays disabled until
every field is valid. Logging in to Kite opens Kite's login page in the browser; the trader
pastes the address Kite redirects to (or just its ``request_token``), and the dialog trades it
for an access token through the injected ``login`` callable — its only way to the broker —
then keeps the token in the keyring. A failed login is shown at the pasted field in the
broker's words, with any secret, token or request token masked; none is ever logged. Save
emits :attr:`SettingsDialog.settingsSaved` with the new :class:`~cockpit.config.Settings`;
applying them (theme, hedge policy, limits) is the window's job.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

from PySide6.QtCore import QEvent, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cockpit.broker.login import login_url
from cockpit.config import (
    BrokerKind,
    Settings,
    SettingsError,
    Theme,
    settings_from_mapping,
    settings_problems,
    settings_to_mapping,
    write_settings,
)
from cockpit.credentials import CredentialStore, LoginFn, Secret
from cockpit.execution.hedger import HedgePolicy
from cockpit.logging_setup import redact
from cockpit.risk.checks import ExpiryDayRule
from cockpit.ui.naming import named as _named
from cockpit.ui.theme import is_dark

log = logging.getLogger(__name__)

MASK = "****"
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9]{6,128}")


class FieldKind(StrEnum):
    """How a text field's content becomes a settings value."""

    TEXT = "text"
    NUMBER = "number"
    RUPEES = "rupees"  # whole rupees; empty means no limit
    TIME = "time"
    NUMBERS = "numbers"


# objectName of the field → (section, key, kind, tab title, label)
FIELDS: dict[str, tuple[str, str, FieldKind, str, str]] = {
    "apiKey": ("broker", "api_key", FieldKind.TEXT, "Broker", "API key"),
    "hedgeCountdown": (
        "execution",
        "hedge_countdown_s",
        FieldKind.NUMBER,
        "Hedging",
        "Countdown (seconds)",
    ),
    "maxLossPerGroup": (
        "risk",
        "max_loss_per_group_inr",
        FieldKind.RUPEES,
        "Risk limits",
        "Max loss per group (₹)",
    ),
    "maxLossPerDay": (
        "risk",
        "max_loss_per_day_inr",
        FieldKind.RUPEES,
        "Risk limits",
        "Max loss per day (₹)",
    ),
    "marginBuffer": (
        "risk",
        "margin_buffer_pct",
        FieldKind.NUMBER,
        "Risk limits",
        "Margin buffer (%)",
    ),
    "expiryCutoff": (
        "risk",
        "expiry_day_cutoff",
        FieldKind.TIME,
        "Risk limits",
        "Expiry-day cutoff (IST)",
    ),
    "priceRange": ("shock", "price_range_pct", FieldKind.NUMBER, "Shock grid", "Price range (± %)"),
    "priceStep": ("shock", "price_step_pct", FieldKind.NUMBER, "Shock grid", "Price step (%)"),
    "ivShocks": ("shock", "iv_shocks_pct", FieldKind.NUMBERS, "Shock grid", "IV shocks (%)"),
}
_FIELD_BY_KEY = {f"{section}.{key}": name for name, (section, key, *_rest) in FIELDS.items()}

EXPIRY_RULE_TEXT = {
    ExpiryDayRule.ALLOW: "Allow entries on expiring contracts",
    ExpiryDayRule.NO_SHORT_AFTER_CUTOFF: "No new shorts from the cutoff time",
    ExpiryDayRule.NO_ENTRY: "No entries on expiring contracts all day",
}
THEME_TEXT = {Theme.SYSTEM: "System", Theme.LIGHT: "Light", Theme.DARK: "Dark"}


def request_token_from(pasted: str) -> str:
    """The ``request_token`` in what the trader pasted: the address Kite redirected to (or
    its query), or the token itself. Raises ValueError saying what to paste instead; the
    message never repeats what was pasted."""
    text = pasted.strip()
    if not text:
        raise ValueError(
            "Paste the address Kite sent you to (it contains request_token=…) "
            "or the request_token itself"
        )
    if "=" in text or "/" in text or "?" in text:
        query = text.split("?", 1)[1] if "?" in text else text
        params = parse_qs(query.split("#", 1)[0])
        status = params.get("status", ["success"])[0]
        if status != "success":
            raise ValueError(f"Kite's redirect says status={status[:20]}: log in to Kite again")
        tokens = params.get("request_token", [])
        if not tokens:
            raise ValueError(
                "That address has no request_token: copy the whole address from the browser "
                "after logging in"
            )
        text = tokens[0].strip()
    if not _TOKEN_TEXT.fullmatch(text):
        raise ValueError("That is not a request_token: it is 6 or more letters and digits")
    return text


def scrub(message: str, *values: str) -> str:
    """``message`` with every given value masked, then anything that looks like a credential
    (``access_token=…``) masked too."""
    for value in values:
        if value:
            message = message.replace(value, MASK)
    return redact(message)


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(_display(item) for item in value)
    if hasattr(value, "strftime"):
        return str(value.strftime("%H:%M"))
    return str(value)


def _number(text: str) -> Any:
    """A number if ``text`` is one (``25,000``, ``₹25000``, ``12.5%`` allowed), else the text,
    which the settings' rules then refuse with their reason."""
    cleaned = text.strip().removeprefix("₹").removesuffix("%").replace(",", "").replace("_", "")
    cleaned = cleaned.strip()
    for parse in (int, float):
        try:
            return parse(cleaned)
        except ValueError:
            continue
    return text.strip()


def _parsed(kind: FieldKind, text: str) -> Any:
    """The settings value of a field's text; ``None`` means "leave the key out"."""
    if kind in (FieldKind.TEXT, FieldKind.TIME):
        return text.strip()
    if kind is FieldKind.RUPEES:
        return None if not text.strip() else _number(text)
    if kind is FieldKind.NUMBERS:
        items = [item for item in re.split(r"[,\s;]+", text.strip()) if item]
        return [_number(item) for item in items]
    value = _number(text)
    return float(value) if isinstance(value, int) else value


class SettingsDialog(QDialog):
    """Edits the settings and the Kite credentials; emits ``settingsSaved(Settings)``.

    ``login(api_key, api_secret, request_token)`` trades a request token for a session
    (:func:`cockpit.credentials.kite_login` in the app, a fake in tests); ``open_url`` opens
    Kite's login page (``QDesktopServices.openUrl`` by default)."""

    settingsSaved = Signal(object)  # Settings
    loggedIn = Signal(str)  # the Kite user id
    loginFailed = Signal(str)  # what the field shows (masked)

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialStore,
        *,
        login: LoginFn,
        open_url: Callable[[QUrl], bool] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setAccessibleName("Cockpit settings")
        self.setModal(False)
        self.settings = settings
        self.credentials = credentials
        self._login = login
        self._open_url = open_url if open_url is not None else QDesktopServices.openUrl
        self._login_task: asyncio.Task[None] | None = None
        self.edits: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}

        self.tabs = _named(QTabWidget(), "settingsTabs")
        self.tabs.addTab(self._broker_tab(), "Broker")
        self.tabs.addTab(self._hedging_tab(), "Hedging")
        self.tabs.addTab(self._risk_tab(), "Risk limits")
        self.tabs.addTab(self._shock_tab(), "Shock grid")
        self.tabs.addTab(self._appearance_tab(), "Appearance")

        self.problems = _named(QLabel(), "settingsProblems")
        self.problems.setWordWrap(True)
        buttons = _named(QDialogButtonBox(), "settingsButtons")
        self.save_button = _named(QPushButton("Save"), "saveButton")
        self.save_button.setAccessibleName("Save settings")
        self.cancel_button = _named(QPushButton("Cancel"), "cancelButton")
        # Enter in a field saves; the Kite buttons never become the default.
        self.save_button.setDefault(True)
        for button in (self.login_button, self.complete_button, self.forget_button):
            button.setAutoDefault(False)
        buttons.addButton(self.save_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.problems)
        layout.addWidget(buttons)

        self._load(settings)
        for edit in self.edits.values():
            edit.textChanged.connect(self.validate)
        for group in (self.broker_kind, self.hedge_policy):
            group.buttonToggled.connect(self.validate)
        self.expiry_rule.currentIndexChanged.connect(self.validate)
        self.validate()

    # ---- building --------------------------------------------------------------------------

    def _text_field(self, form: QFormLayout, name: str, hint: str = "") -> QLineEdit:
        _section, _key, _kind, _tab, label = FIELDS[name]
        edit = _named(QLineEdit(), name)
        edit.setAccessibleName(label)
        if hint:
            edit.setPlaceholderText(hint)
        self.edits[name] = edit
        form.addRow(label, self._with_error(edit, name))
        return edit

    def _with_error(self, widget: QWidget, name: str) -> QWidget:
        error = _named(QLabel(), f"{name}Error")
        error.setWordWrap(True)
        error.setAccessibleName(f"{name} problem")
        error.hide()
        self.errors[name] = error
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(widget)
        column.addWidget(error)
        return box

    def _broker_tab(self) -> QWidget:
        page = _named(QWidget(), "brokerTab")
        self.paper_radio = _named(QRadioButton("Paper (simulated exchange)"), "brokerPaper")
        self.kite_radio = _named(QRadioButton("Kite (real account, real money)"), "brokerKite")
        self.broker_kind = QButtonGroup(page)
        self.broker_kind.addButton(self.paper_radio)
        self.broker_kind.addButton(self.kite_radio)
        kinds = QHBoxLayout()
        kinds.addWidget(self.paper_radio)
        kinds.addWidget(self.kite_radio)
        kinds.addStretch(1)

        self.kite_box = _named(QGroupBox("Kite"), "kiteBox")
        form = QFormLayout(self.kite_box)
        self._text_field(form, "apiKey", "Your Kite app's api_key (not secret)")
        self.api_secret = _named(QLineEdit(), "apiSecret")
        self.api_secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_secret.setAccessibleName("API secret")
        self.api_secret.textChanged.connect(self.validate)
        form.addRow("API secret", self._with_error(self.api_secret, "apiSecret"))
        self.forget_button = _named(QPushButton("Forget secret and token"), "forgetCredentials")
        self.forget_button.clicked.connect(self.forget_credentials)
        form.addRow("", self.forget_button)
        self.token_status = _named(QLabel(), "tokenStatus")
        self.token_status.setAccessibleName("Access token status")
        form.addRow("Access token", self.token_status)
        self.keyring_notice = _named(QLabel(), "keyringNotice")
        self.keyring_notice.setWordWrap(True)
        form.addRow(self.keyring_notice)

        self.login_button = _named(QPushButton("Log in to Kite"), "loginButton")
        self.login_button.setAccessibleName("Open Kite's login page in the browser")
        self.login_button.clicked.connect(self.open_login_page)
        self.login_hint = _named(QLabel(), "loginHint")
        self.login_hint.setWordWrap(True)
        form.addRow(self.login_button, self.login_hint)
        self.request_token = _named(QLineEdit(), "requestToken")
        self.request_token.setAccessibleName("Address Kite redirected to, or the request token")
        self.request_token.setPlaceholderText(
            "Paste the address you land on after logging in (…request_token=…)"
        )
        self.request_token.textChanged.connect(lambda _text: self._show_error("requestToken", ""))
        self.request_token.installEventFilter(self)
        form.addRow("Redirect address", self._with_error(self.request_token, "requestToken"))
        self.complete_button = _named(QPushButton("Complete login"), "completeLogin")
        self.complete_button.clicked.connect(self.complete_login)
        form.addRow("", self.complete_button)

        layout = QVBoxLayout(page)
        layout.addLayout(kinds)
        layout.addWidget(self.kite_box)
        layout.addStretch(1)
        return page

    def _hedging_tab(self) -> QWidget:
        page = _named(QWidget(), "hedgingTab")
        self.confirm_radio = _named(
            QRadioButton(
                "Confirm: show the proposal; send it when the countdown ends unless I hold"
            ),
            "hedgePolicyConfirm",
        )
        self.auto_radio = _named(
            QRadioButton("Automatic: send the hedge at once"), "hedgePolicyAuto"
        )
        self.hedge_policy = QButtonGroup(page)
        self.hedge_policy.addButton(self.confirm_radio)
        self.hedge_policy.addButton(self.auto_radio)
        form = QFormLayout(page)
        form.addRow("Policy", self.confirm_radio)
        form.addRow("", self.auto_radio)
        self._text_field(form, "hedgeCountdown", "3 to 60")
        return page

    def _risk_tab(self) -> QWidget:
        page = _named(QWidget(), "riskTab")
        form = QFormLayout(page)
        self._text_field(form, "maxLossPerGroup", "empty: no limit")
        self._text_field(form, "maxLossPerDay", "empty: no limit")
        self._text_field(form, "marginBuffer", "added on top of the margin required")
        self.expiry_rule = _named(QComboBox(), "expiryDayRule")
        self.expiry_rule.setAccessibleName("Expiry-day rule")
        for rule, text in EXPIRY_RULE_TEXT.items():
            self.expiry_rule.addItem(text, rule.value)
        form.addRow("Expiry-day rule", self.expiry_rule)
        self._text_field(form, "expiryCutoff", "HH:MM, 09:15 to 15:30")
        return page

    def _shock_tab(self) -> QWidget:
        page = _named(QWidget(), "shockTab")
        form = QFormLayout(page)
        self._text_field(form, "priceRange", "the grid runs from −range to +range")
        self._text_field(form, "priceStep")
        self._text_field(form, "ivShocks", "relative, e.g. -30, -10, 0, 20, 50")
        return page

    def _appearance_tab(self) -> QWidget:
        page = _named(QWidget(), "appearanceTab")
        form = QFormLayout(page)
        self.theme = _named(QComboBox(), "theme")
        self.theme.setAccessibleName("Theme")
        for theme, text in THEME_TEXT.items():
            self.theme.addItem(text, theme.value)
        form.addRow("Theme", self.theme)
        self.sound = _named(QCheckBox("Play a sound with every critical alert"), "criticalSound")
        form.addRow("Sound", self.sound)
        return page

    def _load(self, settings: Settings) -> None:
        values = settings_to_mapping(settings)
        (
            self.kite_radio if settings.broker.kind is BrokerKind.KITE else self.paper_radio
        ).setChecked(True)
        (
            self.auto_radio
            if settings.execution.hedge_policy is HedgePolicy.AUTO
            else self.confirm_radio
        ).setChecked(True)
        for name, (section, key, *_rest) in FIELDS.items():
            self.edits[name].setText(_display(values[section].get(key)))
        self.expiry_rule.setCurrentIndex(
            self.expiry_rule.findData(settings.risk.expiry_day_rule.value)
        )
        self.theme.setCurrentIndex(self.theme.findData(settings.ui.theme.value))
        self.sound.setChecked(settings.ui.sound)
        self._refresh_credentials()

    def _refresh_credentials(self) -> None:
        stored = self.credentials.api_secret() is not None
        self.api_secret.setPlaceholderText(
            "stored in the keyring — type to replace"
            if stored and not self.credentials.session_only
            else "kept for this session — type to replace"
            if stored
            else "Your Kite app's API secret"
        )
        self.token_status.setText(self.credentials.describe_token())
        notice = self.credentials.notice
        self.keyring_notice.setText(notice[:1].upper() + notice[1:] if notice else "")
        self.keyring_notice.setVisible(bool(notice))

    # ---- reading and checking --------------------------------------------------------------

    def _kind(self) -> BrokerKind:
        return BrokerKind.KITE if self.kite_radio.isChecked() else BrokerKind.PAPER

    def dialog_values(self) -> dict[str, dict[str, Any]]:
        """The dialog's sections and keys as the settings file would hold them."""
        values: dict[str, dict[str, Any]] = {
            "broker": {"kind": self._kind().value},
            "execution": {
                "hedge_policy": (
                    HedgePolicy.AUTO if self.auto_radio.isChecked() else HedgePolicy.CONFIRM
                ).value
            },
            "risk": {"expiry_day_rule": self.expiry_rule.currentData()},
            "shock": {},
            "ui": {"theme": self.theme.currentData(), "sound": self.sound.isChecked()},
        }
        for name, (section, key, kind, *_rest) in FIELDS.items():
            value = _parsed(kind, self.edits[name].text())
            if value is not None:
                values[section][key] = value
        return values

    def field_problems(self) -> dict[str, str]:
        """Invalid fields by objectName, each with its reason as shown under it."""
        problems: dict[str, str] = {}
        for key, reason in settings_problems(self.dialog_values()).items():
            name = _FIELD_BY_KEY.get(key)
            if name is not None:
                problems[name] = reason[:1].upper() + reason[1:]
        if self._kind() is BrokerKind.KITE and not self.edits["apiKey"].text().strip():
            problems.setdefault(
                "apiKey", "Required for Kite: your app's api_key from developers.kite.trade"
            )
        secret = self.api_secret.text().strip()
        if secret and not secret.isalnum():
            problems["apiSecret"] = (
                "Letters and digits only: check what was pasted (spaces, quotes)"
            )
        return problems

    def validate(self) -> bool:
        """Show every field's problem under it; Save is enabled only when there is none."""
        problems = self.field_problems()
        for name in self.errors:
            if name != "requestToken":
                self._show_error(name, problems.get(name, ""))
        self.kite_box.setEnabled(self._kind() is BrokerKind.KITE)
        self.edits["expiryCutoff"].setEnabled(
            self.expiry_rule.currentData() == ExpiryDayRule.NO_SHORT_AFTER_CUTOFF.value
        )
        self.save_button.setEnabled(not problems)
        if problems:
            where = [
                f"{FIELDS[name][3]} › {FIELDS[name][4]}"
                if name in FIELDS
                else "Broker › API secret"
                for name in problems
            ]
            self.problems.setText("Fix before saving: " + "; ".join(where))
            for name, reason in problems.items():
                log.debug("settings field %s refused: %s", name, reason)
        else:
            self.problems.setText("")
        self.problems.setVisible(bool(problems))
        self._paint(self.problems)
        return not problems

    def _show_error(self, name: str, text: str) -> None:
        label = self.errors[name]
        label.setText(text)
        label.setVisible(bool(text))
        self._paint(label)

    def _paint(self, label: QLabel) -> None:
        colour = "#ff8a80" if is_dark(self.palette()) else "#b3261e"
        label.setStyleSheet(f"color: {colour};")

    # ---- saving ----------------------------------------------------------------------------

    def save(self) -> bool:
        """Write ``settings.toml`` and the typed API secret; emit ``settingsSaved``; close.
        Refused (False) while a field is invalid."""
        if not self.validate():
            return False
        raw = settings_to_mapping(self.settings)
        for key in ("max_loss_per_group_inr", "max_loss_per_day_inr"):
            raw["risk"].pop(key, None)  # left out of the dialog's values: no limit
        for section, values in self.dialog_values().items():
            raw[section].update(values)
        try:
            settings = settings_from_mapping(
                raw, home=self.settings.home, source=str(self.settings.settings_path)
            )
            write_settings(settings)
        except SettingsError as error:
            self.problems.setText(f"Not saved: {error}")
            self.problems.show()
            return False
        secret = self.api_secret.text().strip()
        if secret:
            self.credentials.set_api_secret(Secret(secret))
            self.api_secret.clear()
        self.settings = settings
        self._refresh_credentials()
        self.settingsSaved.emit(settings)
        super().accept()
        return True

    def accept(self) -> None:
        self.save()

    # ---- Kite login ------------------------------------------------------------------------

    def open_login_page(self) -> None:
        """Open Kite's login page for the api_key in the field."""
        problems = self.field_problems()
        api_key = self.edits["apiKey"].text().strip()
        if "apiKey" in problems or not api_key:
            self._show_error("apiKey", problems.get("apiKey", "Enter your Kite app's api_key"))
            return
        self._open_url(QUrl(login_url(api_key)))
        self.login_hint.setText(
            "Kite's login page is open in your browser. After logging in, copy the address "
            "you land on and paste it below."
        )
        self.request_token.setFocus()

    @property
    def login_task(self) -> asyncio.Task[None] | None:
        """The login in flight (or the last one)."""
        return self._login_task

    def complete_login(self) -> None:
        """Trade the pasted request token for an access token (in the background)."""
        if self._login_task is not None and not self._login_task.done():
            return
        try:
            request_token = request_token_from(self.request_token.text())
        except ValueError as error:
            self._show_error("requestToken", str(error))
            return
        api_key = self.edits["apiKey"].text().strip()
        problems = self.field_problems()
        if "apiKey" in problems or not api_key:
            self._show_error("apiKey", problems.get("apiKey", "Enter your Kite app's api_key"))
            return
        if "apiSecret" in problems:
            return
        typed = self.api_secret.text().strip()
        secret = Secret(typed) if typed else self.credentials.api_secret()
        if secret is None:
            self._show_error("apiSecret", "Enter your Kite app's API secret to log in")
            return
        self._show_error("requestToken", "")
        self.complete_button.setEnabled(False)
        self.login_hint.setText("Logging in to Kite…")
        self._login_task = asyncio.ensure_future(
            self._exchange(api_key, secret, request_token, remember_secret=bool(typed))
        )

    async def _exchange(
        self, api_key: str, secret: Secret, request_token: str, *, remember_secret: bool
    ) -> None:
        try:
            session = await self._login(api_key, secret, request_token)
        except asyncio.CancelledError:
            self.complete_button.setEnabled(True)
            raise
        except Exception as error:
            said = scrub(str(error) or type(error).__name__, secret.reveal(), request_token)
            message = f"Kite refused the login: {said}"
            self._show_error("requestToken", message)
            self.login_hint.setText("")
            self.complete_button.setEnabled(True)
            log.warning("Kite login failed: %s", said)
            self.loginFailed.emit(message)
            return
        issued = session.login_time if session.login_time.tzinfo is not None else None
        self.credentials.set_access_token(Secret(session.access_token), issued)
        if remember_secret:
            # The secret just worked: keep it (in the keyring, never the file).
            self.credentials.set_api_secret(secret)
            self.api_secret.clear()
        self.request_token.clear()
        self._refresh_credentials()
        self.login_hint.setText(f"Logged in to Kite as {session.user_id}.")
        self.complete_button.setEnabled(True)
        log.info("logged in to Kite as %s", session.user_id)
        self.loggedIn.emit(session.user_id)

    def forget_credentials(self) -> None:
        self.credentials.forget()
        self.api_secret.clear()
        self._refresh_credentials()
        self.login_hint.setText("The API secret and the access token are forgotten.")

    # ---- showing and closing ---------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Enter in the pasted-address field completes the login; elsewhere it saves (the
        # dialog's default button): QLineEdit passes Enter on, so it is stopped here.
        if (
            watched is self.request_token
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            self.complete_login()
            return True
        return super().eventFilter(watched, event)

    def present(self) -> None:
        """Show without blocking the other windows (``open()`` would be window-modal)."""
        self.show()
        self.activateWindow()

    async def aclose(self) -> None:
        """Cancel a login in flight and wait for it (window shutdown)."""
        task = self._login_task
        if task is not None and not task.done():
            task.cancel()
            # Waits for the task without swallowing a cancellation of this coroutine.
            await asyncio.gather(task, return_exceptions=True)


__all__ = ["FIELDS", "SettingsDialog", "request_token_from", "scrub"]
