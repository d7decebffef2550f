"""Credentials: the Kite API secret and today's access token, kept in the OS keyring.

This module is responsible for where secrets live and how long a token is good for.
:class:`CredentialStore` keeps them under the keyring service ``cockpit`` (usernames
``kite.api_secret`` and ``kite.access_token``; the token is stored as JSON with the moment it
was issued). Kite access tokens expire at 06:00 IST the next morning, so a token issued before
the latest 06:00 IST is expired. Where the system has no usable keyring (keyring's ``fail`` or
``null`` backend, a chainer with nothing to chain) or the keyring fails, the store says so
(:attr:`CredentialStore.notice`) and keeps the credentials in this process's memory until
Cockpit exits (*session-only*). A secret travels as a :class:`Secret`, whose ``repr`` and
``str`` are ``Secret(****)``; nothing here logs, formats or raises a secret's value. It is
Qt-free; keyring calls block briefly (a D-Bus round trip), and an unlock prompt blocks until
the trader answers it.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, NoReturn

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from cockpit.clock import IST, Clock, SystemClock

if TYPE_CHECKING:
    from cockpit.broker.login import Session

log = logging.getLogger(__name__)

SERVICE = "cockpit"
API_SECRET_USER = "kite.api_secret"
ACCESS_TOKEN_USER = "kite.access_token"
TOKEN_RESET = time(6, 0)  # Kite access tokens stop working at 06:00 IST the next morning

NO_KEYRING_MESSAGE = (
    "no system keyring found (install gnome-keyring / KWallet, or use the session-only mode): "
    "credentials are kept in memory until Cockpit exits"
)

# Session-only credentials, shared by every store in this process (the settings dialog's store
# and the one the broker connection reads must see the same token) and gone when it exits.
_SESSION_MEMORY: dict[str, str] = {}


class Secret:
    """A credential value that never shows itself: ``repr``/``str``/``format`` give
    ``Secret(****)``, it is not picklable, and :meth:`reveal` is the one way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret wraps a str, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The value, for the one call that needs it (the checksum, the header)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret(****)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is not pickled or copied out of the process")


class TokenStatus(StrEnum):
    NONE = "none"
    VALID = "valid"
    EXPIRED = "expired"


def token_expiry(issued: datetime) -> datetime:
    """When a Kite access token issued at ``issued`` stops working: the first 06:00 IST
    after it."""
    local = issued.astimezone(IST)
    reset = datetime.combine(local.date(), TOKEN_RESET, tzinfo=IST)
    return reset if local < reset else reset + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class StoredToken:
    """An access token and the moment (aware) it was issued."""

    token: Secret
    issued: datetime

    @property
    def expires(self) -> datetime:
        return token_expiry(self.issued)

    def status(self, now: datetime) -> TokenStatus:
        return TokenStatus.VALID if now < self.expires else TokenStatus.EXPIRED

    def describe(self, now: datetime) -> str:
        """``valid until 06:00 tomorrow`` (or ``today``) or ``expired``."""
        if self.status(now) is TokenStatus.EXPIRED:
            return "expired"
        expires = self.expires.date()
        today = now.astimezone(IST).date()
        if expires == today:
            day = "today"
        elif expires == today + timedelta(days=1):
            day = "tomorrow"
        else:  # issued in the future by a skewed clock: say the date
            day = expires.isoformat()
        return f"valid until {TOKEN_RESET:%H:%M} {day}"


def describe_token(token: StoredToken | None, now: datetime) -> str:
    """The token's status for a label: ``valid until 06:00 tomorrow``, ``expired`` or
    ``none``."""
    return "none" if token is None else token.describe(now)


def keyring_problem(backend: KeyringBackend) -> str | None:
    """Why ``backend`` cannot keep secrets (``None`` when it can)."""
    if isinstance(backend, fail.Keyring | null.Keyring):
        return NO_KEYRING_MESSAGE
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return NO_KEYRING_MESSAGE
    return None


