"""Edit one agent's entry of a startup config's text, keeping comments, quotes and layout.

``promoted_text(text, [(old, new), ...])`` takes each agent's definition before and after a
promotion (``AgentConfig`` dumps, as the plan journals them) and changes, in the agent's entry
of ``agents:``, only the keys whose value differs: changed keys get the new value (a port keeps
its form: ``"${PORT_OFFSET}+7200"`` becomes ``"${PORT_OFFSET}+7301"``), mappings such as
``settings`` and ``env`` are edited key by key, a key set to None is removed, a new key goes
before its mapping's last key (so a comment after that key, often the next agent's heading,
stays where it is), a new mapping in flow style when its siblings are.  Everything else
round-trips byte for byte (ruamel.yaml).
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from common.config.expressions import PORT_OFFSET_VAR, is_port_expression
from common.config.schema import peek_port_offset

__all__ = ["EditError", "agent_entries", "load_document", "promoted_text"]

PORT_KEYS = ("port", "health_port")
# (mapping, sequence, offset) indents tried when the guess does not round-trip the file
LAYOUTS = ((2, 4, 2), (2, 2, 0), (4, 4, 0), (4, 6, 2))


class EditError(ValueError):
    """The config's text cannot take the edit (not a version-1 config, agent not found)."""


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the author wrote on one line
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml: YAML, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def load_document(text: str) -> tuple[YAML, Any]:
    """The round-trip loader whose layout reproduces `text`, and the document."""
    _, indent, offset = load_yaml_guess_indent(text)
    guessed = (indent - (offset or 0), indent, offset or 0)
    for layout in (guessed, *LAYOUTS):
        yaml = _yaml(*layout)
        doc = yaml.load(text)
        if _dump(yaml, doc) == text:
            return yaml, doc
    yaml = _yaml(*guessed)  # the edited keys are right; some indentation may differ
    return yaml, yaml.load(text)


def agent_entries(doc: Any) -> dict[str, CommentedMap]:
    """The version-1 document's agent entries by name; EditError for any other document."""
    if not isinstance(doc, CommentedMap) or doc.get("version") != 1:
        raise EditError("not a version-1 startup config (a legacy file is not written back)")
    agents = doc.get("agents")
    if not isinstance(agents, CommentedSeq):
        raise EditError("the config has no `agents:` list")
    return {str(a["name"]): a for a in agents if isinstance(a, CommentedMap) and "name" in a}


def promoted_text(text: str, definitions: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    """`text` with each (old, new) definition's differences written into its agent's entry."""
    yaml, doc = load_document(text)
    entries = agent_entries(doc)
    offset = peek_port_offset(doc)
    for old, new in definitions:
        entry = entries.get(old["name"])
        if entry is None:
            raise EditError(f"agents: no entry named {old['name']!r}")
        _merge(entry, old, new, offset, ports=False)
    return _dump(yaml, doc)


def _merge(node: CommentedMap, old: dict[str, Any], new: dict[str, Any], offset: int,
           ports: bool) -> None:
    for key in [*new, *(k for k in old if k not in new)]:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if after is None:
            _remove(node, key)
        elif (isinstance(before, dict) and isinstance(after, dict)
              and isinstance(node.get(key), CommentedMap)):
            _merge(node[key], before, after, offset, ports=key == "ports")
        elif (ports or key in PORT_KEYS) and isinstance(after, int):
            _set(node, key, _port(node.get(key), after, offset))
        else:
            _set(node, key, after)


def _port(written: Any, port: int, offset: int) -> Any:
    """The new port in the form the file wrote the old one (``${PORT_OFFSET}+N``, quotes
    included, when it did and the port is at or above the offset), else the number."""
    if not is_port_expression(written) or port < offset:
        return port
    return type(written)(f"${{{PORT_OFFSET_VAR}}}+{port - offset}")


def _set(node: CommentedMap, key: str, value: Any) -> None:
    if isinstance(value, dict) and any(isinstance(v, CommentedMap) and v.fa.flow_style()
                                       for v in node.values()):
        value = CommentedMap(value)  # a new mapping written like its siblings: {a: 1}
        value.fa.set_flow_style()
    if key in node or len(node) == 0 or node.fa.flow_style():
        node[key] = value
    else:
        node.insert(len(node) - 1, key, value)


def _remove(node: CommentedMap, key: str) -> None:
    """Remove key; the comment lines after its value (not its own line's) stay in place."""
    if key not in node:
        return
    keys = list(node)
    token = node.ca.items.get(key, [None, None, None, None])[2]
    del node[key]
    if token is None or keys[-1] != key or len(keys) < 2:
        return
    following = token.value.split("\n", 1)[1] if "\n" in token.value else ""
    if following.strip():
        _append_comment(*_tail(node, keys[-2]), token, following)


def _tail(node: Any, key: Any) -> tuple[Any, Any]:
    """The collection and key whose trailing comment ends the block of node[key]."""
    value = node[key]
    while isinstance(value, (CommentedMap, CommentedSeq)) and len(value) \
            and not value.fa.flow_style():
        node, key = value, (list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1)
        value = node[key]
    return node, key


def _append_comment(node: Any, key: Any, token: CommentToken, lines: str) -> None:
    slot = node.ca.items.setdefault(key, [None, None, None, None])
    at = 0 if isinstance(node, CommentedSeq) else 2  # where ruamel keeps a post comment
    if slot[at] is None:
        token.value = "\n" + lines  # the removed key's token: it knows its place
        slot[at] = token
    else:
        slot[at].value += lines
