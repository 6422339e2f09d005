"""AuthenticationAgent signs tokens with its optional secret AUTH_TOKEN_KEY, and only with it."""

from __future__ import annotations

import time

import pytest

from common.base_agent.errors import MeshError
from common.base_agent.protocol import ErrorCode
from pc2.agents.memory import TOKEN_KEY, AuthenticationAgent
from pc2.agents.tokens import TokenError, check_token, issue_token


@pytest.fixture
def auth(agents, client_factory, tmp_path):
    """call(action, payload) on an in-process AuthenticationAgent."""
    agent = agents(AuthenticationAgent("AuthenticationAgent",
                                       settings={"db_path": str(tmp_path / "auth.db")}))
    client = client_factory()
    return lambda action, payload: client.call_endpoint(agent.endpoint, action, payload,
                                                        timeout_s=2.0, retries=0)


def test_tokens_it_issues_verify_and_forgeries_do_not(auth, monkeypatch):
    monkeypatch.setenv(TOKEN_KEY, "k-one")
    issued = auth("issue_token", {"subject": "alice", "ttl_s": 60})
    assert issued["expires"] > time.time()
    checked = auth("verify_token", {"token": issued["token"]})
    assert checked == {"valid": True, "subject": "alice", "expires": issued["expires"]}
    forged, _ = issue_token("another key", "alice", 60)
    assert auth("verify_token", {"token": forged}) == {"valid": False,
                                                        "reason": "signature does not match"}
    monkeypatch.setenv(TOKEN_KEY, "k-two")  # a rotated key invalidates older tokens
    assert auth("verify_token", {"token": issued["token"]})["valid"] is False


def test_without_its_secret_token_signing_is_off(auth, monkeypatch):
    monkeypatch.delenv(TOKEN_KEY, raising=False)
    for action, payload in (("issue_token", {"subject": "alice"}), ("verify_token",
                                                                   {"token": "x.y"})):
        with pytest.raises(MeshError) as off:
            auth(action, payload)
        assert off.value.code == ErrorCode.UNAVAILABLE and TOKEN_KEY in str(off.value)


def test_an_expired_or_malformed_token_is_refused():
    token, expires = issue_token("k", "bob", 10, now=1000.0)
    assert check_token("k", token, now=1005.0) == {"sub": "bob", "exp": expires}
    with pytest.raises(TokenError, match="expired"):
        check_token("k", token, now=1011.0)
    for bad in ("", "no-dot", f"{token}x", "." + token.partition(".")[2]):
        with pytest.raises(TokenError):
            check_token("k", bad, now=1005.0)
