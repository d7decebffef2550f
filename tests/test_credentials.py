from __future__ import annotations

import copy
import json
import logging
import pickle
from datetime import date, datetime, timedelta
from pathlib import Path

import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from cockpit.broker.connect import ACCESS_TOKEN_ENV, BrokerSetupError, kite_session_from_env
from cockpit.clock import IST, ManualClock
from cockpit.config import BrokerKind, BrokerSettings, Settings
from cockpit.credentials import (
    ACCESS_TOKEN_USER,
    API_SECRET_USER,
    NO_KEYRING_MESSAGE,
    SERVICE,
    CredentialStore,
    Secret,
    StoredToken,
    TokenStatus,
    describe_token,
    keyring_problem,
    token_expiry,
)
from tests.memory_keyring import MemoryKeyring

SECRET = "s3cr3tApiSecretValue0123456789ab"
TOKEN = "tokenValueXYZ987654321abcdef"
T0 = datetime(2026, 11, 24, 9, 20, tzinfo=IST)  # a Tuesday morning, after the 06:00 reset


class LockedKeyring(MemoryKeyring):
    """A keyring that is there but refuses (a locked collection, a dead D-Bus)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError(f"failed to store {password}")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def backend() -> MemoryKeyring:
    return MemoryKeyring()


@pytest.fixture
def store(backend: MemoryKeyring, clock: ManualClock) -> CredentialStore:
    return CredentialStore(backend, clock=clock, memory={})


# ---- Secret --------------------------------------------------------------------------------


def test_a_secret_never_shows_its_value() -> None:
    secret = Secret(SECRET)
    shown = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>40}",
        str([secret]),
    ]
    assert shown[:5] == ["Secret(****)"] * 5
    assert all(SECRET not in text for text in shown)
    assert secret.reveal() == SECRET
    assert secret == Secret(SECRET)
    assert secret != Secret("other")
    assert not Secret("")


def test_a_secret_is_not_pickled_or_copied() -> None:
    with pytest.raises(TypeError, match="not pickled") as info:
        pickle.dumps(Secret(SECRET))
    assert SECRET not in str(info.value)
    with pytest.raises(TypeError):
        copy.copy(Secret(SECRET))


def test_a_secret_wraps_only_text() -> None:
    with pytest.raises(TypeError, match="wraps a str, not bytes"):
        Secret(b"raw")  # type: ignore[arg-type]


def test_a_stored_token_repr_hides_the_token() -> None:
    stored = StoredToken(Secret(TOKEN), T0)
    assert TOKEN not in repr(stored)
    assert "Secret(****)" in repr(stored)


# ---- expiry at 06:00 IST -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("issued", "expires"),
    [
        (datetime(2026, 11, 24, 9, 20, tzinfo=IST), datetime(2026, 11, 25, 6, 0, tzinfo=IST)),
        (datetime(2026, 11, 24, 6, 0, tzinfo=IST), datetime(2026, 11, 25, 6, 0, tzinfo=IST)),
        (datetime(2026, 11, 24, 5, 59, tzinfo=IST), datetime(2026, 11, 24, 6, 0, tzinfo=IST)),
        (datetime(2026, 11, 24, 23, 50, tzinfo=IST), datetime(2026, 11, 25, 6, 0, tzinfo=IST)),
        # 20:00 UTC is 01:30 IST the next day: the token dies at 06:00 that same IST day.
        (
            datetime.fromisoformat("2026-11-24T20:00:00+00:00"),
            datetime(2026, 11, 25, 6, 0, tzinfo=IST),
        ),
    ],
)
def test_a_token_expires_at_the_first_0600_ist_after_its_issue(
    issued: datetime, expires: datetime
) -> None:
    assert token_expiry(issued) == expires


def test_stored_token_is_valid_until_0600_ist_the_next_morning(
    store: CredentialStore, backend: MemoryKeyring, clock: ManualClock
) -> None:
    assert store.token_status() is TokenStatus.NONE
    assert store.describe_token() == "none"
    stored = store.set_access_token(Secret(TOKEN))
    assert stored.issued == T0
    raw = json.loads(backend.items[(SERVICE, ACCESS_TOKEN_USER)])
    assert raw == {"token": TOKEN, "issued": "2026-11-24T09:20:00+05:30"}

    assert store.token_status() is TokenStatus.VALID
    assert store.describe_token() == "valid until 06:00 tomorrow"
    clock.advance((datetime(2026, 11, 25, 5, 59, 59, tzinfo=IST) - T0).total_seconds())
    assert store.describe_token() == "valid until 06:00 today"
    assert store.valid_access_token() == Secret(TOKEN)
    clock.advance(1)  # 06:00:00 IST
    assert store.token_status() is TokenStatus.EXPIRED
    assert store.describe_token() == "expired"
    assert store.valid_access_token() is None
    assert store.access_token() == StoredToken(Secret(TOKEN), T0)


def test_a_token_issued_before_today_0600_is_expired(
    store: CredentialStore, clock: ManualClock
) -> None:
    store.set_access_token(Secret(TOKEN), issued=datetime(2026, 11, 24, 5, 30, tzinfo=IST))
    assert store.token_status() is TokenStatus.EXPIRED  # now is 09:20 the same day


def test_a_date_only_issue_is_that_trading_days_token(
    store: CredentialStore, backend: MemoryKeyring, clock: ManualClock
) -> None:
    backend.items[(SERVICE, ACCESS_TOKEN_USER)] = json.dumps(
        {"token": TOKEN, "issued": date(2026, 11, 24).isoformat()}
    )
    assert store.token_status() is TokenStatus.VALID
    clock.advance(timedelta(days=1).total_seconds())
    assert store.token_status() is TokenStatus.EXPIRED


def test_an_unreadable_stored_token_counts_as_none_and_is_not_quoted(
    store: CredentialStore, backend: MemoryKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    backend.items[(SERVICE, ACCESS_TOKEN_USER)] = f"{TOKEN} not json"
    with caplog.at_level(logging.DEBUG):
        assert store.access_token() is None
    assert caplog.messages == ["the stored Kite access token is unreadable; log in to Kite again"]
    assert TOKEN not in caplog.text


def test_issue_time_must_be_aware(store: CredentialStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware") as info:
        store.set_access_token(Secret(TOKEN), issued=datetime(2026, 11, 24, 9, 0))
    assert TOKEN not in str(info.value)


def test_describe_token_without_one_is_none() -> None:
    assert describe_token(None, T0) == "none"


# ---- the keyring ----------------------------------------------------------------------------


def test_the_api_secret_is_kept_under_cockpit_in_the_keyring(
    store: CredentialStore, backend: MemoryKeyring
) -> None:
    assert not store.session_only
    assert store.notice is None
    assert store.api_secret() is None
    store.set_api_secret(Secret(SECRET))
    assert backend.items == {(SERVICE, API_SECRET_USER): SECRET}
    assert store.api_secret() == Secret(SECRET)
    # A new store over the same keyring (the next start) finds it.
    assert CredentialStore(backend, memory={}).api_secret() == Secret(SECRET)


def test_forget_removes_secret_and_token(store: CredentialStore, backend: MemoryKeyring) -> None:
    store.set_api_secret(Secret(SECRET))
    store.set_access_token(Secret(TOKEN))
    store.forget()
    assert backend.items == {}
    store.forget()  # nothing stored: still fine
    assert store.api_secret() is None
    assert store.access_token() is None


def test_an_empty_secret_is_refused(store: CredentialStore) -> None:
    with pytest.raises(ValueError, match="empty"):
        store.set_api_secret(Secret(""))


@pytest.mark.parametrize(
    "backend_for",
    [fail.Keyring, null.Keyring, "empty chainer"],
    ids=["fail", "null", "empty-chainer"],
)
def test_no_usable_keyring_means_session_only_with_the_message(
    backend_for: type[KeyringBackend] | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend_for == "empty chainer":
        # A chainer with nothing to chain (never the system's own list: tests do not touch it).
        monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
        backend: KeyringBackend = chainer.ChainerBackend()
    else:
        assert not isinstance(backend_for, str)
        backend = backend_for()
    memory: dict[str, str] = {}
    store = CredentialStore(backend, memory=memory)
    assert store.session_only
    assert store.notice == NO_KEYRING_MESSAGE
    assert NO_KEYRING_MESSAGE == (
        "no system keyring found (install gnome-keyring / KWallet, or use the session-only "
        "mode): credentials are kept in memory until Cockpit exits"
    )
    store.set_api_secret(Secret(SECRET))
    store.set_access_token(Secret(TOKEN), issued=datetime.now(IST))
    assert store.api_secret() == Secret(SECRET)
    assert store.valid_access_token() == Secret(TOKEN)
    assert set(memory) == {API_SECRET_USER, ACCESS_TOKEN_USER}


def test_empty_chainer_is_not_a_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    assert keyring_problem(chainer.ChainerBackend()) == NO_KEYRING_MESSAGE
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [MemoryKeyring()])
    assert keyring_problem(chainer.ChainerBackend()) is None


def test_session_only_memory_is_shared_by_the_processs_stores() -> None:
    first, second = CredentialStore(fail.Keyring()), CredentialStore(fail.Keyring())
    try:
        first.set_api_secret(Secret(SECRET))
        assert second.api_secret() == Secret(SECRET)
    finally:
        first.forget()
    assert second.api_secret() is None


def test_a_failing_keyring_falls_back_to_memory_and_says_why_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = CredentialStore(LockedKeyring(), memory={})
    assert not store.session_only
    with caplog.at_level(logging.DEBUG):
        store.set_api_secret(Secret(SECRET))
    assert store.session_only
    assert store.notice == (
        "the system keyring failed (PasswordSetError): credentials are kept in memory until "
        "Cockpit exits"
    )
    assert store.api_secret() == Secret(SECRET)
    assert caplog.messages == [store.notice]
    assert SECRET not in caplog.text


def test_the_default_backend_is_keyrings_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = MemoryKeyring()
    monkeypatch.setattr("keyring.get_keyring", lambda: chosen)
    store = CredentialStore(memory={})
    store.set_api_secret(Secret(SECRET))
    assert chosen.items == {(SERVICE, API_SECRET_USER): SECRET}


# ---- the broker connection reads the keyring's token ----------------------------------------


def kite_settings(home: Path) -> Settings:
    return Settings(home=home, broker=BrokerSettings(kind=BrokerKind.KITE, api_key="kiteapp1"))


def test_kite_session_takes_the_keyrings_token_when_the_env_var_is_absent(
    tmp_path: Path, store: CredentialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ACCESS_TOKEN_ENV, raising=False)
    issued = T0 - timedelta(minutes=5)
    store.set_access_token(Secret(TOKEN), issued=issued)
    session = kite_session_from_env(kite_settings(tmp_path), credentials=store)
    assert session.access_token == TOKEN
    assert session.api_key == "kiteapp1"
    assert session.login_time == issued
    assert TOKEN not in repr(session)


def test_the_env_var_still_wins(
    tmp_path: Path, store: CredentialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.set_access_token(Secret(TOKEN))
    monkeypatch.setenv(ACCESS_TOKEN_ENV, "fromTheEnvironment")
    session = kite_session_from_env(kite_settings(tmp_path), credentials=store)
    assert session.access_token == "fromTheEnvironment"


def test_an_expired_keyring_token_is_refused_with_what_to_do(
    tmp_path: Path, store: CredentialStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ACCESS_TOKEN_ENV, raising=False)
    store.set_access_token(Secret(TOKEN))
    clock.advance(timedelta(days=1).total_seconds())
    with pytest.raises(BrokerSetupError) as info:
        kite_session_from_env(kite_settings(tmp_path), credentials=store)
    assert str(info.value) == (
        "no Kite access token (it expired at 25 Nov 06:00 IST): log in with File → Settings… "
        f"→ Log in to Kite, or set {ACCESS_TOKEN_ENV} to today's token"
    )
    assert TOKEN not in str(info.value)


def test_no_token_and_no_keyring_says_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ACCESS_TOKEN_ENV, raising=False)
    store = CredentialStore(fail.Keyring(), memory={})
    with pytest.raises(BrokerSetupError) as info:
        kite_session_from_env(kite_settings(tmp_path), credentials=store)
    assert str(info.value) == (
        f"no Kite access token (none stored; {NO_KEYRING_MESSAGE}): log in with File → "
        f"Settings… → Log in to Kite, or set {ACCESS_TOKEN_ENV} to today's token"
    )
