#!/usr/bin/env python3
"""Tests the key pool's Redis scripts (crates/keypool/src/shared_state/lua/*.lua) against a
real, throwaway redis-server on a free loopback port.

Each scenario plays one or more "replicas" (separate connections) through
the scripts exactly as a proxy would: SCRIPT LOAD once, then EVALSHA, and
SCRIPT LOAD again after a NOSCRIPT error. Keys are named by a hash of the
namespace and the raw key, never the raw key; two scenarios check that no
raw key reached any key name, value or wake-up message. The client and the
servers are in replica.py.

Usage: python3 crates/keypool/tests/redis_scripts/test_scripts.py
Skips (exit 0, with a message) when redis-server is not installed.
"""

import shutil
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
from replica import (  # noqa: E402
    DAY, K, LOCK_BASE, NS, P, PROVIDER, RAW_KEYS, SCRIPTS_CACHE,
    SHORT_LADDER, WAKE, Conn, RedisError, Replica, Scripts, periods,
    start_cluster_node, start_server)


# === scenarios ===


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def near(value, expected, slack=250):
    return abs(value - expected) <= slack


def cooldown_then_acquire_refuses_that_key(port):
    a, b = Replica(port, "a"), Replica(port, "b")
    lease = a.acquire("m1", [K[0], K[1]])
    check(lease["kid"] == K[0], f"the first candidate, idle, is taken: {lease}")
    r = a.report("m1", lease, "failure", "rate_limited")
    check(near(r["cool"] - r["now"], 10_000) and r["failures"] == 1, f"first step 10 s: {r}")
    for _ in range(20):
        got = b.acquire("m1", [K[0], K[1], K[2]])
        check(got["kid"] in (K[1], K[2]), f"another replica never gets the cooled key: {got}")
        b.release("m1", got)
    refused = b.acquire("m1", [K[0]])
    state, until, cause = refused["rest"][K[0]]
    check(refused["kid"] is None and state == "cool" and cause == "rate_limited",
          f"refused while cooling: {refused}")
    check(until == r["cool"], "the refusal says until when")
    other = b.acquire("other-model", [K[0]])
    check(other["kid"] == K[0], "a cooldown is per model")
    b.release("other-model", other)


def ladder_escalates_across_replicas(port):
    a = Replica(port, "a", ladder=SHORT_LADDER)
    b = Replica(port, "b", ladder=SHORT_LADDER)
    first = a.acquire("m2", [K[1]])
    r1 = a.report("m2", first, "failure", "rate_limited")
    check(near(r1["cool"] - r1["now"], 300, 50) and r1["failures"] == 1, f"step 1: {r1}")
    check(b.acquire("m2", [K[1]])["kid"] is None, "b sees a's cooldown")
    time.sleep(0.35)
    second = b.acquire("m2", [K[1]])
    check(second["kid"] == K[1], f"back after its cooldown: {second}")
    r2 = b.report("m2", second, "failure", "rate_limited")
    check(near(r2["cool"] - r2["now"], 900, 50) and r2["failures"] == 2,
          f"a second failure via another replica gives the second step: {r2}")

    # Leases in flight together, failing on two replicas: one step.
    x = a.acquire("m3", [K[2]], limit=0)
    y = b.acquire("m3", [K[2]], limit=0)
    check(x["kid"] == y["kid"] == K[2], "unlimited: both lease the key")
    rx = a.report("m3", x, "failure", "rate_limited")
    ry = b.report("m3", y, "failure", "rate_limited")
    check(rx["failures"] == 1 and ry["failures"] == 1,
          f"concurrent failures on two replicas are one step: {rx} {ry}")
    check(ry["cool"] >= rx["cool"], "and the later report does not shorten the cooldown")


