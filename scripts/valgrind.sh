#!/usr/bin/env bash
# A few of grove's test binaries under valgrind memcheck: a second opinion
# beside AddressSanitizer (scripts/sanitize.sh), on uninstrumented code.
#
#   bash scripts/valgrind.sh                          # the default test files
#   bash scripts/valgrind.sh greenlet_kill event_basics   # chosen test files
#
# `--cfg grove_valgrind` registers every greenlet stack with valgrind
# (VALGRIND_STACK_REGISTER, crates/grove/src/fiber_check.rs), so memcheck
# tells a stack switch from a wild stack-pointer move and checks the right
# stack's bounds; without it valgrind guesses from the size of the jump and
# prints "client switching stacks?" warnings. Builds go to target/valgrind.
# Exit status is non-zero when memcheck reports an error or a definite leak
# in any binary, or a test fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind >/dev/null
fi

TESTS=("$@")
if [ ${#TESTS[@]} -eq 0 ]; then
    TESTS=(greenlet_basics greenlet_kill timeout_nesting event_basics queue_basics lock_semaphore)
fi
args=()
for t in "${TESTS[@]}"; do args+=(--test "$t"); done

export RUSTFLAGS="--cfg grove_valgrind"
bins=$(cargo test -p grove-rt --target-dir target/valgrind "${args[@]}" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])')

status=0
for bin in $bins; do
    log=$(mktemp)
    rc=0
    valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
        --show-leak-kinds=definite --errors-for-leak-kinds=definite \
        --log-file="$log" "$bin" --test-threads=1 -q >/dev/null 2>&1 || rc=$?
    summary=$(grep -E "ERROR SUMMARY|definitely lost|switching stacks" "$log" | sed 's/^==[0-9]*== //' | sort | uniq -c | tr -s ' ' | paste -sd';' -)
    echo "$(basename "$bin"): exit $rc; $summary (log $log)"
    [ "$rc" -eq 0 ] || status=1
done
exit "$status"
