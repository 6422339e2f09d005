"""PC2's memory orchestrator: its port from MEMORY_ORCHESTRATOR_PORT; store and get in memory.
With MEMORY_ORCHESTRATOR_FAIL_AFTER_S set, its main loop raises after that long; the
exception is swallowed and the script exits 0 (the original's crash loop)."""

import time

from common.core.base_agent import BaseAgent
from common.env_helpers import get_env, get_int


class MemoryOrchestratorService(BaseAgent):
    def __init__(self, *args, fail_after_s=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.items = {}
        self.fail_at = time.monotonic() + fail_after_s if fail_after_s else None

    def tick(self):
        if self.fail_at is not None and time.monotonic() >= self.fail_at:
            raise RuntimeError("lost the connection to redis")

    def handle_request(self, request):
        action = request.get("action")
        if action == "store":
            self.items[request["key"]] = request.get("value")
            return {"status": "success", "stored": request["key"]}
        if action == "get":
            return {"status": "success", "value": self.items.get(request.get("key"))}
        return super().handle_request(request)


if __name__ == "__main__":
    port = get_int("MEMORY_ORCHESTRATOR_PORT", 7140)
    fail = get_env("MEMORY_ORCHESTRATOR_FAIL_AFTER_S")
    MemoryOrchestratorService("MemoryOrchestratorService", port,
                              get_int("MEMORY_ORCHESTRATOR_HEALTH_PORT", port + 1000),
                              init_s=float(get_env("MEMORY_ORCHESTRATOR_INIT_S", "0")),
                              fail_after_s=float(fail) if fail else None).run()