def tiers_as_the_pool_ranks_them(port):
    a, b = Replica(port, "a"), Replica(port, "b")
    other = a.acquire("t-other", [K[0]], limit=2)
    same = a.acquire("t-m", [K[1]], limit=2)
    check(other["kid"] == K[0] and same["kid"] == K[1], "setup")
    # K[2] idle beats the replica's preferred order; then busy with another
    # model (K[0]) before busy with this one (K[1]).
    got = b.acquire("t-m", [K[1], K[0], K[2]], limit=2)
    check(got["kid"] == K[2], f"an idle key first: {got}")
    got2 = b.acquire("t-m", [K[1], K[0]], limit=2)
    check(got2["kid"] == K[0], f"then a key busy only with other models: {got2}")
    got3 = b.acquire("t-m", [K[1]], limit=2)
    check(got3["kid"] == K[1], f"then one busy with this model, under the limit: {got3}")
    full = b.acquire("t-m", [K[1]], limit=2)
    check(full["rest"][K[1]][0] == "full", f"not past the limit: {full}")
    for r, model, lease in [(a, "t-other", other), (a, "t-m", same), (b, "t-m", got),
                            (b, "t-m", got2), (b, "t-m", got3)]:
        check(r.release(model, lease) == 1, "released")


def pins_hold_across_replicas(port):
    """A conversation's pin: its key wins over an idler one on any replica
    while it can serve; when it cannot, the pin moves to the key leased."""
    a, b = Replica(port, "a"), Replica(port, "b")
    first = a.acquire("p-m", [K[3], K[4]], pin="conv1")
    check(first["kid"] == K[3] and first["pinned"] is None, f"no pin yet: {first}")
    a.release("p-m", first)
    busy = a.acquire("p-other", [K[3]])  # K[3] busy with another model
    again = b.acquire("p-m", [K[4], K[3]], pin="conv1")
    check(again["kid"] == K[3] and again["pinned"] == K[3],
          f"the pinned key over an idle one, from another replica: {again}")
    b.release("p-m", again)
    a.release("p-other", busy)
    plain = b.acquire("p-m", [K[4], K[3]])
    check(plain["kid"] == K[4] and plain["pinned"] is None, f"no conversation, no pin: {plain}")
    b.release("p-m", plain)
    cooled = a.acquire("p-m", [K[3]], pin="conv1")
    a.report("p-m", cooled, "failure", "rate_limited")
    moved = b.acquire("p-m", [K[3], K[4]], pin="conv1")
    check(moved["kid"] == K[4] and moved["pinned"] == K[3], f"moves off a cooled key: {moved}")
    b.release("p-m", moved)
    stays = a.acquire("p-m", [K[5], K[4]], pin="conv1")
    check(stays["kid"] == K[4] and stays["pinned"] == K[4], f"then stays on its new key: {stays}")
    a.release("p-m", stays)
    ttl = a.conn.call("PTTL", f"{P}:pin:conv1")
    check(3_500_000 < ttl <= 3_600_000, f"a pin idles out after an hour: {ttl}")
    short = a.acquire("p-m", [K[5]], pin="conv2", pin_ms=50)
    a.release("p-m", short)
    time.sleep(0.1)
    gone = a.acquire("p-m", [K[4], K[5]], pin="conv2")
    check(gone["kid"] == K[4] and gone["pinned"] is None, f"an idle pin is forgotten: {gone}")
    a.release("p-m", gone)


