#!/usr/bin/env python3
"""Sends a fixed number of non-streaming chat requests over keep-alive
connections (for instruction counts under callgrind, where wrk's fixed
duration does not fit). Usage: drive.py URL KEY MODEL REQUESTS [CONNECTIONS]
"""
import http.client
import sys
import threading
import urllib.parse

url, key, model, total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conns = int(sys.argv[5]) if len(sys.argv) > 5 else 4
u = urllib.parse.urlsplit(url)
body = ('{"model":"%s","messages":[{"role":"user","content":"hi"}]}' % model).encode()
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
failed = []


def worker(n):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    for _ in range(n):
        c.request("POST", u.path, body, headers)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            failed.append(r.status)


threads = [
    threading.Thread(target=worker, args=(total // conns + (i < total % conns),))
    for i in range(conns)
]
for t in threads:
    t.start()
for t in threads:
    t.join()
if failed:
    print(f"{len(failed)} of {total} failed, e.g. HTTP {failed[0]}", file=sys.stderr)
    sys.exit(1)