class CredentialStore:
    """The API secret and the access token, in the keyring or (without one) in memory.

    ``backend`` defaults to keyring's choice for this system; ``memory`` (tests) replaces the
    process-wide session-only memory; ``clock`` dates the tokens."""

    def __init__(
        self,
        backend: KeyringBackend | None = None,
        *,
        clock: Clock | None = None,
        memory: dict[str, str] | None = None,
    ) -> None:
        self._clock = clock if clock is not None else SystemClock()
        self._memory = _SESSION_MEMORY if memory is None else memory
        self._backend: KeyringBackend | None = None
        self._notice: str | None = None
        try:
            self._backend = backend if backend is not None else keyring.get_keyring()
            self._notice = keyring_problem(self._backend)
        except Exception as error:  # keyring's own set-up can fail on a broken D-Bus
            self._notice = _failed_notice(error)

    @property
    def session_only(self) -> bool:
        """True when credentials live only in this process's memory."""
        return self._notice is not None

    @property
    def notice(self) -> str | None:
        """What the trader should know about where credentials are kept (None: keyring)."""
        return self._notice

    # ---- the API secret ------------------------------------------------------------------

    def api_secret(self) -> Secret | None:
        value = self._get(API_SECRET_USER)
        return Secret(value) if value else None

    def set_api_secret(self, secret: Secret) -> None:
        if not secret:
            raise ValueError("the API secret is empty")
        self._set(API_SECRET_USER, secret.reveal())

    # ---- the access token ----------------------------------------------------------------

    def access_token(self) -> StoredToken | None:
        """The stored token (valid or not), None if there is none or it cannot be read."""
        raw = self._get(ACCESS_TOKEN_USER)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            token, issued = data["token"], data["issued"]
            if not isinstance(token, str) or not token or not isinstance(issued, str):
                raise ValueError("wrong types")
            return StoredToken(Secret(token), _parse_issued(issued))
        except (ValueError, KeyError, TypeError):
            # The content is not quoted: it holds the token.
            log.warning("the stored Kite access token is unreadable; log in to Kite again")
            return None

    def set_access_token(self, token: Secret, issued: datetime | None = None) -> StoredToken:
        """Keep ``token``, issued at ``issued`` (aware; default now)."""
        if not token:
            raise ValueError("the access token is empty")
        when = issued if issued is not None else self._clock.now()
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(f"the token's issue time must be timezone-aware, got {when}")
        when = when.astimezone(IST)
        self._set(
            ACCESS_TOKEN_USER, json.dumps({"token": token.reveal(), "issued": when.isoformat()})
        )
        return StoredToken(token, when)

    def is_current(self, token: StoredToken) -> bool:
        """Whether ``token`` still works now (before its 06:00 IST)."""
        return token.status(self._clock.now()) is TokenStatus.VALID

    def token_status(self) -> TokenStatus:
        token = self.access_token()
        return TokenStatus.NONE if token is None else token.status(self._clock.now())

    def describe_token(self) -> str:
        return describe_token(self.access_token(), self._clock.now())

    def valid_access_token(self) -> Secret | None:
        """Today's token if one is stored and not expired."""
        token = self.access_token()
        return token.token if token is not None and self.is_current(token) else None

    def forget(self) -> None:
        """Remove the API secret and the access token."""
        for username in (API_SECRET_USER, ACCESS_TOKEN_USER):
            self._delete(username)

    # ---- keyring or memory ---------------------------------------------------------------

    def _get(self, username: str) -> str | None:
        if self._notice is None and self._backend is not None:
            try:
                value = self._backend.get_password(SERVICE, username)
            except Exception as error:
                self._fall_back(error)
            else:
                return value
        return self._memory.get(username)

    def _set(self, username: str, value: str) -> None:
        if self._notice is None and self._backend is not None:
            try:
                self._backend.set_password(SERVICE, username, value)
            except Exception as error:
                self._fall_back(error)
            else:
                return
        self._memory[username] = value

    def _delete(self, username: str) -> None:
        self._memory.pop(username, None)
        if self._notice is None and self._backend is not None:
            try:
                self._backend.delete_password(SERVICE, username)
            except keyring.errors.PasswordDeleteError:
                pass  # nothing stored
            except Exception as error:
                self._fall_back(error)

    def _fall_back(self, error: Exception) -> None:
        # Only the error's type is reported: a backend's message might quote what it was given.
        self._notice = _failed_notice(error)
        log.warning("%s", self._notice)


def _failed_notice(error: Exception) -> str:
    return (
        f"the system keyring failed ({type(error).__name__}): credentials are kept in memory "
        "until Cockpit exits"
    )


def _parse_issued(text: str) -> datetime:
    """An ISO date-time (aware) or, from an older writer, an ISO date — taken as that
    trading day's token (issued at 06:00 IST, so it lasts until the next 06:00)."""
    if "T" not in text:
        return datetime.combine(date.fromisoformat(text), TOKEN_RESET, tzinfo=IST)
    issued = datetime.fromisoformat(text)
    if issued.tzinfo is None:
        issued = issued.replace(tzinfo=IST)
    return issued


LoginFn = Callable[[str, Secret, str], Awaitable["Session"]]
"""``login(api_key, api_secret, request_token) -> Session``: trades a request token from
Kite's login redirect for a session (the settings dialog's only way to the broker)."""


def kite_login(base_url: str | None = None) -> LoginFn:
    """The real :data:`LoginFn`: :func:`cockpit.broker.login.create_session` against
    ``base_url`` (Kite's API by default)."""

    async def login(api_key: str, api_secret: Secret, request_token: str) -> Session:
        from cockpit.broker.login import KITE_API_URL, create_session

        return await create_session(
            api_key, request_token, api_secret.reveal(), base_url=base_url or KITE_API_URL
        )

    return login


__all__ = [
    "ACCESS_TOKEN_USER",
    "API_SECRET_USER",
    "NO_KEYRING_MESSAGE",
    "SERVICE",
    "CredentialStore",
    "LoginFn",
    "Secret",
    "StoredToken",
    "TokenStatus",
    "describe_token",
    "keyring_problem",
    "kite_login",
    "token_expiry",
]
