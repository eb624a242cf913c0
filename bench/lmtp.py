#!/usr/bin/env python3
"""bench/lmtp.py: LMTP delivery throughput and latency against a running server.

    lmtp.py --port 2026 --mbox ARCHIVE [--host 127.0.0.1] [--clients 10]
            [--users 10] [--recipients 1,10] [--limit N]

ARCHIVE is an mboxrd file, e.g. one made with
    ../shared/corpus/gen-mbox.py -n 2000 -s 7 --max-attachment 20000 -o lmtp.mbox
The recipients are u1@example.org … uN@example.org (--users N); create them
first, e.g. `aox add user u1 pw u1@example.org`.

For each recipient count R in --recipients, --clients threads each open one
LMTP connection (Python's smtplib.LMTP, LHLO once) and send their share of the
archive's messages (message i goes to thread i mod clients), each message to R
recipients (R = 1: u1, u2, … in turn; otherwise u1 … uR). RFC 2033 §4.2 gives
one reply after DATA per accepted recipient; smtplib reads only the first, so
the others are read here. Every reply must be 250, or the run stops.

Printed, one row per R: messages, deliveries (messages × R), wall seconds,
messages/s, deliveries/s, and the p50/p99 latency of one DATA: from sending
DATA to reading the last recipient's reply (so it includes sending the body
and the server's commit). A benchmark prints; it asserts nothing about speed.
Standard library only.
"""

import argparse
import smtplib
import statistics
import sys
import threading
import time


def read_mboxrd(path, limit):
    """The messages of an mboxrd file, CRLF line ends, ">From " unquoted."""
    messages, current = [], None
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"From "):
                if current is not None:
                    messages.append(b"".join(current))
                    if limit and len(messages) >= limit:
                        return messages
                current = []
                continue
            if current is None:
                continue
            # mboxrd: one ">" was added to every line matching ^>*From .
            stripped = line.lstrip(b">")
            if stripped.startswith(b"From ") and line.startswith(b">"):
                line = line[1:]
            current.append(line.rstrip(b"\r\n") + b"\r\n")
    if current:
        messages.append(b"".join(current))
    # The blank line mbox puts between messages is not part of a message.
    return [m[:-2] if m.endswith(b"\r\n\r\n") else m for m in messages]


def client(host, port, work, recipients_for, latencies, errors):
    try:
        lmtp = smtplib.LMTP(host, port)
        code, msg = lmtp.ehlo("bench.example.net")
        if code != 250:
            raise RuntimeError(f"LHLO: {code} {msg!r}")
        for index, message in work:
            recipients = recipients_for(index)
            code, msg = lmtp.mail("bench@example.net")
            if code != 250:
                raise RuntimeError(f"MAIL: {code} {msg!r}")
            for rcpt in recipients:
                code, msg = lmtp.rcpt(rcpt)
                if code != 250:
                    raise RuntimeError(f"RCPT {rcpt}: {code} {msg!r}")
            start = time.perf_counter()
            replies = [lmtp.data(message)]
            for _ in recipients[1:]:
                replies.append(lmtp.getreply())
            latencies.append(time.perf_counter() - start)
            for code, msg in replies:
                if code != 250:
                    raise RuntimeError(f"DATA: {code} {msg!r}")
        lmtp.quit()
    except Exception as e:  # reported by the main thread
        errors.append(repr(e))


def run(args, messages, r):
    users = [f"u{i}@example.org" for i in range(1, args.users + 1)]
    if r == 1:
        recipients_for = lambda i: [users[i % len(users)]]  # noqa: E731
    else:
        recipients_for = lambda i: users[:r]  # noqa: E731
    latencies, errors = [], []
    shares = [[] for _ in range(args.clients)]
    for i, m in enumerate(messages):
        shares[i % args.clients].append((i, m))
    threads = [
        threading.Thread(
            target=client,
            args=(args.host, args.port, share, recipients_for, latencies, errors),
        )
        for share in shares
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        sys.exit(f"R={r}: {len(errors)} client(s) failed: {errors[0]}")
    latencies.sort()
    n = len(latencies)
    p99 = latencies[min(n - 1, int(n * 0.99))]
    return {
        "r": r,
        "messages": n,
        "deliveries": n * r,
        "wall": wall,
        "p50": statistics.median(latencies),
        "p99": p99,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mbox", required=True)
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--recipients", default="1,10")
    p.add_argument("--limit", type=int, default=0, help="at most N messages")
    args = p.parse_args()
    messages = read_mboxrd(args.mbox, args.limit)
    counts = [int(x) for x in args.recipients.split(",")]
    if max(counts) > args.users:
        sys.exit("--recipients asks for more recipients than --users")
    size = sum(len(m) for m in messages)
    print(
        f"{len(messages)} messages ({size / 1e6:.1f} MB) from {args.mbox}, "
        f"{args.clients} concurrent LMTP clients, {args.host}:{args.port}"
    )
    print(
        f"{'rcpts':>5} {'messages':>8} {'deliveries':>10} {'seconds':>8} "
        f"{'msgs/s':>8} {'deliv/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
    )
    for r in counts:
        row = run(args, messages, r)
        print(
            f"{row['r']:>5} {row['messages']:>8} {row['deliveries']:>10} "
            f"{row['wall']:>8.2f} {row['messages'] / row['wall']:>8.1f} "
            f"{row['deliveries'] / row['wall']:>8.1f} {row['p50'] * 1e3:>7.1f} "
            f"{row['p99'] * 1e3:>7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
