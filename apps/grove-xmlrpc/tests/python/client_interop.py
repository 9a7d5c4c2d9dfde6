"""Python's xmlrpc.client against grove-xmlrpc: python3 client_interop.py URL MODE.

Every value type round-trips through echo, faults arrive as xmlrpc.client.Fault
with their codes, MultiCall works, gzip both ways, Python's HTTP-level behaviour
(404, 501) and keep-alive. Prints OK at the end; any failure raises.
"""
import datetime
import gzip
import http.client
import sys
import urllib.parse
import xmlrpc.client as xc

url, mode = sys.argv[1], sys.argv[2]
proxy = xc.ServerProxy(url, allow_none=True)

# The writing's two functions.
assert proxy.add(3, 5) == 8
assert proxy.add(2**31 - 1, 1) == 2**31  # comes back as <i8>
assert proxy.add(-2**31, -2**31) == -2**32
assert proxy.gen(2048) == "0" * 2048
assert proxy.gen(0) == ""

# Every value type through echo.
values = [
    None, 0, 1, -1, 2**31 - 1, -2**31, True, False,
    "", "plain", "héllo wörld", "日本語", "astral 😀 𝄞", "<tag> & 'quotes' \"", "tab\tnew\nline",
    0.0, -1.5, 1e100, 1e-300, float("inf"), float("-inf"),
    xc.DateTime(datetime.datetime(2026, 12, 5, 18, 42, 0)),
    xc.DateTime(datetime.datetime(1066, 10, 14, 9, 30, 0)),
    xc.DateTime(datetime.datetime(1, 1, 1, 0, 0, 0)),
    xc.Binary(b""), xc.Binary(bytes(range(256)) * 10),
    [], {}, [[]], [{}], {"k": {}},
    [1, "two", 3.0, None, [True, {"deep": [[[["x"]]]]}]],
    {"int": 1, "str": "s", "nested": {"list": [1, 2, {"a": None}]}, "ünï": "cödé"},
    list(range(1000)),
    {str(i): i for i in range(500)},
]
for v in values:
    back = proxy.echo(v)
    if isinstance(v, xc.Binary):
        assert isinstance(back, xc.Binary) and back.data == v.data, (v, back)
    elif isinstance(v, xc.DateTime):
        assert isinstance(back, xc.DateTime) and back.value == v.value, (v.value, back)
    else:
        assert back == v and type(back) is type(v), (v, back)
nan = proxy.echo(float("nan"))
assert nan != nan

# A client that writes ISO-8859-1 (test_xmlrpc's test_client_encoding).
latin = xc.ServerProxy(url, encoding="iso-8859-1", allow_none=True)
assert latin.echo("héllo ÿ €") == "héllo ÿ €"

# Faults with their codes.
def fault_code(call):
    try:
        call()
    except xc.Fault as f:
        return f.faultCode, f.faultString
    raise AssertionError("no fault")

assert fault_code(lambda: proxy.nope())[0] == xc.METHOD_NOT_FOUND
assert fault_code(lambda: proxy.add(1))[0] == xc.INVALID_METHOD_PARAMS
assert fault_code(lambda: proxy.add("a", 2))[0] == xc.INVALID_METHOD_PARAMS
assert fault_code(lambda: proxy.gen(-1))[0] == xc.INVALID_METHOD_PARAMS
assert fault_code(lambda: proxy.echo())[0] == xc.INVALID_METHOD_PARAMS
assert fault_code(lambda: proxy.gen(2**31 - 1))[0] == xc.INVALID_METHOD_PARAMS  # bounded

# Introspection, as SimpleXMLRPCServer offers it.
methods = proxy.system.listMethods()
for m in ["add", "gen", "echo", "system.listMethods", "system.methodHelp", "system.methodSignature", "system.multicall"]:
    assert m in methods, methods
assert "zeros" in proxy.system.methodHelp("gen")
assert proxy.system.methodSignature("add") == [["int", "int", "int"]]

# MultiCall, with a fault inside.
multi = xc.MultiCall(proxy)
multi.add(1, 2)
multi.gen(3)
multi.nope()
multi.echo({"x": [1]})
results = multi()
assert results[0] == 3 and results[1] == "000" and results[3] == {"x": [1]}
try:
    results[2]
    raise AssertionError("the multicall fault did not raise")
except xc.Fault as f:
    assert f.faultCode == xc.METHOD_NOT_FOUND

# gzip both ways: a request gzipped by Python's transport ...
class GzipTransport(xc.Transport):
    encode_threshold = 0
gz_proxy = xc.ServerProxy(url, transport=GzipTransport(), allow_none=True)
assert gz_proxy.echo("z" * 5000) == "z" * 5000

# ... and responses gzipped only past 1,400 bytes when accepted.
parts = urllib.parse.urlsplit(url)
# The timeout only catches a hang: a debug build of the server spends about
# 3 s inflating the 21 MiB gzip bomb below on a quiet machine, and over 20 s
# on a loaded one.
def post(body, headers=None, path=None, method="POST", conn=None):
    c = conn or http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    c.request(method, path or parts.path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read(), c

gen = lambda n: xc.dumps((n,), "gen").encode()
status, headers, body, _ = post(gen(2048), {"Accept-Encoding": "gzip"})
assert status == 200 and headers.get("content-encoding") == "gzip", headers
assert xc.loads(gzip.decompress(body))[0][0] == "0" * 2048
status, headers, body, _ = post(gen(10), {"Accept-Encoding": "gzip"})
assert "content-encoding" not in headers and xc.loads(body)[0][0] == "0" * 10
status, headers, body, _ = post(gen(2048))
assert "content-encoding" not in headers
status, headers, body, _ = post(gen(2048), {"Accept-Encoding": "gzip;q=0"})
assert "content-encoding" not in headers

# HTTP-level answers of Python's server.
assert post(gen(1), path="/other")[0] == 404
assert post(None, method="GET")[0] == 501
assert post(gen(1), path="/")[0] == 200
assert post(b"garbage", {"Content-Encoding": "gzip"})[0] == 400
assert post(gzip.compress(b"x" * (21 << 20)), {"Content-Encoding": "gzip"})[0] == 413
assert post(gen(1), {"Content-Encoding": "br"})[0] == 501
status, _, body, _ = post(b"<methodCall><methodName>add</methodName>")
assert status == 200
try:
    xc.loads(body)
    raise AssertionError("malformed XML did not fault")
except xc.Fault as f:
    assert f.faultCode == xc.PARSE_ERROR

# Keep-alive: several calls on one connection (not in single mode, which
# closes after each response as Python's plain server does).
status, headers, _, conn = post(gen(1))
if mode == "single":
    assert headers.get("connection") == "close", headers
else:
    assert headers.get("connection") != "close", headers
    sock = conn.sock
    for n in range(5):
        status, _, body, conn = post(gen(n), conn=conn)
        assert status == 200 and xc.loads(body)[0][0] == "0" * n
    assert conn.sock is sock, "the connection was not kept alive"

print("OK")
