"""Logging in to Kite: the login page's address, the checksum, and trading a request token for
an access token — for a real account and for the paper exchange.

A real user logs in on Kite's own page (:func:`login_url`) and is redirected to the app with a
``request_token``; :func:`create_session` posts it to ``/session/token`` with
``checksum = sha256(api_key + request_token + api_secret)`` and gets the access token, valid
until the next morning. :func:`paper_login` does the same handshake with the paper exchange,
whose login page answers with a request token at once. The result is a :class:`Session`, whose
``repr`` leaves the token out; neither the API secret nor the token is ever logged or put in an
exception's text.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

import httpx

from cockpit.broker import payloads
from cockpit.broker.base import BrokerNetworkError, BrokerProtocolError

log = logging.getLogger(__name__)

KITE_API_URL = "https://api.kite.trade"
KITE_LOGIN_URL = "https://kite.zerodha.com/connect/login"
KITE_VERSION = "3"
LOGIN_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in Kite session. ``access_token`` is a secret: it is left out of ``repr``."""

    api_key: str
    access_token: str = field(repr=False)
    user_id: str
    login_time: datetime

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value: ``token api_key:access_token``."""
        return f"token {self.api_key}:{self.access_token}"


def login_url(api_key: str) -> str:
    """Kite's login page for this app; after login Kite redirects to the app's registered URL
    with ``request_token``."""
    return f"{KITE_LOGIN_URL}?{urlencode({'v': KITE_VERSION, 'api_key': api_key})}"


def session_checksum(api_key: str, request_token: str, api_secret: str) -> str:
    return hashlib.sha256((api_key + request_token + api_secret).encode()).hexdigest()


def _session(data: object, api_key: str, where: str) -> Session:
    fields = payloads.JsonObject(data, where)
    token = fields.text("access_token")
    answered_key = fields.optional_text("api_key")
    if answered_key is not None and answered_key != api_key:
        raise BrokerProtocolError(f"{where}: the session is for another api_key")
    return Session(
        api_key=api_key,
        access_token=token,
        user_id=fields.text("user_id"),
        login_time=fields.time("login_time"),
    )


async def _post_session(
    client: httpx.AsyncClient, base_url: str, form: dict[str, str], where: str
) -> object:
    try:
        response = await client.post(
            f"{base_url.rstrip('/')}/session/token",
            data=form,
            headers={"X-Kite-Version": KITE_VERSION},
        )
    except httpx.TransportError as error:
        # Not retried: a request token is good for one exchange only.
        raise BrokerNetworkError(
            f"{where}: could not reach {base_url} ({type(error).__name__}); log in again"
        ) from None
    return payloads.read_response(
        response.status_code, response.headers.get("content-type"), response.content, where
    )


async def create_session(
    api_key: str,
    request_token: str,
    api_secret: str,
    *,
    base_url: str = KITE_API_URL,
    client: httpx.AsyncClient | None = None,
) -> Session:
    """Exchange a ``request_token`` from Kite's login redirect for a session."""
    where = "POST /session/token"
    form = {
        "api_key": api_key,
        "request_token": request_token,
        "checksum": session_checksum(api_key, request_token, api_secret),
    }
    if client is not None:
        data = await _post_session(client, base_url, form, where)
    else:
        async with httpx.AsyncClient(timeout=LOGIN_TIMEOUT) as own:
            data = await _post_session(own, base_url, form, where)
    session = _session(data, api_key, where)
    log.info("logged in to %s as %s", base_url, session.user_id)
    return session


async def paper_login(base_url: str, *, client: httpx.AsyncClient | None = None) -> Session:
    """Log in to the paper exchange at ``base_url`` with its well-known play-money
    credentials: its login page hands out a request token, then the usual session exchange."""
    from cockpit.exchange.server import PAPER_API_KEY, PAPER_API_SECRET

    async def run(http: httpx.AsyncClient) -> Session:
        where = "GET /connect/login"
        try:
            response = await http.get(
                f"{base_url.rstrip('/')}/connect/login",
                params={"v": KITE_VERSION, "api_key": PAPER_API_KEY},
            )
        except httpx.TransportError as error:
            raise BrokerNetworkError(
                f"{where}: could not reach the paper exchange at {base_url} "
                f"({type(error).__name__})"
            ) from None
        data = payloads.read_response(
            response.status_code, response.headers.get("content-type"), response.content, where
        )
        request_token = payloads.JsonObject(data, where).text("request_token")
        return await create_session(
            PAPER_API_KEY, request_token, PAPER_API_SECRET, base_url=base_url, client=http
        )

    if client is not None:
        return await run(client)
    async with httpx.AsyncClient(timeout=LOGIN_TIMEOUT) as own:
        return await run(own)


__all__ = [
    "KITE_API_URL",
    "KITE_LOGIN_URL",
    "Session",
    "create_session",
    "login_url",
    "paper_login",
    "session_checksum",
]
