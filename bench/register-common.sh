# Sourced by register-cpu.sh and register-soak.sh: what both do before
# they measure. BIN may be the word kamailio, for the same load against
# Kamailio (CHILDREN workers, default 4). Expects BIN, RATE, SECS, HERE, OUT and the PIDS array;
# start_register_load SLACK LIMIT [serve args...] writes 10,000 users,
# starts `sipline serve` on a free UDP port on 127.0.0.1 (CPU 0 with
# PIN=1) and SIPp's bench/sipp/register.xml at RATE/s for SECS (the other
# CPUs with PIN=1; bounded by -m and by timeout SECS + SLACK; at most
# LIMIT REGISTERs open at once). Sets PORT, SPID and SIPP; exits when the
# server does not start.

free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_register_load() {
    local slack=$1 limit=$2; shift 2
    { echo SEQUENTIAL; for i in $(seq 0 9999); do printf 'user%04d;pw_user%04d\n' "$i" "$i"; done; } > "$OUT/users.csv"
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
