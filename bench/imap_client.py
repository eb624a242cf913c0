#!/usr/bin/env python3
"""bench/imap_client.py: the timed IMAP client behind bench/imap.sh.

    imap_client.py run --port N --user U --password P --label aox --out R.json
                       [--server-pid PID | --dovecot-master-pid PID] [...]
    imap_client.py table R.json [OTHER.json]

`run` logs in with Python's imaplib over a real socket, times each operation
RUNS times against a mailbox the driver has filled (INBOX), prints progress to
stderr and writes the raw timings as JSON. `table` prints one table; given two
result files for the same archive it adds a ratio column (first / second).

Timed commands are sent with imaplib's send() and their responses drained
with its readline()/read() (literals included) up to the tagged reply, so a
time is the server's and the socket's, not imaplib's per-line response parser
(which costs several microseconds a line: seconds for FETCH 1:* over a
million messages, and the same seconds against any server). Login, APPEND and
LOGOUT go through imaplib's own methods. Standard library only.

State is restored after every operation so runs repeat and the mailbox is the
same at the end as at the start (except that the moved messages come back
with new UIDs, and \\Seen is clear on every message after the STORE pair):
  MOVE     UID MOVE of the first N messages' UID range to bench-move (timed),
           then UID MOVE 1:* back to INBOX (untimed).
  EXPUNGE  UID COPY of the first N messages' UID range to bench-expunge, then
           STORE 1:* +FLAGS.SILENT (\\Deleted) there (untimed), then EXPUNGE
           (timed), which leaves bench-expunge empty again.
  IDLE     session A IDLEs on INBOX; session B APPENDs a small message to it;
           latency is from the moment B has read APPEND's tagged OK to the
           moment A has read the EXISTS (negative if the EXISTS came first);
           afterwards A expunges the message by the UID from APPENDUID.
N is min(100000, half the mailbox). Each operation runs --runs times, fewer
when its runs so far took over --budget seconds (the table's notes say so):
Dovecot's SEARCH BODY over a million messages takes many minutes a run.
"""

import argparse
import imaplib
import json
import os
import re
import statistics
import sys
import threading
import time

# One SEARCH over a million messages answers with one line of megabytes.
imaplib._MAXLINE = 1 << 30

LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")
EXISTS = re.compile(rb"^\* (\d+) EXISTS\r\n$")
SEARCH_LINE = re.compile(rb"^\* SEARCH(.*)\r\n$")
UID_ITEM = re.compile(rb"UID (\d+)")

BULK = 100_000
MOVE_TARGET = "bench-move"
EXPUNGE_SCRATCH = "bench-expunge"

# The targets, in milliseconds (RSS in MB), by operation key.
TARGETS = {
    "select": ("< 100 ms", 100.0),
    "status": ("< 10 ms", 10.0),
    "store_add": ("< 5 s", 5000.0),
    "store_remove": ("< 5 s", 5000.0),
    "move": ("< 3 s", 3000.0),
    "search_subject": ("< 500 ms", 500.0),
    "rss": ("< 200 MB", 200.0),
}


class ImapError(Exception):
    pass


class Session:
    """One logged-in connection; `cmd` sends a command and drains its reply."""

    def __init__(self, args):
        self.imap = imaplib.IMAP4(args.host, args.port, timeout=args.timeout)
        self.imap.login(args.user, args.password)
        self.serial = 0

    def tag(self):
        self.serial += 1
        # imaplib's own tags are four capitals and a number: no clash.
        return b"t%d" % self.serial

    def cmd(self, text, keep=True):
        """Sends `text`, reads to its tagged reply. Returns (untagged lines or
        their count, seconds from send to the tagged line)."""
        tag = self.tag()
        start = time.perf_counter()
        self.imap.send(tag + b" " + text.encode() + b"\r\n")
        lines, count = [], 0
        prefix = tag + b" "
        while True:
            line = self.imap.readline()
            if not line:
                raise ImapError(f"{text}: connection closed")
            if line.startswith(prefix):
                elapsed = time.perf_counter() - start
                if not line[len(prefix):].startswith(b"OK"):
                    raise ImapError(f"{text}: {line.decode(errors='replace').strip()}")
                return (lines if keep else count), elapsed
            count += 1
            m = LITERAL.search(line)
            if m:
                line += self.imap.read(int(m.group(1)))
                # The rest of the response follows the literal on the next line.
            if keep:
                lines.append(line)

    def logout(self):
        try:
            self.imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def exists_of(lines):
    n = None
    for line in lines:
        m = EXISTS.match(line)
        if m:
            n = int(m.group(1))
    return n


