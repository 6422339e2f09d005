"""The original's identity agent: its ports from argv (--port, --health-port), a persona
that can be read and set."""

import argparse

from common.core.base_agent import BaseAgent


class DynamicIdentityAgent(BaseAgent):
    persona = "neutral"

    def handle_request(self, request):
        if request.get("action") == "set_persona":
            self.persona = request.get("persona", self.persona)
        if request.get("action") in ("get_persona", "set_persona"):
            return {"status": "success", "persona": self.persona}
        return super().handle_request(request)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=5802)
    parser.add_argument("--health-port", type=int, default=6802)
    parser.add_argument("--init-s", type=float, default=0.0)
    opts = parser.parse_args()
    DynamicIdentityAgent("DynamicIdentityAgent", opts.port, opts.health_port,
                         init_s=opts.init_s).run()
