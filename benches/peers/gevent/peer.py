"""gevent peer of the grove benchmark harness.

    python peer.py <switch|spawn|mem> <n> [reps]

Output follows the harness protocol, one record per line:

    rep <metric> <ns_per_op>         one timed repetition (a warm-up run is not printed)
    progress <tasks_spawned>         memory runs: how far spawning got
    mem <n> <rss_before_kb> <rss_after_kb> <pte_before_kb> <pte_after_kb>
    error <message>
"""

import os
import sys
import time

import gevent


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def repeat(metric, reps, f):
    f()  # warm-up
    for _ in range(reps):
        emit("rep %s %.3f" % (metric, f()))


def switch_round_trip(n):
    """Two greenlets each call gevent.sleep(0) n times; one round trip = both ran once."""

    def pinger():
        for _ in range(n):
            gevent.sleep(0)

    start = time.perf_counter_ns()
    gevent.joinall([gevent.spawn(pinger), gevent.spawn(pinger)])
    return (time.perf_counter_ns() - start) / n


def empty():
    pass


def spawn_join(n):
    """gevent.spawn(empty).join(), n times."""
    spawn = gevent.spawn
    start = time.perf_counter_ns()
    for _ in range(n):
        spawn(empty).join()
    return (time.perf_counter_ns() - start) / n


def status():
    rss = pte = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmPTE:"):
                pte = int(line.split()[1])
    return rss, pte


def memory(n):
    """n greenlets parked in gevent.sleep(3600)."""
    spawn_join(100)  # warm the hub and loop up
    rss_before, pte_before = status()
    started = [0]

    def sleeper():
        started[0] += 1
        gevent.sleep(3600)

    every = max(n // 100, 1000)
    for i in range(n):
        gevent.spawn(sleeper)  # not kept: the hub's timer holds it, as grove's hub does
        if (i + 1) % every == 0:
            emit("progress %d" % (i + 1))
    while started[0] < n:
        gevent.sleep(0)
    for _ in range(10):
        gevent.sleep(0)
    rss_after, pte_after = status()
    emit("mem %d %d %d %d %d" % (n, rss_before, rss_after, pte_before, pte_after))
    os._exit(0)


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    bench, n = sys.argv[1], int(sys.argv[2])
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    if bench == "switch":
        repeat("switch", reps, lambda: switch_round_trip(n))
    elif bench == "spawn":
        repeat("spawn_task", reps, lambda: gevent.spawn(spawn_join, n).get())
        repeat("spawn_main", reps, lambda: spawn_join(n))
    elif bench == "mem":
        memory(n)
    else:
        emit("error unknown benchmark %s" % bench)
        sys.exit(2)


if __name__ == "__main__":
    main()