def limits_hold_over_replicas_exactly(port):
    """Per-key limits counted in Redis: two replicas together never pass a
    cap, a capped key is refused as "cap" until its window ends, and an
    answer's usage replaces the tokens reserved for it."""
    a, b = Replica(port, "a"), Replica(port, "b")
    rpd = (0, 3, 0)
    got = []
    for r in (a, b, a, b, a):
        lease = r.acquire("l-m", [K[6]], limit=0, caps=rpd)
        got.append(lease["kid"])
        if lease["kid"]:
            r.release("l-m", lease)
    check(got == [K[6], K[6], K[6], None, None], f"three calls in all, then refused: {got}")
    refused = b.acquire("l-m", [K[6]], limit=0, caps=rpd)
    state, until, _ = refused["rest"][K[6]]
    _, nxt, _ = b.periods()
    check(state == "cap" and until == nxt, f"capped until the next day: {refused}")
    check(b.acquire("l-other", [K[6]], limit=0, caps=rpd)["kid"] == K[6], "per model")
    tpm = (0, 0, 100)
    first = a.acquire("l-t", [K[7]], limit=0, caps=tpm, tokens=80)
    check(first["kid"] == K[7], f"room for 80: {first}")
    held = b.acquire("l-t", [K[7]], limit=0, caps=tpm, tokens=30)
    check(held["kid"] == K[7], f"110 reserved: {held}")
    check(a.acquire("l-t", [K[7]], limit=0, caps=tpm, tokens=1)["kid"] is None, "full")
    a.report("l-t", first, "success", tokens=(80, 20))
    b.report("l-t", held, "success", tokens=(30, 30))
    again = a.acquire("l-t", [K[7]], limit=0, caps=tpm, tokens=10)
    check(again["kid"] == K[7], f"50 used: room again: {again}")
    a.release("l-t", again)


def a_disabled_key_is_refused_by_every_replica(port):
    a, b = Replica(port, "a"), Replica(port, "b")
    a.set_disabled(K[3], True)
    for _ in range(5):
        got = b.acquire("d-m", [K[3], K[4]])
        check(got["kid"] == K[4], f"another replica never leases a disabled key: {got}")
        b.release("d-m", got)
    refused = b.acquire("d-m", [K[3]])
    check(refused["kid"] is None and refused["rest"][K[3]] == ("off", 0, ""),
          f"refused as off: {refused}")
    b.set_disabled(K[3], False)
    back = a.acquire("d-m", [K[3], K[4]])
    check(back["kid"] == K[3], f"enabled again, it serves: {back}")
    a.release("d-m", back)


def concurrency_limit_one_never_double_leases(port):
    keys = [K[3], K[4]]
    holders = {k: set() for k in keys}
    lock = threading.Lock()
    errors, granted = [], [0]

    def worker(name):
        r = Replica(port, name)
        for _ in range(150):
            got = r.acquire("m4", keys, limit=1)
            if got["kid"] is None:
                check(all(s == "full" for s, _, _ in got["rest"].values()), f"{got}")
                continue
            with lock:
                if holders[got["kid"]]:
                    errors.append(f"{name} got {got['kid'][:6]} held by {holders[got['kid']]}")
                holders[got["kid"]].add(name)
                granted[0] += 1
            time.sleep(0.0005)
            with lock:
                holders[got["kid"]].discard(name)
            # Released after leaving the holder set: while a name is in it,
            # Redis still counts its lease.
            if got["lease"] % 2:
                r.release("m4", got)
            else:
                r.report("m4", got, "success")
        r.conn.close()

    threads = [threading.Thread(target=worker, args=(f"replica{i % 3}-{i}",)) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"double leases: {errors[:3]}")
    check(granted[0] > 50, f"leases were granted: {granted[0]}")
    c = Conn(port)
    for k in keys:
        check(c.call("ZCARD", f"{P}:kml:{k}:m4") == 0, "every lease released")
    c.close()


def expired_lease_is_freed(port):
    dead, alive = Replica(port, "dead", ttl=300), Replica(port, "alive", ttl=300)
    held = dead.acquire("m5", [K[5]])
    check(held["kid"] == K[5], "leased")
    full = alive.acquire("m5", [K[5]])
    check(full["kid"] is None and full["rest"][K[5]][0] == "full", f"at its limit: {full}")
    # The holder is killed: it never releases nor renews.
    dead.conn.close()
    time.sleep(0.4)
    back = alive.acquire("m5", [K[5]])
    check(back["kid"] == K[5], f"the expired lease is freed: {back}")
    # Renewed leases stay; one left to expire is reported lost.
    time.sleep(0.2)
    check(alive.renew("m5", [back]) == [], "renewed in time")
    time.sleep(0.2)
    check(alive.acquire("m5", [K[5]])["kid"] is None, "a renewed lease still holds the key")
    time.sleep(0.4)
    check(alive.renew("m5", [back]) == [back["lease"]], "an expired lease is lost, not renewed")
    check(alive.release("m5", back) == 0, "releasing a lost lease is harmless")


