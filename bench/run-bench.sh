#!/usr/bin/env bash
# sipline interop and load bench: SIPp against Kamailio or `sipline serve`.
#
#   bench/run-bench.sh kamailio            full run (~3-6 min)
#   bench/run-bench.sh sipline --quick     1-minute interop smoke run
#   bench/run-bench.sh --both              kamailio, then sipline, and the ratio
#
# Everything runs on 127.0.0.1 with UDP ports picked free at run time. Every
# process this script starts is stopped by PID on exit (trap EXIT), every
# SIPp run is bounded in calls (-m) and time (-timeout, plus coreutils
# timeout around it). See bench/README.md.

set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SIPP_DIR="$HERE/sipp"
KAM_CFG="$HERE/kamailio/kamailio.cfg"

usage() {
    cat <<'EOF'
usage: bench/run-bench.sh TARGET [options]
       bench/run-bench.sh --both [options]

TARGET: kamailio | sipline

options:
  --quick            interop smoke run only: REGISTER every user once at a low
                     rate and place a few calls; any failure exits 1 (~1 min)
  --both             run kamailio, then sipline, and print sipline/kamailio
  -j N               N SIPp client instances in parallel (and N callee UAS for
                     calls), rates summed (default 1)
  --users N          users in users.csv (default 10000; --quick: 200)
  --calls N          calls of the interop check (default 50)
  --pause MS         call length: pause between ACK and BYE (default 0)
  --step-time S      seconds of traffic per rate step (default 6; max 15)
  --reg-rates LIST   REGISTER/s ladder, e.g. "2000 4000 8000" (default built in)
  --call-rates LIST  calls/s ladder (default built in)
  --refine N         bisection steps after the first failing rate (default 3)
  --auth             digest auth on (kamailio: -A WITH_AUTH; sipline: see
                     SIPLINE_ARGS). Off by default, as the reference numbers
  --children N       Kamailio UDP workers (default 4)
  --pin              server on CPU 0 only, every SIPp on the other CPUs
                     (taskset): each server gets one whole core, and SIPp
                     never competes with it (needs 2+ CPUs)
  --cpu-quota PCT    the server gets PCT% of one core's time, by a cgroup CPU
                     quota (as root; period 10 ms), e.g. 50 with --pin: both
                     servers get the same share of CPU 0 while SIPp keeps a
                     whole core, so that a server, not SIPp, is the limit
  --kam-mem MB       Kamailio shared memory (default 512; with 256 its
                     transactions ran out of memory above ~1,600 calls/s)
  --sipline-bin P    sipline binary (default target/release/sipline)
  --sipline-args S   extra arguments for `sipline serve` (or env SIPLINE_ARGS)
  --out DIR          keep logs, CSVs and results here (default: a temp dir,
                     removed at exit unless --keep)
  --keep             keep the temp dir
  -h, --help         this text

Output: a table per target (REGISTER/s, calls/s, failures, server CPU, SIPp
CPU) and the exact command lines used. Exit status: 0 ok, 1 interop check
failed or server did not start, 2 usage, 3 target skipped (sipline missing).
EOF
}

# ---------------------------------------------------------------- options
TARGETS=()
QUICK=0
JOBS=1
USERS=""
CHECK_CALLS=50
PAUSE_MS=0
STEP_TIME=6
REG_RATES=""
CALL_RATES=""
REFINE=3
AUTH=0
PIN=0
CPU_QUOTA=""
CGROUP=""
CHILDREN=4
KAM_MEM=512
SIPLINE_BIN="$ROOT/target/release/sipline"
SIPLINE_ARGS=${SIPLINE_ARGS:-}
OUT=""
KEEP=0

while [ $# -gt 0 ]; do
    case "$1" in
        kamailio|sipline) TARGETS+=("$1") ;;
        --both) TARGETS=(kamailio sipline) ;;
        --quick) QUICK=1 ;;
        -j) JOBS=$2; shift ;;
        -j[0-9]*) JOBS=${1#-j} ;;
        --users) USERS=$2; shift ;;
        --calls) CHECK_CALLS=$2; shift ;;
        --pause) PAUSE_MS=$2; shift ;;
        --step-time) STEP_TIME=$2; shift ;;
        --reg-rates) REG_RATES=$2; shift ;;
        --call-rates) CALL_RATES=$2; shift ;;
        --refine) REFINE=$2; shift ;;
        --auth) AUTH=1 ;;
        --pin) PIN=1 ;;
        --cpu-quota) CPU_QUOTA=$2; shift ;;
        --children) CHILDREN=$2; shift ;;
        --kam-mem) KAM_MEM=$2; shift ;;
        --sipline-bin) SIPLINE_BIN=$2; shift ;;
        --sipline-args) SIPLINE_ARGS=$2; shift ;;
        --out) OUT=$2; KEEP=1; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-bench.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

