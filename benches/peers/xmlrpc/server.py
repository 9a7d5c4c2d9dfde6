"""Python peers of the XML-RPC rows: the three servers of the gevent
writing, with the standard library's defaults.

    python server.py --mode plain|threaded|gevent --port P [--lifetime S]

plain     xmlrpc.server.SimpleXMLRPCServer: one request at a time
threaded  socketserver.ThreadingMixIn + SimpleXMLRPCServer: a thread per
          connection
gevent    the threaded one after gevent's monkey.patch_all(): a greenlet per
          connection

Every form serves add(a, b), gen(n) (a string of n zeros) and echo(x) on /
and /RPC2, with allow_none=True and logRequests=False; everything else is
the standard library's default: HTTP/1.0 (SimpleXMLRPCRequestHandler's
protocol_version, so every answer closes its connection), a listen backlog
of 5 (request_queue_size), responses over 1,400 bytes gzipped when the client
accepts gzip (encode_threshold). Prints `listening <port>` when it accepts
connections; exits when stdin closes (the harness is done) or after the
lifetime (exit 3).
"""

import sys

# gevent's monkey patching must come before anything imports socket,
# threading or select: decide the mode from argv alone first.
if "--mode" in sys.argv and sys.argv[sys.argv.index("--mode") + 1 :][:1] == ["gevent"]:
    from gevent import monkey

    monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import socketserver  # noqa: E402
import time  # noqa: E402
from xmlrpc.server import SimpleXMLRPCServer  # noqa: E402


def add(a, b):
    return a + b


def gen(n):
    return "0" * n


def echo(x):
    return x


class ThreadedXMLRPCServer(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    """The writing's second (and, monkey-patched, third) form."""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["plain", "threaded", "gevent"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lifetime", type=float, default=300.0)
    args = parser.parse_args()

    cls = SimpleXMLRPCServer if args.mode == "plain" else ThreadedXMLRPCServer
    server = cls(("127.0.0.1", args.port), allow_none=True, logRequests=False)
    server.register_function(add)
    server.register_function(gen)
    server.register_function(echo)

    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    # The watchdogs are OS threads in every mode (under gevent the
    # unpatched originals: a blocking read of stdin in a greenlet would
    # stall the hub).
    if args.mode == "gevent":
        from gevent import monkey

        start_thread = monkey.get_original("_thread", "start_new_thread")
        sleep = monkey.get_original("time", "sleep")
    else:
        import _thread

        start_thread, sleep = _thread.start_new_thread, time.sleep

    def watch_stdin():
        sys.stdin.buffer.read()
        os._exit(0)

    def watch_lifetime():
        sleep(args.lifetime)
        sys.stderr.write("server.py: lifetime of %d s is over\n" % args.lifetime)
        os._exit(3)

    start_thread(watch_stdin, ())
    start_thread(watch_lifetime, ())
    sys.stdout.write("listening %d\n" % server.server_address[1])
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
