#!/usr/bin/env bash
# Output-bounds benchmark (run on purpose, never in the test suite).
# Goal (issue 10, item 6): 10^6 findings written as SARIF, json, jsonl, human and github in linear
# time and under 500 MB peak RSS; the human report with --verify as linear as json's.
#
#   bench/output-bounds.sh [WORK_DIR] [KEYS] [VERIFY_KEYS]
#
# WORK_DIR gets keys/keys.txt: KEYS (default 1,000,000) distinct synthetic keys, one a line, half
# live and half test; and verify/keys.txt with VERIFY_KEYS (default 100,000) of them for --verify
# against a local stand-in of the key-management API that answers 401 at once (Python, loopback).
# Each run: wall time and peak RSS from /usr/bin/time -v; output to a file.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/tmp/skguard-bench-output}
keys=${2:-1000000}
verify_keys=${3:-100000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
( cd "$here" && cargo build --release --quiet )
bin="$CARGO_TARGET_DIR/release/skguard"

mkdir -p "$work/keys" "$work/verify"
if [ ! -s "$work/keys/keys.txt" ] || [ "$(wc -l < "$work/keys/keys.txt")" -ne "$keys" ]; then
  python3 - "$work/keys/keys.txt" "$keys" <<'EOF'
import random, string, sys
path, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(10)
alphabet = string.ascii_letters + string.digits
with open(path, "w") as out:
    for i in range(n):
        kind = "live" if i % 2 == 0 else "test"
        out.write("KEY=sk_%s_%s\n" % (kind, "".join(rng.choices(alphabet, k=24))))
EOF
  head -n "$verify_keys" "$work/keys/keys.txt" > "$work/verify/keys.txt"
fi
echo "corpus: $(wc -l < "$work/keys/keys.txt") keys, $(du -h "$work/keys/keys.txt" | cut -f1)"

# measure LABEL ARGS...: wall seconds and peak RSS of `skguard ARGS`.
measure() {
  local label=$1
  shift
  local log
  log=$(mktemp)
  /usr/bin/time -v "$bin" "$@" > /dev/null 2> "$log" || true
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')
  printf '%-28s %10s s  %8d MB peak RSS\n' "$label" "$wall" "$((rss / 1024))"
  rm -f "$log"
}

out="$work/out"
for format in sarif json jsonl human github; do
  measure "$format" scan "$work/keys" --format "$format" -o "$out.$format"
done
echo "sarif results: $(grep -c '"ruleId"' "$out.sarif" || true); json findings: $(wc -l < "$out.jsonl")"

# --verify against a loopback stand-in that answers 401 (invalid) at once.
port_file=$(mktemp)
python3 - "$port_file" <<'EOF' &
import http.server, socketserver, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b'{"success":false,"error":"invalid api key"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
while [ ! -s "$port_file" ]; do sleep 0.1; done
base="http://127.0.0.1:$(cat "$port_file")"
for format in json human; do
  measure "--verify $format ($verify_keys keys)" scan "$work/verify" --verify --api-base "$base" \
    --api-rate 100000 --api-concurrency 16 --api-deadline 3600 --format "$format" -o "$out.verify.$format"
done
