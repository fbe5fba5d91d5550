#!/usr/bin/env bash
# Wall time per call, each variant alone in a process: ROUNDS rounds, each
# running every binary once per variant (`ab none 31 CALLS VARIANT`), with
# address randomisation on, so that each process gets another stack and
# thread-local placement. The variants' order rotates from round to round,
# so that none always runs first or after the same one. Prints the median
# ns/call of each binary and variant, with the fastest and slowest process,
# and each variant's median over the first variant's median of the same
# binary.
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

die() {
    echo "$0: $*" >&2
    exit 2
}

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
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "-n wants a positive number of rounds, not '$rounds'"
[[ "$calls" =~ ^[1-9][0-9]*$ ]] || die "-c wants a positive number of calls, not '$calls'"

bins=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    [ -x "$1" ] && [ -f "$1" ] || die "'$1' is not an executable file (options go before the binaries)"
    bins+=("$1")
    shift
done
[ $# -gt 0 ] && [ ${#bins[@]} -gt 0 ] || die "usage: $0 [-n ROUNDS] [-c CALLS] BIN... -- VARIANT..."
shift
[ $# -gt 0 ] || die "no variants given"
variants=("$@")

# Every process must get its own placement: refuse to run without address
# randomisation (disabled for the machine, or for this shell by `setarch -R`).
if [ "$(cat /proc/sys/kernel/randomize_va_space 2>/dev/null || echo 2)" = 0 ]; then
    die "address randomisation is off on this machine (kernel.randomize_va_space = 0)"
fi
if [ -r /proc/self/personality ] && (( 0x$(cat /proc/self/personality) & 0x0040000 )); then
    die "address randomisation is off for this shell (setarch -R): run without it"
fi

samples="$(mktemp)"
trap 'rm -f "$samples"' EXIT
count=${#variants[@]}
for round in $(seq 0 $((rounds - 1))); do
    for bin in "${bins[@]}"; do
        for k in $(seq 0 $((count - 1))); do
            variant="${variants[$(((k + round) % count))]}"
            out="$("$bin" none 31 "$calls" "$variant")" || die "$bin failed on $variant"
            # `ab` ends with one row per variant: name, ns/call, ratio.
            ns="$(awk -v v="$variant" '$1 == v { t = $2 } END { print t }' <<<"$out")"
            [[ "$ns" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$bin printed no time for $variant"
            printf '%s\t%s\t%s\n' "$bin" "$variant" "$ns" >>"$samples"
        done
    done
done

python3 - "$samples" "${variants[@]}" <<'EOF'
import collections, statistics, sys

samples, order = sys.argv[1], sys.argv[2:]
times = collections.defaultdict(list)
with open(samples) as f:
    for line in f:
        binary, variant, ns = line.rstrip("\n").split("\t")
        times[(binary, variant)].append(float(ns))
print("%-32s %-26s %8s %8s %8s %6s" % ("binary", "variant", "median", "min", "max", "ratio"))
for binary in dict.fromkeys(b for b, _ in times):
    base = statistics.median(times[(binary, order[0])])
    for variant in order:
        xs = sorted(times[(binary, variant)])
        median = statistics.median(xs)
        print(f"{binary:32} {variant:26} {median:8.3f} {xs[0]:8.3f} {xs[-1]:8.3f} {median / base:6.2f}")
EOF