def batch_replay_applied_once(port):
    a, b = Replica(port, "a"), Replica(port, "b")
    entry = (K[6], "m6", 3, 2, 1, 100, 50)
    check(a.usage([entry], batch=1) == [1, 1], "first batch applied")
    check(a.usage([entry], batch=1) == [0, 1], "the same batch again is a no-op")
    check(a.usage([entry], batch=2) == [1, 2], "the next batch applies")
    check(a.usage([entry], batch=1) == [0, 2], "an old batch replayed late is a no-op")
    check(b.usage([entry], batch=1) == [1, 1], "batch numbers are per replica")
    cur, _, _ = periods()
    c = Conn(port)
    daily = dict(zip(*[iter(c.call("HGETALL", f"{P}:ud:{K[6]}:{cur}:m6"))] * 2))
    life = dict(zip(*[iter(c.call("HGETALL", f"{P}:ul:{K[6]}:m6"))] * 2))
    want = {"requests": "9", "successes": "6", "failures": "3",
            "prompt_tokens": "300", "completion_tokens": "150"}
    check(daily == want and life == want, f"counted exactly three times: {daily} {life}")
    check(c.call("ZSCORE", f"{P}:models:{K[6]}", "m6") is not None, "the model is indexed")
    check(0 < c.call("PTTL", f"{P}:ud:{K[6]}:{cur}:m6") <= 8 * DAY, "daily buckets expire")
    # The provider's hourly history rides in the same batches, once each.
    hours = [(491000, 3, 2, 1), (491001, 1, 0, 0)]
    check(a.usage([entry], batch=3, hours=hours) == [1, 3], "a batch with history applies")
    check(a.usage([entry], batch=3, hours=hours) == [0, 3], "and counts once")
    check(b.usage([], batch=2, hours=hours[:1]) == [1, 2], "history alone is a batch")
    hour = dict(zip(*[iter(c.call("HGETALL", f"{P}:hist:491000"))] * 2))
    check(hour == {"requests": "6", "failures": "4", "rate_limited": "2"}, f"an hour: {hour}")
    check(0 < c.call("PTTL", f"{P}:hist:491001") <= 49 * 3600 * 1000, "hours expire")
    life = dict(zip(*[iter(c.call("HGETALL", f"{P}:ul:{K[6]}:m6"))] * 2))
    check(life["requests"] == "12", f"usage beside history still counts: {life}")
    check(c.call("PTTL", f"{P}:ul:{K[6]}:m6") == -1, "lifetime counters stay")
    c.close()


def cooldown_never_shortened(port):
    a, b = Replica(port, "a"), Replica(port, "b")
    x = a.acquire("m7", [K[7]], limit=0)
    y = b.acquire("m7", [K[7]], limit=0)
    rx = a.report("m7", x, "failure", "rate_limited", hint=60_000)
    check(near(rx["cool"] - rx["now"], 60_000), f"a longer hint wins: {rx}")
    ry = b.report("m7", y, "failure", "rate_limited", hint=1_000)
    check(ry["cool"] == rx["cool"], f"a shorter cooldown leaves the longer one: {ry}")
    shorter = a.merge(K[7], "m7", cool=rx["now"] + 5_000, failures=1, last="rate_limited")
    check(shorter[0] == rx["cool"], f"a merge never shortens it: {shorter}")
    longer = a.merge(K[7], "m7", cool=rx["cool"] + 30_000, hinted=True, failures=1)
    check(longer[0] == rx["cool"] + 30_000, f"a merge lengthens it with max(): {longer}")
    # A quota without a hint rests until the next daily reset.
    z = a.acquire("m8", [K[7]])
    rz = a.report("m8", z, "failure", "quota")
    check(rz["cool"] == periods()[1], f"quota: until the next reset: {rz}")
    # A transient failure ignores hints.
    t = a.acquire("m9", [K[7]])
    rt = a.report("m9", t, "failure", "transient", hint=900_000)
    check(near(rt["cool"] - rt["now"], 10_000), f"transient: the ladder step: {rt}")


