#!/usr/bin/env python3
"""Times a Lambda function's cold start against a stand-in Runtime API.

Serves just enough of the Lambda Runtime API on a free loopback port,
spawns the function's bootstrap binary with AWS_LAMBDA_RUNTIME_API pointing
at it (plus the Lambda variables lambda_runtime requires; the rest of the
environment is inherited), and measures from spawn to the function's first
`GET /2018-06-01/runtime/invocation/next`: init is done, it is ready for its
first event. The request is held open (no event is ever sent), the process
is killed, and the run repeats.

    python3 infra/runtime_api_standin.py NAME RUNS BINARY

Prints one line: `NAME min_ms median_ms run1 run2 ...`, or exits non-zero
with the function's output if it failed to initialise. Only python3's
standard library; infra/coldstart.sh drives it.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NEXT = "/2018-06-01/runtime/invocation/next"
INIT_ERROR = "/2018-06-01/runtime/init/error"
# The Extensions API, for the functions' internal extension (it holds an
# invocation open until the answer's followups are done): registration is
# answered, and its requests for an event are held as the runtime's are.
EXTENSION_REGISTER = "/2020-01-01/extension/register"
EXTENSION_NEXT = "/2020-01-01/extension/event/next"
READY_TIMEOUT_S = 20

ready = threading.Event()  # set at the first /next of the current run
run_over = threading.Event()  # releases held /next requests
outcome = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == NEXT:
            if not ready.is_set():
                outcome["at"] = time.monotonic()
                ready.set()
            run_over.wait()
            return
        if self.path == EXTENSION_NEXT:
            run_over.wait()
            return
        self.send_error(404)

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace")
        if self.path == EXTENSION_REGISTER:
            answer = json.dumps(
                {"functionName": self.server.function_name, "functionVersion": "$LATEST", "handler": "bootstrap"}
            ).encode()
            self.send_response(200)
            self.send_header("Lambda-Extension-Identifier", "standin-extension")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        if self.path == INIT_ERROR and not ready.is_set():
            outcome["init_error"] = body
            outcome["at"] = time.monotonic()
            ready.set()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def one_run(binary: str, env: dict) -> float:
    ready.clear()
    run_over.clear()
    outcome.clear()
    with tempfile.TemporaryFile() as log:
        started = time.monotonic()
        proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = started + READY_TIMEOUT_S
            while not ready.wait(0.005):
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
        finally:
            proc.kill()
            proc.wait()
            run_over.set()
        if "at" not in outcome or "init_error" in outcome:
            log.seek(0)
            output = log.read().decode(errors="replace")
            detail = outcome.get("init_error", "no request for an event")
            sys.exit(f"{binary} did not become ready: {detail}\n{output}")
        return (outcome["at"] - started) * 1000


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: runtime_api_standin.py NAME RUNS BINARY")
    name, runs, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.function_name = name
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME=name,
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{name}",
        AWS_LAMBDA_LOG_STREAM_NAME="coldstart",
    )
    try:
        times = [one_run(binary, env) for _ in range(runs)]
    finally:
        server.shutdown()
    cells = " ".join(f"{t:.1f}" for t in times)
    print(f"{name} {min(times):.1f} {statistics.median(times):.1f} {cells}")


if __name__ == "__main__":
    main()
