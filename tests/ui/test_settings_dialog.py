"""The settings dialog: invalid values refused at the field with the reason and Save disabled;
Save writes settings.toml 0600 with the secret in the (fake) keyring, never the file; a pasted
redirect address logs in through the injected login with its request_token; nothing secret
reaches a log or an error text; the theme palettes are readable."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import stat
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import qasync
import shiboken6
from keyring.backends import fail
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit
from pytestqt.qtbot import QtBot

from cockpit.broker.base import BrokerInputError
from cockpit.broker.login import Session
from cockpit.clock import IST, ManualClock
from cockpit.config import (
    BrokerKind,
    RiskSettings,
    Settings,
    Theme,
    load_settings,
)
from cockpit.credentials import (
    ACCESS_TOKEN_USER,
    API_SECRET_USER,
    SERVICE,
    CredentialStore,
    Secret,
)
from cockpit.execution.hedger import HedgePolicy
from cockpit.logging_setup import add_handler
from cockpit.risk.checks import ExpiryDayRule
from cockpit.ui.settings_dialog import SettingsDialog, request_token_from
from cockpit.ui.theme import apply_theme, contrast_ratio, dark_palette, light_palette
from tests.memory_keyring import MemoryKeyring

T0 = datetime(2026, 11, 24, 9, 20, tzinfo=IST)
API_SECRET = "s3cr3tApiSecretValue0123456789ab"
REQUEST_TOKEN = "reqTok4242AbCdEf"
ACCESS_TOKEN = "accessTok9f8e7d6c5b4a"
REDIRECT = (
    "https://127.0.0.1:5000/kite/callback?action=login&type=login&status=success"
    f"&request_token={REQUEST_TOKEN}"
)
SECRETS = (API_SECRET, REQUEST_TOKEN, ACCESS_TOKEN)


class FakeLogin:
    """The injected login: records its calls, answers a session or raises the broker's
    error (which, like a careless server, quotes the request token and the secret)."""

    def __init__(self, fail_with: str | None = None) -> None:
        self.calls: list[tuple[str, Secret, str]] = []
        self.fail_with = fail_with
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, api_key: str, api_secret: Secret, request_token: str) -> Session:
        self.calls.append((api_key, api_secret, request_token))
        await self.release.wait()
        if self.fail_with is not None:
            raise BrokerInputError(
                f"POST /session/token: {self.fail_with} "
                f"(request {request_token}, key {api_secret.reveal()})"
            )
        return Session(api_key=api_key, access_token=ACCESS_TOKEN, user_id="AB1234", login_time=T0)


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    event_loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(event_loop)
    yield event_loop
    asyncio.set_event_loop(None)
    event_loop.close()
    timer = getattr(event_loop, "_timer", None)
    if timer is not None and shiboken6.isValid(timer):
        shiboken6.delete(timer)


def run(loop: qasync.QEventLoop, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    loop.run_until_complete(asyncio.wait_for(scenario(), 10))


@pytest.fixture
def backend() -> MemoryKeyring:
    return MemoryKeyring()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def credentials(backend: MemoryKeyring, clock: ManualClock) -> CredentialStore:
    return CredentialStore(backend, clock=clock, memory={})


@pytest.fixture
def opened() -> list[QUrl]:
    return []


def make_dialog(
    qtbot: QtBot,
    settings: Settings,
    credentials: CredentialStore,
    login: FakeLogin,
    opened: list[QUrl] | None = None,
) -> SettingsDialog:
    urls = opened if opened is not None else []
    dialog = SettingsDialog(
        settings, credentials, login=login, open_url=lambda url: urls.append(url) or True
    )
    qtbot.addWidget(dialog)
    dialog.present()
    return dialog


@pytest.fixture
def dialog(
    qtbot: QtBot, cockpit_home: Path, credentials: CredentialStore, opened: list[QUrl]
) -> SettingsDialog:
    return make_dialog(qtbot, load_settings(cockpit_home), credentials, FakeLogin(), opened)


def edit(dialog: SettingsDialog, name: str) -> QLineEdit:
    found = dialog.findChild(QLineEdit, name)
    assert found is not None, name
    return found


def error(dialog: SettingsDialog, name: str) -> QLabel:
    found = dialog.findChild(QLabel, f"{name}Error")
    assert found is not None, name
    return found


def type_into(qtbot: QtBot, dialog: SettingsDialog, name: str, text: str) -> None:
    field = edit(dialog, name)
    field.clear()
    if text.isascii():
        qtbot.keyClicks(field, text)
    else:  # QTest types ASCII only (it asserts on "₹")
        field.setText(text)


def choose_kite(qtbot: QtBot, dialog: SettingsDialog, api_key: str = "kiteapp1") -> None:
    dialog.kite_radio.setChecked(True)
    type_into(qtbot, dialog, "apiKey", api_key)


# ---- the window ------------------------------------------------------------------------------


def test_dialog_is_named_non_modal_and_shows_the_current_settings(
    qtbot: QtBot, cockpit_home: Path, credentials: CredentialStore
) -> None:
    settings = replace(
        Settings(home=cockpit_home),
        risk=RiskSettings(max_loss_per_day_inr=50000, expiry_day_rule=ExpiryDayRule.NO_ENTRY),
    )
    dialog = make_dialog(qtbot, settings, credentials, FakeLogin())
    assert dialog.objectName() == "settingsDialog"
    assert not dialog.isModal()
    assert dialog.isVisible()
    assert [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())] == [
        "Broker",
        "Hedging",
        "Risk limits",
        "Shock grid",
        "Appearance",
    ]
    assert dialog.paper_radio.isChecked()
    assert not dialog.kite_box.isEnabled()
    assert dialog.confirm_radio.isChecked()
    assert edit(dialog, "hedgeCountdown").text() == "10"
    assert edit(dialog, "maxLossPerGroup").text() == ""
    assert edit(dialog, "maxLossPerDay").text() == "50000"
    assert edit(dialog, "marginBuffer").text() == "10"
    assert edit(dialog, "expiryCutoff").text() == "14:30"
    assert not edit(dialog, "expiryCutoff").isEnabled()  # only with the cutoff rule
    assert (
        edit(dialog, "ivShocks").text()
        == "-30, -20, -10, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100"
    )
    assert dialog.theme.currentText() == "System"
    assert dialog.sound.isChecked()
    assert dialog.save_button.isEnabled()
    assert dialog.token_status.text() == "none"
    assert dialog.keyring_notice.isHidden()


# ---- refused at the field ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "text", "reason", "where"),
    [
        ("hedgeCountdown", "1", "Too small: expected at least 3", "Hedging › Countdown (seconds)"),
        ("hedgeCountdown", "", "Invalid: expected a number", "Hedging › Countdown (seconds)"),
        ("marginBuffer", "ten", "Invalid: expected a number", "Risk limits › Margin buffer (%)"),
        (
            "marginBuffer",
            "150",
            "Too large: expected at most 100",
            "Risk limits › Margin buffer (%)",
        ),
        (
            "maxLossPerDay",
            "-1",
            "Too small: expected at least 0",
            "Risk limits › Max loss per day (₹)",
        ),
        (
            "maxLossPerGroup",
            "2500.50",
            "Invalid: expected a whole number",
            "Risk limits › Max loss per group (₹)",
        ),
        (
            "expiryCutoff",
            "3pm",
            "Invalid: expected a time of day like 14:30",
            "Risk limits › Expiry-day cutoff (IST)",
        ),
        (
            "ivShocks",
            "-95, 0",
            "Invalid: -95 is too small: expected at least -90",
            "Shock grid › IV shocks (%)",
        ),
        (
            "ivShocks",
            "10, 0, 10",
            "Invalid: 10 is listed twice",
            "Shock grid › IV shocks (%)",
        ),
        (
            "priceStep",
            "12",
            "Too large: expected at most 10",
            "Shock grid › Price step (%)",
        ),
        (
            "priceStep",
            "0.05",
            "Too small: expected at least 0.1",
            "Shock grid › Price step (%)",
        ),
    ],
)
def test_an_invalid_value_is_refused_at_its_field_with_the_reason_and_save_disabled(
    qtbot: QtBot, dialog: SettingsDialog, field: str, text: str, reason: str, where: str
) -> None:
    assert dialog.save_button.isEnabled()
    type_into(qtbot, dialog, field, text)
    assert error(dialog, field).text() == reason
    assert not error(dialog, field).isHidden()
    assert not dialog.save_button.isEnabled()
    assert dialog.problems.text() == f"Fix before saving: {where}"
    others = [
        label for label in dialog.findChildren(QLabel) if label.objectName().endswith("Error")
    ]
    assert [label.objectName() for label in others if label.text()] == [f"{field}Error"]
    # Save refuses too (Enter in a field lands there) and writes nothing.
    before = dialog.settings.settings_path.read_text()
    with qtbot.assertNotEmitted(dialog.settingsSaved):
        assert dialog.save() is False
    assert dialog.settings.settings_path.read_text() == before
    assert dialog.isVisible()


def test_fields_checked_together_refuse_at_the_field_that_gives(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    type_into(qtbot, dialog, "maxLossPerDay", "50,000")
    type_into(qtbot, dialog, "maxLossPerGroup", "60000")
    assert error(dialog, "maxLossPerGroup").text() == (
        "Too large: a group's limit cannot exceed the day's (₹50,000)"
    )
    assert error(dialog, "maxLossPerDay").isHidden()
    assert not dialog.save_button.isEnabled()
    type_into(qtbot, dialog, "maxLossPerGroup", "₹20,000")
    assert error(dialog, "maxLossPerGroup").isHidden()
    assert dialog.save_button.isEnabled()

    type_into(qtbot, dialog, "priceRange", "2")
    type_into(qtbot, dialog, "priceStep", "3")
    assert error(dialog, "priceStep").text() == ("Too large: expected at most the price range (2%)")
    type_into(qtbot, dialog, "priceStep", "0.5")
    assert error(dialog, "priceStep").isHidden()
    assert dialog.save_button.isEnabled()


def test_kite_needs_a_well_formed_api_key(qtbot: QtBot, dialog: SettingsDialog) -> None:
    dialog.kite_radio.setChecked(True)
    assert dialog.kite_box.isEnabled()
    assert error(dialog, "apiKey").text() == (
        "Required for Kite: your app's api_key from developers.kite.trade"
    )
    assert not dialog.save_button.isEnabled()
    type_into(qtbot, dialog, "apiKey", "kite app")
    assert error(dialog, "apiKey").text() == "Invalid: expected letters and digits only"
    type_into(qtbot, dialog, "apiKey", "kiteapp1")
    assert error(dialog, "apiKey").isHidden()
    assert dialog.save_button.isEnabled()
    # Paper needs no api_key.
    edit(dialog, "apiKey").clear()
    dialog.paper_radio.setChecked(True)
    assert dialog.save_button.isEnabled()


def test_a_mangled_api_secret_is_refused_without_repeating_it(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    choose_kite(qtbot, dialog)
    dialog.api_secret.setText(f"{API_SECRET} extra")
    assert error(dialog, "apiSecret").text() == (
        "Letters and digits only: check what was pasted (spaces, quotes)"
    )
    assert API_SECRET not in dialog.problems.text()
    assert dialog.problems.text() == "Fix before saving: Broker › API secret"
    assert not dialog.save_button.isEnabled()
    assert dialog.api_secret.echoMode() is QLineEdit.EchoMode.Password


# ---- saving ----------------------------------------------------------------------------------


def test_save_writes_settings_0600_and_the_secret_only_to_the_keyring(
    qtbot: QtBot, dialog: SettingsDialog, backend: MemoryKeyring, cockpit_home: Path
) -> None:
    choose_kite(qtbot, dialog)
    qtbot.keyClicks(dialog.api_secret, API_SECRET)
    dialog.auto_radio.setChecked(True)
    type_into(qtbot, dialog, "hedgeCountdown", "15")
    type_into(qtbot, dialog, "maxLossPerGroup", "20000")
    type_into(qtbot, dialog, "maxLossPerDay", "50,000")
    type_into(qtbot, dialog, "marginBuffer", "12.5%")
    dialog.expiry_rule.setCurrentIndex(dialog.expiry_rule.findData("no_entry"))
    type_into(qtbot, dialog, "priceRange", "5")
    type_into(qtbot, dialog, "priceStep", "0.5")
    type_into(qtbot, dialog, "ivShocks", "-20 0 25, 50")
    dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
    dialog.sound.setChecked(False)

    with qtbot.waitSignal(dialog.settingsSaved) as saved:
        dialog.save_button.click()
    settings = saved.args[0]
    assert isinstance(settings, Settings)
    assert settings.broker.kind is BrokerKind.KITE
    assert settings.broker.api_key == "kiteapp1"
    assert settings.execution.hedge_policy is HedgePolicy.AUTO
    assert settings.execution.hedge_countdown_s == 15.0
    assert settings.risk == RiskSettings(20000, 50000, 12.5, ExpiryDayRule.NO_ENTRY)
    assert settings.shock.iv_shocks_pct == (-20.0, 0.0, 25.0, 50.0)
    assert settings.shock.price_shocks()[0] == -0.05
    assert settings.ui.theme is Theme.DARK
    assert settings.ui.sound is False

    path = cockpit_home / "settings.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert API_SECRET not in text
    assert "secret" not in text.replace("Secrets (API secret", "")
    assert 'hedge_policy = "auto"' in text
    assert load_settings(cockpit_home) == settings
    assert backend.items[(SERVICE, API_SECRET_USER)] == API_SECRET
    assert dialog.api_secret.text() == ""
    assert not dialog.isVisible()


def test_save_keeps_what_the_dialog_does_not_show_and_clears_a_removed_limit(
    qtbot: QtBot, cockpit_home: Path, credentials: CredentialStore
) -> None:
    cockpit_home.mkdir(parents=True)
    (cockpit_home / "settings.toml").write_text(
        "[paper]\nspeed = 25\n[risk]\nmax_loss_per_day_inr = 40000\n[reconcile]\ninterval_s = 30\n"
    )
    dialog = make_dialog(qtbot, load_settings(cockpit_home), credentials, FakeLogin())
    edit(dialog, "maxLossPerDay").clear()
    with qtbot.waitSignal(dialog.settingsSaved):
        dialog.save_button.click()
    loaded = load_settings(cockpit_home)
    assert loaded.risk.max_loss_per_day_inr is None
    assert loaded.paper.speed == 25.0
    assert loaded.reconcile.interval_s == 30.0
    assert loaded.broker.kind is BrokerKind.PAPER


def test_without_a_keyring_the_dialog_says_so_and_keeps_the_secret_in_memory(
    qtbot: QtBot, cockpit_home: Path
) -> None:
    memory: dict[str, str] = {}
    store = CredentialStore(fail.Keyring(), memory=memory)
    dialog = make_dialog(qtbot, load_settings(cockpit_home), store, FakeLogin())
    choose_kite(qtbot, dialog)
    assert not dialog.keyring_notice.isHidden()
    assert dialog.keyring_notice.text() == (
        "No system keyring found (install gnome-keyring / KWallet, or use the session-only "
        "mode): credentials are kept in memory until Cockpit exits"
    )
    dialog.api_secret.setText(API_SECRET)
    with qtbot.waitSignal(dialog.settingsSaved):
        dialog.save_button.click()
    assert memory == {API_SECRET_USER: API_SECRET}
    assert API_SECRET not in (cockpit_home / "settings.toml").read_text()
    assert dialog.api_secret.placeholderText() == "kept for this session — type to replace"


# ---- Kite login ------------------------------------------------------------------------------


def test_log_in_opens_kites_login_page_for_the_api_key(
    qtbot: QtBot, dialog: SettingsDialog, opened: list[QUrl]
) -> None:
    dialog.kite_radio.setChecked(True)
    dialog.login_button.click()
    assert opened == []
    assert error(dialog, "apiKey").text().startswith("Required for Kite")
    type_into(qtbot, dialog, "apiKey", "kiteapp1")
    dialog.login_button.click()
    assert [url.toString() for url in opened] == [
        "https://kite.zerodha.com/connect/login?v=3&api_key=kiteapp1"
    ]
    assert "paste it below" in dialog.login_hint.text()


@pytest.mark.parametrize(
    "pasted",
    [
        REDIRECT,
        f"  {REDIRECT}#top  ",
        f"action=login&status=success&request_token={REQUEST_TOKEN}",
        REQUEST_TOKEN,
    ],
    ids=["address", "address-with-fragment", "query", "bare-token"],
)
def test_request_token_is_read_from_what_was_pasted(pasted: str) -> None:
    assert request_token_from(pasted) == REQUEST_TOKEN


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        (
            "",
            "Paste the address Kite sent you to (it contains request_token=…) or the "
            "request_token itself",
        ),
        (
            "https://127.0.0.1/cb?action=login&status=cancelled",
            "Kite's redirect says status=cancelled: log in to Kite again",
        ),
        (
            "https://127.0.0.1/cb?action=login",
            "That address has no request_token: copy the whole address from the browser "
            "after logging in",
        ),
        ("not a token!", "That is not a request_token: it is 6 or more letters and digits"),
    ],
)
def test_a_paste_without_a_request_token_says_what_to_paste(pasted: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        request_token_from(pasted)
    assert str(info.value) == message


def test_pasted_redirect_logs_in_with_its_request_token_and_keeps_the_token(
    qtbot: QtBot,
    loop: qasync.QEventLoop,
    cockpit_home: Path,
    credentials: CredentialStore,
    backend: MemoryKeyring,
) -> None:
    login = FakeLogin()
    dialog = make_dialog(qtbot, load_settings(cockpit_home), credentials, login)

    async def scenario() -> None:
        choose_kite(qtbot, dialog)
        dialog.api_secret.setText(API_SECRET)
        dialog.request_token.setText(REDIRECT)
        login.release.clear()
        users: list[str] = []
        dialog.loggedIn.connect(users.append)
        dialog.complete_button.click()
        assert dialog.login_hint.text() == "Logging in to Kite…"
        assert not dialog.complete_button.isEnabled()
        login.release.set()
        task = dialog.login_task
        assert task is not None
        await task
        assert login.calls == [("kiteapp1", Secret(API_SECRET), REQUEST_TOKEN)]
        assert users == ["AB1234"]

    run(loop, scenario)
    stored = json.loads(backend.items[(SERVICE, ACCESS_TOKEN_USER)])
    assert stored == {"token": ACCESS_TOKEN, "issued": "2026-11-24T09:20:00+05:30"}
    assert backend.items[(SERVICE, API_SECRET_USER)] == API_SECRET  # it worked: kept
    assert dialog.token_status.text() == "valid until 06:00 tomorrow"
    assert dialog.login_hint.text() == "Logged in to Kite as AB1234."
    assert dialog.request_token.text() == ""
    assert dialog.api_secret.text() == ""
    assert dialog.complete_button.isEnabled()
    assert error(dialog, "requestToken").isHidden()
    # Nothing about a login goes to settings.toml.
    assert not any(s in (cockpit_home / "settings.toml").read_text() for s in SECRETS)


def test_enter_in_the_pasted_address_logs_in_and_does_not_save(
    qtbot: QtBot, loop: qasync.QEventLoop, cockpit_home: Path, credentials: CredentialStore
) -> None:
    login = FakeLogin()
    dialog = make_dialog(qtbot, load_settings(cockpit_home), credentials, login)

    async def scenario() -> None:
        choose_kite(qtbot, dialog)
        dialog.api_secret.setText(API_SECRET)
        dialog.request_token.setText(REDIRECT)
        dialog.request_token.setFocus()
        with qtbot.assertNotEmitted(dialog.settingsSaved):
            qtbot.keyClick(dialog.request_token, Qt.Key.Key_Return)
        assert dialog.login_task is not None
        await dialog.login_task

    run(loop, scenario)
    assert [call[2] for call in login.calls] == [REQUEST_TOKEN]
    assert dialog.isVisible()
    # Enter anywhere else is the dialog's default button: Save.
    with qtbot.waitSignal(dialog.settingsSaved):
        qtbot.keyClick(edit(dialog, "hedgeCountdown"), Qt.Key.Key_Return)
    assert not dialog.isVisible()


def test_login_uses_the_stored_secret_when_none_is_typed(
    qtbot: QtBot,
    loop: qasync.QEventLoop,
    cockpit_home: Path,
    credentials: CredentialStore,
) -> None:
    credentials.set_api_secret(Secret(API_SECRET))
    login = FakeLogin()
    dialog = make_dialog(qtbot, load_settings(cockpit_home), credentials, login)
    assert dialog.api_secret.placeholderText() == "stored in the keyring — type to replace"

    async def scenario() -> None:
        choose_kite(qtbot, dialog)
        dialog.request_token.setText(REQUEST_TOKEN)
        dialog.complete_button.click()
        assert dialog.login_task is not None
        await dialog.login_task

    run(loop, scenario)
    assert login.calls == [("kiteapp1", Secret(API_SECRET), REQUEST_TOKEN)]


def test_login_without_any_secret_asks_for_it_at_the_field(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    choose_kite(qtbot, dialog)
    dialog.request_token.setText(REDIRECT)
    dialog.complete_button.click()
    assert dialog.login_task is None
    assert error(dialog, "apiSecret").text() == "Enter your Kite app's API secret to log in"


def test_a_bad_paste_is_refused_at_the_field_without_calling_the_broker(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    choose_kite(qtbot, dialog)
    dialog.api_secret.setText(API_SECRET)
    dialog.request_token.setText("https://127.0.0.1/cb?status=cancelled")
    dialog.complete_button.click()
    assert dialog.login_task is None
    assert error(dialog, "requestToken").text() == (
        "Kite's redirect says status=cancelled: log in to Kite again"
    )
    qtbot.keyClicks(dialog.request_token, "x")  # typing again clears the complaint
    assert error(dialog, "requestToken").isHidden()


def test_a_failed_login_shows_the_brokers_words_at_the_field_masked(
    qtbot: QtBot,
    loop: qasync.QEventLoop,
    cockpit_home: Path,
    credentials: CredentialStore,
    backend: MemoryKeyring,
) -> None:
    login = FakeLogin(fail_with="Token is invalid or has expired.")
    dialog = make_dialog(qtbot, load_settings(cockpit_home), credentials, login)
    failures: list[str] = []
    dialog.loginFailed.connect(failures.append)

    async def scenario() -> None:
        choose_kite(qtbot, dialog)
        dialog.api_secret.setText(API_SECRET)
        dialog.request_token.setText(REDIRECT)
        dialog.complete_button.click()
        assert dialog.login_task is not None
        await dialog.login_task

    run(loop, scenario)
    shown = error(dialog, "requestToken").text()
    assert shown == (
        "Kite refused the login: POST /session/token: Token is invalid or has expired. "
        "(request ****, key ****)"
    )
    assert not error(dialog, "requestToken").isHidden()
    assert failures == [shown]
    assert backend.items == {}  # neither the token (none) nor the unproven secret is kept
    assert dialog.token_status.text() == "none"
    assert dialog.complete_button.isEnabled()
    assert dialog.request_token.text() == REDIRECT  # left for another try


def test_closing_cancels_a_login_in_flight(
    qtbot: QtBot, loop: qasync.QEventLoop, cockpit_home: Path, credentials: CredentialStore
) -> None:
    login = FakeLogin()
    dialog = make_dialog(qtbot, load_settings(cockpit_home), credentials, login)

    async def scenario() -> None:
        choose_kite(qtbot, dialog)
        dialog.api_secret.setText(API_SECRET)
        dialog.request_token.setText(REQUEST_TOKEN)
        login.release.clear()
        dialog.complete_button.click()
        await asyncio.sleep(0)
        await dialog.aclose()
        assert dialog.login_task is not None
        assert dialog.login_task.cancelled()

    run(loop, scenario)
    assert credentials.access_token() is None
    assert dialog.complete_button.isEnabled()


def test_token_status_reads_the_keyring_and_forget_clears_it(
    qtbot: QtBot, cockpit_home: Path, credentials: CredentialStore, clock: ManualClock
) -> None:
    credentials.set_api_secret(Secret(API_SECRET))
    credentials.set_access_token(Secret(ACCESS_TOKEN), T0 - timedelta(hours=1))
    dialog = make_dialog(qtbot, load_settings(cockpit_home), credentials, FakeLogin())
    assert dialog.token_status.text() == "valid until 06:00 tomorrow"
    clock.advance(timedelta(days=1).total_seconds())
    dialog2 = make_dialog(qtbot, load_settings(cockpit_home), credentials, FakeLogin())
    assert dialog2.token_status.text() == "expired"
    dialog2.kite_radio.setChecked(True)  # the Kite box is disabled in paper mode
    dialog2.forget_button.click()
    assert dialog2.token_status.text() == "none"
    assert credentials.api_secret() is None
    assert dialog2.api_secret.placeholderText() == "Your Kite app's API secret"


# ---- nothing secret in a log -----------------------------------------------------------------


@pytest.fixture
def redacted_log(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """caplog at DEBUG plus the app's own redacting handler (as configure_logging installs
    it) writing to a buffer."""
    buffer = io.StringIO()
    handler = add_handler(logging.StreamHandler(buffer), logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    yield buffer
    logging.getLogger().removeHandler(handler)


def assert_no_secret_logged(caplog: pytest.LogCaptureFixture, buffer: io.StringIO) -> None:
    texts = [caplog.text, buffer.getvalue()]
    for record in caplog.records:
        texts += [record.getMessage(), str(record.args), str(record.msg), record.exc_text or ""]
    for secret in SECRETS:
        assert not any(secret in text for text in texts), secret


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_a_login_logs_no_secret_token_or_request_token(
    qtbot: QtBot,
    loop: qasync.QEventLoop,
    cockpit_home: Path,
    credentials: CredentialStore,
    caplog: pytest.LogCaptureFixture,
    redacted_log: io.StringIO,
    outcome: str,
) -> None:
    login = FakeLogin(fail_with=None if outcome == "success" else "Invalid checksum")
    dialog = make_dialog(qtbot, load_settings(cockpit_home), credentials, login)

    async def scenario() -> None:
        choose_kite(qtbot, dialog)
        dialog.api_secret.setText(API_SECRET)
        dialog.request_token.setText(REDIRECT)
        dialog.complete_button.click()
        assert dialog.login_task is not None
        await dialog.login_task
        with qtbot.waitSignal(dialog.settingsSaved):
            dialog.save_button.click()

    run(loop, scenario)
    expected = (
        "logged in to Kite as AB1234"
        if outcome == "success"
        else "Kite login failed: POST /session/token: Invalid checksum (request ****, key ****)"
    )
    assert expected in caplog.messages  # the login was logged, only without its secrets
    assert_no_secret_logged(caplog, redacted_log)
    for secret in SECRETS:
        assert secret not in error(dialog, "requestToken").text()
        assert secret not in dialog.login_hint.text()


def test_a_validation_error_logs_no_secret(
    qtbot: QtBot,
    dialog: SettingsDialog,
    caplog: pytest.LogCaptureFixture,
    redacted_log: io.StringIO,
) -> None:
    choose_kite(qtbot, dialog)
    qtbot.keyClicks(dialog.api_secret, f"{API_SECRET} ")
    dialog.api_secret.setText(f"'{API_SECRET}'")
    type_into(qtbot, dialog, "hedgeCountdown", "0")
    dialog.request_token.setText(f"https://x/cb?status=oops&request_token={REQUEST_TOKEN}")
    dialog.complete_button.click()
    assert not dialog.save_button.isEnabled()
    assert dialog.save() is False
    assert "settings field hedgeCountdown refused: Too small: expected at least 3" in (
        caplog.messages
    )
    assert_no_secret_logged(caplog, redacted_log)
    texts = [label.text() for label in dialog.findChildren(QLabel)]
    assert not any(secret in text for text in texts for secret in SECRETS)


# ---- theme -----------------------------------------------------------------------------------


@pytest.mark.parametrize("palette_for", [dark_palette, light_palette], ids=["dark", "light"])
def test_theme_palettes_have_readable_contrast(palette_for: Callable[[], QPalette]) -> None:
    palette = palette_for()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    for text, background in [
        (role.Text, role.Base),
        (role.WindowText, role.Window),
        (role.ButtonText, role.Button),
        (role.ToolTipText, role.ToolTipBase),
        (role.Text, role.AlternateBase),
    ]:
        assert contrast_ratio(palette.color(text), palette.color(background)) >= 7.0
    for text, background in [
        (role.PlaceholderText, role.Base),
        (role.HighlightedText, role.Highlight),
        (role.Link, role.Base),
    ]:
        assert contrast_ratio(palette.color(text), palette.color(background)) >= 4.5
    for text, background in [(role.Text, role.Base), (role.WindowText, role.Window)]:
        ratio = contrast_ratio(
            palette.color(group.Disabled, text), palette.color(group.Disabled, background)
        )
        assert ratio >= 4.5


def test_apply_theme_sets_and_resets_the_palette(qapp: QApplication) -> None:
    before = QPalette(qapp.palette())
    try:
        apply_theme(qapp, Theme.DARK)
        window = qapp.palette().color(QPalette.ColorRole.Window)
        assert window == dark_palette().color(QPalette.ColorRole.Window)
        apply_theme(qapp, "light")
        assert qapp.palette().color(QPalette.ColorRole.Base).name() == "#ffffff"
        apply_theme(qapp, "auto")  # the old name of "system"
        assert qapp.palette().color(QPalette.ColorRole.Window) == (
            qapp.style().standardPalette().color(QPalette.ColorRole.Window)
        )
    finally:
        qapp.setPalette(before)
        qapp.styleHints().unsetColorScheme()
    assert contrast_ratio(dark_palette().color(QPalette.ColorRole.Window), window) == 1.0
