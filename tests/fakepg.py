"""Small fake servers on loopback for the fault tier and the bench: a
PostgreSQL that misbehaves in one chosen way, and a DNS server that answers
"no such name" or nothing at all."""
import random
import socket
import struct
import threading

SSL_REQUEST = 80877103


def error_response(sqlstate, message, severity="FATAL"):
    body = b"".join(k + v.encode() + b"\0" for k, v in
                    ((b"S", severity), (b"V", severity), (b"C", sqlstate), (b"M", message)))
    body += b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


def read_packet(conn):
    """One length-prefixed startup-phase packet: (code, payload) or None."""
    head = _read(conn, 8)
    if not head:
        return None
    length, code = struct.unpack("!II", head)
    return code, _read(conn, max(length - 8, 0))


def _read(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def startup(conn, ssl_answer=b"N"):
    """Answer an SSLRequest with SSL_ANSWER and read the startup packet."""
    p = read_packet(conn)
    if p and p[0] == SSL_REQUEST:
        conn.sendall(ssl_answer)
        if ssl_answer != b"N":
            return None
        p = read_packet(conn)
    return p


def auth(code, body=b""):
    """An authentication request."""
    return b"R" + struct.pack("!II", 8 + len(body), code) + body


def read_message(conn):
    """One message the client sends after the startup: (type, body) or None."""
    head = _read(conn, 5)
    if not head:
        return None
    (length,) = struct.unpack("!I", head[1:])
    return head[:1], _read(conn, length - 4)


READY = b"Z\0\0\0\x05I"


class ScramServer:
    """The server side of SCRAM-SHA-256 for one password, with the ways a
    server (or something in between) can cheat.  Records what each client
    sent (RECEIVED: a list of bodies) and how far each login got."""

    def __init__(self, password, iterations=4096, cheat=None, then=None):
        self.password = password.encode()
        self.iterations = iterations
        self.cheat = cheat  # None, "no-signature", "bad-signature", "bad-nonce"
        self.then = then    # a behaviour for the second and later connections
        self.received = []
        self.logins = 0

    def __call__(self, conn, stop):
        import base64, hashlib, hmac
        self.logins += 1
        if self.then and self.logins > 1:
            return self.then(conn, stop)
        if not startup(conn):
            return
        conn.sendall(auth(10, b"SCRAM-SHA-256\0\0"))
        m = read_message(conn)
        if not m:
            return
        self.received.append(m[1])
        # SASLInitialResponse: mechanism, int32 length, client-first
        mech_end = m[1].index(b"\0")
        first = m[1][mech_end + 5:].decode()
        bare = first.split(",", 2)[2]
        cnonce = dict(a.split("=", 1) for a in bare.split(","))["r"]
        nonce = ("x" + cnonce) if self.cheat == "bad-nonce" else cnonce + "srv"
        salt = b"0123456789abcdef"
        server_first = f"r={nonce},s={base64.b64encode(salt).decode()},i={self.iterations}"
        conn.sendall(auth(11, server_first.encode()))
        m = read_message(conn)
        if not m:
            return
        self.received.append(m[1])
        final = m[1].decode()
        without_proof = final[:final.index(",p=")]
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, self.iterations)
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        message = f"{bare},{server_first},{without_proof}".encode()
        sig = hmac.new(server_key, message, hashlib.sha256).digest()
        if self.cheat == "bad-signature":
            sig = bytes(32)
        if self.cheat != "no-signature":
            conn.sendall(auth(12, b"v=" + base64.b64encode(sig)))
        conn.sendall(auth(0) + READY)
        stop.wait(5)


def asks(code, body, received):
    """Asks for CODE (3: the password in clear, 5: md5) and keeps whatever
    comes back in RECEIVED."""
    def behave(conn, stop):
        if startup(conn):
            conn.sendall(auth(code, body))
            conn.settimeout(2)
            try:
                m = read_message(conn)
                if m:
                    received.append(m[1])
            except OSError:
                pass
            conn.sendall(error_response("28P01", "password authentication failed"))
    return behave


