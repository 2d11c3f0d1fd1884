# Sourced by tests/run-all.sh and loadgen/ci-latency.sh: installs
# moto[server] (pinned, from PyPI) into target/moto-venv and starts the
# serialising server (tests/moto_server.py) on a free loopback port, failing
# loudly if it does not answer. Needs ROOT set to the checkout.
MOTO_VERSION=5.2.5
VENV="$ROOT/target/moto-venv"

moto_install() {
  if ! "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# moto_start PORT LOG: starts moto, stops it when the calling script exits,
# and returns once it answers.
moto_start() {
  local port=$1 log=$2
  "$VENV/bin/python" "$ROOT/tests/moto_server.py" 127.0.0.1 "$port" >"$log" 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
      return 0
    fi
    kill -0 "$MOTO_PID" 2>/dev/null || { echo "moto failed to start:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.2
  done
  echo "moto is not answering on port $port" >&2
  cat "$log" >&2
  exit 1
}
