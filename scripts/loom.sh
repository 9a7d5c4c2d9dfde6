#!/usr/bin/env bash
# grove's loom models: the cross-thread edges (Handle wake-up, AsyncResult set
# from another thread, the thread pool, grove::channel) under loom's model checker. See the
# module docs of crates/grove/src/sync.rs.
#
#   bash scripts/loom.sh                 # all models, 3 preemptions
#   LOOM_MAX_PREEMPTIONS=4 bash scripts/loom.sh hub::handle::loom_tests  # deeper, one file's models
#
# The filter must select loom_tests only: grove's other unit tests cannot run
# on loom's types (outside loom::model they panic).
#
# Builds into target/loom (`--cfg loom` changes every crate's flags; a target
# dir of its own keeps the normal build's cache intact).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export RUSTFLAGS="${RUSTFLAGS:-} --cfg loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"
filter="${1:-loom_tests}"
cargo test -p grove-rt --release --lib -- "$filter"
