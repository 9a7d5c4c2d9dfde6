#!/usr/bin/env bash
# Instructions per echo round trip of grove's echo server, counted by
# callgrind while the harness's load runs against it (the server's whole
# process: hub, sockets, handlers; the kernel is not counted).
#
#   bash benches/cg_echo.sh HARNESS CONNS [LOAD_HARNESS]
#
# HARNESS serves (`serve grove`) under valgrind on CPU 1; LOAD_HARNESS
# (default: HARNESS) loads it from CPU 0: a 1 s warm-up, the counters
# zeroed, a 4 s timed load, the counters dumped. Prints
# `HARNESS CONNS ROUND_TRIPS INSTRUCTIONS INSTRUCTIONS_PER_ROUND_TRIP`.
# The timed load opens its own CONNS connections, so their accepts and
# handler spawns are in the figure.
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,12p "$0"; exit 2; }
H="$1" C="$2" LOAD="${3:-$1}" SECS=4
DIR="$(mktemp -d)"
trap 'rm -rf "$DIR"' EXIT
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# The server ends when its stdin closes: hold a FIFO open while it runs.
mkfifo "$DIR/stdin"
taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$DIR/cg" "$H" serve grove "$PORT" 300 \
  <"$DIR/stdin" >/dev/null 2>"$DIR/valgrind.log" &
pid=$!
exec 3>"$DIR/stdin"
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).close()" 2>/dev/null && break
  sleep 0.3
done
taskset -c 0 "$LOAD" load "127.0.0.1:$PORT" "$C" echo --secs 1 --warmup 0 --reps 1 >/dev/null 2>&1
callgrind_control -z "$pid" >/dev/null 2>&1
out="$(taskset -c 0 "$LOAD" load "127.0.0.1:$PORT" "$C" echo --secs "$SECS" --warmup 0 --reps 1 2>/dev/null)"
callgrind_control -d "$pid" >/dev/null 2>&1
exec 3>&-
sleep 1
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
rate="$(echo "$out" | awk '$1 == "rep" { print $3; exit }')"
ins="$(grep -h '^summary:' "$DIR"/cg* | awk '{ print $2 }' | sort -n | tail -1)"
python3 -c "r = round($rate * $SECS); print('$H', $C, r, $ins, round($ins / r))"
