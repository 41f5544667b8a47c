"""N clients connected at the same time: each logs in (SCRAM-SHA-256), and
once all have tried, every one that got in runs QUERIES selects, one at a
time, then all disconnect.  Counts refused logins (PostgreSQL's "too many
clients") and times logins and selects.

    python3 many_clients.py PORT USER DB N QUERIES     (password in PGPASSWORD)

Prints one JSON object.  One process and an event loop instead of N pgbench
processes: a pgbench with -cN stops at the first refused client, and N
processes start too slowly to be connected at the same time.  The protocol
messages are the few of the PostgreSQL frontend/backend protocol v3 that a
login and a simple query need; the hashes come from hashlib (OpenSSL)."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import statistics
import struct
import sys
import time


class LoginError(Exception):
    pass


def msg(kind, payload):
    return kind + struct.pack("!i", len(payload) + 4) + payload


async def read_msg(reader):
    head = await reader.readexactly(5)
    (length,) = struct.unpack("!i", head[1:])
    return head[:1], await reader.readexactly(length - 4)


def error_text(payload):
    fields = dict((f[:1], f[1:].decode(errors="replace")) for f in payload.split(b"\0") if f)
    return fields.get(b"M", "?")


async def expect_auth(reader, code):
    kind, data = await read_msg(reader)
    if kind == b"E":
        raise LoginError(error_text(data))
    (got,) = struct.unpack("!i", data[:4])
    if kind != b"R" or got != code:
        raise LoginError(f"unexpected {kind!r} {got}")
    return data[4:]


_salted = {}


def salted_password(password, salt, iterations):
    """PBKDF2 once per salt: every login to one server (or to a pgbouncer
    holding the server's secret) gets the same salt, and 500 derivations in
    this one event loop would time the client, not the server."""
    key = (salt, iterations)
    if key not in _salted:
        _salted[key] = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                           iterations)
    return _salted[key]


async def login(host, port, user, db, password):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        params = b"user\0" + user.encode() + b"\0database\0" + db.encode() + b"\0\0"
        writer.write(struct.pack("!ii", len(params) + 8, 196608) + params)
        mechs = await expect_auth(reader, 10)
        if b"SCRAM-SHA-256\0" not in mechs:
            raise LoginError("no SCRAM-SHA-256")
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n=,r={nonce}"
        first = ("n,," + first_bare).encode()
        writer.write(msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
        server_first = (await expect_auth(reader, 11)).decode()
        attrs = dict(a.split("=", 1) for a in server_first.split(","))
        if not attrs["r"].startswith(nonce):
            raise LoginError("server nonce does not extend ours")
        salted = salted_password(password, attrs["s"], int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        final_bare = f"c=biws,r={attrs['r']}"
        auth = f"{first_bare},{server_first},{final_bare}".encode()
        sig = hmac.new(stored_key, auth, hashlib.sha256).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
        writer.write(msg(b"p", f"{final_bare},p={proof}".encode()))
        await expect_auth(reader, 12)
        await expect_auth(reader, 0)
        while True:
            kind, data = await read_msg(reader)
            if kind == b"E":
                raise LoginError(error_text(data))
            if kind == b"Z":
                return reader, writer
    except BaseException:
        writer.close()
        raise


async def query(reader, writer, sql):
    writer.write(msg(b"Q", sql.encode() + b"\0"))
    error = None
    while True:
        kind, data = await read_msg(reader)
        if kind == b"E":
            error = error_text(data)
        if kind == b"Z":
            if error:
                raise LoginError(error)
            return


async def client(args, all_tried, tried, result):
    host, port, user, db, password, queries = args
    t = time.perf_counter()
    try:
        conn = await asyncio.wait_for(login(host, port, user, db, password), 60)
        result["login_ms"] = (time.perf_counter() - t) * 1000
    except (LoginError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        result["error"] = str(e) or type(e).__name__
        conn = None
    tried()
    await all_tried.wait()          # everyone holds a connection or has failed
    if conn is None:
        return
    reader, writer = conn
    lat = []
    try:
        for _ in range(queries):
            q = time.perf_counter()
            await asyncio.wait_for(query(reader, writer, "SELECT 1"), 60)
            lat.append((time.perf_counter() - q) * 1000)
        writer.write(msg(b"X", b""))
    except (LoginError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        result["error"] = "query: " + (str(e) or type(e).__name__)
    finally:
        writer.close()
    result["query_ms"] = lat


async def main(port, user, db, n, queries):
    password = os.environ["PGPASSWORD"]
    all_tried = asyncio.Event()
    count = [0]

    def tried():
        count[0] += 1
        if count[0] == n:
            all_tried.set()

    results = [{} for _ in range(n)]
    t = time.perf_counter()
    await asyncio.gather(*(client(("127.0.0.1", port, user, db, password, queries), all_tried,
                                  tried, r) for r in results))
    wall = time.perf_counter() - t
    errors = [r["error"] for r in results if "error" in r]
    logins = [r["login_ms"] for r in results if "login_ms" in r]
    lat = [x for r in results for x in r.get("query_ms", [])]
    kinds = {}
    for e in errors:
        kinds[e] = kinds.get(e, 0) + 1
    print(json.dumps({
        "clients": n, "complete": sum(1 for r in results if "error" not in r),
        "errors": len(errors), "error_kinds": kinds,
        "login_ms_median": statistics.median(logins) if logins else None,
        "query_ms_median": statistics.median(lat) if lat else None,
        "queries": len(lat), "wall_s": wall}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]),
                     int(sys.argv[5])))
