"""speech_services: STTService and TTSService."""

from __future__ import annotations

import time
from typing import Any

from common.base_agent import handler, require
from common.kinds import RouterAgent

__all__ = ["STTService", "TTSService"]

WORDS = ("hello", "highminds", "what", "is", "the", "weather", "today", "stop", "please",
         "remind", "me", "tomorrow")
WORDS_PER_S = 2.6


class STTService(RouterAgent):
    """Speech to text for a voiced segment (a deterministic stand-in for Whisper)."""

    @handler("transcribe")
    def transcribe(self, payload: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        duration_ms = require(payload, "duration_ms", int)
        energy = float(require(payload, "energy", (int, float), 0.0))
        count = max(1, round(duration_ms / 1000 * WORDS_PER_S))
        start = int(energy) % len(WORDS)
        text = " ".join(WORDS[(start + i) % len(WORDS)] for i in range(count))
        return {"text": text, "words": count, "hops": [self.my_hop("transcribe", t0)]}


class TTSService(RouterAgent):
    """Text to speech plan: sentences, durations and sample counts at 16 kHz.

    No longer depends on StreamingInterruptHandler: that edge closed the original's cycle.
    """

    @handler("synthesize")
    def synthesize(self, payload: Any) -> dict[str, Any]:
        text = require(payload, "text", str)
        duration_s = len(text.split()) / WORDS_PER_S
        return {"duration_s": round(duration_s, 2), "samples": int(duration_s * 16000)}
