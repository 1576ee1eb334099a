#!/bin/sh
# Builds the benchmarks in release mode and runs all of them (issues 2, 3 and 4), printing a
# markdown summary on stdout (progress on stderr) and keeping a copy in
# $CARGO_TARGET_DIR/bench-summary.md. See docs/performance.md for the figures and their meaning.
#
#   scripts/bench.sh            # everything, full iteration counts (~1-2 minutes of measuring)
#   scripts/bench.sh --quick    # smoke run: every count divided by 10
#   scripts/bench.sh apdu       # one part: apdu | provision | sign (flags: --quick, --no-pcsc)
#   scripts/bench.sh pkcs11     # issue 10: C_Sign through libsks_pkcs11.so over PC/SC vs SoftHSM2
#                               # (SKS_BENCH_SECONDS per case, default 3)
#
# The PC/SC parts start a private pcscd in a private mount namespace, so they need root (as the
# conformance tests do) and the packages of scripts/install-deps.sh. A system pcscd is left
# alone. The figures depend on machine load: the script prints the load average first and
# warns above 1.5 (set SKS_BENCH_MAX_LOAD to change the threshold, or to wait for it with
# SKS_BENCH_WAIT=1).
set -eu

cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
export CARGO_TARGET_DIR="$TARGET_DIR"
MAX_LOAD="${SKS_BENCH_MAX_LOAD:-1.5}"

[ "${1:-}" = pkcs11 ] || cargo build --release -p sks-bench >&2

load1() { cut -d' ' -f1 /proc/loadavg; }
above() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

if [ "${SKS_BENCH_WAIT:-0}" = 1 ]; then
    waited=0
    while above "$(load1)" "$MAX_LOAD" && [ "$waited" -lt 600 ]; do
        echo "bench.sh: load $(load1) > $MAX_LOAD, waiting..." >&2
        sleep 15
        waited=$((waited + 15))
    done
fi
echo "bench.sh: $(uptime)" >&2
if above "$(load1)" "$MAX_LOAD"; then
    echo "bench.sh: warning: load average $(load1) > $MAX_LOAD; figures will be pessimistic" >&2
fi

if [ "${1:-}" = pkcs11 ]; then
    exec cargo test --release -p sks-pkcs11 --test bench -- --ignored --nocapture --test-threads 1
fi

# Subcommand first if given (apdu | provision | sign | all), flags after.
"$TARGET_DIR/release/sks-bench" "$@" | tee "$TARGET_DIR/bench-summary.md"
