#!/bin/bash
# Server CPU per datagram, answering with one system call per datagram vs batches.
# Subjects: grove recv_from/send_to ("grove single"), grove recv_batch/send_batch
# ("grove batch"), and the same two loops in C (resp.c: "epoll" = non-blocking
# recvfrom/sendto + epoll_wait on EAGAIN, grove's shape; "mmsg" = recvmmsg/sendmmsg).
# Clients: flood.c (keeps 100 queries in flight, so the server's queue is full) and
# dnsperf -c 16 -q 100 (the DNS benchmark's client). Server on CPU 1, client on CPU 0.
#
# usage: bash benches/udp-batch/run.sh [ROUNDS] [SECS]     (needs gcc, dnsperf, taskset)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${1:-3}; secs=${2:-6}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/resp" "$here/resp.c"
gcc -O2 -o "$work/flood" "$here/flood.c"
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$work/target} cargo build --release -q --manifest-path "$here/Cargo.toml"
grove_bin=${CARGO_TARGET_DIR:-$work/target}/release/udp-batch-responder
for i in $(seq 1 3000); do echo "n$i.bench.test A"; done > "$work/q.txt"

one() { # CLIENT LABEL SERVER-ARGV... (the port is appended)
  local client=$1 label=$2; shift 2
  local port=$((20000 + RANDOM % 20000))
  taskset -c 1 "$@" "$port" 2> "$work/server.out" &
  local pid=$!
  sleep 0.4
  if [ "$client" = dnsperf ]; then
    taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$work/q.txt" -l "$secs" -q 100 -c 16 -t 2 > "$work/client.out" 2>&1
  else
    taskset -c 0 "$work/flood" "$port" 100 "$secs" > "$work/client.out"
  fi
  kill -INT "$pid"; wait "$pid" || true
  printf '%-8s %-13s %s\n' "$client" "$label" "$(cat "$work/server.out")"
}
for r in $(seq 1 "$rounds"); do
  for client in flood dnsperf; do
    one "$client" "grove single" "$grove_bin" single
    one "$client" "grove batch" "$grove_bin" batch
    one "$client" "C epoll" "$work/resp" epoll
    one "$client" "C mmsg" "$work/resp" mmsg
  done
done
