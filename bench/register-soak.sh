#!/usr/bin/env bash
# REGISTERs at a steady rate for longer than the ladder's 6 s steps, to see
# what the steps cannot: a server whose transaction table keeps every
# transaction for Timer J (64*T1 = 32 s over UDP) holds RATE*32 of them at
# steady state, and whatever happens as that table grows (or when Timer J
# starts removing them, after 32 s) shows only in a long run. (sipline
# answers REGISTER without a transaction unless the config has
# `registrar.stateless = false`; Kamailio's bench config does too.) Starts
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
. "$HERE/register-common.sh"
bench_workdir soak
start_register_load 15 "$((RATE * 4 + 100))" "$@"
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
echo "dropped in all: $total$(server_rss)"
wait "$SIPP"
tail -1 "$OUT/reg.csv" | awk -F';' '{print "sipp: successful " $16 ", failed " $18}'
