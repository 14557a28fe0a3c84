#!/usr/bin/env bash
# End-to-end filter benchmark: the filter core's rate over ../shared/corpus (go test -bench),
# and the peak memory (max RSS) of `moatctl check` on one 40 MB message, attachment included.
# Usage: scripts/bench-filter.sh [MB]   (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-40}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== corpus: parse + evaluate (offline steps), per CPU"
go test -run '^$' -bench 'BenchmarkCorpus' -benchmem -cpu 1 ./shared/filter | grep -E 'Benchmark|msgs'

echo "== one ${mb} MB message through moatctl check"
go build -o "$tmp/moatctl" ./scripts/moatctl
python3 - "$tmp/big.eml" "$mb" <<'PY'
import base64, os, sys
path, mb = sys.argv[1], int(sys.argv[2])
raw = os.urandom(mb * 1024 * 1024 * 3 // 4 - 4096)   # base64 grows it by 4/3 to ~mb MB
with open(path, "wb") as f:
    f.write(b"Received: from mail.sender.example (mail.sender.example [198.51.100.23]) by "
            b"inbound-smtp.us-east-1.amazonaws.com with SMTP id bench; Sun, 22 Nov 2026 09:14:02 +0000\r\n"
            b"From: carol@sender.example\r\nTo: alice@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b=_1\"\r\n\r\n--b=_1\r\n"
            b"Content-Type: text/plain\r\n\r\nThe video.\r\n--b=_1\r\n"
            b"Content-Type: video/mp4; name=v.mp4\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=v.mp4\r\n\r\n")
    enc = base64.b64encode(raw)
    for i in range(0, len(enc), 76):
        f.write(enc[i:i+76] + b"\r\n")
    f.write(b"--b=_1--\r\n")
PY
size=$(stat -c %s "$tmp/big.eml")
/usr/bin/time -v "$tmp/moatctl" check --to alice@example.com "$tmp/big.eml" >"$tmp/out" 2>"$tmp/time" || true
cat "$tmp/out"
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time")
cpu_u=$(awk -F': ' '/User time/ {print $2}' "$tmp/time")
echo "message: $((size / 1024 / 1024)) MB; peak RSS: $((rss / 1024)) MB; wall: $wall; user CPU: ${cpu_u}s"
