"""The wire protocol: round trips, and every way a frame can be wrong."""

import json

import msgpack
import pytest

from common.base_agent import protocol
from common.base_agent.protocol import ErrorCode, ProtocolError, Reply, Request


def _body(**fields):
    return msgpack.packb(fields)


def test_request_round_trip_through_router_frames():
    frames = protocol.encode_request(Request("echo", {"x": [1, 2]}, source="t"))
    incoming = protocol.decode_incoming([b"peer-id", *frames])
    assert incoming.route == [b"peer-id"]
    assert (incoming.request.action, incoming.request.payload) == ("echo", {"x": [1, 2]})
    assert not incoming.legacy


def test_req_peer_keeps_its_empty_delimiter_in_the_route():
    frames = protocol.encode_request(Request("echo"))
    incoming = protocol.decode_incoming([b"id", b"", *frames])
    assert incoming.route == [b"id", b""]


def test_reply_round_trip_ok_and_error():
    ok = protocol.decode_reply(protocol.encode_reply(Reply("r1", True, result={"a": 1})))
    assert (ok.id, ok.ok, ok.result) == ("r1", True, {"a": 1})
    err = protocol.decode_reply(protocol.encode_reply(
        Reply("r2", False, code=ErrorCode.CONFLICT, message="held")))
    assert (err.ok, err.code, err.message) == (False, "conflict", "held")


def test_legacy_health_check_is_one_json_frame():
    frame = json.dumps({"action": "health_check"}).encode()
    incoming = protocol.decode_incoming([b"id", b"", frame])
    assert incoming.legacy and incoming.request.action == "health_check"


@pytest.mark.parametrize("msg, code", [
    ([], ErrorCode.BAD_FRAME),
    ([protocol.HEADER], ErrorCode.BAD_FRAME),
    ([protocol.HEADER, b"\xc1garbage"], ErrorCode.BAD_FRAME),
    ([protocol.HEADER, msgpack.packb([1, 2])], ErrorCode.BAD_FRAME),
    ([b"AM\x02", _body(id="1", action="x")], ErrorCode.BAD_VERSION),
    ([b"HTTP/1.1", _body(id="1", action="x")], ErrorCode.BAD_FRAME),
    ([protocol.HEADER, _body(id="1")], ErrorCode.BAD_REQUEST),
    ([protocol.HEADER, _body(id=7, action="x")], ErrorCode.BAD_REQUEST),
    ([protocol.HEADER, _body(id="1", action="")], ErrorCode.BAD_REQUEST),
    ([protocol.HEADER, b"\x00" * (protocol.MAX_MESSAGE_BYTES + 1)], ErrorCode.TOO_LARGE),
    ([b"{not json"], ErrorCode.BAD_FRAME),
    ([b'{"no_action": 1}'], ErrorCode.BAD_REQUEST),
    ([protocol.HEADER, _body(id="1", action="x"), b"extra"], ErrorCode.BAD_FRAME),
])
def test_bad_frames_raise_with_a_code_and_a_route_to_answer(msg, code):
    with pytest.raises(ProtocolError) as info:
        protocol.decode_incoming([b"peer", *msg])
    assert info.value.code == code
    assert info.value.route == [b"peer"]


def test_reply_decoder_rejects_malformed_replies():
    with pytest.raises(ProtocolError):
        protocol.decode_reply([protocol.HEADER, _body(ok=True)])
    with pytest.raises(ProtocolError):
        protocol.decode_reply([b"x"])


def test_request_ids_are_unique():
    ids = {protocol.new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000