def lockouts_cover_every_model(port):
    a, b = Replica(port, "a"), Replica(port, "b")
    x = a.acquire("m10", [K[8]])
    r = a.report("m10", x, "failure", "key_rejected")
    check(near(r["locked"] - r["now"], LOCK_BASE) and r["lockouts"] == 1, f"locked 5 min: {r}")
    got = b.acquire("any-model", [K[8], K[9]])
    check(got["kid"] == K[9], f"a locked key is skipped for every model: {got}")
    refused = b.acquire("any-model", [K[8]])
    check(refused["rest"][K[8]][0] == "lock", f"refused as locked: {refused}")
    # A lease taken before the lockout (it was in flight) succeeds: the
    # success clears the lockout, as in one proxy.
    b.release("any-model", got)
    c = Conn(port)
    c.call("HSET", f"{P}:key:{K[8]}", "locked_until", 0)
    y = b.acquire("m11", [K[8]])
    c.call("HSET", f"{P}:key:{K[8]}", "locked_until", r["locked"])
    rs = b.report("m11", y, "success")
    check(rs["locked"] == 0 and rs["lockouts"] == 0, f"a success clears the lockout: {rs}")
    c.close()


def manual_reset_clears_rests(port):
    a = Replica(port, "a")
    x = a.acquire("r1", [K[9]], limit=0)
    y = a.acquire("r2", [K[9]], limit=0)
    a.report("r1", x, "failure", "rate_limited", hint=600_000)
    a.report("r2", y, "failure", "key_rejected")
    check(a.acquire("r3", [K[9]])["kid"] is None, "locked for every model")
    check(a.clear(K[9], ["r1"], whole=False) == 1, "the model's cooldown is cleared")
    check(a.acquire("r1", [K[9]])["rest"][K[9]][0] == "lock", "the lockout stays")
    check(a.clear(K[9], ["r1", "r2"], whole=True) == 1, "the whole key is cleared")
    got = a.acquire("r1", [K[9]])
    check(got["kid"] == K[9], f"usable again: {got}")
    a.release("r1", got)
    check(a.clear(K[9], ["r1", "r2"], whole=True) == 0, "nothing left to clear")


def daily_reset_needs_no_coordination(port):
    cur, nxt, after = periods()
    # Yesterday's state: written in the previous period.
    yesterday = Replica(port, "yesterday", day=(cur - DAY, nxt, after))
    x = yesterday.acquire("m12", [K[0]], limit=0)
    h = yesterday.acquire("m13", [K[0]], limit=0)
    yesterday.report("m12", x, "failure", "rate_limited")
    rh = yesterday.report("m13", h, "failure", "rate_limited", hint=7_200_000)
    check(yesterday.acquire("m12", [K[0]])["kid"] is None, "cooling yesterday")

    today = Replica(port, "today")
    got = today.acquire("m12", [K[0]])
    check(got["kid"] == K[0], f"ladder cooldowns end with their period: {got}")
    r = today.report("m12", got, "failure", "rate_limited")
    check(r["failures"] == 1, f"the ladder starts again in a new period: {r}")
    hinted = today.acquire("m13", [K[0]])
    check(hinted["kid"] is None and hinted["rest"][K[0]][1] == rh["cool"],
          f"a hinted cooldown outlives the reset: {hinted}")

    # A replica that has not yet noticed the reset (its "next" start is
    # behind Redis's clock) is moved to the new period by the script.
    lagging = Replica(port, "lagging", day=(cur - DAY, cur, nxt))
    seen = lagging.acquire("m12", [K[0]])
    check(seen["kid"] is None and seen["rest"][K[0]][1] == r["cool"],
          f"a lagging replica sees today's cooldown: {seen}")


