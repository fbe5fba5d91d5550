#!/usr/bin/env bash
# Instructions per call (Ir/call), deterministic: each variant runs under
# callgrind at N1 and N2 calls, collecting only inside `icount::run`, and
# (Ir(N2) - Ir(N1)) / (N2 - N1) is printed, minus nothing: the "empty" row is
# the loop alone, "bare" the uninstrumented function.
#
# Usage: benches/icount.sh [SETUP...]   (default: none filtered registry_nop fmt_sink)
#        VARIANTS="io_spans io_off" benches/icount.sh none   (only those variants)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p instrument-once-benches --bin icount
BIN=target/release/icount
N1=${N1:-20000}
N2=${N2:-220000}
OUT=target/callgrind
mkdir -p "$OUT"
SETUPS=${*:-none filtered registry_nop fmt_sink}
SYNC="empty bare tracing fastrace autometrics floor io_spans io_counters io_timed io_off io_max_depth io_depth_only rec_bare rec_io_outermost"
ASYNC="async_bare async_tracing async_io_spans async_io_counters async_dyn_bare async_dyn_tracing async_dyn_io_spans async_dyn_io_counters async_dyn_io_off hook_boxed_fn hook_boxed_nested hook_slot_no_layer hook_slot_one_layer"

ir() {
    local f="$OUT/$1.$2.$3"
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect='icount::run' \
        --callgrind-out-file="$f" "$BIN" "$1" "$2" "$3" >/dev/null 2>"$f.log"
    grep -h '^totals:' "$f" | awk '{print $2}'
}

printf "%-14s %-20s %10s\n" setup variant "Ir/call"
for setup in $SETUPS; do
    variants="$SYNC $ASYNC"
    if [ "$setup" = filtered ]; then variants="bare tracing_trace io_spans_trace"; fi
    if [ -n "${VARIANTS:-}" ]; then variants="$VARIANTS"; fi
    for v in $variants; do
        a=$(ir "$setup" "$v" "$N1")
        b=$(ir "$setup" "$v" "$N2")
        awk -v s="$setup" -v v="$v" -v a="$a" -v b="$b" -v d=$((N2 - N1)) \
            'BEGIN { printf "%-14s %-20s %10.1f\n", s, v, (b - a) / d }'
    done
done
