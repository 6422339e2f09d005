"""emotion_system: EmotionEngine publishes its state; the others follow or classify."""

from __future__ import annotations

import time
from typing import Any

from common.base_agent import handler, require
from common.kinds import RouterAgent, StateHolder, StoreAgent
from common.kinds.text import classify

__all__ = ["EmotionEngine", "EmpathyAgent", "HumanAwarenessAgent", "MoodTrackerAgent",
           "ToneDetector", "VoiceProfilingAgent"]

EMOTIONS = {"happy": ["happy", "great", "thanks", "love", "salamat", "good"],
            "sad": ["sad", "sorry", "bad", "tired", "lonely"],
            "angry": ["angry", "hate", "wrong", "annoying", "stupid"]}
VALENCE = {"happy": 0.7, "sad": -0.6, "angry": -0.8, "neutral": 0.0}
MOOD_ALPHA = 0.2


class EmotionEngine(StateHolder):
    """The assistant's emotional state; ``appraise {text}`` moves it; changes are published."""

    fields = {"emotion": "neutral", "valence": 0.0, "arousal": 0.3}
    ranges = {"valence": (-1.0, 1.0), "arousal": (0.0, 1.0)}

    @handler("appraise")
    def appraise(self, payload: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        label, _ = classify(require(payload, "text", str), EMOTIONS, "neutral")
        out = self.apply({"emotion": label, "valence": VALENCE[label],
                          "arousal": 0.3 if label == "neutral" else 0.7}, "appraise")
        return {**out, "hops": [self.my_hop("appraise", t0)]}


class MoodTrackerAgent(StateHolder):
    """The user's mood: a moving average of the published valence."""

    upstream = "EmotionEngine"
    fields = {"mood": 0.0, "updates": 0}

    def fold(self, upstream: dict[str, Any]) -> dict[str, Any]:
        mood = self.state["mood"] + MOOD_ALPHA * (upstream.get("valence", 0.0) -
                                                  self.state["mood"])
        return {"mood": round(mood, 4), "updates": self.state["updates"] + 1}


class HumanAwarenessAgent(StateHolder):
    """Presence and engagement, from the emotional arousal."""

    upstream = "EmotionEngine"
    fields = {"present": True, "engagement": 0.5}

    def fold(self, upstream: dict[str, Any]) -> dict[str, Any]:
        return {"engagement": float(upstream.get("arousal", 0.5))}


class EmpathyAgent(StateHolder):
    """TTS voice settings (speed, pitch, volume) from the emotional profile."""

    upstream = "EmotionEngine"
    fields = {"speed": 1.0, "pitch": 1.0, "volume": 1.0}

    def fold(self, upstream: dict[str, Any]) -> dict[str, Any]:
        valence, arousal = upstream.get("valence", 0.0), upstream.get("arousal", 0.3)
        return {"speed": round(0.9 + 0.3 * arousal, 3), "pitch": round(1.0 + 0.1 * valence, 3),
                "volume": round(0.8 + 0.3 * arousal, 3)}


class ToneDetector(RouterAgent):
    """Tone of an utterance (the Tagalog hook: the language comes with it)."""

    rules = EMOTIONS


class VoiceProfilingAgent(StoreAgent):
    """Voice profiles (enrolment records), searchable by speaker."""

    default_kind = "voice_profile"
