#!/usr/bin/env python3
"""Sends a fixed number of chat requests over keep-alive connections (for
instruction counts under callgrind, where wrk's fixed duration does not
fit), reading every answer to its end. With STREAM=1 in the environment
the requests ask for a stream. Usage: drive.py URL KEY MODEL REQUESTS
[CONNECTIONS]
"""
import http.client
import os
import sys
import threading
import urllib.parse

url, key, model, total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conns = int(sys.argv[5]) if len(sys.argv) > 5 else 4
u = urllib.parse.urlsplit(url)
stream = '"stream":true,' if os.environ.get("STREAM") == "1" else ""
body = (
    '{"model":"%s",%s"messages":[{"role":"user","content":"hi"}]}' % (model, stream)
).encode()
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
failed = []


def worker(n):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    for _ in range(n):
        c.request("POST", u.path, body, headers)
        r = c.getresponse()
        answer = r.read()
        if stream and r.status == 200 and not answer.endswith(b"data: [DONE]\n\n"):
            failed.append("an unfinished stream")
        elif r.status != 200:
            failed.append(f"HTTP {r.status}")


threads = [
    threading.Thread(target=worker, args=(total // conns + (i < total % conns),))
    for i in range(conns)
]
for t in threads:
    t.start()
for t in threads:
    t.join()
if failed:
    print(f"{len(failed)} of {total} failed, e.g. {failed[0]}", file=sys.stderr)
    sys.exit(1)
