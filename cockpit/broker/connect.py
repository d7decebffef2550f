"""Connecting to the configured broker: which URL, which session, and the assembled
:class:`~cockpit.broker.kite.KiteBroker` with its WebSocket stream attached.

Where the broker is, in order: an explicit ``--broker-url`` (or ``COCKPIT_BROKER_URL``); in
paper mode, the paper exchange a running Cockpit window already serves (it writes its URL to
``COCKPIT_HOME/paper-exchange.url`` while it holds the state file's lock); else a paper
exchange started here, in-process, on the same state file. A real Kite account uses the
settings' ``base_url`` and ``ws_url`` and today's access token.
The WebSocket URL of a loopback paper exchange is its HTTP URL with ``ws://``.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from cockpit.broker import payloads
from cockpit.broker.base import BrokerError
from cockpit.broker.kite import KiteBroker
from cockpit.broker.login import Session, paper_login
from cockpit.broker.stream import BrokerStream
from cockpit.broker.ticker import KiteTicker, TickerConfig
from cockpit.clock import IST, Clock
from cockpit.config import BrokerKind, Settings
from cockpit.credentials import CredentialStore

log = logging.getLogger(__name__)

BROKER_URL_ENV = "COCKPIT_BROKER_URL"
ACCESS_TOKEN_ENV = "COCKPIT_KITE_ACCESS_TOKEN"
PAPER_STATE_FILE = "paper-exchange.db"
PAPER_URL_FILE = "paper-exchange.url"


class BrokerSetupError(BrokerError):
    """The broker cannot be reached or logged in to; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    rest_url: str
    ws_url: str
    paper: bool


def ws_url_for(rest_url: str) -> str:
    if rest_url.startswith("https://"):
        return "wss://" + rest_url.removeprefix("https://").rstrip("/") + "/"
    return "ws://" + rest_url.removeprefix("http://").rstrip("/") + "/"


def write_paper_url(home: Path, url: str) -> Path:
    """Tell other Cockpit commands where this process's paper exchange listens (0600)."""
    path = home / PAPER_URL_FILE
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(url + "\n")
    return path


def running_paper_url(home: Path) -> str | None:
    """The URL of a paper exchange another process serves from ``home``, if one runs."""
    from cockpit.exchange.state import is_locked

    url_file = home / PAPER_URL_FILE
    if not is_locked(home / PAPER_STATE_FILE) or not url_file.exists():
        return None
    url = url_file.read_text(encoding="utf-8").strip()
    return url if url.startswith("http://127.0.0.1:") else None


def explicit_url(cli_url: str | None) -> str | None:
    url = cli_url or os.environ.get(BROKER_URL_ENV, "").strip() or None
    if url is not None and not url.startswith(("http://", "https://")):
        source = "--broker-url" if cli_url else BROKER_URL_ENV
        raise BrokerSetupError(f"{source} {url!r} is not an http(s) URL")
    return url


async def open_broker(
    rest_url: str,
    session: Session,
    *,
    ws_url: str | None = None,
    poll_interval_s: float = 12.0,
    clock: Clock | None = None,
    stream: bool = True,
) -> KiteBroker:
    """A KiteBroker for ``session`` with (unless ``stream`` is False) its ticker and the
    12-second polling safety net attached and started."""
    broker = KiteBroker(session, base_url=rest_url, clock=clock)
    if stream:
        config = TickerConfig(ws_url or ws_url_for(rest_url), session.api_key, session.access_token)
        link = BrokerStream(
            partial(KiteTicker, config),
            fetch_orders=broker.orders,
            parse_order=payloads.order,
            poll_interval_s=poll_interval_s,
            clock=clock,
        )
        broker.attach_stream(link)
        await link.start()
    return broker


def require_tls(url: str, where: str) -> None:
    """A real broker is reached over https only (certificates are always verified); plain
    http is for a paper exchange on loopback."""
    parsed = urlsplit(url)
    loopback = parsed.hostname in {"127.0.0.1", "localhost", "::1"}
    if parsed.scheme != "https" and not loopback:
        raise BrokerSetupError(
            f"{where}: {url!r} is not https — a real broker is reached over verified TLS only"
        )


def kite_session_from_env(
    settings: Settings, credentials: CredentialStore | None = None
) -> Session:
    """A real Kite session: the app's ``api_key`` from settings and today's access token from
    ``COCKPIT_KITE_ACCESS_TOKEN`` if set, else the one Settings → Log in to Kite stored in the
    keyring (``credentials``; default: this system's keyring)."""
    if not settings.broker.api_key:
        raise BrokerSetupError(
            f"{settings.settings_path}: [broker] api_key is empty; set your Kite app's api_key"
        )
    require_tls(settings.broker.base_url, f"{settings.settings_path}: [broker] base_url")
    token = os.environ.get(ACCESS_TOKEN_ENV, "").strip()
    login_time = datetime.now(IST)
    if not token:
        store = credentials if credentials is not None else CredentialStore()
        stored = store.access_token()
        if stored is None or not store.is_current(stored):
            state = (
                "none stored"
                if stored is None
                else f"it expired at {stored.expires:%d %b %H:%M} IST"
            )
            where = f"; {store.notice}" if store.notice else ""
            raise BrokerSetupError(
                f"no Kite access token ({state}{where}): log in with File → Settings… → "
                f"Log in to Kite, or set {ACCESS_TOKEN_ENV} to today's token"
            )
        token, login_time = stored.token.reveal(), stored.issued
    return Session(
        api_key=settings.broker.api_key,
        access_token=token,
        user_id="",
        login_time=login_time,
    )


@asynccontextmanager
async def connected_broker(
    settings: Settings, cli_url: str | None = None, *, stream: bool = False
) -> AsyncIterator[KiteBroker]:
    """The configured broker for a headless command, closed (and any paper exchange started
    for it stopped) on exit."""
    from cockpit.exchange.embedded import ExchangeThread
    from cockpit.exchange.server import ExchangeConfig

    url = explicit_url(cli_url)
    thread: ExchangeThread | None = None
    paper = settings.broker.kind is BrokerKind.PAPER
    if url is None and paper:
        url = running_paper_url(settings.home)
        if url is None:
            p = settings.paper
            thread = ExchangeThread(
                ExchangeConfig(
                    host=p.host,
                    port=p.port,
                    seed=p.seed,
                    speed=p.speed,
                    state_path=settings.home / PAPER_STATE_FILE,
                )
            )
            url = thread.start()
    try:
        if url is None:
            url = settings.broker.base_url
        ws_url: str | None = None
        if paper or url.startswith("http://127.0.0.1"):
            session = await paper_login(url)
        else:
            session = kite_session_from_env(settings)
            ws_url = settings.broker.ws_url
        broker = await open_broker(url, session, ws_url=ws_url, stream=stream)
        try:
            yield broker
        finally:
            await broker.aclose()
    finally:
        if thread is not None:
            thread.stop()
