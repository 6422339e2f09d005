"""Signed session tokens for AuthenticationAgent: ``base64url(JSON {sub, exp}) "." HMAC``.

The HMAC-SHA256 is keyed with the agent's secret (the original system signed with a JWT
secret that had a default written in its code; this key exists only if the launcher delivers
it).  A token is valid while its signature matches and ``exp`` (Unix time) is ahead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

__all__ = ["TokenError", "check_token", "issue_token"]


class TokenError(ValueError):
    """A token that is malformed, not signed with our key, or expired."""


def _mac(key: str, body: str) -> str:
    return hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()


def issue_token(key: str, subject: str, ttl_s: float, now: float | None = None
                ) -> tuple[str, float]:
    """A token for subject valid ttl_s seconds, and its expiry (Unix time)."""
    expires = (time.time() if now is None else now) + ttl_s
    claims = json.dumps({"sub": subject, "exp": expires}, separators=(",", ":"))
    body = base64.urlsafe_b64encode(claims.encode()).decode()
    return f"{body}.{_mac(key, body)}", expires


def check_token(key: str, token: str, now: float | None = None) -> dict[str, Any]:
    """The claims ``{sub, exp}`` of a valid token; TokenError saying why one is not."""
    body, _, mac = token.rpartition(".")
    if not body or not hmac.compare_digest(mac.encode(), _mac(key, body).encode()):
        raise TokenError("signature does not match")
    try:
        claims = json.loads(base64.urlsafe_b64decode(body))
        expires = float(claims["exp"])
    except (ValueError, KeyError, TypeError):
        raise TokenError("malformed claims") from None
    if expires < (time.time() if now is None else now):
        raise TokenError("expired")
    return claims
