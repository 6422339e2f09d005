"""Issue #8, hostile input to the parsers: the wire decoders, the config loader and the change
file loader answer anything with a result or their own error type (ProtocolError with a code;
ConfigError whose issues name a field path), never another exception; valid messages round-trip.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import msgpack
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.base_agent import protocol
from common.base_agent.batch import (
    BATCH_HEADER,
    decode_batch,
    decode_batch_replies,
    encode_batch,
    encode_batch_replies,
)
from common.config import ConfigError, MeshConfig, load_config, parse_config
from common.config.legacy import detect_schema
from common.config.reader import read_yaml
from migration import ChangeFile, load_change, parse_change

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]
QUICK = settings(max_examples=300, deadline=None)
SLOW = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- values ---------------------------------------------------------------------------------
ints = st.integers(min_value=-2**63, max_value=2**64 - 1)
scalars = st.none() | st.booleans() | ints | st.floats(allow_nan=False) | st.text(max_size=20) \
    | st.binary(max_size=20)
packable = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                        | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)
hostile_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.sampled_from([10**100, -1, 0, "", "\u202e\x00é", "${PORT_OFFSET}+99999", "x" * 5000]),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                               max_size=3), max_leaves=8)
deep = st.integers(2, 200_000).flatmap(lambda n: st.sampled_from(
    [b'{"a": ' + b"[" * n, b"\x91" * n + b"\xc0", b"\x81\xa1a" * n + b"\xc0"]))  # nesting
frame = st.binary(max_size=64) | deep | st.sampled_from(
    [protocol.HEADER, BATCH_HEADER, b"AM\x02", b"", b"{", b'{"action": "health_check"}'])
packed_frame = packable.map(lambda v: msgpack.packb(v, use_bin_type=True))
frames = st.lists(frame | packed_frame, max_size=5)


# -- (a) the wire decoders ----------------------------------------------------------------
def _decodes_or_protocol_error(decoder, data) -> None:
    try:
        decoder(data)
    except protocol.ProtocolError as exc:
        assert exc.code in vars(protocol.ErrorCode).values() and exc.message


@QUICK
@given(frames)
def test_any_frames_decode_or_raise_protocol_error(message):
    for decoder in (protocol.decode_incoming, protocol.decode_reply, protocol.decode_event):
        _decodes_or_protocol_error(decoder, message)
    for body in message:
        _decodes_or_protocol_error(decode_batch, body)
        _decodes_or_protocol_error(decode_batch_replies, body)


@QUICK
@given(st.binary(min_size=1, max_size=8), st.sampled_from([protocol.HEADER, BATCH_HEADER]),
       st.dictionaries(st.sampled_from(["id", "action", "payload", "source", "ts", "calls",
                                        "ok", "error", "result"]), packable | hostile_values
                       .filter(lambda v: not _too_big(v)), max_size=6))
def test_near_valid_bodies_decode_or_raise_protocol_error(identity, header, body):
    data = msgpack.packb(body, use_bin_type=True)
    for message in ([identity, header, data], [identity, b"", header, data], [header, data]):
        _decodes_or_protocol_error(protocol.decode_incoming, message)
        _decodes_or_protocol_error(protocol.decode_reply, message[-2:])
    _decodes_or_protocol_error(decode_batch, data)
    _decodes_or_protocol_error(decode_batch_replies, data)


def _too_big(value: Any) -> bool:
    try:
        msgpack.packb(value, use_bin_type=True)
        return False
    except (OverflowError, ValueError, TypeError):
        return True


actions = st.text(min_size=1, max_size=20)
requests = st.builds(protocol.Request, action=actions, payload=packable,
                     id=st.text(max_size=20), source=st.text(max_size=10),
                     ts=st.floats(min_value=1, max_value=2e9))


@QUICK
@given(requests, st.binary(min_size=1, max_size=8), st.booleans())
def test_requests_round_trip(request, identity, via_req_socket):
    route = [identity, b""] if via_req_socket else [identity]
    incoming = protocol.decode_incoming(route + protocol.encode_request(request))
    assert incoming.route == route and not incoming.legacy
    assert incoming.request == request


replies = st.builds(protocol.Reply, id=st.text(max_size=20), ok=st.just(True),
                    result=packable) | st.builds(
    protocol.Reply, id=st.text(max_size=20), ok=st.just(False), code=st.text(max_size=12),
    message=st.text(max_size=40))


@QUICK
@given(replies, st.lists(replies, min_size=1, max_size=5), st.lists(requests, min_size=1,
                                                                   max_size=5))
def test_replies_events_and_batches_round_trip(reply, batch_replies, batch):
    assert protocol.decode_reply(protocol.encode_reply(reply)) == reply
    body = {"seq": 3, "op": "register", "instance": {"name": reply.id}}
    assert protocol.decode_event(protocol.encode_event(protocol.TOPIC_REGISTRY, body)) == \
        (protocol.TOPIC_REGISTRY, body)
    assert decode_batch_replies(encode_batch_replies(batch_replies)[1]) == batch_replies
    decoded = decode_batch(encode_batch(batch, "src")[1])
    assert [(r.id, r.action, r.payload) for r in decoded] == \
        [(r.id, r.action, r.payload) for r in batch]


# -- (b) the config loader -------------------------------------------------------------------
@functools.cache
def reference_data() -> dict[str, Any]:
    data, issues = read_yaml(ROOT / "startup_config.yaml")
    assert not issues and isinstance(data, dict)
    return data


@functools.cache
def reference_config() -> MeshConfig:
    return load_config(ROOT / "startup_config.yaml")


def _paths(node: Any, here: tuple = ()) -> list[tuple]:
    """Every path into a YAML document: keys of mappings, indexes of lists."""
    out = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*here, index))
    return out


@st.composite
def mutated(draw, original: dict[str, Any]) -> dict[str, Any]:
    """original with 1-4 mutations: a key deleted, a value replaced by a hostile one (wrong
    type, huge number, unicode), an unknown key added, a list entry duplicated."""
    data = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(data)[1:]))
        parent = functools.reduce(lambda node, step: node[step], path[:-1], data)
        op = draw(st.sampled_from(["delete", "replace", "add", "duplicate"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "replace":
            parent[path[-1]] = draw(hostile_values)
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = draw(hostile_values)
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    return data


def _config_error_names_a_path(exc: ConfigError, document: Any, kind: str | None) -> None:
    """Every issue says what is wrong; one names a field path unless the document is not a
    config at all (not a mapping, or no schema's keys: that issue is about the whole)."""
    assert exc.errors and all(issue.message for issue in exc.errors), exc
    if isinstance(document, dict) and kind is not None:
        assert any(issue.path for issue in exc.errors), exc


@settings(max_examples=150, deadline=None)
@given(mutated(reference_data()))
def test_mutated_reference_config_loads_or_names_a_field(data):
    try:
        assert isinstance(parse_config(data), MeshConfig)
    except ConfigError as exc:
        _config_error_names_a_path(exc, data, "mesh")


legacy_like = st.dictionaries(
    st.sampled_from(["agents", "agent_groups", "pc2_services", "version", "global", "hosts",
                     "health_checks", "network"]) | st.text(max_size=8), hostile_values,
    max_size=5)


@SLOW
@given(legacy_like | hostile_values | mutated(reference_data()))
def test_any_yaml_document_loads_or_names_a_field(tmp_path, document):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    try:
        load_config(path)
    except ConfigError as exc:
        _config_error_names_a_path(exc, document, detect_schema(document))


@SLOW
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_file_content_loads_or_raises_config_error(tmp_path, content):
    path = tmp_path / "config.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    for load in (load_config, lambda p: load_change(p, reference_config())):
        try:
            load(path)
        except ConfigError as exc:
            assert exc.errors and all(str(issue) for issue in exc.errors)


# -- (c) the change-file loader --------------------------------------------------------------
def valid_change() -> dict[str, Any]:
    names = [a.name for a in reference_config().agents if a.module]
    return {"version": 1, "description": "fuzz", "defaults": {"bake_s": 1.0},
            "changes": [{"agent": names[0], "version": "2"},
                        {"agent": names[1], "settings": {"k": 1}, "strategy": "blue_green",
                         "gates": {"error_rate_max": 0.1}, "probe": {"action": "health"}}]}


@settings(max_examples=200, deadline=None)
@given(mutated(valid_change()) | hostile_values | legacy_like)
def test_mutated_change_file_parses_or_names_a_field(data):
    try:
        assert isinstance(parse_change(data, reference_config()), ChangeFile)
    except ConfigError as exc:
        _config_error_names_a_path(exc, data, "change")