def uid_at(s, seq):
    lines, _ = s.cmd(f"FETCH {seq} (UID)")
    for line in lines:
        m = UID_ITEM.search(line)
        if m:
            return int(m.group(1))
    raise ImapError(f"no UID for message {seq}")


def select(s, mailbox):
    lines, secs = s.cmd(f"SELECT {mailbox}")
    return exists_of(lines) or 0, secs


def ensure_mailbox(s, name):
    try:
        s.cmd(f"CREATE {name}")
    except ImapError:
        pass  # it exists from an earlier run


def empty_mailbox(s, name):
    """Leftovers of an interrupted run: move bench-move back, expunge scratch."""
    n, _ = select(s, name)
    if n and name == MOVE_TARGET:
        s.cmd("UID MOVE 1:* INBOX", keep=False)
    elif n:
        s.cmd("STORE 1:* +FLAGS.SILENT (\\Deleted)", keep=False)
        s.cmd("EXPUNGE", keep=False)


def rss_mb(args):
    """Peak resident set (VmHWM) of the server process, in MB. For Dovecot,
    the largest of its `imap` processes (one per session, children of the
    master), which did this benchmark's work."""
    pids = []
    if args.server_pid:
        pids = [args.server_pid]
    elif args.dovecot_master_pid:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    status = f.read()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if fields.get("Name", "").strip() == "imap" and \
                    int(fields.get("PPid", "0")) == args.dovecot_master_pid:
                pids.append(int(entry))
    peak = None
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    kb = int(line.split()[1])
                    peak = kb if peak is None else max(peak, kb)
    return None if peak is None else peak / 1024.0


