"""Kite's login handshake on the paper exchange: request tokens, checksums, access tokens.

Kite's flow: the user logs in on Kite's page and is redirected with a ``request_token``; the
app posts it with ``checksum = sha256(api_key + request_token + api_secret)`` to
``/session/token`` and gets an ``access_token`` valid until the next morning. The paper
exchange takes any well-formed request token once (there is no user to log in), checks the
checksum against its configured secret, and issues access tokens that verify themselves: a
random part and an HMAC of it under a key derived from the secret, so they survive a restart of
the exchange without being stored. ``DELETE /session/token`` revokes one for the exchange's
lifetime. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from cockpit.exchange import errors

_REQUEST_TOKEN = re.compile(r"^[A-Za-z0-9]{1,64}$")
_RANDOM_HEX = 16


def checksum(api_key: str, request_token: str, api_secret: str) -> str:
    return hashlib.sha256((api_key + request_token + api_secret).encode()).hexdigest()


class SessionAuthority:
    def __init__(self, api_key: str, api_secret: str) -> None:
        if not api_key or not api_secret:
            raise ValueError("the paper exchange needs a non-empty api_key and api_secret")
        self.api_key = api_key
        self._secret = api_secret
        self._key = hashlib.sha256(b"cockpit-paper-access:" + api_secret.encode()).digest()
        self._used_requests: set[str] = set()
        self._revoked: set[str] = set()

    def new_request_token(self) -> str:
        """What the paper login page redirects with."""
        return secrets.token_hex(16)

    def exchange(self, api_key: str, request_token: str, given_checksum: str) -> str:
        """Validate a ``/session/token`` request; returns a new access token."""
        if not hmac.compare_digest(api_key, self.api_key):
            raise errors.input_error("Invalid `api_key`.")
        if not _REQUEST_TOKEN.match(request_token):
            raise errors.input_error("Invalid `request_token`: expected letters and digits.")
        expected = checksum(api_key, request_token, self._secret)
        if not hmac.compare_digest(given_checksum.lower(), expected):
            raise errors.token_error("Invalid `checksum`.")
        if request_token in self._used_requests:
            raise errors.token_error("Token is invalid or has expired.")
        self._used_requests.add(request_token)
        return self._sign(secrets.token_hex(_RANDOM_HEX // 2))

    def _sign(self, random_part: str) -> str:
        mac = hmac.new(self._key, random_part.encode(), hashlib.sha256).hexdigest()
        return random_part + mac[:_RANDOM_HEX]

    def is_valid(self, api_key: str, access_token: str) -> bool:
        if not hmac.compare_digest(api_key, self.api_key) or len(access_token) != 2 * _RANDOM_HEX:
            return False
        if access_token in self._revoked:
            return False
        return hmac.compare_digest(self._sign(access_token[:_RANDOM_HEX]), access_token)

    def revoke(self, access_token: str) -> None:
        self._revoked.add(access_token)

    def authorise(self, header: str | None) -> str:
        """Check ``Authorization: token api_key:access_token``; returns the access token."""
        if not header or not header.startswith("token "):
            raise errors.token_error("Missing or invalid `Authorization` header.")
        api_key, _, access_token = header[len("token ") :].strip().partition(":")
        if not self.is_valid(api_key, access_token):
            raise errors.token_error()
        return access_token