def wake_ups_and_restart(port, messages):
    a = Replica(port, "a")
    lease = a.acquire("m14", [K[1], K[2]])
    a.release("m14", lease)
    lease = a.acquire("m14", [K[1], K[2]])
    a.report("m14", lease, "failure", "transient")
    deadline = time.time() + 2
    while time.time() < deadline and len([m for m in messages if "|m14|" in m]) < 2:
        time.sleep(0.02)
    wake = [m for m in messages if "|m14|" in m]
    check(len(wake) == 2 and wake[0] == f"{lease['kid']}|m14|free|0"
          and wake[1].startswith(f"{lease['kid']}|m14|cool|"), f"release and report wake: {wake}")

    # Redis restarts empty: scripts are loaded again after NOSCRIPT, a new
    # epoch tells replicas to register their live leases again.
    held = a.acquire("m15", [K[3]])
    c = Conn(port)
    c.call("FLUSHALL")
    c.call("SCRIPT", "FLUSH")
    c.close()
    reloads = SCRIPTS_CACHE.reloads
    other = Replica(port, "b").acquire("m15", [K[3]])
    check(SCRIPTS_CACHE.reloads == reloads + 1, "NOSCRIPT: loaded again")
    check(other["epoch"] != held["epoch"], "a new epoch after the restart")
    check(other["lease"] > held["lease"], "lease ids do not repeat across a restart")
    check(a.renew("m15", [held]) == [held["lease"]], "the old lease is unknown")
    check(a.renew("m15", [held], mode="nx") == [held["lease"]], "registered again")
    check(a.acquire("m15", [K[3]])["kid"] is None, "and counted against the limit")


def nothing_raw_in_redis(port, messages):
    c = Conn(port)
    seen = []
    cursor = "0"
    while True:
        cursor, names = c.call("SCAN", cursor, "COUNT", 1000)
        for name in names:
            seen.append(name)
            kind = c.call("TYPE", name)
            if kind == "hash":
                seen += c.call("HGETALL", name)
            elif kind == "zset":
                seen += c.call("ZRANGE", name, 0, -1, "WITHSCORES")
            elif kind == "string":
                seen.append(c.call("GET", name))
            else:
                raise AssertionError(f"unexpected type {kind} for {name}")
        if cursor == "0":
            break
    c.close()
    seen += messages
    check(len(seen) > 20, "there is state to look at")
    for raw in RAW_KEYS:
        for text in seen:
            check(raw not in str(text) and "SECRET" not in str(text),
                  f"a raw key in Redis: {text!r}")


def all_names_share_the_hash_tag(port):
    c = Conn(port)
    cursor, names = "0", []
    while True:
        cursor, batch = c.call("SCAN", cursor, "COUNT", 1000)
        names += batch
        if cursor == "0":
            break
    slots = {n.split("}")[0] + "}" for n in names}
    c.close()
    check(slots == {f"{NS}:{{{PROVIDER}}}"}, f"every key under one hash tag: {slots}")


