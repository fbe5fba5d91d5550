#!/usr/bin/env bash
# Wall time per call, each variant alone in a process: ROUNDS rounds, each
# running every binary once per variant (`ab none 31 CALLS VARIANT`), with
# address randomisation on, so that each process gets another stack and
# thread-local placement. Prints the median ns/call of each binary and
# variant, with the fastest and slowest process, and each variant's median
# over the first variant's median of the same binary.
#
# Usage: benches/ab-median.sh [-n ROUNDS] [-c CALLS] BIN... -- VARIANT...
#   benches/ab-median.sh target/release/ab -- async_dyn_tracing async_dyn_io_counters
#
# Why: one process measures one placement. The same binary measured the
# counted async call at 7.49 ns in one process and 8.14 ns in the next, and
# under `setarch -R` the variants sharing a process moved it by more than
# that (see BENCHMARKS.md). The median over processes is the figure to
# compare; the spread says how much placement alone moves it.
set -euo pipefail

rounds=11
calls=1000000
while getopts "n:c:" opt; do
    case "$opt" in
        n) rounds="$OPTARG" ;;
        c) calls="$OPTARG" ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))

bins=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    bins+=("$1")
    shift
done
if [ $# -eq 0 ] || [ ${#bins[@]} -eq 0 ]; then
    echo "usage: $0 [-n ROUNDS] [-c CALLS] BIN... -- VARIANT..." >&2
    exit 2
fi
shift
if [ $# -eq 0 ]; then
    echo "no variants given" >&2
    exit 2
fi

for _ in $(seq "$rounds"); do
    for bin in "${bins[@]}"; do
        for variant in "$@"; do
            # The last line of `ab` is the variant's own: name, ns/call, ratio.
            printf '%s %s %s\n' "$bin" "$variant" "$("$bin" none 31 "$calls" "$variant" | tail -1 | awk '{print $2}')"
        done
    done
done | python3 -c '
import collections, statistics, sys

order = sys.argv[1:]
times = collections.defaultdict(list)
for line in sys.stdin:
    binary, variant, ns = line.split()
    times[(binary, variant)].append(float(ns))
print("%-32s %-26s %8s %8s %8s %6s" % ("binary", "variant", "median", "min", "max", "ratio"))
for binary in dict.fromkeys(b for b, _ in times):
    base = statistics.median(times[(binary, order[0])])
    for variant in order:
        xs = sorted(times[(binary, variant)])
        median = statistics.median(xs)
        print(f"{binary:32} {variant:26} {median:8.3f} {xs[0]:8.3f} {xs[-1]:8.3f} {median / base:6.2f}")
' "$@"
