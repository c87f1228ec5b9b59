#!/usr/bin/env bash
# CPU of `sipline serve` at a fixed REGISTER rate: starts the server on a
# free UDP port on 127.0.0.1, runs SIPp's bench/sipp/register.xml at RATE/s
# for SECONDS, and prints the server's CPU (user+system, % of one core)
# over the middle of the run, its RSS, and SIPp's counts. With PERF=1 it
# also records `perf record` into $OUT/perf.data (PERF_F: samples per
# second, default 999; PERF_G: the call-graph option, default -g, e.g.
# PERF_G="--call-graph dwarf,16384", or PERF_G= for none). With PIN=1 the
# server runs on CPU 0 only (taskset -c 0) and SIPp on the others.
#
#   bench/register-cpu.sh BIN RATE SECONDS [serve args...]
#   (BIN kamailio: the same against Kamailio, bench/kamailio/kamailio.cfg)
#   e.g. bench/register-cpu.sh target/release/sipline 12000 10
#        PIN=1 bench/register-cpu.sh target/release/sipline 20000 8 --config mem.toml
#
# Everything it starts is stopped by PID on exit; SIPp is bounded by -m
# and timeout.
set -u
BIN=${1:?binary}; RATE=${2:?rate}; SECS=${3:?seconds}; shift 3
[ "$SECS" -ge 6 ] || { echo "SECONDS must be 6 or more" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/register-common.sh"
bench_workdir regcpu
start_register_load 10 "100000" "$@"
sleep 2
# the server's process and its children (Kamailio's workers)
stats() { for p in "$SPID" $(pgrep -P "$SPID"); do cat "/proc/$p/stat" 2>/dev/null; done; }
ticks() { stats | awk '{t += $14 + $15} END {print t}'; }
sys_ticks() { stats | awk '{t += $15} END {print t}'; }
T0=$(ticks); S0=$(sys_ticks)
if [ "${PERF:-0}" = 1 ]; then
    perf record -F ${PERF_F:-999} ${PERF_G--g} -p "$SPID" -o "$OUT/perf.data" -- sleep $((SECS - 4)) > /dev/null 2>&1
    KEEP=1
else
    sleep $((SECS - 4))
fi
T1=$(ticks); S1=$(sys_ticks)
HZ=$(getconf CLK_TCK)
echo "server cpu: $(( (T1 - T0) * 100 / (HZ * (SECS - 4)) ))% of a core ($(( (S1 - S0) * 100 / (HZ * (SECS - 4)) ))% in the kernel) over $((SECS - 4)) s at $RATE REGISTER/s$(server_rss)"
wait "$SIPP"
tail -1 "$OUT/reg.csv" | awk -F';' '{print "sipp: successful " $16 ", failed " $18}'