def every_script_runs_on_a_cluster(port):
    """On a one-node Redis Cluster (all 16384 slots), where a script whose
    keys span two slots fails with CROSSSLOT: every script, every key
    under the provider's hash tag."""
    a = Replica(port, "cluster-a", ladder=SHORT_LADDER)
    a.s = Scripts()
    a.s.load(a.conn)
    lease = a.acquire("c1", [K[0], K[1]])
    check(lease["kid"] == K[0], f"acquire: {lease}")
    check(a.renew("c1", [lease]) == [], "renew")
    r = a.report("c1", lease, "failure", "rate_limited")
    check(r["failures"] == 1, f"report: {r}")
    other = a.acquire("c1", [K[0], K[1]])
    check(other["kid"] == K[1] and a.release("c1", other) == 1, "release")
    check(a.usage([(K[0], "c1", 1, 0, 1, 5, 0)]) == [1, 1], "usage")
    check(a.merge(K[0], "c1", cool=r["cool"] + 1_000, failures=1)[0] == r["cool"] + 1_000, "merge")
    check(a.clear(K[0], ["c1"], whole=True) == 1, "clear")
    slots = {a.conn.call("CLUSTER", "KEYSLOT", n) for n in a.conn.call("KEYS", "*")}
    check(len(slots) == 1, f"one slot for the provider: {slots}")
    try:
        a.conn.call("EVAL", "return 1", 2, f"{P}:seq", f"{NS}:{{other}}:seq")
        raise AssertionError("a cross-slot script was accepted: the check proves nothing")
    except RedisError as e:
        check("CROSSSLOT" in str(e), f"{e}")
    a.conn.close()


def main():
    server = shutil.which("redis-server")
    if server is None:
        print("SKIP: redis-server is not installed (Debian: apt-get install redis-server)")
        return 0
    workdir = tempfile.mkdtemp(prefix="redis-scripts-")
    cluster_dir = tempfile.mkdtemp(prefix="redis-scripts-cluster-")
    port, proc = start_server(server, workdir)
    cluster = None
    try:
        setup = Conn(port)
        SCRIPTS_CACHE.load(setup)
        setup.close()

        messages = []
        sub = Conn(port)
        sub.call("SUBSCRIBE", WAKE)

        def listen():
            while True:
                try:
                    msg = sub.read()
                except (OSError, ConnectionError):
                    return
                if isinstance(msg, list) and msg[0] == "message":
                    messages.append(msg[2])

        sub.sock.settimeout(None)
        threading.Thread(target=listen, daemon=True).start()

        scenarios = [
            ("cooldown then acquire refuses that key", cooldown_then_acquire_refuses_that_key),
            ("ladder escalates across replicas", ladder_escalates_across_replicas),
            ("tiers as the pool ranks them", tiers_as_the_pool_ranks_them),
            ("sticky pins hold across replicas", pins_hold_across_replicas),
            ("per-key limits hold over replicas exactly", limits_hold_over_replicas_exactly),
            ("a disabled key is refused by every replica",
             a_disabled_key_is_refused_by_every_replica),
            ("concurrency limit 1 never double-leases", concurrency_limit_one_never_double_leases),
            ("expired lease is freed; renewal", expired_lease_is_freed),
            ("batch replay applied once", batch_replay_applied_once),
            ("cooldown never shortened", cooldown_never_shortened),
            ("lockouts cover every model", lockouts_cover_every_model),
            ("daily reset needs no coordination", daily_reset_needs_no_coordination),
            ("manual reset clears rests", manual_reset_clears_rests),
            ("every key under one hash tag", all_names_share_the_hash_tag),
            ("nothing raw in Redis", lambda p: nothing_raw_in_redis(p, messages)),
            ("wake-ups; Redis restarting empty", lambda p: wake_ups_and_restart(p, messages)),
            ("nothing raw in Redis, after the restart",
             lambda p: nothing_raw_in_redis(p, messages)),
            ("every script runs on a Redis Cluster",
             lambda p: every_script_runs_on_a_cluster(cluster_port)),
        ]
        cluster_port, cluster = start_cluster_node(server, cluster_dir)
        failed = 0
        for name, scenario in scenarios:
            try:
                scenario(port)
                print(f"ok   {name}")
            except Exception as e:  # report every scenario, then fail
                failed += 1
                print(f"FAIL {name}: {e!r}")
        print(f"{len(scenarios) - failed} passed, {failed} failed")
        return 1 if failed else 0
    finally:
        for p in (proc, cluster):
            if p is not None:
                p.terminate()
                p.wait(timeout=5)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(cluster_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
