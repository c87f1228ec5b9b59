#!/usr/bin/env bash
# Memory of `sipline answer` over many calls: SIPp's built-in UAC calls it
# N times (each call answered with G.711 RTP from sipline, echoed by SIPp),
# and the resident set size of sipline is sampled as the calls go by.
#
#   bench/ua/soak.sh [CALLS] [RATE] [SIPLINE_BIN]
#
# Everything runs on 127.0.0.1, ports picked free; processes are stopped
# by PID on exit.
set -eu
CALLS=${1:-5000}
RATE=${2:-100}
BIN=${3:-target/release/sipline}
command -v sipp >/dev/null || { echo "sipp not installed (apt-get install sip-tester)"; exit 3; }
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
"$BIN" answer --listen "127.0.0.1:$port" --count "$CALLS" --json > "$dir/answer.jsonl" 2>/dev/null &
ans=$!
trap 'kill $ans 2>/dev/null; kill $sipp 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.5
rss() { awk '/VmRSS/ {print $2}' "/proc/$ans/status" 2>/dev/null || echo 0; }
timeout $((CALLS / RATE + 120)) sipp -sn uac "127.0.0.1:$port" -i 127.0.0.1 -m "$CALLS" -r "$RATE" -l 200 \
    -d 500 -bg -trace_stat -stf "$dir/stat.csv" -nostdin > /dev/null 2>&1 &
sipp=$!
echo "calls_ended rss_kb"
echo "0 $(rss)"
while kill -0 $ans 2>/dev/null; do
    sleep 5
    ended=$(grep -c '"event":"ended"' "$dir/answer.jsonl" || true)
    r=$(rss)
    [ "$r" = 0 ] && break
    echo "$ended $r"
done
ended=$(grep -c '"event":"ended"' "$dir/answer.jsonl" || true)
echo "answer exited after $ended ended calls"