[ ${#TARGETS[@]} -gt 0 ] || { usage >&2; exit 2; }
for n in ${CPU_QUOTA:+"$CPU_QUOTA"} "$JOBS" "$CHECK_CALLS" "$PAUSE_MS" "$STEP_TIME" "$REFINE" "$CHILDREN" "$KAM_MEM"; do
    case "$n" in ''|*[!0-9]*) echo "run-bench.sh: '$n' is not a number" >&2; exit 2 ;; esac
done
[ "$JOBS" -ge 1 ] || JOBS=1
[ "$STEP_TIME" -ge 1 ] || STEP_TIME=1
[ "$STEP_TIME" -le 15 ] || STEP_TIME=15   # a step stays under 20 s
if [ -z "$USERS" ]; then
    if [ "$QUICK" = 1 ]; then USERS=200; else USERS=10000; fi
fi
[ -n "$REG_RATES" ] || REG_RATES="2000 4000 8000 12000 16000 20000 25000 30000 35000 40000 50000"
[ -n "$CALL_RATES" ] || CALL_RATES="200 500 800 1000 1200 1400 1600 1800 2000 2500 3000 4000"

command -v sipp >/dev/null || { echo "run-bench.sh: sipp not found (apt-get install -y sip-tester)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "run-bench.sh: python3 not found" >&2; exit 1; }

if [ -z "$OUT" ]; then
    OUT=$(mktemp -d /tmp/sipline-bench.XXXXXX)
else
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd)
fi
CLK_TCK=$(getconf CLK_TCK)
DOMAIN=127.0.0.1
HOST=127.0.0.1

# ---------------------------------------------------------------- cleanup
PIDS=()          # every long-lived process we started
SERVER_PID=""

stop_pid() {     # stop_pid PID: TERM, wait up to 7 s (graceful shutdown), then KILL
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 70); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    PIDS=()
    [ -n "$CGROUP" ] && rmdir "$CGROUP" 2>/dev/null
    if [ "$KEEP" = 1 ]; then
        echo "logs kept in $OUT"
    else
        rm -rf "$OUT"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {   # drop a PID we stopped ourselves from PIDS
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# --pin: the server on CPU 0, SIPp on the others (taskset is exec'd, so
# the PIDs are the programs' own).
SERVER_PIN=()
SIPP_PIN=()
if [ "$PIN" = 1 ]; then
    if [ "$(nproc)" -lt 2 ] || ! command -v taskset >/dev/null; then
        echo "--pin needs 2 or more CPUs and taskset (util-linux)" >&2
        exit 2
    fi
    SERVER_PIN=(taskset -c 0)
    SIPP_PIN=(taskset -c "1-$(( $(nproc) - 1 ))")
fi

# --cpu-quota: a cgroup (v2 cpu.max, or v1 cfs quota) that the server's
# command line joins before exec'ing the server, whose processes (Kamailio's
# workers too) then share PCT% of one core's time.
if [ -n "$CPU_QUOTA" ]; then
    if [ "$CPU_QUOTA" -lt 1 ] || [ "$CPU_QUOTA" -gt 100 ]; then
        echo "--cpu-quota: PCT from 1 to 100" >&2; exit 2
    fi
    if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
        CGROUP=/sys/fs/cgroup/sipline-bench.$$
        mkdir "$CGROUP" 2>/dev/null && echo "$((CPU_QUOTA * 100)) 10000" > "$CGROUP/cpu.max" 2>/dev/null
    elif [ -d /sys/fs/cgroup/cpu ]; then
        CGROUP=/sys/fs/cgroup/cpu/sipline-bench.$$
        mkdir "$CGROUP" 2>/dev/null && echo 10000 > "$CGROUP/cpu.cfs_period_us" 2>/dev/null &&
            echo "$((CPU_QUOTA * 100))" > "$CGROUP/cpu.cfs_quota_us" 2>/dev/null
    else
        false
    fi || {
        echo "--cpu-quota needs a writable cgroup CPU controller (as root)" >&2
        [ -n "$CGROUP" ] && rmdir "$CGROUP" 2>/dev/null
        exit 2
    }
    SERVER_PIN=(bash -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CGROUP" "${SERVER_PIN[@]}")
fi

# ---------------------------------------------------------------- helpers
log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }

free_port() {    # a UDP port on 127.0.0.1 that was free a moment ago
    python3 -c 'import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0))
t=socket.socket(socket.AF_INET,socket.SOCK_STREAM)
try:
    t.bind(("127.0.0.1",s.getsockname()[1]))
except OSError:
    pass
print(s.getsockname()[1])'
}

# CPU ticks (utime+stime) of a process and its direct children
# (Kamailio forks workers; sipline is one process with threads).
cpu_ticks() {
    local pid=$1
    python3 - "$pid" <<'EOF'
import os, sys
root = sys.argv[1]
def ticks(p):
    try:
        with open(f"/proc/{p}/stat") as f:
            s = f.read()
        fields = s[s.rfind(")") + 2:].split()
        return int(fields[11]) + int(fields[12]), fields[1]
    except OSError:
        return 0, None
total = ticks(root)[0]
for p in os.listdir("/proc"):
    if p.isdigit() and p != root:
        t, ppid = ticks(p)
        if ppid == root:
            total += t
print(total)
EOF
}

now_ns() { date +%s%N; }

# error lines in the server's log so far (Kamailio: "ERROR: tm ... out of
# mem" and the like; sipline: tracing's ERROR level)
server_errors() {
    cat "$OUT"/server-*.log 2>/dev/null | grep -c -E 'ERROR|CRITICAL|out of mem|panicked'
}

# "busy total" jiffies of the whole machine (all cores), from /proc/stat
machine_ticks() {
    awk '/^cpu /{t=0; for(i=2;i<=NF;i++) t+=$i; print t-$5-$6, t; exit}' /proc/stat
}

# Read a SIPp -trace_stat CSV (last line = final cumulative counters).
# sipp_stats CSV CALLS. Prints: created successful failed elapsed_s retrans
# rate (elapsed: from SIPp's start to its last dump, i.e. until the last call
# ended; rate: see below).
sipp_stats() {
    python3 - "$1" "${2:-0}" <<'EOF'
import csv, sys
try:
    rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
except OSError:
    print("0 0 0 0 0 0"); sys.exit()
if len(rows) < 2:
    print("0 0 0 0 0 0"); sys.exit()
h, last = rows[0], rows[-1]
def get(name, default="0"):
    try:
        return last[h.index(name)]
    except (ValueError, IndexError):
        return default
def epoch(name):  # "date<TAB>time<TAB>epoch.micros"
    try:
        return float(get(name, "").split("\t")[-1])
    except ValueError:
        return 0.0
elapsed = max(epoch("CurrentTime") - epoch("StartTime"), 0.0)
# rate: successful calls per second up to the first dump (every 200 ms) at
# which 99.9 % of the calls had succeeded, so that a few stragglers waiting
# for -recv_timeout do not stretch the time of a step that otherwise kept up
want = 0.999 * int(sys.argv[2])
rate = 0.0
start = epoch("StartTime")
for row in rows[1:]:
    d = dict(zip(h, row))
    try:
        ok = int(d["SuccessfulCall(C)"])
        t = float(d["CurrentTime"].split("\t")[-1]) - start
    except (KeyError, ValueError):
        continue
    if ok >= want and t > 0:
        rate = ok / t
        break
else:
    ok = int(get("SuccessfulCall(C)"))
    rate = ok / elapsed if elapsed > 0 else 0.0
print(get("TotalCallCreated"), get("SuccessfulCall(C)"), get("FailedCall(C)"),
      "%.3f" % elapsed, get("Retransmissions(C)"), "%.1f" % rate)
EOF
}

# CSV files. users.csv: user0000;pw_user0000 ... (SEQUENTIAL). One part per
# client instance (users_K.csv) so that parallel instances use distinct users.
write_users() {
    python3 - "$OUT" "$USERS" "$JOBS" <<'EOF'
import sys
out, n, j = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
width = max(4, len(str(n - 1)))
users = ["user%0*d;pw_user%0*d" % (width, i, width, i) for i in range(n)]
with open(f"{out}/users.csv", "w") as f:
    f.write("SEQUENTIAL\n" + "\n".join(users) + "\n")
for k in range(j):
    part = users[k::j] or users[:1]
    with open(f"{out}/users_{k}.csv", "w") as f:
        f.write("SEQUENTIAL\n" + "\n".join(part) + "\n")
    name = "callee" if k == 0 else "callee%d" % k
    with open(f"{out}/callee_{k}.csv", "w") as f:
        f.write("SEQUENTIAL\n%s;pw_%s\n" % (name, name))
EOF
}

callee_name() { if [ "$1" = 0 ]; then echo callee; else echo "callee$1"; fi; }

# -buff_size: 4 MiB socket buffers (the default 64 KiB drops datagrams in
# bursts). -recv_timeout / -max_retrans: a call with no answer fails within
# ~4 s instead of the 32 s of Timer B/F.
SIPP_COMMON=(-i "$HOST" -nostdin -key domain "$DOMAIN" -buff_size 4194304 -max_retrans 3
             -recv_timeout 4000 -max_recv_loops 10000 -max_sched_loops 10000
             -watchdog_minor_maxtriggers 100000 -watchdog_major_maxtriggers 100)

# run_sipp TAG BOUND_S ARGS...: one bounded SIPp client run in the background.
# Its stats CSV is $OUT/TAG.csv, its CPU use ("user sys" seconds) $OUT/TAG.cpu,
# its output $OUT/TAG.log, the command line $OUT/TAG.cmd. Sets RUN_PID.
run_sipp() {
    local tag=$1 bound=$2; shift 2
    rm -f "$OUT/$tag.csv" "$OUT/$tag.cpu"
    local cmd=("${SIPP_PIN[@]}" sipp "${SIPP_COMMON[@]}" -timeout "${bound}s"
               -trace_stat -stf "$OUT/$tag.csv" -fd 200ms "$@")
    { printf '%q ' "${cmd[@]}"; echo; } | sed "s#$OUT/#\$OUT/#g; s#$SIPP_DIR/#bench/sipp/#g; s/ \$//" > "$OUT/$tag.cmd"
    /usr/bin/time -f '%U %S' -o "$OUT/$tag.cpu" \
        timeout -k 2 $((bound + 5)) "${cmd[@]}" > "$OUT/$tag.log" 2>&1 &
    RUN_PID=$!
    PIDS+=("$RUN_PID")
}

# ---------------------------------------------------------------- servers
SERVER_CMD=""
help=""

start_kamailio() {
    command -v kamailio >/dev/null || { echo "kamailio not found: apt-get install -y kamailio"; return 1; }
    local rundir="$OUT/kamailio-run"
    mkdir -p "$rundir"
    local cmd=("${SERVER_PIN[@]}" kamailio -f "$KAM_CFG" -l "udp:$HOST:$SERVER_PORT" -n "$CHILDREN"
               -m "$KAM_MEM" -M 16 -DD -E -Y "$rundir")
    [ "$AUTH" = 1 ] && cmd+=(-A WITH_AUTH)
    SERVER_CMD=$(printf '%q ' "${cmd[@]}" | sed "s#$OUT/#\$OUT/#g; s#$HERE/#bench/#g")
    "${cmd[@]}" > "$OUT/server-kamailio.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# What run-bench.sh expects of `sipline serve` (see bench/README.md):
#   sipline serve --listen udp:127.0.0.1:PORT --data-dir DIR [SIPLINE_ARGS]
# stays in the foreground, answers OPTIONS, registers (200 to REGISTER with
# Expires 3600, or 401 then 200 with --auth) and proxies INVITE/ACK/BYE to
# the registered Contact, record-routing or not; stops on SIGTERM.
sipline_available() {
    if [ ! -x "$SIPLINE_BIN" ]; then
        echo "SKIP sipline: $SIPLINE_BIN does not exist yet (build it: cargo build --release -p sipline)"
        return 1
    fi
    help=$("$SIPLINE_BIN" serve --help 2>&1)
    if [ $? -ne 0 ] || ! printf '%s' "$help" | grep -q -- '--listen'; then
        echo "SKIP sipline: '$SIPLINE_BIN serve --help' fails or has no --listen: the serve command does not exist yet"
        printf '%s\n' "$help" | head -5 | sed 's/^/    /'
        return 1
    fi
    return 0
}

start_sipline() {
    local data="$OUT/sipline-data"
    mkdir -p "$data"
    # shellcheck disable=SC2206
    local extra=($SIPLINE_ARGS)
    local cmd=("${SERVER_PIN[@]}" "$SIPLINE_BIN" serve --listen "udp:$HOST:$SERVER_PORT" --data-dir "$data")
    # The scenarios use the domain 127.0.0.1 (AoRs and Request-URIs without
    # a port): say so if serve has --domain.
    if printf '%s' "$help" | grep -q -- '--domain'; then cmd+=(--domain "$DOMAIN"); fi
    # --auth: the users of users.csv and the callees, as --user NAME:PASSWORD
    if [ "$AUTH" = 1 ]; then
        if printf '%s' "$help" | grep -q -- '--user'; then
            local line
            while IFS=';' read -r u pw; do
                [ -n "$pw" ] && cmd+=(--user "$u:$pw")
            done < <(tail -n +2 "$OUT/users.csv"; for line in "$OUT"/callee_*.csv; do tail -n +2 "$line"; done)
        else
            echo "note: --auth but '$SIPLINE_BIN serve --help' has no --user; pass credentials with --sipline-args"
        fi
    fi
    cmd+=("${extra[@]}")
    SERVER_CMD=$(printf '%q ' "${cmd[@]}" | sed "s#$OUT/#\$OUT/#g; s#$ROOT/##g" |
                 sed -E 's/(--user [^ ]+ )(--user [^ ]+ )+/\1... /')
    "${cmd[@]}" > "$OUT/server-sipline.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
}

# OPTIONS ping (bench/sipp/options.xml) until the server answers, max 15 s.
wait_ready() {
    local deadline=$(( $(date +%s) + 15 )) port
    while [ "$(date +%s)" -lt "$deadline" ]; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server exited during start-up; last lines of its log:"
            tail -n 15 "$OUT"/server-*.log | sed 's/^/    /'
            return 1
        fi
        port=$(free_port)
        if timeout 5 sipp "${SIPP_COMMON[@]}" -sf "$SIPP_DIR/options.xml" -p "$port" -m 1 \
               -timeout 2s "$HOST:$SERVER_PORT" > "$OUT/ping.log" 2>&1; then
            return 0
        fi
        sleep 0.3
    done
    echo "server did not answer OPTIONS on $HOST:$SERVER_PORT within 15 s"
    return 1
}

# ---------------------------------------------------------------- UAS side
UAS_PIDS=()
UAS_PORTS=()

start_uas() {     # register callee_K from UAS_PORT, then start uas.xml there
    local k port pid rc
    for k in $(seq 0 $((JOBS - 1))); do
        port=$(free_port)
        run_sipp "uas-register-$k" 10 -sf "$SIPP_DIR/register.xml" -inf "$OUT/callee_$k.csv" \
            -p "$port" -m 1 "$HOST:$SERVER_PORT"
        wait "$RUN_PID"; rc=$?; forget_pid "$RUN_PID"
        if [ "$rc" != 0 ]; then
            echo "registering $(callee_name "$k") failed (sipp exit $rc); see $OUT/uas-register-$k.log"
            return 1
        fi
        "${SIPP_PIN[@]}" sipp -sf "$SIPP_DIR/uas.xml" -i "$HOST" -p "$port" -nostdin -buff_size 4194304 \
            -max_recv_loops 10000 -max_sched_loops 10000 \
            -watchdog_minor_maxtriggers 100000 -watchdog_major_maxtriggers 100 \
            -trace_stat -stf "$OUT/uas-$k.csv" -fd 5 > "$OUT/uas-$k.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        UAS_PIDS+=("$pid")
        UAS_PORTS+=("$port")
        printf '%ssipp -sf bench/sipp/uas.xml -i %s -p %s -nostdin -buff_size 4194304 -max_recv_loops 10000 -max_sched_loops 10000 -trace_stat -stf $OUT/uas-%s.csv -fd 5\n' \
            "${SIPP_PIN[*]:+${SIPP_PIN[*]} }" "$HOST" "$port" "$k" > "$OUT/uas-$k.cmd"
    done
    sleep 0.5
    for pid in "${UAS_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "UAS sipp exited at start; see $OUT/uas-*.log"; return 1; }
    done
    return 0
}

stop_uas() {
    local pid
    for pid in "${UAS_PIDS[@]}"; do stop_pid "$pid"; forget_pid "$pid"; done
    UAS_PIDS=(); UAS_PORTS=()
}

uas_alive() {
    local pid
    for pid in "${UAS_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done
    return 0
}

# ---------------------------------------------------------------- one step
# step KIND RATE CALLS: KIND reg|call; RATE total per second over all
# instances; CALLS total. Prints one line and sets:
#   S_OK S_FAIL S_CREATED S_RATE (successful/s) S_SRVCPU (% of one core)
#   S_SIPPCPU (max % of one core of a client instance), S_UASCPU (mean % of
#   one core of a UAS instance), S_MACHINE (% of all cores busy, everything
#   on the machine), S_PASS (1/0), S_TAG
step() {
    local kind=$1 rate=$2 calls=$3 k
    local per_rate per_calls bound tag pids=() t0 t1 c0 c1
    per_rate=$(( (rate + JOBS - 1) / JOBS ))
    per_calls=$(( (calls + JOBS - 1) / JOBS ))
    # time bound: the traffic itself plus slack, never more than 20 s
    bound=$(( per_calls / (per_rate > 0 ? per_rate : 1) + 6 ))
    [ "$bound" -le 20 ] || bound=20
    S_TAG="$kind-$rate"
    local u0=0 u1=0 m0 m1 pid e0 e1
    e0=$(server_errors)
    for pid in "${UAS_PIDS[@]}"; do u0=$((u0 + $(cpu_ticks "$pid"))); done
    m0=$(machine_ticks)
    c0=$(cpu_ticks "$SERVER_PID"); t0=$(now_ns)
    for k in $(seq 0 $((JOBS - 1))); do
        local port; port=$(free_port)
        if [ "$kind" = reg ]; then
            # the same local port (so the same Contact) for every REGISTER
            # step of this target: users refresh their one binding instead
            # of adding one per step (as a phone re-registering would)
            port=${REG_PORTS[$k]}
            run_sipp "$S_TAG-$k" "$bound" -sf "$SIPP_DIR/register.xml" -inf "$OUT/users_$k.csv" \
                -p "$port" -r "$per_rate" -rp 1000 -m "$per_calls" -l $((per_rate * 4 + 100)) \
                "$HOST:$SERVER_PORT"
        else
            # -default_behaviors all,-abortunexp: a 180 that a multi-worker
            # proxy forwards after the 200 (UDP reordering, legal) must not
            # abort the call; a wrong final response still fails it (the
            # expected 200 never comes: -recv_timeout).
            run_sipp "$S_TAG-$k" "$bound" -sf "$SIPP_DIR/uac.xml" -inf "$OUT/users_$k.csv" \
                -default_behaviors all,-abortunexp \
                -s "$(callee_name "$k")" -d "$PAUSE_MS" \
                -p "$port" -r "$per_rate" -rp 1000 -m "$per_calls" \
                -l $((per_rate * 6 + 100)) "$HOST:$SERVER_PORT"
        fi
        pids+=("$RUN_PID")
    done
    for k in "${pids[@]}"; do wait "$k"; forget_pid "$k"; done
    t1=$(now_ns); c1=$(cpu_ticks "$SERVER_PID")
    m1=$(machine_ticks)
    e1=$(server_errors)
    S_SRVERR=$((e1 - e0))
    for pid in "${UAS_PIDS[@]}"; do u1=$((u1 + $(cpu_ticks "$pid"))); done

    local created=0 ok=0 fail=0 maxel=0 sippcpu=0 retr=0 rsum=0
    for k in $(seq 0 $((JOBS - 1))); do
        read -r cr o f el rt rr < <(sipp_stats "$OUT/$S_TAG-$k.csv" "$per_calls")
        created=$((created + cr)); ok=$((ok + o)); fail=$((fail + f)); retr=$((retr + rt))
        maxel=$(python3 -c "print(max($maxel, $el))")
        rsum=$(python3 -c "print($rsum + $rr)")
        local cpu; cpu=$(python3 -c "
import sys
try:
    u, s = open('$OUT/$S_TAG-$k.cpu').read().split()[-2:]
    print(round((float(u) + float(s)) / max($el, 0.001) * 100))
except Exception:
    print(0)")
        [ "$cpu" -gt "$sippcpu" ] && sippcpu=$cpu
    done
    S_OK=$ok; S_FAIL=$((calls > ok ? calls - ok : 0)); S_CREATED=$created
    S_SIPPCPU=$sippcpu
    S_RATE=$(python3 -c "print(round($rsum))")
    S_SRVCPU=$(python3 -c "print(round(($c1 - $c0) / $CLK_TCK / (($t1 - $t0) / 1e9) * 100))")
    S_UASCPU=0
    [ "$kind" = call ] && S_UASCPU=$(python3 -c "print(round(($u1 - $u0) / $CLK_TCK / (($t1 - $t0) / 1e9) * 100 / $JOBS))")
    S_MACHINE=$(python3 -c "
b0, a0 = map(int, '$m0'.split()); b1, a1 = map(int, '$m1'.split())
print(round((b1 - b0) / max(a1 - a0, 1) * 100))")
    # pass: under 0.1 % failed (unanswered or never started counts as failed)
    # and the offered rate was really offered (SIPp kept up within 10 %)
    S_PASS=0
    if [ $((S_FAIL * 1000)) -lt "$calls" ] || [ "$S_FAIL" = 0 ]; then
        if python3 -c "import sys; sys.exit(0 if $S_RATE >= 0.9 * $rate else 1)"; then
            S_PASS=1
        fi
    fi
    local note=""
    [ "$S_SIPPCPU" -ge 90 ] && note=" sipp-bound"
    [ "$S_UASCPU" -ge 90 ] && note="$note uas-bound"
    [ "$S_MACHINE" -ge 95 ] && note="$note machine-full"
    [ "$S_FAIL" -gt 0 ] && [ "$S_FAIL" -ge "$calls" ] && note="$note no-answer"
    [ "$S_SRVERR" -gt 0 ] && note="$note server-log-errors:$S_SRVERR"
    printf '  %-4s %6d/s  ok %6d/%-6d fail %-5d retr %-5d got %6d/s  cpu: server %3d%% sipp %3d%% uas %3d%% all %3d%%  %s%s\n' \
        "$kind" "$rate" "$ok" "$calls" "$S_FAIL" "$retr" "$S_RATE" "$S_SRVCPU" "$S_SIPPCPU" "$S_UASCPU" "$S_MACHINE" \
        "$([ $S_PASS = 1 ] && echo pass || echo FAIL)" "$note"
    echo "$kind $rate $calls $ok $S_FAIL $retr $S_RATE $S_SRVCPU $S_SIPPCPU $S_UASCPU $S_MACHINE $S_PASS" >> "$OUT/steps-$CUR_TARGET.txt"
}

# ladder KIND "RATES": step up until a rate fails, then bisect REFINE times
# between the last pass and the first failure. Sets BEST_* from the best
# passing step.
ladder() {
    local kind=$1 rates=$2 r lo=0 hi=0 i
    BEST_RATE=0; BEST_OFFERED=0; BEST_FAIL=0; BEST_CALLS=0; BEST_SRVCPU=0; BEST_SIPPCPU=0; BEST_TAG=""
    LAST_SIPPCPU=0; LAST_UASCPU=0; LAST_MACHINE=0; BEST_UASCPU=0; BEST_MACHINE=0
    local start_ts; start_ts=$(date +%s)
    try_rate() {
        local rate=$1 calls
        calls=$((rate * STEP_TIME))
        if [ "$kind" = call ] && ! uas_alive; then
            echo "  UAS sipp died; restarting it"
            stop_uas; start_uas || return 2
        fi
        step "$kind" "$rate" "$calls"
        LAST_SIPPCPU=$S_SIPPCPU; LAST_UASCPU=$S_UASCPU; LAST_MACHINE=$S_MACHINE
        if [ "$S_PASS" = 1 ]; then
            if [ "$S_RATE" -gt "$BEST_RATE" ]; then
                BEST_RATE=$S_RATE; BEST_OFFERED=$rate; BEST_FAIL=$S_FAIL; BEST_CALLS=$calls
                BEST_SRVCPU=$S_SRVCPU; BEST_SIPPCPU=$S_SIPPCPU; BEST_TAG=$S_TAG
                BEST_UASCPU=$S_UASCPU; BEST_MACHINE=$S_MACHINE
            fi
            return 0
        fi
        return 1
    }
    for r in $rates; do
        # keep the whole run bounded: at most 4 minutes per ladder
        [ $(( $(date +%s) - start_ts )) -lt 240 ] || { echo "  (time budget of the ladder used up)"; break; }
        sleep 2   # let the server drain timers of the previous step
        if try_rate "$r"; then lo=$r; else hi=$r; break; fi
    done
    if [ "$hi" -gt 0 ] && [ "$lo" -gt 0 ]; then
        for i in $(seq 1 "$REFINE"); do
            [ $(( $(date +%s) - start_ts )) -lt 240 ] || break
            r=$(( (lo + hi) / 2 ))
            [ $((hi - lo)) -gt $((lo / 20 + 1)) ] || break
            # after a failed (overloaded) step the server still retransmits
            # and keeps transactions for a while (Kamailio: 5 s fr/wait
            # timers): give it 8 s, or the next step inherits that load
            if [ "$S_PASS" = 1 ]; then sleep 2; else sleep 8; fi
            if try_rate "$r"; then lo=$r; else hi=$r; fi
        done
    fi
    FIRST_FAIL=$hi
}

# Busy CPU of the whole machine over 1 s, in % of one core, and the busiest
# processes: a bench on a shared 2-core machine is only worth the idle time
# it had.
machine_busy() {
    python3 - <<'EOF'
import os, time
def snap():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = snap(); time.sleep(1); t1, i1 = snap()
print(round((1 - (i1 - i0) / max(t1 - t0, 1)) * 100 * os.cpu_count()))
EOF
}

check_quiet() {
    local busy
    busy=$(machine_busy)
    BUSY_BEFORE=$busy
    if [ "$busy" -gt 25 ]; then
        echo "WARNING: the machine is already busy (${busy}% of one core in use before the server starts);"
        echo "         the numbers below are lower than on an idle machine. Busiest processes:"
        ps -eo pid,pcpu,comm --sort=-pcpu | sed -n '2,5p' | sed 's/^/           /'
    fi
}

# keep_best TARGET KIND: store the ladder's result in RES[TARGET.KIND_*]
keep_best() {
    local t=$1 k=$2
    RES[$t.$k]=$BEST_RATE; RES[$t.${k}_offered]=$BEST_OFFERED
    RES[$t.${k}_fail]="$BEST_FAIL/$BEST_CALLS"; RES[$t.${k}_cpu]=$BEST_SRVCPU
    RES[$t.${k}_sipp]=$BEST_SIPPCPU; RES[$t.${k}_uas]=$BEST_UASCPU
    RES[$t.${k}_machine]=$BEST_MACHINE; RES[$t.${k}_firstfail]=$FIRST_FAIL
    # what limited it: the step that failed (or the last one if none did)
    local why="server"
    if [ "$LAST_SIPPCPU" -ge 90 ]; then why="SIPp client (${LAST_SIPPCPU}% cpu)"
    elif [ "$LAST_UASCPU" -ge 90 ]; then why="SIPp UAS (${LAST_UASCPU}% cpu)"
    elif [ "$LAST_MACHINE" -ge 95 ]; then why="all cores busy (${LAST_MACHINE}%)"
    fi
    [ "$FIRST_FAIL" = 0 ] && why="not reached (ladder top)"
    RES[$t.${k}_limit]=$why
    [ -n "$BEST_TAG" ] && cat "$OUT"/"$BEST_TAG"-*.cmd > "$OUT/cmd-$t-$k.txt"
}

# ---------------------------------------------------------------- one target
declare -A RES

run_target() {
    local target=$1 rc=0 k
    CUR_TARGET=$target
    : > "$OUT/steps-$target.txt"
    echo
    echo "=== $target ==="
    if [ "$target" = sipline ]; then
        sipline_available || { RES[$target.skipped]=1; return 3; }
    fi
    check_quiet
    RES[$target.busy]=$BUSY_BEFORE
    SERVER_PORT=$(free_port)
    if [ "$target" = kamailio ]; then start_kamailio || return 1; else start_sipline || return 1; fi
    log "server: $SERVER_CMD (pid $SERVER_PID)"
    wait_ready || { stop_pid "$SERVER_PID"; forget_pid "$SERVER_PID"; return 1; }
    log "server answers OPTIONS on $HOST:$SERVER_PORT"
    RES[$target.server_cmd]=$SERVER_CMD
    REG_PORTS=()
    for k in $(seq 0 $((JOBS - 1))); do REG_PORTS+=("$(free_port)"); done

    # --- interop check: every user registers once, then CHECK_CALLS calls
    # every user once, in at most ~8 s of traffic
    local check_rate=$(( USERS / 8 > 200 ? USERS / 8 : 200 ))
    log "interop: REGISTER $USERS users at $check_rate/s, then $CHECK_CALLS calls at 25/s"
    step reg "$check_rate" "$USERS"
    RES[$target.check_reg]="$S_OK/$USERS"
    local check_ok=1
    [ "$S_OK" = "$USERS" ] || check_ok=0
    cp "$OUT/$S_TAG-0.cmd" "$OUT/cmd-$target-check-reg.txt"
    if start_uas; then
        step call 25 "$CHECK_CALLS"
        RES[$target.check_call]="$S_OK/$CHECK_CALLS"
        [ "$S_OK" = "$CHECK_CALLS" ] || check_ok=0
        cp "$OUT/$S_TAG-0.cmd" "$OUT/cmd-$target-check-call.txt"
    else
        RES[$target.check_call]="callee registration failed"
        check_ok=0
    fi
    RES[$target.check]=$([ $check_ok = 1 ] && echo pass || echo FAIL)
    log "interop check: ${RES[$target.check]} (REGISTER ${RES[$target.check_reg]}, calls ${RES[$target.check_call]})"

    if [ "$QUICK" = 0 ] && [ "$check_ok" = 1 ]; then
        log "REGISTER rate ladder (${STEP_TIME}s of traffic per step, -j $JOBS)"
        ladder reg "$REG_RATES"
        keep_best "$target" reg
        log "call rate ladder (pause ${PAUSE_MS} ms, ${STEP_TIME}s per step, -j $JOBS)"
        ladder call "$CALL_RATES"
        keep_best "$target" call
    elif [ "$check_ok" = 0 ]; then
        echo "interop check failed: not measuring rates. Logs: $OUT (use --keep)"
        rc=1
    fi
    stop_uas
    stop_pid "$SERVER_PID"; forget_pid "$SERVER_PID"
    RES[$target.ran]=1
    return $rc
}

# ---------------------------------------------------------------- main
log "bench dir $OUT; $(nproc) cores; $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1); users $USERS; -j $JOBS; auth $([ $AUTH = 1 ] && echo on || echo off)$([ $PIN = 1 ] && echo "; pinned: server on CPU 0, SIPp on the others")${CPU_QUOTA:+; server CPU quota $CPU_QUOTA% of a core}"
write_users
status=0
for t in "${TARGETS[@]}"; do
    run_target "$t"; r=$?
    if [ $r = 1 ]; then status=1; elif [ $r = 3 ] && [ ${#TARGETS[@]} = 1 ]; then status=3; fi
done

# ---------------------------------------------------------------- report
{
echo
echo "=== results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), -j $JOBS, pause ${PAUSE_MS} ms, auth $([ $AUTH = 1 ] && echo on || echo off)$([ $PIN = 1 ] && echo ", pinned")${CPU_QUOTA:+, server quota $CPU_QUOTA%}) ==="
if [ "$QUICK" = 1 ]; then
    printf '%-9s | %-8s | %-14s | %-14s\n' target check REGISTER calls
    printf '%-9s-+-%-8s-+-%-14s-+-%-14s\n' --------- -------- -------------- --------------
    for t in "${TARGETS[@]}"; do
        if [ -n "${RES[$t.skipped]:-}" ]; then printf '%-9s | %-8s\n' "$t" skipped; continue; fi
        [ -n "${RES[$t.ran]:-}" ] || { printf '%-9s | %-8s\n' "$t" "no start"; continue; }
        printf '%-9s | %-8s | %-14s | %-14s\n' "$t" "${RES[$t.check]}" "${RES[$t.check_reg]} ok" "${RES[$t.check_call]} ok"
    done
else
    fmt='%-9s | %-5s | %-10s | %-9s | %-12s | %-8s | %-8s | %-9s | %-15s | %-8s | %s\n'
    printf "$fmt" target check REGISTER/s "failed" "cpu srv/sipp" "1st fail" calls/s failed "cpu srv/uac/uas" "1st fail" "all cores"
    printf "$fmt" --------- ----- ---------- --------- ------------ -------- -------- --------- --------------- -------- ---------
    for t in "${TARGETS[@]}"; do
        if [ -n "${RES[$t.skipped]:-}" ]; then printf '%-9s | skipped (sipline serve not available)\n' "$t"; continue; fi
        [ -n "${RES[$t.ran]:-}" ] || { printf '%-9s | server did not start\n' "$t"; continue; }
        [ -n "${RES[$t.reg]:-}" ] || { printf '%-9s | %-5s | interop check failed (REGISTER %s ok, calls %s ok)\n' "$t" "${RES[$t.check]}" "${RES[$t.check_reg]}" "${RES[$t.check_call]}"; continue; }
        printf "$fmt" "$t" "${RES[$t.check]}" \
            "${RES[$t.reg]}" "${RES[$t.reg_fail]}" "${RES[$t.reg_cpu]}/${RES[$t.reg_sipp]}%" "${RES[$t.reg_firstfail]}" \
            "${RES[$t.call]}" "${RES[$t.call_fail]}" "${RES[$t.call_cpu]}/${RES[$t.call_sipp]}/${RES[$t.call_uas]}%" \
            "${RES[$t.call_firstfail]}" "${RES[$t.reg_machine]}/${RES[$t.call_machine]}%"
    done
    echo
    echo "REGISTER/s, calls/s: successful per second at the highest offered rate with <0.1% failed"
    echo "  (failed = not completed of that step); 1st fail: the lowest offered rate that failed (0: none);"
    echo "  cpu: % of one core during that step (srv = server process and its children, sipp/uac = busiest"
    echo "  client instance, uas = callee SIPp); all cores: % of all $(nproc) cores busy (reg/call steps)."
    for t in "${TARGETS[@]}"; do
        [ -n "${RES[$t.reg]:-}" ] || continue
        echo "$t limited by: REGISTER: ${RES[$t.reg_limit]}; calls: ${RES[$t.call_limit]}"
        [ -n "${RES[$t.busy]:-}" ] && [ "${RES[$t.busy]}" -gt 25 ] && \
            echo "NOTE $t: the machine was ${RES[$t.busy]}% busy (of one core) before the run: numbers are low"
        case "${RES[$t.reg_limit]} ${RES[$t.call_limit]}" in
            *SIPp*) echo "NOTE $t: a SIPp instance used ~100% of a core: SIPp is the bottleneck there; try -j 2" ;;
        esac
    done
    if [ -n "${RES[kamailio.reg]:-}" ] && [ -n "${RES[sipline.reg]:-}" ]; then
        python3 -c "
k_r, k_c, s_r, s_c = ${RES[kamailio.reg]}, ${RES[kamailio.call]}, ${RES[sipline.reg]}, ${RES[sipline.call]}
print('sipline/kamailio: REGISTER %.2f, calls %.2f' % (s_r / k_r if k_r else 0, s_c / k_c if k_c else 0))"
    fi
fi
echo
echo "commands (\$OUT = $OUT):"
for t in "${TARGETS[@]}"; do
    [ -n "${RES[$t.server_cmd]:-}" ] || continue
    echo "  $t server:   ${RES[$t.server_cmd]}"
    for f in check-reg check-call reg call; do
        [ -f "$OUT/cmd-$t-$f.txt" ] || continue
        while IFS= read -r line || [ -n "$line" ]; do echo "  $t $f: $line"; done < "$OUT/cmd-$t-$f.txt"
    done
    [ -f "$OUT/uas-0.cmd" ] && echo "  $t uas:      $(cat "$OUT/uas-0.cmd")"
done
} | tee "$OUT/results.txt"

exit $status
