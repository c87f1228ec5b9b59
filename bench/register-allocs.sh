#!/usr/bin/env bash
# Heap allocations per REGISTER in `sipline serve`, a figure that does not
# depend on the machine's load: uprobes on the allocator (mimalloc's entry
# points in the binary when it is the global allocator, else glibc's
# malloc, realloc and free). The two counts differ in what they see:
# glibc's misses aligned allocations (posix_memalign, e.g. tokio's tasks)
# and calloc; mimalloc's counts a realloc that moves once more as a
# malloc and a free. With mimalloc, in memory: 71.0 mallocs per REGISTER
# on 42ebc0f, 65.7 once To was parsed once (026fd31; COUNT 5000); the glibc
# build of 7bb6f27 showed 58.4.
# (perf probe, needs root), counted by `perf stat` around the server while
# SIPp sends COUNT REGISTERs (bench/sipp/register.xml, 10,000 users) at
# 2,000/s; the server is then stopped with SIGTERM and perf prints the
# totals, divided here by COUNT (start-up and shutdown included, a few
# thousand calls in all).
#
#   bench/register-allocs.sh BIN [COUNT] [serve args...]
#   e.g. bench/register-allocs.sh target/release/sipline 20000 --config mem.toml
set -u
BIN=${1:?binary}; COUNT=${2:-20000}; shift; [ $# -gt 0 ] && shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/register-common.sh"
bench_workdir allocs
cleanup_more() { perf probe -q -d "allocs:*" 2>/dev/null; }
perf probe -q -d "allocs:*" 2>/dev/null
if nm "$BIN" | grep -q ' T mi_malloc_aligned$'; then
    # mimalloc is the global allocator (crates/sipline/src/main.rs): what
    # Rust's allocations call
    perf probe -q -x "$BIN" -a 'allocs:malloc=mi_malloc_aligned' -a 'allocs:zalloc=mi_zalloc_aligned' \
        -a 'allocs:realloc=mi_realloc_aligned' -a 'allocs:free=mi_free'
    EVENTS=allocs:malloc,allocs:zalloc,allocs:realloc,allocs:free
else
    LIBC=$(ldd "$BIN" | awk '/libc.so.6/ {print $3}')
    perf probe -q -x "$LIBC" -a 'allocs:malloc=malloc' -a 'allocs:realloc=realloc' -a 'allocs:free=free'
    EVENTS=allocs:malloc,allocs:realloc,allocs:free
fi
write_users "$OUT/users.csv"
PORT=$(free_port)
perf stat -x, -e "$EVENTS" -o "$OUT/stat.csv" \
    "$BIN" serve --listen "udp:127.0.0.1:$PORT" --data-dir "$OUT/data" --domain 127.0.0.1 "$@" \
    > /dev/null 2> "$OUT/serve.log" &
PERF=$!
sleep 2
timeout 120 sipp -i 127.0.0.1 -nostdin -key domain 127.0.0.1 -sf "$HERE/sipp/register.xml" \
    -inf "$OUT/users.csv" -r 2000 -rp 1000 -m "$COUNT" -l 10000 -trace_stat -stf "$OUT/reg.csv" \
    "127.0.0.1:$PORT" > /dev/null 2>&1
pkill -TERM -P "$PERF"   # the server, perf's child: perf then prints its counts
wait "$PERF"
tail -1 "$OUT/reg.csv" | awk -F';' '{print "sipp: successful " $16 ", failed " $18}'
awk -F, -v n="$COUNT" '/allocs:/ {printf "%s: %d (%.1f per REGISTER)\n", $3, $1, $1 / n}' "$OUT/stat.csv"
