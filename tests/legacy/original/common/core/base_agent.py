"""The original's BaseAgent, in miniature: what its 77 scripts inherited.

- a health thread on ``health_check_port`` (REP, bound to ``*``) answering one JSON frame,
  ``{"status": "error"}`` until the constructor has finished, then ``{"status": "ok"}``;
- a hidden HTTP server on ``health_check_port + 1`` (bound to all interfaces) with GET /health;
- the main REP socket on ``port`` (``*``), bound only once the slow constructor is done;
- ``run()`` swallows any exception, cleans up and returns, so the script exits 0.

The health reply also says which interpreter runs the script, its PYTHONPATH and whether
agentmesh's own packages are importable (tests check the script's world).
"""

import importlib.util
import json
import logging
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import zmq

logger = logging.getLogger("legacy")
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


class BaseAgent:
    def __init__(self, name, port, health_check_port, init_s=0.0):
        self.name, self.port, self.health_check_port = name, port, health_check_port
        self.status = "error"
        self.detail = "initializing"
        self.running = True
        self.context = zmq.Context()
        self._start_health()
        self._start_http()
        logger.info("%s: loading for %.1f s", name, init_s)
        time.sleep(init_s)  # the original loaded models in its constructor
        self.socket = self.context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(f"tcp://*:{port}")
        self.status, self.detail = "ok", "ready"
        logger.info("%s: ready on %d", name, port)

    # -- health ------------------------------------------------------------------------------
    def health_report(self):
        return {"status": self.status, "detail": self.detail, "agent": self.name,
                "interpreter": sys.executable, "pythonpath": os.environ.get("PYTHONPATH"),
                "cwd": os.getcwd(), "argv": sys.argv[1:],
                "common": os.path.dirname(sys.modules["common"].__file__),
                "mesh_importable": importlib.util.find_spec("service_registry") is not None}

    def _start_health(self):
        sock = self.context.socket(zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(f"tcp://*:{self.health_check_port}")

        def serve():
            while self.running:
                if sock.poll(200):
                    sock.recv()
                    sock.send(json.dumps(self.health_report()).encode())
            sock.close()

        threading.Thread(target=serve, daemon=True).start()

    def _start_http(self):
        agent = self

        class Health(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = json.dumps(agent.health_report()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("", self.health_check_port + 1), Health)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    # -- requests ------------------------------------------------------------------------------
    def handle_request(self, request):
        if request.get("action") == "health_check":
            return self.health_report()
        return {"status": "error", "error": f"unknown action {request.get('action')!r}"}

    def tick(self):
        """Called about every 100 ms; the scripts override it."""

    def run(self):
        try:
            while self.running:
                self.tick()
                if self.socket.poll(100):
                    request = json.loads(self.socket.recv())
                    self.socket.send(json.dumps(self.handle_request(request)).encode())
        except Exception:  # the original logged and fell through: exit code 0
            logger.exception("%s: error in main loop", self.name)
        finally:
            self.cleanup()

    def cleanup(self):
        self.running = False
        self.socket.close()
        logger.info("%s: cleaned up", self.name)
