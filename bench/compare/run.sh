#!/usr/bin/env bash
# Runs the parser comparison bench (sipline-message vs rsip vs rsipstack) and prints
# a table of mean throughput in messages per second, from criterion's estimates.
# Extra arguments are passed to criterion after the defaults (e.g. a name filter).
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo bench --manifest-path bench/compare/Cargo.toml -- \
    --warm-up-time 2 --measurement-time 5 "$@"

python3 - bench/compare/target/criterion <<'PY'
import json, pathlib, sys

root = pathlib.Path(sys.argv[1])
inputs = ["invite", "register", "ok"]
parsers = ["sipline", "rsip", "rsipstack"]
rate = {}  # (input, parser, kind) -> msgs/s
for bench in root.glob("*/*/new/benchmark.json"):
    meta = json.loads(bench.read_text())
    parser, _, kind = meta["function_id"].partition("/")
    mean_ns = json.loads((bench.parent / "estimates.json").read_text())["mean"]["point_estimate"]
    rate[(meta["group_id"], parser, kind)] = 1e9 / mean_ns

def cell(k):
    return f"{rate[k]:>14,.0f}" if k in rate else f"{'-':>14}"

print()
print(f"{'input':<10}{'parser':<11}{'parse msg/s':>14}{'parse+key msg/s':>17}{'vs sipline':>12}")
for i in inputs:
    for p in parsers:
        base, mine = rate.get((i, "sipline", "parse")), rate.get((i, p, "parse"))
        ratio = f"{mine / base:>11.2f}x" if base and mine else f"{'-':>12}"
        print(f"{i:<10}{p:<11}{cell((i, p, 'parse'))}{cell((i, p, 'parse+key')):>17}{ratio}")
print("(vs sipline: parse throughput relative to sipline's, same input)")
PY
