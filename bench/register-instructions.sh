#!/usr/bin/env bash
# Instructions per REGISTER in `sipline serve`, counted by valgrind
# (callgrind's Ir: user-space instructions, every thread), so the figure
# does not depend on the machine's load or speed; the kernel's share
# (system calls, loopback delivery) is not in it. The server runs twice
# under callgrind, once for N1 and once for N2 REGISTERs
# (bench/sipp/register.xml, 10,000 users, at RATE/s, default 200); the
# difference divided by N2 - N1 leaves out start-up and shutdown. T1 is
# 50 ms (timers.t1_ms), so that Timer J (64*T1) ends each transaction
# within the run and its removal is counted too (with
# `registrar.stateless = false`; by default a REGISTER has none). STORE=memory keeps the
# bindings in memory (registrar.store; STORE=redb the redb database); the
# default is the durable one (the append-only log), whose figure at this low rate (nearly one commit per REGISTER) is not what
# it costs under load, where commits are grouped. Needs valgrind and sipp.
#
#   bench/register-instructions.sh BIN [N1 N2 [RATE]] [-- serve args...]
#   e.g. STORE=memory bench/register-instructions.sh target/release/sipline 1000 3000 -- --threads 1
#
# Everything it starts is stopped by PID; SIPp is bounded by -m and timeout.
set -u
BIN=${1:?binary}; shift
N1=1000; N2=3000; RATE=200
[ $# -gt 0 ] && [ "$1" != "--" ] && { N1=$1; shift; }
[ $# -gt 0 ] && [ "$1" != "--" ] && { N2=$1; shift; }
[ $# -gt 0 ] && [ "$1" != "--" ] && { RATE=$1; shift; }
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/register-common.sh"
bench_workdir instr
write_users "$OUT/users.csv"
printf '[timers]\nt1_ms = 50\n[registrar]\nstore = "%s"\n' "${STORE:-log}" > "$OUT/t1.toml"
count() {
    local n=$1 port; shift
    port=$(free_port)
    rm -rf "$OUT/data" "$OUT/cg.out"
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" \
        "$BIN" serve --listen "udp:127.0.0.1:$port" --data-dir "$OUT/data" --domain 127.0.0.1 \
        --config "$OUT/t1.toml" "$@" > /dev/null 2> "$OUT/vg.log" &
    local vg=$!
    # wait until it answers (valgrind starts slowly)
    for _ in $(seq 1 60); do
        ss -uln | grep -q ":$port " && break
        sleep 1
    done
    sleep 2
    timeout $(( n / RATE + 60 )) sipp -i 127.0.0.1 -nostdin -key domain 127.0.0.1 -sf "$HERE/sipp/register.xml" \
        -inf "$OUT/users.csv" -r "$RATE" -rp 1000 -m "$n" -l "$n" -trace_stat -stf "$OUT/reg-$n.csv" \
        "127.0.0.1:$port" > /dev/null 2>&1
    sleep 5   # let Timer J (3.2 s) end the last transactions
    kill -TERM "$vg"; wait "$vg"
    local ok
    ok=$(tail -1 "$OUT/reg-$n.csv" | awk -F';' '{print $16}')
    [ "$ok" = "$n" ] || echo "warning: $ok of $n REGISTERs succeeded" >&2
    grep -m1 '^summary:' "$OUT/cg.out" | awk '{print $2}'
}
A=$(count "$N1" "$@"); B=$(count "$N2" "$@")
echo "instructions: $A for $N1 REGISTERs, $B for $N2"
echo "per REGISTER: $(( (B - A) / (N2 - N1) ))"
