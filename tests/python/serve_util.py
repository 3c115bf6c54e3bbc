"""Helpers of the doppel-serve / doppel-run tests (test_serve*.py): the binaries and a server process.

Binaries are taken from $DOPPEL_BUILD_DIR/serve (default build/release; tools/test.sh builds
it first).
"""
import http.client
import json
import os
import pathlib
import signal
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("DOPPEL_BUILD_DIR", REPO / "build/release"))
BIN = BUILD / "serve"


def serve_binary(name):
    path = BIN / name
    if not path.is_file():
        pytest.fail(f"{path} is not built: run tools/build.sh release (or set DOPPEL_BUILD_DIR)")
    return str(path)


class ServeProcess:
    """doppel-serve on a free loopback port; stop() sends SIGTERM and checks the clean exit."""

    def __init__(self, args):
        self.proc = subprocess.Popen([serve_binary("doppel-serve"), *map(str, args), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.banner = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.kill()
                pytest.fail(f"doppel-serve did not start: {''.join(self.banner)} {self.proc.stderr.read()}")
            self.banner.append(line)
            if "serving model" in line:
                break
        self.port = int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])

    def alive(self):
        return self.proc.poll() is None

    def request(self, method, path, body=None, raw=None, headers=None, timeout=60):
        """(status, parsed JSON body) over a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        ctype = resp.getheader("Content-Type")
        if ctype == "application/json":
            return resp.status, json.loads(payload)
        return resp.status, payload.decode()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0, self.proc.stderr.read()
