"""The BaseAgent a legacy fixture script migrates to (tests/legacy, docs/LEGACY.md step 8).

``ModelLoader`` answers what the original's ModelLoaderAgent script answered
(tests/legacy/original/main_pc_code/agents/model_loader_agent.py): ``echo`` with
``{"status": "success", "echo": text, "agent": name}``, whichever protocol the caller speaks
(BaseAgent answers one-frame JSON requests as well), so its callers see no difference.
"""

from __future__ import annotations

from typing import Any

from common.base_agent.agent import BaseAgent
from common.base_agent.handlers import handler

__all__ = ["ModelLoader"]


class ModelLoader(BaseAgent):
    capabilities = ("echo",)

    @handler("echo")
    def echo(self, payload: Any) -> dict[str, Any]:
        text = payload.get("text") if isinstance(payload, dict) else None
        return {"status": "success", "echo": text, "agent": self.name}
