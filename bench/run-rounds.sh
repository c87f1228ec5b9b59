#!/usr/bin/env bash
# `run-bench.sh --both` several times in a row, and the median of the
# ratios. On a shared VM one ladder step can fail on a stall of the disk or
# of the host (a REGISTER answered a second late is a retransmission, and
# the step then offers less than it should), and a server's figure moves
# by a fifth from one run to the next. Each round runs Kamailio, then
# sipline, back to back, so each ratio is of two runs a few minutes apart.
#
#   bench/run-rounds.sh ROUNDS [run-bench.sh options, without --both]
#   e.g. bench/run-rounds.sh 3 --pin --cpu-quota 50 --call-rates "500"
#
# Prints one line per round (both servers' REGISTER/s and calls/s, and
# the ratios), then the medians. Every round's whole output is kept in
# $OUT/round-N.txt (OUT: a new directory under /tmp, printed).
set -u
ROUNDS=${1:?rounds}; shift
case "$ROUNDS" in '' | *[!0-9]*) echo "ROUNDS must be a number" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(mktemp -d /tmp/sipline-rounds.XXXXXX)
echo "rounds of run-bench.sh --both $*; outputs in $OUT"
RATIOS=()
for r in $(seq 1 "$ROUNDS"); do
    "$HERE/run-bench.sh" --both "$@" > "$OUT/round-$r.txt" 2>&1
    # the results table: "target | check | REGISTER/s | ... | calls/s | ..."
    k=$(awk -F'|' '/^kamailio +\|/ {gsub(/ /, ""); print $3, $7}' "$OUT/round-$r.txt" | tail -1)
    s=$(awk -F'|' '/^sipline +\|/ {gsub(/ /, ""); print $3, $7}' "$OUT/round-$r.txt" | tail -1)
    ratio=$(sed -n 's/^sipline\/kamailio: //p' "$OUT/round-$r.txt" | tail -1)
    printf '%s round %d: kamailio REG/s, calls/s: %s; sipline: %s; %s\n' \
        "$(date -u +%H:%M)" "$r" "${k:-none}" "${s:-none}" "${ratio:-no ratio (see $OUT/round-$r.txt)}"
    [ -n "$ratio" ] && RATIOS+=("$ratio")
done
[ ${#RATIOS[@]} -gt 0 ] || { echo "no round gave a ratio"; exit 1; }
printf '%s\n' "${RATIOS[@]}" | python3 -c "
import re, statistics, sys
reg, call = [], []
for line in sys.stdin:
    m = re.match(r'REGISTER ([0-9.]+), calls ([0-9.]+)', line)
    if m:
        reg.append(float(m.group(1)))
        call.append(float(m.group(2)))
print('median of %d rounds: REGISTER %.2f (%s), calls %.2f (%s)' % (
    len(reg), statistics.median(reg), ', '.join('%.2f' % x for x in reg),
    statistics.median(call), ', '.join('%.2f' % x for x in call)))"
