#!/usr/bin/env bash
# grove's test suite under AddressSanitizer (and its leak checker).
#
#   bash scripts/sanitize.sh                      # the default set of test files
#   bash scripts/sanitize.sh greenlet_kill hub_behaviour   # chosen test files
#
# Every test file runs even when an earlier one fails (--no-fail-fast).
# Uses the stable toolchain with RUSTC_BOOTSTRAP=1 (it ships the ASan
# runtime) and a target directory of its own (target/asan). Only grove's code
# and its dependencies are instrumented, not std. `--cfg grove_asan` makes
# grove announce every greenlet stack switch to ASan
# (__sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber, in
# crates/grove/src/fiber_check.rs), so ASan knows the current stack at all
# times and detect_stack_use_after_return stays on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TESTS=("$@")
if [ ${#TESTS[@]} -eq 0 ]; then
    TESTS=(greenlet_basics greenlet_kill greenlet_kill_storm hub_behaviour queue_basics lock_semaphore event_basics timeout_nesting introspect_run_info net_tcp fault_clock_jump)
fi
args=()
for t in "${TESTS[@]}"; do args+=(--test "$t"); done

export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes --cfg grove_asan"
export RUSTDOCFLAGS="$RUSTFLAGS"
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:abort_on_error=0:halt_on_error=1"
# The target triple keeps build scripts and proc-macros uninstrumented.
target=$(rustc -vV | awk '/^host:/ {print $2}')
log=$(mktemp)
status=0
cargo test -p grove-rt --target "$target" --target-dir target/asan --no-fail-fast "${args[@]}" -- --test-threads=1 >"$log" 2>&1 || status=$?
grep -v -e "==WARNING: ASan is ignoring requested __asan_handle_no_return" \
        -e "False positive error reports may follow" \
        -e "For details see https://github.com/google/sanitizers/issues/189" \
        -e "stack top:" -e "stack bottom:" -e "stack size:" "$log" | grep -E "test result|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY|FAILED|panicked" || true
echo "full log: $log (exit status $status)"
exit "$status"
