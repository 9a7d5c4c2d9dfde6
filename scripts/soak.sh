#!/usr/bin/env bash
# Slow and hostile clients against the shipped programs, each under
# `prlimit --nofile=1024` as a common production limit:
#
#   file_server  slowhttptest's slowloris (-H), slow body (-B) and slow
#                read (-X) modes, 1,000 connections each (file_server answers
#                a POST with 405 before its body, and slowhttptest then gives
#                the connection up: the body deadlines are shown by
#                crates/grove-http/tests/http_deadlines.rs instead);
#   grove-dns    a dnsperf flood of unique names (never cached before) with
#                the default redb store, through dnsmasq as the upstream.
#
# Meanwhile a well-behaved client probes every half second (curl, dig); the
# script prints how many probes were answered, the slowest, and the server's
# RSS and open fds before, at peak and after. Run from the repository root:
#
#   bash scripts/soak.sh            (about 3 minutes; needs slowhttptest,
#                                    dnsperf, dnsmasq, dig, curl, prlimit)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${SOAK_SECONDS:-30}
for tool in slowhttptest dnsperf dig curl prlimit; do
    command -v "$tool" >/dev/null || { echo "soak.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done
[ -x /usr/sbin/dnsmasq ] || { echo "soak.sh needs dnsmasq (apt-get install dnsmasq-base)" >&2; exit 1; }

cargo build --release -q -p grove-http --example file_server
cargo build --release -q -p grove-dns
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }

# Samples RSS and fds of $1 every half second into $2 until killed.
sampler() {
    while kill -0 "$1" 2>/dev/null; do
        echo "$(rss_kib "$1") $(fds "$1")" >>"$2"
        sleep 0.5
    done
}

# Prints "probes ok/total, slowest" from a probe log of "ok|fail seconds".
probe_summary() {
    awk '{n++; if ($1=="ok") ok++; if ($2>max) max=$2} END {printf "%d/%d probes answered, slowest %.2f s", ok, n, max}' "$1"
}

peak_summary() {
    awk '{if ($1>r) r=$1; if ($2>f) f=$2} END {printf "peak RSS %d KiB, peak fds %d", r, f}' "$1"
}

# ---- file_server -----------------------------------------------------------
ROOT="$WORK/root"
mkdir -p "$ROOT"
head -c $((64 << 20)) /dev/urandom >"$ROOT/big.bin"
echo hello >"$ROOT/small.txt"
HTTP_PORT=$(free_port)
prlimit --nofile=1024:1024 target/release/examples/file_server --port "$HTTP_PORT" --root "$ROOT" 2>/dev/null &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/small.txt" && break; sleep 0.1; done

echo "## file_server under prlimit --nofile=1024, 1,000 slowhttptest connections per mode, ${DURATION} s"
echo
for mode in "-H slowloris" "-B slow-body" "-X slow-read"; do
    flag=${mode%% *}
    name=${mode#* }
    url="http://127.0.0.1:$HTTP_PORT/small.txt"
    extra=(-i 10)
    if [ "$flag" = -X ]; then
        url="http://127.0.0.1:$HTTP_PORT/big.bin"
        extra=(-k 1 -n 5 -z 32 -w 512 -y 1024)
    fi
    before="$(rss_kib "$SERVER") KiB, $(fds "$SERVER") fds"
    : >"$WORK/samples"
    : >"$WORK/probes"
    sampler "$SERVER" "$WORK/samples" &
    SAMPLER=$!
    (
        end=$((SECONDS + DURATION + 5))
        while [ $SECONDS -lt $end ]; do
            if out=$(curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}' "http://127.0.0.1:$HTTP_PORT/small.txt"); then
                [ "${out%% *}" = 200 ] && echo "ok ${out#* }" || echo "fail ${out#* }"
            else
                echo "fail 5"
            fi
            sleep 0.5
        done
    ) >>"$WORK/probes" &
    PROBE=$!
    slowhttptest "$flag" -c 1000 -r 200 -l "$DURATION" -u "$url" -p 3 "${extra[@]}" >"$WORK/slow.log" 2>&1 || true
    wait "$PROBE"
    sleep 3
    kill "$SAMPLER" 2>/dev/null || true
    after="$(rss_kib "$SERVER") KiB, $(fds "$SERVER") fds"
    verdict=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/slow.log" | grep -o 'service available: *[A-Z]*' | tail -1 || true)
    echo "- $name ($flag): $(probe_summary "$WORK/probes"); before $before, $(peak_summary "$WORK/samples"), after $after; slowhttptest's last probe: ${verdict:-n/a}"
done
kill "$SERVER"

# ---- grove-dns --------------------------------------------------------------
UP_PORT=$(free_port)
/usr/sbin/dnsmasq --no-daemon --port="$UP_PORT" --listen-address=127.0.0.1 --bind-interfaces \
    --no-resolv --no-hosts --user=root --pid-file= --log-facility=- \
    --address=/flood.test/10.1.2.3 --local-ttl=300 --dns-forward-max=1000 2>/dev/null &
PIDS+=($!)
DNS_PORT=$(free_port)
STORE="$WORK/cache.redb"
prlimit --nofile=1024:1024 target/release/grove-dns --listen "127.0.0.1:$DNS_PORT" \
    --upstream "127.0.0.1:$UP_PORT" --store "$STORE" --stats-interval 0 2>"$WORK/dns.log" &
DNS=$!
PIDS+=("$DNS")
for _ in $(seq 50); do dig +short +time=1 +tries=1 -p "$DNS_PORT" @127.0.0.1 a.flood.test >/dev/null && break; sleep 0.1; done
NAMES=$((DURATION * 5000))
python3 -c "
import sys
for i in range($NAMES):
    print(f'n{i}.flood.test A')
" >"$WORK/names"
before="$(rss_kib "$DNS") KiB, $(fds "$DNS") fds"
: >"$WORK/samples"
: >"$WORK/probes"
sampler "$DNS" "$WORK/samples" &
SAMPLER=$!
(
    end=$((SECONDS + DURATION + 5))
    while [ $SECONDS -lt $end ]; do
        start=$(date +%s.%N)
        if dig +short +time=2 +tries=1 -p "$DNS_PORT" @127.0.0.1 probe.flood.test | grep -q 10.1.2.3; then
            echo "ok $(echo "$(date +%s.%N) - $start" | bc)"
        else
            echo "fail 2"
        fi
        sleep 0.5
    done
) >>"$WORK/probes" &
PROBE=$!
dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$WORK/names" -l "$DURATION" -Q 5000 -q 500 >"$WORK/dnsperf.log" 2>&1 || true
wait "$PROBE"
sleep 1
kill "$SAMPLER" 2>/dev/null || true
echo
echo "## grove-dns under prlimit --nofile=1024, redb store, dnsperf unique names at up to 5,000 q/s for ${DURATION} s"
echo
echo "- $(grep -E 'Queries completed' "$WORK/dnsperf.log" | tr -s ' ')"
echo "- probes (dig): $(probe_summary "$WORK/probes")"
echo "- before $before, $(peak_summary "$WORK/samples"), after $(rss_kib "$DNS") KiB, $(fds "$DNS") fds; store file $(($(stat -c %s "$STORE") >> 10)) KiB"
grep -E 'lowered|loaded' "$WORK/dns.log" | sed 's/^/- log: /'
