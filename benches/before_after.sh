#!/usr/bin/env bash
# grove before and after a change, in one run: two builds side by side, each
# measurement alternated A B B A over several rounds, reported as the median
# and spread of the paired ratios after/before (speed: above 1 is faster).
#
#   bash benches/before_after.sh HARNESS_A HELLO_A HARNESS_B HELLO_B [ROUNDS]
#
# HARNESS_*: benches/target/release/harness built against each checkout
# (the harness depends on ../crates/grove, so build it in each worktree);
# HELLO_*: each checkout's `cargo build --release -p grove-http --example
# hello_http`. A is "before", B "after". ROUNDS (default 4) rounds of A B B A.
#
# Rows: timing rows of `harness child grove <bench>` (ns per operation),
# memory per idle greenlet (`mem`, 10k sleepers), echo round trips/s at 100
# and 10,000 connections (`harness serve grove` on CPU 1, `harness load` on
# CPU 0) and grove-http hello at 64 connections (`wrk -t1 -c64`, server on
# CPU 1, wrk on CPU 0). ONLY=REGEX (environment) keeps the rows whose name
# matches it, e.g. ONLY='^echo' to repeat the echo rows alone.
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,18p "$0"; exit 2; }
HA="$1" HELLO_A="$2" HB="$3" HELLO_B="$4" ROUNDS="${5:-4}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
SERVER_CPU=1 CLIENT_CPU=0

# The median of the third field of the "rep" lines on stdin.
median_rep() { awk '$1 == "rep" { print $3 }' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# One figure of one side: prints it on stdout.
timing() { # harness bench n
  taskset -c "$SERVER_CPU" "$1" child grove "$2" "$3" 3 | median_rep
}
memory() { # harness -> bytes per idle greenlet at 10k
  taskset -c "$SERVER_CPU" "$1" child grove mem 10000 1 | awk '$1 == "mem" { printf "%.0f\n", (($4 - $3) + ($6 - $5)) * 1024 / $2 }'
}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
echo_rate() { # harness conns -> round trips/s
  local port pid rate
  port="$(free_port)"
  # The server ends when its stdin closes: hold a FIFO open while it runs.
  rm -f "$OUT/stdin"; mkfifo "$OUT/stdin"
  taskset -c "$SERVER_CPU" "$1" serve grove "$port" 60 <"$OUT/stdin" >/dev/null 2>&1 & pid=$!
  exec 3>"$OUT/stdin"
  sleep 0.5
  rate="$(taskset -c "$CLIENT_CPU" "$1" load "127.0.0.1:$port" "$2" echo --secs 1 --warmup 0.5 --reps 3 | median_rep)"
  exec 3>&-
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  echo "$rate"
}
http_rate() { # hello_http -> requests/s at 64 connections
  local port pid rate
  port="$(free_port)"
  taskset -c "$SERVER_CPU" "$1" --port "$port" --threads 1 >/dev/null 2>&1 & pid=$!
  sleep 0.5
  taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1 || true
  rate="$(taskset -c "$CLIENT_CPU" wrk -t1 -c64 -d3s "http://127.0.0.1:$port/" | awk '/^Requests\/sec/ { print $2 }')"
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  echo "$rate"
}

# row | how to measure one side (A or B) | higher is better?
ROWS=(
  "switch round trip (ns)|timing \$H switch 1000000|lower"
  "spawn+join (ns)|timing \$H spawn 200000|lower"
  "queue ping-pong (ns)|timing \$H queue 500000|lower"
  "semaphore hand-off (ns)|timing \$H sem 500000|lower"
  "event ping-pong (ns)|timing \$H event 500000|lower"
  "memory per idle greenlet (bytes)|memory \$H|lower"
  "echo, 100 conns (round trips/s)|echo_rate \$H 100|higher"
  "echo, 10k conns (round trips/s)|echo_rate \$H 10000|higher"
  "HTTP hello, 64 conns (req/s)|http_rate \$HELLO|higher"
)
measure() { # row-index side
  local spec="${ROWS[$1]}" H HELLO
  if [ "$2" = A ]; then H="$HA" HELLO="$HELLO_A"; else H="$HB" HELLO="$HELLO_B"; fi
  local cmd="${spec#*|}"; cmd="${cmd%|*}"
  eval "$cmd"
}

ONLY="${ONLY:-}"
selected() { [ -z "$ONLY" ] || [[ "${ROWS[$1]%%|*}" =~ $ONLY ]]; }

for i in "${!ROWS[@]}"; do
  selected "$i" || continue
  for r in $(seq "$ROUNDS"); do
    for side in A B B A; do
      v="$(measure "$i" "$side")"
      echo "$v" >>"$OUT/$i.$side"
      echo "[before_after] ${ROWS[$i]%%|*} round $r $side: $v" >&2
    done
  done
done

echo "| row | before (median) | after (median) | after/before speed: median [min, max] of $ROUNDS paired rounds |"
echo "|---|---|---|---|"
for i in "${!ROWS[@]}"; do
  selected "$i" || continue
  spec="${ROWS[$i]}"; name="${spec%%|*}"; better="${spec##*|}"
  # Pair each round's two A figures with its two B figures (the mean of
  # each side's pair), then take the ratio as a speed: above 1 is faster.
  python3 - "$OUT/$i.A" "$OUT/$i.B" "$name" "$better" "$ROUNDS" <<'PY'
import statistics, sys
a, b = ([float(x) for x in open(f).read().split()] for f in sys.argv[1:3])
name, better, rounds = sys.argv[3], sys.argv[4], int(sys.argv[5])
ratios = []
for r in range(rounds):
    ma, mb = sum(a[2 * r:2 * r + 2]) / 2, sum(b[2 * r:2 * r + 2]) / 2
    ratios.append(ma / mb if better == "lower" else mb / ma)
print("| %s | %.1f | %.1f | %.3f [%.3f, %.3f] |" % (
    name, statistics.median(a), statistics.median(b),
    statistics.median(ratios), min(ratios), max(ratios)))
PY
done
