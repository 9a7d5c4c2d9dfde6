"""gevent peer of the grove benchmark harness.

    python peer.py <switch|spawn|mem|queue|sem|event> <n> [reps]
    python peer.py serve <port> [lifetime_secs]     (the echo server)
    python peer.py serve-http <port> [lifetime_secs]  (the HTTP server)

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
import gevent.event
import gevent.lock
import gevent.queue


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


def queue_ping_pong(n):
    """Two unbounded gevent.queue.Queue: A puts to q1 and gets from q2, B gets
    from q1 and puts the item back on q2. One round trip moves two items."""
    q1, q2 = gevent.queue.Queue(), gevent.queue.Queue()

    def ping():
        put, get = q1.put, q2.get
        for i in range(n):
            put(i)
            get()

    def pong():
        put, get = q2.put, q1.get
        for _ in range(n):
            put(get())

    start = time.perf_counter_ns()
    gevent.joinall([gevent.spawn(ping), gevent.spawn(pong)])
    return (time.perf_counter_ns() - start) / n


def semaphore(n):
    """Uncontended gevent.lock.BoundedSemaphore(1): acquire() + release() in a
    loop inside a greenlet."""

    def loop():
        sem = gevent.lock.BoundedSemaphore(1)
        acquire, release = sem.acquire, sem.release
        start = time.perf_counter_ns()
        for _ in range(n):
            acquire()
            release()
        return (time.perf_counter_ns() - start) / n

    return gevent.spawn(loop).get()


def event_ping_pong(n):
    """Two greenlets ping-pong through two gevent.event.Event: A sets e1,
    waits for e2 and clears it; B waits for e1, clears it and sets e2."""
    e1, e2 = gevent.event.Event(), gevent.event.Event()

    def ping():
        for _ in range(n):
            e1.set()
            e2.wait()
            e2.clear()

    def pong():
        for _ in range(n):
            e1.wait()
            e1.clear()
            e2.set()

    start = time.perf_counter_ns()
    gevent.joinall([gevent.spawn(ping), gevent.spawn(pong)])
    return (time.perf_counter_ns() - start) / n


ECHO_BUFFER = 1024  # the read size of every echo handler, in every subject


def serve(port, lifetime):
    """The echo server: gevent.server.StreamServer on 127.0.0.1:port,
    one greenlet per connection reading up to 1 KiB and writing it back,
    until EOF or an error. Serves until stdin is closed or lifetime passes."""
    import gevent.server

    def handle(sock, _address):
        recv, sendall = sock.recv, sock.sendall
        try:
            while True:
                data = recv(ECHO_BUFFER)
                if not data:
                    return
                sendall(data)
        except OSError:
            return  # a reset by the client ends the connection quietly

    serve_until_told(gevent.server.StreamServer(("127.0.0.1", port), handle), "serve", lifetime)


def serve_until_told(server, what, lifetime):
    """Raises the fd limit, starts `server` and prints its listening record;
    then serves until the harness closes stdin (exit 0) or lifetime seconds
    pass (exit 3)."""
    import resource
    import threading

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def watch_stdin():
        # An OS thread (gevent is not monkey-patched here), asleep in read().
        sys.stdin.buffer.read()
        os._exit(0)

    server.start()
    threading.Thread(target=watch_stdin, daemon=True).start()
    emit("listening %d" % server.server_port)
    gevent.sleep(lifetime)
    sys.stderr.write("peer.py %s: lifetime of %d s is over\n" % (what, lifetime))
    os._exit(3)


HELLO = b"Hello world!\r\n"


def serve_http(port, lifetime):
    """The HTTP server: gevent.pywsgi.WSGIServer on 127.0.0.1:port
    answering every request with HELLO (keep-alive, pywsgi's defaults, no
    access log). Serves until stdin is closed or lifetime passes."""
    import socket

    import gevent.pywsgi

    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]

    def app(_environ, start_response):
        start_response("200 OK", headers)
        return [HELLO]

    class Server(gevent.pywsgi.WSGIServer):
        # pywsgi sends a response's head and body with two send() calls;
        # with Nagle's algorithm on, the second waits for the client's
        # delayed ACK (~40 ms on Linux): 22 req/s on one connection, 1.3k
        # at 64. TCP_NODELAY, as Go's net/http and the hyper peer have,
        # measures pywsgi itself instead of that stall.
        def handle(self, sock, address):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().handle(sock, address)

    serve_until_told(Server(("127.0.0.1", port), app, log=None), "serve-http", lifetime)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 300)
        return
    if len(sys.argv) >= 3 and sys.argv[1] == "serve-http":
        serve_http(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 300)
        return
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
    elif bench == "queue":
        repeat("queue", reps, lambda: queue_ping_pong(n))
    elif bench == "sem":
        repeat("sem", reps, lambda: semaphore(n))
    elif bench == "event":
        repeat("event", reps, lambda: event_ping_pong(n))
    else:
        emit("error unknown benchmark %s" % bench)
        sys.exit(2)


if __name__ == "__main__":
    main()
