"""RouterAgent: classify text by keywords, then forward to the agent its label routes to.

Class attributes (or settings): ``rules`` {label: [keywords]}, ``routes`` {label: [agent,
...]} tried in order (the next one when a model is loading or a circuit is open),
``route_action`` (default ``generate``), ``default_label``.  Actions: ``classify {text}`` ->
``{label, scores, entities, language}``; ``route {text}`` -> the classification plus the
answering agent's result, with every hop.

ResponderKind builds the final reply from the generated text, the emotion state (a call to
``emotion_source``) and memory hits, and splits it into speakable sentences.
"""

from __future__ import annotations

import re
import time
from typing import Any

from common.base_agent import MeshError, handler, require
from common.kinds.base import MeshAgent
from common.kinds.text import classify, entities, language

__all__ = ["ResponderKind", "RouterAgent"]

WORDS_PER_S = 2.6  # speaking rate for the speech plan
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class RouterAgent(MeshAgent):
    capabilities = ("router",)
    rules: dict[str, list[str]] = {}
    routes: dict[str, list[str]] = {}
    route_action = "generate"
    default_label = "other"

    class Settings(MeshAgent.Settings):
        rules: dict[str, list[str]] | None = None  # None: the class's own, for each of these
        routes: dict[str, list[str]] | None = None
        route_action: str | None = None

    settings: Settings

    def setup_kind(self) -> None:
        s = self.settings
        self.rules = dict(self.rules if s.rules is None else s.rules)
        self.routes = {k: list(v) for k, v in (self.routes if s.routes is None
                                               else s.routes).items()}
        if s.route_action is not None:
            self.route_action = s.route_action
        self.counts: dict[str, int] = {}

    @handler("classify")
    def classify_(self, payload: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        text = require(payload, "text", str)
        label, scores = classify(text, self.rules, self.default_label)
        self.counts[label] = self.counts.get(label, 0) + 1
        lang, confidence = language(text)
        return {"label": label, "scores": scores, "entities": entities(text),
                "language": lang, "language_confidence": round(confidence, 3),
                "hops": [self.my_hop("classify", t0)]}

    @handler("route")
    def route(self, payload: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        found = self.classify_(payload)
        found.pop("hops")
        targets = self.routes.get(found["label"]) or self.routes.get(self.default_label, [])
        hops: list[dict[str, Any]] = []
        result, errors = None, []
        for target in targets:
            try:
                result = self.call(target, self.route_action, payload, hops)
                break
            except MeshError as exc:  # loading, evicted, circuit open: try the next one
                errors.append(f"{target}: {exc}")
        if targets and result is None:
            raise MeshError(f"{self.name}: no route answered: {'; '.join(errors)}",
                            "unavailable")
        return {**found, "result": result, "skipped": errors,
                "hops": [self.my_hop("route", t0), *hops]}

    @handler("router_stats")
    def router_stats(self, payload: Any = None) -> dict[str, Any]:
        return {"labels": self.counts, "routes": self.routes}


class ResponderKind(MeshAgent):
    capabilities = ("responder",)
    emotion_source = "EmotionEngine"
    openers = {"happy": "Glad to help!", "sad": "I'm sorry to hear that.",
               "angry": "Let's sort this out.", "neutral": ""}

    @handler("respond")
    def respond(self, payload: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        generated = require(payload, "generated", str, "")
        intent = require(payload, "intent", str, "other")
        memories = require(payload, "memories", list, [])
        hops: list[dict[str, Any]] = []
        state = self.call(self.emotion_source, "get", {}, hops)["state"]
        parts = [self.openers.get(state.get("emotion", "neutral"), ""),
                 f"({intent})", generated.strip()]
        if memories:
            parts.append(f"I remember {len(memories)} related thing(s).")
        reply = " ".join(p for p in parts if p)
        sentences = [s for s in _SENTENCE.split(reply) if s]
        plan = [{"text": s, "duration_s": round(len(s.split()) / WORDS_PER_S, 2)}
                for s in sentences]
        return {"reply": reply, "emotion": state.get("emotion"), "speech": plan,
                "hops": [self.my_hop("respond", t0), *hops]}
