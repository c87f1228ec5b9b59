#!/usr/bin/env bash
# REGISTERs at a steady rate for longer than the ladder's 6 s steps, to see
# what the steps cannot: a server whose transaction table keeps every
# transaction for Timer J (64*T1 = 32 s over UDP) holds RATE*32 of them at
# steady state, and whatever happens as that table grows (or when Timer J
# starts removing them, after 32 s) shows only in a long run. Starts
# `sipline serve` on a free UDP port on 127.0.0.1, runs SIPp's
# bench/sipp/register.xml at RATE/s for SECONDS, and prints every second
# the datagrams the kernel dropped on the server's socket because the server
# did not read them in time (its receive buffer was full) and the CPU time
# the hypervisor took from this machine (steal, in ticks of 1/100 s, all
# cores: a noisy neighbour shows there), then SIPp's counts and the
# server's RSS. With PIN=1 the server runs on CPU 0 and SIPp on the others.
#
#   bench/register-soak.sh BIN RATE SECONDS [serve args...]
#   e.g. PIN=1 bench/register-soak.sh target/release/sipline 40000 40 --config mem.toml
#
# Everything it starts is stopped by PID on exit; SIPp is bounded by -m
# and timeout.
set -u
BIN=${1:?binary}; RATE=${2:?rate}; SECS=${3:?seconds}; shift 3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(mktemp -d /tmp/sipline-soak.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ "${KEEP:-0}" = 1 ] && echo "kept $OUT" || rm -rf "$OUT"
}
trap cleanup EXIT
{ echo SEQUENTIAL; for i in $(seq 0 9999); do printf 'user%04d;pw_user%04d\n' "$i" "$i"; done; } > "$OUT/users.csv"
PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SERVER_CPUS=(); SIPP_CPUS=()
if [ "${PIN:-0}" = 1 ]; then
    SERVER_CPUS=(taskset -c 0); SIPP_CPUS=(taskset -c "1-$(( $(nproc) - 1 ))")
fi
"${SERVER_CPUS[@]}" "$BIN" serve --listen "udp:127.0.0.1:$PORT" --data-dir "$OUT/data" --domain 127.0.0.1 "$@" \
    > /dev/null 2> "$OUT/serve.log" &
SPID=$!; PIDS+=("$SPID")
sleep 1
kill -0 "$SPID" 2>/dev/null || { echo "serve did not start; see $OUT/serve.log"; KEEP=1; exit 1; }
timeout $((SECS + 15)) "${SIPP_CPUS[@]}" sipp -i 127.0.0.1 -nostdin -key domain 127.0.0.1 -buff_size 4194304 \
    -max_retrans 3 -sf "$HERE/sipp/register.xml" -inf "$OUT/users.csv" -r "$RATE" -rp 1000 \
    -m $((RATE * SECS)) -l $((RATE * 4 + 100)) -trace_stat -stf "$OUT/reg.csv" -fd 1 "127.0.0.1:$PORT" \
    > "$OUT/sipp.log" 2>&1 &
SIPP=$!; PIDS+=("$SIPP")
drops() { ss -uanm "sport = :$PORT" | grep -o 'd[0-9]*)' | tr -d 'd)' | head -1; }
steal() { awk '/^cpu /{print $9}' /proc/stat; }
d0=$(drops); s0=$(steal); total=0
echo "second: dropped datagrams (steal ticks)"
for i in $(seq 1 "$SECS"); do
    sleep 1
    d1=$(drops); s1=$(steal)
    printf '%d: %d (%d)  ' "$i" $(( ${d1:-0} - ${d0:-0} )) $(( s1 - s0 ))
    total=$(( total + ${d1:-0} - ${d0:-0} )); d0=$d1; s0=$s1
    [ $((i % 6)) = 0 ] && echo
done
echo
echo "dropped in all: $total; server rss $(awk '/VmRSS/{printf "%.0f MB", $2/1024}' "/proc/$SPID/status")"
wait "$SIPP"
tail -1 "$OUT/reg.csv" | awk -F';' '{print "sipp: successful " $16 ", failed " $18}'
