"""Python's own XML-RPC server for the client interop tests.

python3 server.py [--http11]: a threaded SimpleXMLRPCServer on a free port of
127.0.0.1 with add, gen, echo, slow and fail, introspection and multicall;
prints the port on stdout, serves until stdin closes.
"""
import socketserver
import sys
import threading
import time
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer


class Handler(SimpleXMLRPCRequestHandler):
    if "--http11" in sys.argv:
        protocol_version = "HTTP/1.1"


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops the tests' bursts of connects


server = Server(("127.0.0.1", 0), Handler, allow_none=True, logRequests=False)
server.register_function(lambda a, b: a + b, "add")
server.register_function(lambda n: "0" * n, "gen")
server.register_function(lambda x: x, "echo")
server.register_function(lambda s: time.sleep(s) or s, "slow")


def fail():
    raise ValueError("failing on purpose")


server.register_function(fail)
server.register_introspection_functions()
server.register_multicall_functions()
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_address[1], flush=True)
sys.stdin.read()
