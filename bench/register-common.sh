# Sourced by the register-*.sh scripts: what they all do before they
# measure.
#
# bench_workdir NAME makes $OUT (/tmp/sipline-NAME.XXXXXX) and the PIDS
# array, and on exit stops every PID in PIDS, calls cleanup_more if the
# script defines it, and removes $OUT (kept with KEEP=1). free_port prints
# a free UDP port on 127.0.0.1; write_users FILE writes SIPp's 10,000
# users (user0000;pw_user0000 ...).
#
# start_register_load SLACK LIMIT [serve args...] expects BIN, RATE, SECS
# and HERE: it writes the users, starts `sipline serve` on a free UDP port
# on 127.0.0.1 (CPU 0 with PIN=1), or Kamailio when BIN is the word
# kamailio (bench/kamailio/kamailio.cfg, CHILDREN workers, default 4), and
# SIPp's bench/sipp/register.xml at RATE/s for SECS (the other CPUs with
# PIN=1; bounded by -m and by timeout SECS + SLACK; at most LIMIT
# REGISTERs open at once). Sets PORT, SPID and SIPP; exits when the server
# does not start. server_rss prints "; rss N MB" of the server (nothing
# for Kamailio, whose workers share memory).

bench_workdir() {
    OUT=$(mktemp -d "/tmp/sipline-$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    if declare -F cleanup_more > /dev/null; then cleanup_more; fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $OUT"; else rm -rf "$OUT"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

write_users() {
    { echo SEQUENTIAL; for i in $(seq 0 9999); do printf 'user%04d;pw_user%04d\n' "$i" "$i"; done; } > "$1"
}

server_rss() {
    [ "$BIN" = kamailio ] || awk '/VmRSS/{printf "; rss %.0f MB", $2/1024}' "/proc/$SPID/status"
}

start_register_load() {
    local slack=$1 limit=$2; shift 2
    write_users "$OUT/users.csv"
    PORT=$(free_port)
    local server_cpus=() sipp_cpus=()
    if [ "${PIN:-0}" = 1 ]; then
        server_cpus=(taskset -c 0); sipp_cpus=(taskset -c "1-$(( $(nproc) - 1 ))")
    fi
    if [ "$BIN" = kamailio ]; then
        # The same load against Kamailio with bench/kamailio/kamailio.cfg,
        # as run-bench.sh starts it (4 UDP workers, in-memory usrloc).
        mkdir -p "$OUT/kamailio-run"
        "${server_cpus[@]}" kamailio -f "$HERE/kamailio/kamailio.cfg" -l "udp:127.0.0.1:$PORT" \
            -n "${CHILDREN:-4}" -m 512 -M 16 -DD -E -Y "$OUT/kamailio-run" "$@" \
            > /dev/null 2> "$OUT/serve.log" &
    else
        "${server_cpus[@]}" "$BIN" serve --listen "udp:127.0.0.1:$PORT" --data-dir "$OUT/data" --domain 127.0.0.1 "$@" \
            > /dev/null 2> "$OUT/serve.log" &
    fi
    SPID=$!; PIDS+=("$SPID")
    sleep 1
    kill -0 "$SPID" 2>/dev/null || { echo "serve did not start; see $OUT/serve.log"; KEEP=1; exit 1; }
    timeout $((SECS + slack)) "${sipp_cpus[@]}" sipp -i 127.0.0.1 -nostdin -key domain 127.0.0.1 -buff_size 4194304 \
        -max_retrans 3 -sf "$HERE/sipp/register.xml" -inf "$OUT/users.csv" -r "$RATE" -rp 1000 \
        -m $((RATE * SECS)) -l "$limit" -trace_stat -stf "$OUT/reg.csv" -fd 1 "127.0.0.1:$PORT" \
        > "$OUT/sipp.log" 2>&1 &
    SIPP=$!; PIDS+=("$SIPP")
}
