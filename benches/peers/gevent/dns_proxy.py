"""The caching DNS proxy of the gevent writing that started grove, ported to
Python 3 and dnslib as the DNS benchmark's "original design" peer.

The design, kept as it was: ONE UDP socket serves the clients and talks to
the upstreams; a list of upstreams used round-robin (the original read them
from a file named `ip`); a plain dict as the cache, never expired; and one
gevent Event per name being fetched, so that concurrent queries for the same
name wait for a single upstream answer, which is then sent to each client
under the client's own query id. A datagram with the QR bit set is an
upstream's answer; anything else is a client's query. No TTLs, no timeouts,
no TCP, no validation of where an answer came from: that is the sketch.

    python dns_proxy.py --listen 127.0.0.1:5300 --upstream 127.0.0.1:5301 [--upstream ...]
    python dns_proxy.py --listen 127.0.0.1:5300 --upstreams ip

The cache key is the question (name, type, class), the name lower-cased:
the original keyed on the question too, and A/AAAA of one name must not
collide. The cache holds an answer's bytes, and a hit only patches the
client's query id into them (as grove-dns does): the cheapest form of the
design, so that the benchmark compares designs, not a parser's speed. The
question is read straight from the datagram's bytes; dnslib is kept for the
benchmark's version line only.
"""

import argparse
import sys

import gevent
from gevent import event, socket


def question_key(data):
    """The first question of a DNS message as bytes (name lower-cased, type,
    class), or None if the message has no well-formed question."""
    if len(data) < 12 or data[4:6] == b"\x00\x00":
        return None
    i = 12
    while i < len(data):
        n = data[i]
        if n == 0:
            end = i + 5
            return data[12:i + 1].lower() + data[i + 1:end] if end <= len(data) else None
        if n & 0xC0:
            return None  # no compression pointers in a question we asked for
        i += 1 + n
    return None


def parse_addr(text, default_port):
    host, _, port = text.rpartition(":")
    if not host:
        return text, default_port
    return host.strip("[]"), int(port)


class Proxy:
    def __init__(self, listen, upstreams):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(listen)
        self.upstreams = upstreams
        self.cur = 0
        self.cache = {}
        self.waiting = {}  # key -> Event, one per name in flight

    def send_request(self, data):
        self.sock.sendto(data, self.upstreams[self.cur])
        self.cur = (self.cur + 1) % len(self.upstreams)

    def handle(self, data, peer):
        key = question_key(data)
        if key is None:
            return
        if data[2] & 0x80:
            # An upstream's answer (QR set): cache it and wake everyone
            # waiting on it.
            self.cache[key] = data
            ev = self.waiting.pop(key, None)
            if ev is not None:
                ev.set()
            return
        answer = self.cache.get(key)
        if answer is None:
            ev = self.waiting.get(key)
            if ev is None:
                ev = self.waiting[key] = event.Event()
                self.send_request(data)
            ev.wait()
            answer = self.cache.get(key)
            if answer is None:
                return
        # The client's own query id, then the cached answer's bytes.
        self.sock.sendto(data[:2] + answer[2:], peer)

    def serve_forever(self):
        while True:
            data, peer = self.sock.recvfrom(4096)
            gevent.spawn(self.handle, data, peer)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:5353")
    ap.add_argument("--upstream", action="append", default=[])
    ap.add_argument("--upstreams", help="file with one upstream per line (the original's `ip`)")
    args = ap.parse_args()
    upstreams = [parse_addr(u, 53) for u in args.upstream]
    if args.upstreams:
        with open(args.upstreams) as f:
            upstreams += [parse_addr(line.strip(), 53) for line in f if line.strip()]
    if not upstreams:
        sys.exit("dns_proxy.py: no upstream (--upstream ADDR[:PORT] or --upstreams FILE)")
    proxy = Proxy(parse_addr(args.listen, 53), upstreams)
    print("ready", flush=True)
    proxy.serve_forever()


if __name__ == "__main__":
    main()
