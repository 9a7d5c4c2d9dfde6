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

The cache key is (name, type, class), lower-cased: the original keyed on the
question too, and A/AAAA of one name must not collide.
"""

import argparse
import sys

import gevent
from gevent import event, socket
import dnslib


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
        try:
            msg = dnslib.DNSRecord.parse(data)
        except Exception:
            return
        if not msg.questions:
            return
        q = msg.q
        key = (str(q.qname).lower(), q.qtype, q.qclass)
        if msg.header.qr:
            # An upstream's answer: cache it and wake everyone waiting on it.
            self.cache[key] = msg
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
        answer.header.id = msg.header.id
        self.sock.sendto(answer.pack(), peer)

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
