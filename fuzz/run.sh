#!/usr/bin/env bash
# Runs every cargo-fuzz target of this directory for SECONDS each.
#
#   bash fuzz/run.sh [SECONDS]          (default 60; from anywhere)
#
# - installs cargo-fuzz if it is missing (`cargo install cargo-fuzz --locked`);
# - cargo fuzz passes nightly-only rustc flags (-Zsanitizer=address,
#   -Cpasses=sancov-module, ...). This project builds with the stable
#   toolchain, so the script sets RUSTC_BOOTSTRAP=1, which lets stable rustc
#   accept them (the sanitizer runtimes ship with stable's std on
#   x86_64-unknown-linux-gnu). Set FUZZ_TOOLCHAIN=+nightly to use a nightly
#   instead;
# - the working corpus lives in fuzz/corpus/<target> (not committed), seeded
#   from the committed fuzz/seeds/<target>; crashes land in
#   fuzz/artifacts/<target>/ and make the script exit non-zero.
# Extra libFuzzer flags can be given in FUZZ_FLAGS (e.g. "-jobs=2").
set -euo pipefail

SECS="${1:-60}"
FUZZ="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$FUZZ"
log() { echo "[fuzz/run.sh] $*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked
fi
TOOLCHAIN="${FUZZ_TOOLCHAIN:-}"
if [ -z "$TOOLCHAIN" ]; then
  export RUSTC_BOOTSTRAP=1
fi

status=0
for target in $(cargo $TOOLCHAIN fuzz list); do
  mkdir -p "corpus/$target" "artifacts/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  log "$target: building and fuzzing for ${SECS} s"
  logfile="artifacts/$target/last-run.log"
  # shellcheck disable=SC2086
  if cargo $TOOLCHAIN fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
      -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 ${FUZZ_FLAGS:-} \
      2>&1 | tee "$logfile" | grep -E '^(#[0-9]+.*(INITED|DONE|NEW|REDUCE|pulse))|^(==|SUMMARY|Done|stat::|thread)' \
      | grep -Ev 'NEW|REDUCE' ; then
    :
  fi
  if grep -qE '^(==[0-9]+==ERROR|SUMMARY: |.*deadly signal|thread .* panicked)' "$logfile"; then
    log "$target: FAILED — see $FUZZ/$logfile and fuzz/artifacts/$target/"
    grep -E '^Test unit written to|^artifact_prefix' "$logfile" >&2 || true
    status=1
  elif ! grep -q '^Done [0-9]* runs' "$logfile"; then
    log "$target: did not finish normally — see $FUZZ/$logfile"
    tail -n 20 "$logfile" >&2
    status=1
  else
    log "$target: $(grep '^Done [0-9]* runs' "$logfile"), corpus $(find "corpus/$target" -type f | wc -l) inputs, no findings"
  fi
done
exit $status