def idle_once(a, b):
    """One IDLE round; returns (latency seconds, appended UID)."""
    tag = a.tag()
    a.imap.send(tag + b" IDLE\r\n")
    while True:
        line = a.imap.readline()
        if line.startswith(b"+"):
            break
        if not line:
            raise ImapError("IDLE: connection closed")
    seen = {}

    def watch():
        while True:
            line = a.imap.readline()
            if not line:
                return
            if EXISTS.match(line):
                seen["at"] = time.perf_counter()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    body = (b"From: bench@example.org\r\nTo: bench@example.org\r\n"
            b"Subject: idle probe\r\nMessage-ID: <idle-%d@bench>\r\n"
            b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nprobe\r\n" % time.time_ns())
    typ, data = b.imap.append("INBOX", None, None, body)
    ok_at = time.perf_counter()
    if typ != "OK":
        raise ImapError(f"APPEND: {data}")
    watcher.join(60)
    if "at" not in seen:
        raise ImapError("no EXISTS within 60 s of APPEND")
    a.imap.send(b"DONE\r\n")
    while True:
        line = a.imap.readline()
        if line.startswith(tag + b" "):
            break
        if not line:
            raise ImapError("IDLE: connection closed")
    m = APPENDUID.search(data[0] if data and data[0] else b"")
    if not m:
        raise ImapError(f"APPEND gave no APPENDUID (RFC 4315): {data}")
    return seen["at"] - ok_at, int(m.group(1))


def run(args):
    results = []

    def record(key, label, messages, seconds, note=None):
        row = {"key": key, "op": label, "messages": messages,
               "ms": [x * 1000.0 for x in seconds]}
        if len(seconds) < args.runs:
            note = f"{note}; " if note else ""
            note += f"{len(seconds)} of {args.runs} runs (over the {args.budget:.0f} s budget)"
        if note:
            row["note"] = note
        results.append(row)
        ms = sorted(row["ms"])
        print(f"  {label:<44} {messages:>8}  median {statistics.median(ms):10.1f} ms",
              file=sys.stderr)

    def repeat(times):
        """RUNS iterations, fewer when an operation is slow: once the runs so
        far took more than --budget seconds, one more is not worth it."""
        for i in range(args.runs):
            if i and sum(times) > args.budget:
                return
            yield i

    a, b = Session(args), Session(args)
    ensure_mailbox(a, MOVE_TARGET)
    ensure_mailbox(a, EXPUNGE_SCRATCH)
    empty_mailbox(a, MOVE_TARGET)
    empty_mailbox(a, EXPUNGE_SCRATCH)

    # SELECT from the authenticated state each time (RFC 9051 §6.4.2:
    # UNSELECT leaves the mailbox without expunging).
    times = []
    for i in repeat(times):
        if i:
            a.cmd("UNSELECT")
        n, secs = select(a, "INBOX")
        times.append(secs)
    total = n
    record("select", "SELECT INBOX", total, times)
    bulk = min(BULK, total // 2)

    # STATUS from the session that has no mailbox selected (RFC 9051 §6.3.11:
    # STATUS on the selected mailbox is discouraged).
    times = []
    for _ in repeat(times):
        times.append(b.cmd("STATUS INBOX (MESSAGES UIDNEXT UNSEEN)")[1])
    record("status", "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)", total, times)

    times, counts = [], set()
    for _ in repeat(times):
        count, secs = a.cmd("FETCH 1:* (FLAGS)", keep=False)
        times.append(secs)
        counts.add(count)
    record("fetch_flags", "FETCH 1:* (FLAGS)", total, times,
           note=f"{sorted(counts)} untagged responses")

    lo, hi = uid_at(a, max(1, total - 49)), uid_at(a, total)
    times = []
    for _ in repeat(times):
        count, secs = a.cmd(f"UID FETCH {lo}:{hi} (ENVELOPE BODYSTRUCTURE)", keep=False)
        times.append(secs)
    record("fetch_last50", "UID FETCH last 50 (ENVELOPE BODYSTRUCTURE)", hi - lo + 1, times)

    add, remove = [], []
    for _ in repeat(add):
        add.append(a.cmd("STORE 1:* +FLAGS.SILENT (\\Seen)", keep=False)[1])
        remove.append(a.cmd("STORE 1:* -FLAGS.SILENT (\\Seen)", keep=False)[1])
    record("store_add", "STORE 1:* +FLAGS.SILENT (\\Seen)", total, add)
    record("store_remove", "STORE 1:* -FLAGS.SILENT (\\Seen)", total, remove)

    for key, criteria in [("search_subject", f"SUBJECT {args.subject}"),
                          ("search_from", f"FROM {args.sender}"),
                          ("search_body", f"BODY {args.body}"),
                          ("search_since", f"SINCE {args.since}")]:
        times, hits = [], set()
        for _ in repeat(times):
            lines, secs = a.cmd(f"SEARCH {criteria}")
            times.append(secs)
            hits.add(sum(len(m.group(1).split()) for m in map(SEARCH_LINE.match, lines) if m))
        record(key, f"SEARCH {criteria}", total, times, note=f"{sorted(hits)} hits")

    times = []
    for _ in repeat(times):
        lo, hi = uid_at(a, 1), uid_at(a, bulk)
        count, secs = a.cmd(f"UID MOVE {lo}:{hi} {MOVE_TARGET}", keep=False)
        times.append(secs)
        b.cmd(f"SELECT {MOVE_TARGET}", keep=False)
        b.cmd("UID MOVE 1:* INBOX", keep=False)
        b.cmd("UNSELECT")
        a.cmd("NOOP", keep=False)  # take in the EXISTS for the returned messages
    record("move", f"UID MOVE {bulk} to another mailbox", bulk, times)

    times = []
    for _ in repeat(times):
        lo, hi = uid_at(a, 1), uid_at(a, bulk)
        a.cmd(f"UID COPY {lo}:{hi} {EXPUNGE_SCRATCH}", keep=False)
        select(a, EXPUNGE_SCRATCH)
        a.cmd("STORE 1:* +FLAGS.SILENT (\\Deleted)", keep=False)
        count, secs = a.cmd("EXPUNGE", keep=False)
        times.append(secs)
        select(a, "INBOX")
    record("expunge", f"EXPUNGE {bulk} (\\Deleted copies)", bulk, times)

    times = []
    for _ in repeat(times):
        latency, uid = idle_once(a, b)
        times.append(latency)
        a.cmd(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)", keep=False)
        a.cmd(f"UID EXPUNGE {uid}", keep=False)
    record("idle", "IDLE: APPEND OK -> EXISTS", 1, times)

    rss = rss_mb(args)
    if rss is not None:
        results.append({"key": "rss", "op": "server RSS (peak VmHWM, MB)",
                        "messages": total, "value": rss})
        print(f"  server RSS peak {rss:.0f} MB", file=sys.stderr)
    a.logout()
    b.logout()
    out = {"label": args.label, "archive": args.archive, "messages": total,
           "runs": args.runs, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
           "rows": results}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


def fmt(x, rss=False):
    if x is None:
        return "-"
    return f"{x:.0f}" if rss or x >= 100 else f"{x:.1f}"


def summary(row):
    """(median, min, max) in ms, or the RSS reading thrice."""
    if "value" in row:
        return row["value"], row["value"], row["value"]
    ms = row["ms"]
    return statistics.median(ms), min(ms), max(ms)


def table(paths):
    docs = []
    for p in paths:
        with open(p) as f:
            docs.append(json.load(f))
    first = docs[0]
    other = docs[1] if len(docs) > 1 else None
    by_key = {r["key"]: r for r in other["rows"]} if other else {}
    head = ["operation", "messages", "median ms", "min", "max", "target", "verdict"]
    if other:
        head.append(f"{first['label']}/{other['label']}")
    rows = []
    notes = []
    for r in first["rows"]:
        med, lo, hi = summary(r)
        target, limit = TARGETS.get(r["key"], ("-", None))
        verdict = "-" if limit is None else ("pass" if med < limit else "FAIL")
        cells = [r["op"], str(r["messages"]), fmt(med, "value" in r), fmt(lo, "value" in r),
                 fmt(hi, "value" in r), target, verdict]
        if other:
            o = by_key.get(r["key"])
            ratio = None
            if o:
                omed = summary(o)[0]
                ratio = med / omed if omed > 0 else None
            cells.append("-" if ratio is None else
                         f"{ratio:.2f}" if abs(ratio) >= 0.1 else f"{ratio:.2g}")
        rows.append(cells)
        if r.get("note"):
            notes.append(f"{r['op']}: {r['note']}")
    widths = [max(len(c[i]) for c in rows + [head]) for i in range(len(head))]
    line = lambda cells: " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                    for i, (c, w) in enumerate(zip(cells, widths)))
    print(f"{first['label']}: {first['archive']} ({first['messages']} messages in INBOX), "
          f"median of {first['runs']} runs, {first['when']}")
    if other:
        print(f"{other['label']}: {other['archive']} ({other['messages']} messages in INBOX), "
              f"median of {other['runs']} runs, {other['when']}")
    print(line(head))
    print("-+-".join("-" * w for w in widths))
    for cells in rows:
        print(line(cells))
    for n in notes:
        print(f"  ({first['label']}) {n}")
    if other:
        for r in other["rows"]:
            if r.get("note"):
                print(f"  ({other['label']}) {r['op']}: {r['note']}")
        print(f"  ratio = {first['label']} median / {other['label']} median (> 1: "
              f"{first['label']} is slower)")
    print("  IDLE: ms from APPEND's tagged OK (other session) to the EXISTS; negative = EXISTS first")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("run")
    r.add_argument("--host", default="127.0.0.1")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--user", required=True)
    r.add_argument("--password", required=True)
    r.add_argument("--label", required=True)
    r.add_argument("--archive", default="")
    r.add_argument("--out", required=True)
    r.add_argument("--runs", type=int, default=5)
    r.add_argument("--timeout", type=float, default=3600.0)
    r.add_argument("--budget", type=float, default=120.0,
                   help="stop repeating an operation once its runs took this many seconds")
    r.add_argument("--server-pid", type=int)
    r.add_argument("--dovecot-master-pid", type=int)
    # Words gen-mbox.py puts in subjects, sender domains and bodies.
    r.add_argument("--subject", default="review")
    r.add_argument("--sender", default="initech")
    r.add_argument("--body", default="milestone")
    r.add_argument("--since", default="1-Jan-2020")
    t = sub.add_parser("table")
    t.add_argument("results", nargs="+")
    args = p.parse_args()
    if args.verb == "run":
        run(args)
    else:
        table(args.results[:2])


if __name__ == "__main__":
    main()
