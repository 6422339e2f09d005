"""Small text functions the kinds share: tokens, keyword classification, entities, language.

Deterministic and cheap: these are workload stand-ins for the original's models (pattern NLU,
fastText language ID), doing the same kind of work on the request path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["classify", "entities", "language", "overlap_score", "tokens"]

_WORD = re.compile(r"[a-z0-9']+")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_TIME = re.compile(r"\b\d{1,2}(?::\d{2})?\s?(?:am|pm)\b", re.IGNORECASE)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}\b")

TAGALOG = frozenset("ako ikaw siya kami tayo sila ang ng mga sa na at hindi oo po salamat "
                    "kumusta ano bakit saan paano gusto ko mo niya natin".split())


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def classify(text: str, rules: Mapping[str, Sequence[str]],
             default: str = "other") -> tuple[str, dict[str, int]]:
    """The label whose keywords occur most often in text (ties: the first rule), and scores."""
    words = tokens(text)
    scores = {label: sum(words.count(k) for k in keys) for label, keys in rules.items()}
    best = max(scores, key=lambda label: scores[label], default=default)
    return (best if scores.get(best) else default), scores


def entities(text: str) -> dict[str, list[Any]]:
    return {"numbers": [float(n) for n in _NUMBER.findall(text)],
            "times": _TIME.findall(text), "names": _NAME.findall(text)}


def language(text: str) -> tuple[str, float]:
    """English, Tagalog or Taglish from the share of Tagalog function words."""
    words = tokens(text)
    if not words:
        return "en", 1.0
    share = sum(w in TAGALOG for w in words) / len(words)
    if share >= 0.5:
        return "tl", share
    return ("taglish", share) if share >= 0.15 else ("en", 1.0 - share)


def overlap_score(query: Sequence[str], text: str) -> float:
    """Share of the query's distinct words that occur in text (0..1)."""
    wanted = set(query)
    if not wanted:
        return 0.0
    return len(wanted & set(tokens(text))) / len(wanted)
