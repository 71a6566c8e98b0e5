"""What the script tests need to act as proxy replicas: a minimal RESP2
client, the scripts loaded by SHA1 (EVALSHA, reloaded after NOSCRIPT), a
`Replica` that calls them with the keys and arguments a proxy would pass,
and throwaway redis-server processes (standalone and a one-node cluster).
"""

import hashlib
import os
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "..", "..", "src", "shared_state", "lua")
SCRIPTS = ["acquire", "report", "release", "renew", "usage", "merge", "clear"]

NS = "test-ns"
PROVIDER = "groq"
P = f"{NS}:{{{PROVIDER}}}"  # every key of the provider shares this hash tag
WAKE = f"{P}:wake"
DAY = 86_400_000
LADDER = "10000,30000,60000,120000,300000"  # the pool's ladder, in ms
SHORT_LADDER = "300,900,1800,3600,9000"  # the same shape, scaled for tests
LOCK_BASE, LOCK_MAX = 300_000, 3_600_000
KEEP = 2 * DAY
RAW_KEYS = [f"gsk_live_SECRET_{c * 4}{i}{i}{i}{i}" for i, c in enumerate("abcdefghij")]


def kid(raw):
    """The Redis-side key id: a hash of the namespace and the raw key."""
    return hashlib.sha256(f"{NS}\0{raw}".encode()).hexdigest()[:24]


K = [kid(raw) for raw in RAW_KEYS]


# === a minimal RESP2 client ===


class RedisError(Exception):
    pass


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        self.sock.sendall(b"".join(out))

    def call(self, *args):
        self.send(*args)
        reply = self.read()
        if isinstance(reply, RedisError):
            raise reply
        return reply

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(f"unexpected reply {line!r}")


# === the scripts, as a replica runs them ===


class Scripts:
    """Script bodies and their SHA1s; EVALSHA with reload after NOSCRIPT."""

    def __init__(self):
        self.body = {}
        for name in SCRIPTS:
            with open(os.path.join(LUA, f"{name}.lua")) as f:
                self.body[name] = f.read()
        self.sha = {}
        self.reloads = 0

    def load(self, conn):
        for name, body in self.body.items():
            self.sha[name] = conn.call("SCRIPT", "LOAD", body)

    def run(self, conn, name, keys, args):
        try:
            return conn.call("EVALSHA", self.sha[name], len(keys), *keys, *args)
        except RedisError as e:
            if not str(e).startswith("NOSCRIPT"):
                raise
            self.reloads += 1
            self.sha[name] = conn.call("SCRIPT", "LOAD", self.body[name])
            return conn.call("EVALSHA", self.sha[name], len(keys), *keys, *args)


SCRIPTS_CACHE = Scripts()


def periods():
    """(current, next, after next) reset period starts in ms: the day
    starts at 03:00 UTC."""
    now = int(time.time() * 1000)
    cur = (now - 3 * 3_600_000) // DAY * DAY + 3 * 3_600_000
    return cur, cur + DAY, cur + 2 * DAY


