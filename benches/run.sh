#!/usr/bin/env bash
# grove's benchmarks against its peers, measured in the same run.
#
#   bash benches/run.sh [harness options]        (from the repository root)
#
# 1. installs what the peers need: Go from Debian (apt-get install golang-go)
#    and gevent from PyPI into a venv under benches/target/venv; a peer whose
#    install fails is shown as "n/a" in the table with the reason;
# 2. builds the harness (cargo --release, its own workspace) and the Go peer
#    (standard library only, offline);
# 3. runs `harness all`, pinned to one CPU with taskset, which runs every
#    measurement in a process of its own and prints one markdown table
#    (also saved to benches/target/results.md). As root it raises
#    vm.max_map_count for the peers of the 1M memory row and restores it;
# 4. draws the plots into docs/img/ (matplotlib) from the CSV files the
#    areas run wrote into benches/target/.
#
# Time, on the 2-CPU machine the published figures come from: about 1½ hours
# in full while other builds load it (docs/BENCHMARKS.md, "Reproduce", gives
# each area's command and time).
#
# Harness options (see `benches/target/release/harness --help`), e.g.
#   --quick                 a smoke run (a few minutes; no 1M row)
#   --benches switch,spawn  only the timing rows
#   --benches queue,sem,event  only the coordination-primitive rows
#   --benches echo,connmem  only the cooperative-I/O rows: echo servers
#                           on CPU 1, the load generator on CPU 0, each peer
#                           paired with grove (about 10 min on a loaded machine)
#   --benches dns           only the DNS forwarders: grove-dns, dnsmasq and
#                           the original gevent proxy behind one dnsmasq upstream,
#                           dnsperf on CPU 0 (about 3½ min; needs dnsmasq, dnsperf)
#   --benches http          only the HTTP rows: hello_http (grove-http),
#                           hyper, may_minihttp, Go net/http, gevent pywsgi and a
#                           C kernel-floor server (peers/c/http_floor.c, built
#                           with cc -O2) under wrk -t1 at 64 and 1,024
#                           connections, non-pipelined and pipelined (depth 16,
#                           peers/wrk/pipeline.lua), each peer paired with
#                           grove-http (26 min loaded without the pipelined
#                           table, --http-pipeline 0; about 45 with it)
#   --benches xmlrpc        only the XML-RPC rows: grove-xmlrpc's modes,
#                           Python's SimpleXMLRPCServer plain / threaded / under
#                           gevent (peers/xmlrpc/server.py) and dxr-axum, all
#                           under `grove-xmlrpc bench` on CPU 0 at 1, 64 and 1,024
#                           connections (one round of pairs: about 15 min quiet;
#                           --quick: about 2); builds grove-xmlrpc
#   --benches monkey        only the grove-monkey rows (src/bin/monkey_bench.rs:
#                           passed-through read cost; redis GET from threads, tokio,
#                           greenlets under patch_all; needs redis-server; about 1½ min)
#   --benches bridge        only the bridges: grove::channel ping-pong greenlet <->
#                           thread and greenlet <-> tokio task against crossbeam-channel
#                           and tokio mpsc; grove::tokio::run against tokio::spawn
#                           (src/bridge_rows.rs; widens itself to CPUs 0-1; about 30 s)
#   --benches uring         only the io_uring comparison (not in the default run):
#                           grove-epoll and grove-uring (GROVE_POLLER in the server's
#                           environment) against monoio, tokio/hyper, may/may_minihttp
#                           and the C epoll and io_uring floors (peers/c/*_floor.c;
#                           liburing-dev from Debian), echo at 1/100/10k and HTTP at
#                           64/1,024 connections, plain and pipelined, every server
#                           paired with grove-epoll; memory per idle connection
#                           (about 50 min on a heavily loaded machine; --quick: about 10)
#   --subjects grove,tokio  only some columns (floor: the HTTP kernel floor)
set -euo pipefail

