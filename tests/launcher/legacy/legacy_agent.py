"""An unmigrated agent as the original system wrote them: a REP socket on its health port that
answers any request with a JSON health dict.  Reads its port from MESH_HEALTH_PORT."""

import json
import os

import zmq

ctx = zmq.Context()
sock = ctx.socket(zmq.REP)
sock.setsockopt(zmq.LINGER, 0)
sock.bind(f"tcp://127.0.0.1:{os.environ['MESH_HEALTH_PORT']}")
while True:
    if sock.poll(1000):
        sock.recv()
        sock.send(json.dumps({"status": "ok", "name": os.environ["MESH_AGENT_NAME"]}).encode())
