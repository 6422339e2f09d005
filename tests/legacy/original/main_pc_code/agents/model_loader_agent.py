"""A MainPC agent of the original: its port from MODEL_LOADER_PORT (hard-coded default), a
constructor that loads for MODEL_LOADER_INIT_S seconds (20 in the original)."""

from common.core.base_agent import BaseAgent
from common.env_helpers import get_env, get_int


class ModelLoaderAgent(BaseAgent):
    def handle_request(self, request):
        if request.get("action") == "echo":
            return {"status": "success", "echo": request.get("text"), "agent": self.name}
        return super().handle_request(request)


if __name__ == "__main__":
    port = get_int("MODEL_LOADER_PORT", 5570)
    ModelLoaderAgent("ModelLoaderAgent", port, get_int("MODEL_LOADER_HEALTH_PORT", port + 1),
                     init_s=float(get_env("MODEL_LOADER_INIT_S", "20"))).run()
