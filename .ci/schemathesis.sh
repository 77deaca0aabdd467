#!/usr/bin/env bash
# Runs schemathesis (https://schemathesis.readthedocs.io) against a real
# dayshift server: the debug binary `cargo test` built, a fresh data
# directory, the first user created and its session token sent as the
# Dayshift-Session-Token header. All of schemathesis' checks, a bounded
# number of examples per operation; any failure fails CI.
#
#   .ci/schemathesis.sh            # after cargo test (or cargo build)
#   MAX_EXAMPLES=50 .ci/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="4.32.5"
MAX_EXAMPLES="${MAX_EXAMPLES:-20}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
BINARY="$TARGET_DIR/debug/dayshift"
VENV="${SCHEMATHESIS_VENV:-$TARGET_DIR/schemathesis-venv}"

if [ ! -x "$BINARY" ]; then
  cargo build -p dayshift-cli --bin dayshift
fi

# schemathesis from PyPI, in a virtual environment of its own.
if [ ! -x "$VENV/bin/schemathesis" ] || ! "$VENV/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
RUST_LOG=warn "$BINARY" server --address "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  --provisioner-daemons 1 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if curl -fsS "$URL/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/server.log"; exit 1; fi
  sleep 0.1
done

PASSWORD="Correct-Horse-9"
curl -fsS -X POST "$URL/api/v2/users/first" -H 'Content-Type: application/json' \
  --data "{\"username\":\"admin\",\"email\":\"admin@example.com\",\"password\":\"$PASSWORD\"}" >/dev/null
# The hooks log in as that user and send its session token with every
# request (see .ci/schemathesis_hooks.py).
export DAYSHIFT_URL="$URL" DAYSHIFT_PASSWORD="$PASSWORD"
export SCHEMATHESIS_HOOKS="schemathesis_hooks"
export PYTHONPATH="$PWD/.ci${PYTHONPATH:+:$PYTHONPATH}"

status=0
"$VENV/bin/schemathesis" --config-file .ci/schemathesis.toml run "$URL/api/v2/openapi.json" \
  --url "$URL" \
  --checks all \
  --max-examples "$MAX_EXAMPLES" \
  --workers 2 \
  --seed 1 \
  --no-color \
  --report junit --report-dir "$WORK/report" || status=$?
if [ "$status" -ne 0 ]; then
  echo "== server log (last 50 lines)"
  tail -50 "$WORK/server.log"
fi
exit "$status"