BENCHES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TARGET="$BENCHES/target"
mkdir -p "$TARGET/go"
log() { echo "[run.sh] $*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
# Whether a section is selected: no --benches, or a --benches list naming it
# (`wants dns "$@"`). Peers and apps are installed and built only for their
# sections: a cold release build takes minutes.
wants() {
  local name="$1" prev="" a
  shift
  for a in "$@"; do
    if [ "$prev" = "--benches" ]; then [[ ",$a," == *",$name,"* ]]; return; fi
    prev="$a"
  done
  return 0
}

# Put vm.max_map_count back even if the run is interrupted (the harness also
# restores it itself when it finishes normally).
MAP_COUNT_FILE=/proc/sys/vm/max_map_count
MAP_COUNT_ORIG="$(cat "$MAP_COUNT_FILE" 2>/dev/null || true)"
restore_map_count() {
  if is_root && [ -n "$MAP_COUNT_ORIG" ] && [ "$(cat "$MAP_COUNT_FILE")" != "$MAP_COUNT_ORIG" ]; then
    echo "$MAP_COUNT_ORIG" >"$MAP_COUNT_FILE" && log "restored vm.max_map_count to $MAP_COUNT_ORIG"
  fi
}
trap restore_map_count EXIT

# --- Go peer -----------------------------------------------------------------
GO_ARGS=()
go_wanted() {
  local b
  for b in switch spawn mem queue sem event echo connmem http; do wants "$b" "$@" && return 0; done
  return 1
}
if ! go_wanted "$@"; then
  GO_ARGS=(--no-go "not needed by the selected sections")
elif ! command -v go >/dev/null 2>&1; then
  if is_root && command -v apt-get >/dev/null 2>&1; then
    log "installing golang-go with apt-get (log: $TARGET/apt.log)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go; } >"$TARGET/apt.log" 2>&1; then
      log "apt-get install golang-go failed: $(tail -n 1 "$TARGET/apt.log")"
    fi
  fi
fi
if command -v go >/dev/null 2>&1; then
  log "building the Go peer with $(go version)"
  if (cd "$BENCHES/peers/go" && GO111MODULE=off GOFLAGS= go build -o "$TARGET/go/grove-bench-go" peer.go echo.go http.go) 2>"$TARGET/go-build.log"; then
    GO_ARGS=(--go "$TARGET/go/grove-bench-go")
  else
    GO_ARGS=(--no-go "go build failed: $(tail -n 1 "$TARGET/go-build.log")")
  fi
else
  GO_ARGS=(--no-go "no Go toolchain: apt-get install golang-go failed or is not possible (not root / no apt); see benches/target/apt.log")
fi

# --- gevent peer -------------------------------------------------------------
GEVENT_ARGS=()
VENV="$TARGET/venv"
PY=""
# dnslib is for the DNS section's port of the original gevent DNS proxy.
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import gevent, dnslib' 2>/dev/null; then
  PY="$VENV/bin/python"
elif command -v python3 >/dev/null 2>&1; then
  log "installing gevent and dnslib from PyPI into $VENV (log: $TARGET/pip.log)"
  if { python3 -m venv "$VENV" && "$VENV/bin/python" -m pip install -q gevent dnslib; } >"$TARGET/pip.log" 2>&1; then
    PY="$VENV/bin/python"
  elif python3 -m pip install -q gevent dnslib >>"$TARGET/pip.log" 2>&1 && python3 -c 'import gevent, dnslib' 2>/dev/null; then
    PY="$(command -v python3)"
  else
    log "installing gevent failed: $(tail -n 1 "$TARGET/pip.log")"
  fi
fi
if [ -n "$PY" ]; then
  GEVENT_ARGS=(--gevent "$PY")
else
  GEVENT_ARGS=(--no-gevent "gevent could not be installed (no python3, or pip failed; see benches/target/pip.log)")
fi

# --- grove-dns (the DNS section's subject) ------------------------------------
DNS_ARGS=()
ROOT="$(cd "$BENCHES/.." && pwd)"
# An app of apps/ built from the repository's workspace, as a user would build
# it: sets APP_ARGS to (--NAME BINARY) or (--no-NAME "not built (why)").
build_app() {
  local name="$1" build_log="$TARGET/$1-build.log"
  if [ ! -f "$ROOT/apps/$name/Cargo.toml" ]; then
    APP_ARGS=(--no-"$name" "not built (apps/$name is not in this checkout)")
    return
  fi
  log "building $name (cargo build --release -p $name)"
  if cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p "$name" 2>"$build_log"; then
    APP_ARGS=(--"$name" "${CARGO_TARGET_DIR:-$ROOT/target}/release/$name")
  else
    APP_ARGS=(--no-"$name" "not built (cargo build -p $name failed: $(grep -m1 '^error' "$build_log" || tail -n 1 "$build_log"))")
  fi
}
if wants dns "$@"; then
  build_app grove-dns
  DNS_ARGS=("${APP_ARGS[@]}")
fi

# --- grove-http (the HTTP rows) ------------------------------------------
# Built from the repository's own workspace, as a user would build it; only
# when the HTTP rows are selected.
HTTP_ARGS=()
if wants http "$@" || wants uring "$@"; then
  if wants http "$@"; then
    rm -f "$TARGET/http.csv"   # the plot below draws only this run's HTTP rows
  fi
  ROOT="$(cd "$BENCHES/.." && pwd)"
  command -v wrk >/dev/null 2>&1 || log "wrk is missing: apt-get install wrk (the HTTP rows will show n/a)"
  if [ -f "$ROOT/crates/grove-http/examples/hello_http.rs" ]; then
    log "building grove-http's hello_http example (cargo build --release -p grove-http --example hello_http)"
    HELLO="$(cd "$ROOT" && cargo build --release -p grove-http --example hello_http --message-format=json 2>"$TARGET/grove-http-build.log" \
      | sed -n 's/.*"executable":"\([^"]*\/hello_http\)".*/\1/p' | tail -n 1)" || true
    if [ -n "$HELLO" ] && [ -x "$HELLO" ]; then
      HTTP_ARGS=(--grove-http "$HELLO")
    else
      HTTP_ARGS=(--no-grove-http "n/a: not built (cargo build failed: $(grep -m1 '^error' "$TARGET/grove-http-build.log" || tail -n 1 "$TARGET/grove-http-build.log"))")
    fi
  else
    HTTP_ARGS=(--no-grove-http "n/a: not built (crates/grove-http/examples/hello_http.rs is not in this checkout)")
  fi
  HTTP_ARGS+=(--http-csv "$TARGET/http.csv")
  # The kernel floor: a C epoll server that parses nothing (peers/c/http_floor.c).
  CC="$(command -v cc || command -v gcc || true)"
  if [ -z "$CC" ] && is_root && command -v apt-get >/dev/null 2>&1; then
    log "installing gcc with apt-get for the HTTP kernel floor (log: $TARGET/apt.log)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev; } >>"$TARGET/apt.log" 2>&1 || true
    CC="$(command -v cc || command -v gcc || true)"
  fi
  if [ -z "$CC" ]; then
    HTTP_ARGS+=(--no-http-floor "n/a: no C compiler (apt-get install gcc)")
  elif "$CC" -O2 -o "$TARGET/http_floor" "$BENCHES/peers/c/http_floor.c" 2>"$TARGET/http-floor-build.log"; then
    HTTP_ARGS+=(--http-floor "$TARGET/http_floor")
  else
    HTTP_ARGS+=(--no-http-floor "n/a: cc -O2 peers/c/http_floor.c failed: $(head -n 1 "$TARGET/http-floor-build.log")")
  fi
fi

# --- the io_uring comparison's C floors (echo on epoll; echo and HTTP on
# io_uring, with liburing from Debian's liburing-dev) -------------------------
URING_ARGS=()
if wants uring "$@"; then
  rm -f "$TARGET/uring.csv"   # the plot below draws only this run's comparison
  if [ -n "${CC:-}" ] && ! [ -f /usr/include/liburing.h ] && is_root && command -v apt-get >/dev/null 2>&1; then
    log "installing liburing-dev with apt-get for the io_uring floor (log: $TARGET/apt.log)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq liburing-dev; } >>"$TARGET/apt.log" 2>&1 || true
  fi
  if [ -z "${CC:-}" ]; then
    URING_ARGS=(--no-echo-floor "n/a: no C compiler" --no-uring-floor "n/a: no C compiler")
  else
    if "$CC" -O2 -o "$TARGET/echo_floor" "$BENCHES/peers/c/echo_floor.c" 2>"$TARGET/echo-floor-build.log"; then
      URING_ARGS+=(--echo-floor "$TARGET/echo_floor")
    else
      URING_ARGS+=(--no-echo-floor "n/a: cc -O2 peers/c/echo_floor.c failed: $(head -n 1 "$TARGET/echo-floor-build.log")")
    fi
    if "$CC" -O2 -o "$TARGET/uring_floor" "$BENCHES/peers/c/uring_floor.c" -luring 2>"$TARGET/uring-floor-build.log"; then
      URING_ARGS+=(--uring-floor "$TARGET/uring_floor")
    else
      URING_ARGS+=(--no-uring-floor "n/a: cc -O2 peers/c/uring_floor.c -luring failed (apt-get install liburing-dev): $(head -n 1 "$TARGET/uring-floor-build.log")")
    fi
  fi
fi

# --- grove-xmlrpc (the XML-RPC rows: server and load client) -------------
XMLRPC_ARGS=()
if wants xmlrpc "$@"; then
  rm -f "$TARGET/xmlrpc.csv"   # the plot below draws only this run's XML-RPC rows
  build_app grove-xmlrpc
  XMLRPC_ARGS=("${APP_ARGS[@]}" --xmlrpc-csv "$TARGET/xmlrpc.csv")
  # `--mode monkey` needs the `monkey` feature (grove-monkey's libc hooks): a
  # binary of its own, so that the other modes' servers run without the hooks.
  if [ "${APP_ARGS[0]}" = --grove-xmlrpc ]; then
    log "building grove-xmlrpc --features monkey (into $TARGET/monkey)"
    if cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p grove-xmlrpc --features monkey \
        --target-dir "$TARGET/monkey" 2>"$TARGET/grove-xmlrpc-monkey-build.log"; then
      XMLRPC_ARGS+=(--grove-xmlrpc-monkey "$TARGET/monkey/release/grove-xmlrpc")
    else
      log "cargo build -p grove-xmlrpc --features monkey failed: $(tail -n 1 "$TARGET/grove-xmlrpc-monkey-build.log")"
    fi
  fi
fi

# --- harness -----------------------------------------------------------------
log "building the harness (cargo build --release)"
cargo build --release --quiet --manifest-path "$BENCHES/Cargo.toml" --target-dir "$TARGET"

PIN=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -gt 1 ]; then
  CPU=$(( $(nproc) - 1 ))
  PIN=(taskset -c "$CPU")
  log "pinning every measurement to CPU $CPU"
fi

versions() {
  local lock="$BENCHES/Cargo.lock"
  crate() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$lock"; }
  echo "Versions: $(rustc --version | cut -d' ' -f1-2); corosensei $(crate corosensei), may $(crate may), tokio $(crate tokio), monoio $(crate monoio), dxr_server $(crate dxr_server), axum $(crate axum)"\
"; $(command -v go >/dev/null 2>&1 && go version | cut -d' ' -f3 || echo 'Go n/a')"\
"; $([ -n "$PY" ] && "$PY" -c 'import sys, gevent, greenlet; print("CPython %d.%d.%d, gevent %s, greenlet %s" % (sys.version_info[:3] + (gevent.__version__, greenlet.__version__)))' || echo 'gevent n/a')."
}

{
  echo "<!-- $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$BENCHES" rev-parse --short HEAD 2>/dev/null || echo none) -->"
  "${PIN[@]}" "$TARGET/release/harness" all "${GO_ARGS[@]}" "${GEVENT_ARGS[@]}" "${HTTP_ARGS[@]}" "${DNS_ARGS[@]}" "${XMLRPC_ARGS[@]}" "${URING_ARGS[@]}" --csv-dir "$TARGET" "$@"
  echo
  versions
} | tee "$TARGET/results.md"
log "table saved to $TARGET/results.md"

# --- the plots, into docs/img/ ----------------------------------------------
# Every area run writes its figures as CSV into $TARGET (the harness's
# --csv-dir, --http-csv, --xmlrpc-csv); each CSV present is drawn, so docs/img
# keeps the latest run of every area. matplotlib comes from PyPI into the
# bench venv, or else from Debian (python3-matplotlib, for /usr/bin/python3).
PLOT_PY=""
for py in "$PY" /usr/bin/python3; do
  [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import matplotlib' 2>/dev/null && { PLOT_PY="$py"; break; }
done
if [ -z "$PLOT_PY" ] && [ -n "$PY" ]; then
  log "installing matplotlib from PyPI into $VENV for the plots"
  "$PY" -m pip install -q matplotlib >>"$TARGET/pip.log" 2>&1 && PLOT_PY="$PY"
fi
if [ -z "$PLOT_PY" ] && is_root && command -v apt-get >/dev/null 2>&1; then
  log "installing python3-matplotlib with apt-get for the plots (log: $TARGET/apt.log)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-matplotlib; } >>"$TARGET/apt.log" 2>&1 \
    && /usr/bin/python3 -c 'import matplotlib' 2>/dev/null && PLOT_PY=/usr/bin/python3
fi
IMG="$ROOT/docs/img"
if [ -z "$PLOT_PY" ]; then
  log "no plots: matplotlib is not available (see $TARGET/pip.log, $TARGET/apt.log)"
else
  mkdir -p "$IMG"
  for plot in http xmlrpc; do
    [ -s "$TARGET/$plot.csv" ] || continue
    "$PLOT_PY" "$BENCHES/plot_$plot.py" "$TARGET/$plot.csv" "$IMG/$plot.png" \
      && log "$plot plot saved to $IMG/$plot.png"
  done
  "$PLOT_PY" "$BENCHES/plot_areas.py" "$TARGET" "$IMG" | sed 's/^/[run.sh] plots: /' >&2
fi
