"""ModelWorker: a TorchModelAgent (VRAM lease, real torch weights) that answers text.

``generate {text, deadline_s}`` runs the model on an input seeded from the text and turns the
output into words: a deterministic stand-in for the original's LLM, NLLB, face, vision and
tutoring models with the same lease, load, evict and GPU demand (while the model is not in, a
request waits up to deadline_s: common.model_agent.waiting).  ``vocabulary`` flavours the
answer per role.
"""

from __future__ import annotations

import os
import time
import zlib
from typing import Any

from common.base_agent import handler, require
from common.kinds.base import hop
from common.kinds.text import tokens
from common.model_agent.agent import TorchModelAgent

__all__ = ["ModelWorker"]

ANSWER_WORDS = 12


class ModelWorker(TorchModelAgent):
    vocabulary = ("sure", "here", "is", "what", "I", "found", "about", "this", "and", "the",
                  "answer", "it", "seems", "likely", "that", "we", "can", "do")

    @handler("generate")
    def generate(self, payload: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        text = require(payload, "text", str)
        seed = zlib.crc32(text.encode()) & 0x7FFFFFFF
        out = self.infer({"seed": seed, "deadline_s": payload.get("deadline_s")})
        words = list(self.vocabulary) + tokens(text)[:8]
        step = int(abs(out["output"]) * 1000) + 1
        answer = " ".join(words[(seed + i * step) % len(words)] for i in range(ANSWER_WORDS))
        host = os.environ.get("MESH_HOST", self.host)
        return {"text": answer[:1].upper() + answer[1:] + ".", "model": out["model"],
                "output": out["output"], "gpu": out["gpu"],
                "hops": [hop(self.name, host, "generate", t0)]}
