"""A real broker is reached over verified TLS only."""

from __future__ import annotations

import asyncio
import ssl
from datetime import datetime

from cockpit.broker.kite import KiteBroker
from cockpit.broker.login import Session
from cockpit.clock import IST


def test_the_kite_client_verifies_certificates_and_hostnames() -> None:
    async def scenario() -> None:
        session = Session(
            api_key="k", access_token="t", user_id="AB1234", login_time=datetime.now(IST)
        )
        broker = KiteBroker(session, base_url="https://api.kite.trade")
        try:
            context = broker._client._transport._pool._ssl_context  # type: ignore[attr-defined]
            assert context.verify_mode is ssl.CERT_REQUIRED
            assert context.check_hostname is True
        finally:
            await broker.aclose()

    asyncio.run(scenario())


def test_a_real_broker_over_plain_http_is_refused_loopback_paper_is_not() -> None:
    import pytest

    from cockpit.broker.connect import BrokerSetupError, require_tls

    with pytest.raises(BrokerSetupError, match="not https"):
        require_tls("http://api.kite.trade", "settings.toml: [broker] base_url")
    require_tls("https://api.kite.trade", "x")
    require_tls("http://127.0.0.1:8123", "x")