def asks_in_clear(received):
    return asks(3, b"", received)


def asks_md5(received):
    return asks(5, b"salt", received)


def lets_in(conn, stop):
    """trust: in without a password."""
    if startup(conn):
        conn.sendall(auth(0) + READY)
        stop.wait(5)


# ---- behaviours: each gets the accepted socket and a stop event -----------

def black_hole(conn, stop):
    """Accepts and never answers (a firewall that drops, a hung server)."""
    stop.wait()


def half_open_tls(conn, stop):
    """Says yes to TLS, then is silent: the handshake never completes."""
    if read_packet(conn):
        conn.sendall(b"S")
    stop.wait()


def auth_then_silent(conn, stop):
    """Asks for SCRAM, then never answers the client's first message."""
    if startup(conn):
        conn.sendall(auth(10, b"SCRAM-SHA-256\0\0"))
    stop.wait()


def garbage(conn, stop):
    """Something that is not PostgreSQL (an HTTP server on the port)."""
    conn.recv(1024)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def closes_at_once(conn, stop):
    """Accepts and closes (a proxy whose backend is down)."""


def error_after_startup(name, sqlstate, message):
    """Answers the login with an ErrorResponse, then closes."""
    def behave(conn, stop):
        if startup(conn):
            conn.sendall(error_response(sqlstate, message))
    behave.__name__ = name
    return behave


too_many_clients = error_after_startup("too_many_clients", "53300",
                                       "sorry, too many clients already")
too_many_for_role = error_after_startup("too_many_for_role", "53300",
                                        'too many connections for role "app"')
reserved_slots = error_after_startup(
    "reserved_slots", "53300",
    "remaining connection slots are reserved for non-replication superuser connections")
starting_up = error_after_startup("starting_up", "57P03", "the database system is starting up")
# lc_messages = de: only the SQLSTATE tells what it means
too_many_german = error_after_startup("too_many_german", "53300",
                                      "tut mir leid, schon zu viele Verbindungen")


class FakeServer:
    """BEHAVE(conn, stop) for every connection to 127.0.0.1:port."""

    def __init__(self, behave, host="127.0.0.1"):
        self.behave = behave
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.host, self.port = self.sock.getsockname()
        self.accepted = 0
        self.stop = threading.Event()
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            self.behave(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        for c in self.conns:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FakeDNS:
    """A name server on 127.53.x.y:53 (musl always asks port 53) that answers
    every query with NXDOMAIN, or (SILENT) never answers.  ANSWERS: the first
    ANSWERS queries get 127.0.0.1 (an A query) or no record (others) first."""

    def __init__(self, silent=False, answers=0):
        self.silent = silent
        self.answers = answers
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(20):
            self.addr = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
            try:
                self.sock.bind((self.addr, 53))
                break
            except OSError:
                continue
        self.queries = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                return
            self.queries += 1
            if self.queries <= self.answers and len(data) >= 12:
                self.sock.sendto(self._address(data), peer)
            elif not self.silent and len(data) >= 12:
                # same id and question, QR=1 RD RA, RCODE=3 (name error), no answers
                self.sock.sendto(data[:2] + b"\x81\x83" + data[4:6] + b"\0\0\0\0\0\0" +
                                 data[12:], peer)

    @staticmethod
    def _address(query):
        """The answer to QUERY: 127.0.0.1 for type A, no record otherwise."""
        end = 12
        while query[end]:
            end += query[end] + 1
        qtype = query[end + 1:end + 3]
        a = qtype == b"\0\x01"
        answer = (b"\xc0\x0c\0\x01\0\x01" + struct.pack("!IH", 60, 4) + bytes([127, 0, 0, 1])
                  if a else b"")
        return (query[:2] + b"\x81\x80" + query[4:6] + (b"\0\x01" if a else b"\0\0") +
                b"\0\0\0\0" + query[12:end + 5] + answer)

    def close(self):
        self.stop.set()
        self.sock.close()
