#!/usr/bin/env bash
# Runs every test: starts moto (the AWS emulator) on a free loopback port for the integration
# tests, runs `go test` with the race detector and shuffled order, and stops moto.
# Extra arguments go to `go test` (default ./...).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v moto_server >/dev/null 2>&1; then
  echo "moto_server not found: integration tests will skip (install moto, or use this image)" >&2
else
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  log=$(mktemp)
  moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  moto_pid=$!
  trap 'kill $moto_pid 2>/dev/null || true; rm -f "$log"' EXIT
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
  echo "moto listening on $AWS_ENDPOINT_URL"
fi

if [ $# -eq 0 ]; then set -- ./...; fi
go test -race -shuffle=on -count=1 "$@"