class Replica:
    """One proxy replica: its own connection, replica id and batches."""

    def __init__(self, port, name, ladder=LADDER, ttl=30_000, day=None):
        self.conn = Conn(port)
        self.name = name
        self.ladder = ladder
        self.ttl = ttl
        self.day = day  # (current, next, after next) if not today's
        self.batch = 0
        self.s = SCRIPTS_CACHE

    def periods(self):
        return self.day or periods()

    def acquire(self, model, kids, limit=1, ttl=None, pin=None, pin_ms=3_600_000,
                caps=(0, 0, 0), tokens=0):
        """pin: a conversation's name (sticky sessions), or None; caps: the
        per-key limits (rpm, rpd, tpm), 0 = none; tokens: expected."""
        keys = [f"{P}:seq", f"{P}:epoch", f"{P}:pin:{pin or '-'}"]
        for k in kids:
            keys += [f"{P}:key:{k}", f"{P}:km:{k}:{model}", f"{P}:kl:{k}", f"{P}:kml:{k}:{model}",
                     f"{P}:lim:{k}:{model}"]
        keys.append(f"{P}:disabled")
        cur, nxt, _ = self.periods()
        args = [limit, ttl or self.ttl, cur, nxt, pin_ms if pin else 0, *caps, cur, nxt, tokens]
        r = self.s.run(self.conn, "acquire", keys, args)
        if r[0] == 1:
            pinned = kids[r[6] - 1] if r[6] else None
            return {"kid": kids[r[1] - 1], "lease": r[2], "now": r[3], "expires": r[4],
                    "epoch": r[5], "pinned": pinned}
        rest = {}
        for i, k in enumerate(kids):
            state, until, cause = r[3 + 3 * i : 6 + 3 * i]
            rest[k] = (state, int(until), cause)
        return {"kid": None, "now": r[1], "epoch": r[2], "rest": rest}

    def set_disabled(self, k, disabled):
        """What the admin routes do: the key id in or out of the set."""
        return self.conn.call("SADD" if disabled else "SREM", f"{P}:disabled", k)

    def report(self, model, lease, outcome, kind="", hint=None, tokens=None):
        """tokens: (reserved, used) to correct the tokens-per-minute count."""
        k = lease["kid"]
        keys = [f"{P}:seq", f"{P}:key:{k}", f"{P}:km:{k}:{model}", f"{P}:kl:{k}", f"{P}:kml:{k}:{model}"]
        cur, nxt, after = self.periods()
        args = [lease["lease"], outcome, kind, "" if hint is None else hint, cur, nxt, after,
                self.ladder, LOCK_BASE, LOCK_MAX, KEEP, WAKE, f"{k}|{model}"]
        if tokens is not None:
            keys.append(f"{P}:lim:{k}:{model}")
            args += list(tokens)
        now, cool, locked, failures, lockouts, released = self.s.run(self.conn, "report", keys, args)
        return {"now": now, "cool": cool, "locked": locked, "failures": failures,
                "lockouts": lockouts, "released": released}

    def release(self, model, lease):
        k = lease["kid"]
        keys = [f"{P}:kl:{k}", f"{P}:kml:{k}:{model}"]
        return self.s.run(self.conn, "release", keys, [lease["lease"], WAKE, f"{k}|{model}"])

    def renew(self, model, leases, mode="xx", ttl=None):
        keys, ids = [], []
        for lease in leases:
            keys += [f"{P}:kl:{lease['kid']}", f"{P}:kml:{lease['kid']}:{model}"]
            ids.append(lease["lease"])
        return [int(x) for x in self.s.run(self.conn, "renew", keys, [ttl or self.ttl, mode, *ids])]

    def usage(self, entries, batch=None, hours=()):
        """entries: (kid, model, requests, successes, failures, prompt, completion);
        hours: (hour, requests, failures, rate_limited) of the provider's history."""
        if batch is None:
            self.batch += 1
            batch = self.batch
        cur, _, _ = self.periods()
        keys, args = [f"{P}:wm:{self.name}"], [batch, 8 * DAY, 7 * DAY]
        for k, model, *counts in entries:
            keys += [f"{P}:ud:{k}:{cur}:{model}", f"{P}:ul:{k}:{model}", f"{P}:models:{k}"]
            args += [model, *counts]
        for hour, *counts in hours:
            keys.append(f"{P}:hist:{hour}")
            args += counts
        return self.s.run(self.conn, "usage", keys, args)

    def merge(self, k, model, locked=0, lockouts=0, cool=0, hinted=False, failures=0, last=""):
        cur, nxt, _ = self.periods()
        keys = [f"{P}:key:{k}", f"{P}:km:{k}:{model}"]
        args = [cur, nxt, locked, lockouts, cool, "1" if hinted else "0", failures, last, KEEP,
                WAKE, f"{k}|{model}"]
        return self.s.run(self.conn, "merge", keys, args)


    def clear(self, k, models, whole):
        cur, nxt, _ = self.periods()
        keys = [f"{P}:key:{k}"] + [f"{P}:km:{k}:{m}" for m in models]
        return self.s.run(self.conn, "clear", keys, ["1" if whole else "0", cur, nxt, WAKE, k])


# === the throwaway servers ===


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(server, workdir, *extra):
    """A redis-server on a free loopback port, persisting nothing; its log
    goes to `workdir`/redis.log and is shown if it does not start."""
    port = free_port()
    log_path = os.path.join(workdir, "redis.log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", workdir, *extra],
            stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        if proc.poll() is not None:
            break
        try:
            probe = Conn(port)
            probe.call("PING")
            probe.close()
            return port, proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    with open(log_path, errors="replace") as log:
        tail = log.read()[-2000:]
    raise RuntimeError(f"redis-server did not start on port {port}:\n{tail}")


def start_cluster_node(server, workdir):
    # The bus port defaults to port + 10000, impossible above 55535.
    port, proc = start_server(server, workdir, "--cluster-enabled", "yes",
                              "--cluster-port", str(free_port()),
                              "--cluster-config-file", os.path.join(workdir, "nodes.conf"))
    c = Conn(port)
    c.call("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    for _ in range(100):
        if "cluster_state:ok" in c.call("CLUSTER", "INFO"):
            c.close()
            return port, proc
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("the one-node cluster did not come up")


