#!/usr/bin/env python3
"""bench/vacuum_client.py — an IMAP client that keeps asking small things while
`aox vacuum` runs, and reports how long it ever had to wait.

    vacuum_client.py --port P --user U --password W --stop FILE --out JSON

Logs in, SELECTs INBOX, then until FILE exists loops over three commands, each
timed from sending to its tagged reply: NOOP, UID FETCH <a UID that stays>
(FLAGS), and STATUS INBOX (MESSAGES UNSEEN). Writes to JSON: the number of
commands, the longest wait and the 99th percentile, per command and overall,
in milliseconds. Stdlib only (imaplib), so it runs against any server.
"""

import argparse
import imaplib
import json
import os
import random
import time

# UID SEARCH ALL of a million messages is one line of several MB.
imaplib._MAXLINE = 100_000_000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--stop", required=True, help="stop once this file exists")
    p.add_argument("--ready", help="create this file once logged in and selected")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    c = imaplib.IMAP4(a.host, a.port)
    c.login(a.user, a.password)
    typ, data = c.select("INBOX")
    assert typ == "OK", data
    typ, data = c.uid("SEARCH", "ALL")
    uids = [int(u) for u in data[0].split()]
    # The upper half stays: the benchmark expunges the lower half.
    keep = uids[len(uids) // 2 :] or uids
    if a.ready:
        open(a.ready, "w").close()

    rnd = random.Random(1)
    waits = {"NOOP": [], "UID FETCH": [], "STATUS": []}
    while not os.path.exists(a.stop):
        for name in waits:
            t = time.perf_counter()
            if name == "NOOP":
                typ, data = c.noop()
            elif name == "UID FETCH":
                typ, data = c.uid("FETCH", str(rnd.choice(keep)), "(FLAGS)")
            else:
                typ, data = c.status("INBOX", "(MESSAGES UNSEEN)")
            waits[name].append((time.perf_counter() - t) * 1000)
            assert typ == "OK", (name, data)
    c.logout()

    def summary(values):
        values = sorted(values)
        if not values:
            return {"count": 0, "max_ms": 0.0, "p99_ms": 0.0}
        return {
            "count": len(values),
            "max_ms": round(values[-1], 2),
            "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2),
        }

    everything = [w for v in waits.values() for w in v]
    out = {name: summary(v) for name, v in waits.items()}
    out["all"] = summary(everything)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
