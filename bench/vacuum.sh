#!/usr/bin/env bash
# bench/vacuum.sh [N] [ARCHIVE] — `aox vacuum` after expunging half of an
# INBOX of N messages (default 20000), while an IMAP client keeps asking.
#
# ARCHIVE defaults to $BENCH_DATA/vacuum-N/archive.mbox, generated once with
#   ../shared/corpus/gen-mbox.py -n N -s 13 --max-attachment 4000
# Setup lives in $BENCH_DATA/vacuum-N (BENCH_DATA defaults to /var/tmp/aox-bench)
# and is reused: a private PostgreSQL cluster (initdb as in dev mode: trust on
# the socket, fsync on, shared_buffers a quarter of memory up to 8 GB as dev mode sets it, defaults otherwise) on a free port, aox-installer, user
# "bench", and ARCHIVE imported once into the database `archiveopteryx`, which
# then only serves as the template. Each run works on a fresh copy of it
# (CREATE DATABASE … TEMPLATE), so a run never sees an earlier run's vacuum:
#   1. the server starts on the copy (IMAP on 127.0.0.1:$AOX_PORT, default 11144);
#   2. bench/vacuum_client.py loops over NOOP, UID FETCH and STATUS for
#      $BASELINE seconds (default 5) with nothing else running: the baseline;
#   3. one IMAP session expunges the lower half (UID STORE +FLAGS.SILENT
#      (\Deleted), then UID EXPUNGE, each one command);
#   4. the client loops again while `aox vacuum --undelete-time 0` runs;
#      the table shows the vacuum's time and rows/s and the longest time the
#      client waited for any one command (the issue's target: 200 ms).
#
# IN_PLACE=DIR runs steps 1-4 on the database of an existing bench setup
# instead (e.g. bench/imap.sh's $BENCH_DATA/imap-million, whose archive is
# too big to copy on this machine's disk): no import, no copy, and the
# setup's INBOX is left half expunged and vacuumed, so re-import it before
# using it for bench/imap.sh again (delete its `imported` marker).
# SKIP_EXPUNGE=1 reruns the vacuum on a setup a failed run already expunged.
# VACUUM_ARGS adds options to `aox vacuum` (e.g. "--duty 100" for no rests
# between batches); the table's vacuum row shows them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n="${1:-20000}"
data="${BENCH_DATA:-/var/tmp/aox-bench}"
dir="${IN_PLACE:-$data/vacuum-$n}"
archive="${2:-$dir/archive.mbox}"
aox_port="${AOX_PORT:-11144}"
baseline="${BASELINE:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/aox-target}"

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
log() { echo "vacuum.sh: $*" >&2; }
now() { date +%s.%N; }

cleanups=()
cleanup() { local i; for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[$i]}" || true; done; }
trap cleanup EXIT

mkdir -p "$dir"
chmod 755 "$data" "$dir"
(cd "$here" && cargo build --release --quiet --bin aox --bin archiveopteryx --bin aox-installer)
bin="$CARGO_TARGET_DIR/release"
if [ -z "${IN_PLACE:-}" ] && [ ! -f "$archive" ]; then
    log "generating $n messages into $archive"
    python3 "$here/../shared/corpus/gen-mbox.py" -n "$n" -s 13 --max-attachment 4000 -o "$archive" --quiet
fi

pgbin=$(dirname "$(realpath "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
pgdata="$dir/pgdata"
if [ ! -f "$pgdata/PG_VERSION" ]; then
    rm -rf "$pgdata"
    mkdir -m 700 "$pgdata"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdata"
    as_postgres "$pgbin/initdb" -D "$pgdata" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 >"$dir/initdb.log"
    cat >>"$pgdata/postgresql.conf" <<EOF
# bench/vacuum.sh: the settings dev mode's private cluster uses.
listen_addresses = '127.0.0.1'
port = $(free_port)
unix_socket_directories = '$pgdata'
max_connections = 200
shared_buffers = $(awk '/^MemTotal:/ {m = int($2 / 4096); print (m < 128 ? 128 : (m > 8192 ? 8192 : m))}' /proc/meminfo)MB
password_encryption = 'scram-sha-256'
EOF
fi
pgport=$(awk -F' = ' '/^port = /{p=$2} END{print p}' "$pgdata/postgresql.conf")
if ! as_postgres "$pgbin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    as_postgres "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w start >/dev/null
    cleanups+=("as_postgres '$pgbin/pg_ctl' -D '$pgdata' -m fast -w stop >/dev/null")
fi
psql() { as_postgres "$pgbin/psql" -q -X -h "$pgdata" -p "$pgport" -U postgres "$@"; }

conf="$dir/archiveopteryx.conf"
if [ ! -f "$conf" ]; then
    "$bin/aox-installer" --config-dir "$dir" --db-address "$pgdata" --db-port "$pgport" \
        --superuser postgres >"$dir/install.log"
    cat >>"$conf" <<EOF
imap-address = 127.0.0.1
imap-port = $aox_port
use-lmtp = off
allow-plaintext-passwords = always
db-tls = disable
log-level = warn
EOF
fi
stamp="$archive $(stat -L -c '%s %Y' "$archive" 2>/dev/null || true)"
if [ -z "${IN_PLACE:-}" ] && [ "$(cat "$dir/imported" 2>/dev/null)" != "$stamp" ]; then
    log "importing $archive (once; kept in $dir)"
    aox="$bin/aox -c $conf"
    $aox --json list users | grep -q '"bench"' || $aox add user bench secret bench@example.org >/dev/null
    $aox tune database mostly-writing >/dev/null
    start=$(now)
    $aox import bench INBOX "$archive" >"$dir/import.log"
    end=$(now)
    $aox tune database mostly-reading >/dev/null
    psql -d archiveopteryx -c 'VACUUM ANALYZE'
    echo "$start $end" >"$dir/import.times"
    echo "$stamp" >"$dir/imported"
fi

run="$dir/run"
mkdir -p "$run"
if [ -n "${IN_PLACE:-}" ]; then
    # The setup's own database, with its own IMAP port.
    aox_port=$(awk -F' = ' '/^imap-port = /{p=$2} END{print p}' "$dir/archiveopteryx.conf")
    cp "$dir/archiveopteryx.conf" "$dir/aoxsuper.conf" "$run/"
    [ -f "$dir/import.times" ] || echo "0 0" >"$dir/import.times"
else
    # A fresh copy for this run, and config files naming it.
    psql -d postgres -c 'DROP DATABASE IF EXISTS vacuum_run'
    psql -d postgres -c 'CREATE DATABASE vacuum_run TEMPLATE archiveopteryx OWNER aoxsuper STRATEGY file_copy'
    psql -d vacuum_run -c 'ANALYZE'
    for f in archiveopteryx.conf aoxsuper.conf; do
        sed 's/^db-name = .*/db-name = vacuum_run/' "$dir/$f" >"$run/$f"
        chmod 600 "$run/$f"
    done
fi
aox="$bin/aox -c $run/archiveopteryx.conf"
# A setup made by an older build may be at an older schema revision.
$aox upgrade schema >&2

"$bin/archiveopteryx" -c "$run/archiveopteryx.conf" 2>"$run/server.log" &
pid=$!
cleanups+=("kill -INT $pid 2>/dev/null; wait $pid")
for _ in $(seq 1 300); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $aox_port), 1).close()" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$run/server.log" >&2; log "the server exited (is port $aox_port free?)"; exit 1; }
    sleep 0.2
done

client() { # $1: label; runs until $run/$1.stop exists
    rm -f "$run/$1.stop" "$run/$1.ready"
    python3 "$here/bench/vacuum_client.py" --port "$aox_port" --user bench --password secret \
        --stop "$run/$1.stop" --ready "$run/$1.ready" --out "$run/$1.json" &
    client_pid=$!
    # Logging in and listing a million UIDs can take a while on a loaded machine.
    for _ in $(seq 1 3000); do [ -f "$run/$1.ready" ] && return; sleep 0.1; done
    log "the client did not start"; exit 1
}

log "baseline: the client alone for $baseline s"
client idle
sleep "$baseline"
touch "$run/idle.stop"
wait "$client_pid"

if [ -n "${SKIP_EXPUNGE:-}" ]; then
    # A rerun after the expunge step finished: its figures are in expunge.json.
    log "keeping the earlier expunge ($run/expunge.json)"
else
log "expunging the lower half"
python3 - "$aox_port" "$n" >"$run/expunge.json" <<'EOF'
import imaplib, json, sys, time
# UID SEARCH ALL of a million messages is one line of several MB.
imaplib._MAXLINE = 100_000_000
port, n = int(sys.argv[1]), int(sys.argv[2])
c = imaplib.IMAP4("127.0.0.1", port)
c.login("bench", "secret")
c.select("INBOX")
typ, data = c.uid("SEARCH", "ALL")
uids = [int(u) for u in data[0].split()]
half = uids[len(uids) // 2 - 1]
t = time.perf_counter()
typ, _ = c.uid("STORE", f"1:{half}", "+FLAGS.SILENT", "(\\Deleted)")
assert typ == "OK"
store = time.perf_counter() - t
t = time.perf_counter()
typ, _ = c.uid("EXPUNGE", f"1:{half}")
assert typ == "OK"
expunge = time.perf_counter() - t
json.dump({"entries": len(uids) // 2, "store_s": store, "expunge_s": expunge}, sys.stdout)
EOF
fi

log "vacuum while the client loops"
client busy
start=$(now)
# shellcheck disable=SC2086  # VACUUM_ARGS is words on purpose
$aox --json vacuum --undelete-time 0 ${VACUUM_ARGS:-} >"$run/vacuum.json"
end=$(now)
touch "$run/busy.stop"
wait "$client_pid"
kill -INT "$pid"
wait "$pid" || true

python3 - "$dir" "$run" "$start" "$end" "$n" "${VACUUM_ARGS:-}" <<'EOF'
import json, sys
d, run, start, end, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
args = (" " + sys.argv[6]) if sys.argv[6] else ""
imp = [float(x) for x in open(f"{d}/import.times").read().split()]
exp = json.load(open(f"{run}/expunge.json"))
vac = json.load(open(f"{run}/vacuum.json"))
idle = json.load(open(f"{run}/idle.json"))
busy = json.load(open(f"{run}/busy.json"))
vt = end - start
rows = vac["tombstones"] + vac["messages"] + vac["parts"]
rowsf = lambda k, s: f"{k / s:,.0f}/s" if s > 0 else "-"
table = [
    ("import (once, before the runs)", f"{n:,} messages", f"{imp[1] - imp[0]:.1f} s", rowsf(n, imp[1] - imp[0])),
    ("UID STORE +FLAGS.SILENT (\\Deleted), lower half", f"{exp['entries']:,} entries", f"{exp['store_s']:.2f} s", rowsf(exp['entries'], exp['store_s'])),
    ("UID EXPUNGE, lower half", f"{exp['entries']:,} entries", f"{exp['expunge_s']:.2f} s", rowsf(exp['entries'], exp['expunge_s'])),
    (f"aox vacuum --undelete-time 0{args}", f"{rows:,} rows", f"{vt:.2f} s", rowsf(rows, vt)),
    ("  tombstones / messages / parts", f"{vac['tombstones']:,} / {vac['messages']:,} / {vac['parts']:,}", "", ""),
    ("  body-part bytes freed", f"{vac['bytes']:,}", "", ""),
    ("  batches skipped (in use)", f"{vac['skipped_batches']}", "", ""),
    ("client alone: longest wait (p99)", f"{idle['all']['count']:,} commands", f"{idle['all']['max_ms']:.1f} ms ({idle['all']['p99_ms']:.1f})", ""),
    ("client during vacuum: longest wait (p99)", f"{busy['all']['count']:,} commands", f"{busy['all']['max_ms']:.1f} ms ({busy['all']['p99_ms']:.1f})", "target 200 ms"),
]
for k in ("NOOP", "UID FETCH", "STATUS"):
    table.append((f"  {k} during vacuum: longest (p99)", f"{busy[k]['count']:,}", f"{busy[k]['max_ms']:.1f} ms ({busy[k]['p99_ms']:.1f})", ""))
w = [max(len(r[i]) for r in table + [("operation", "size", "time", "rate")]) for i in range(4)]
print(f"{'operation':<{w[0]}}  {'size':>{w[1]}}  {'time':>{w[2]}}  rate")
for r in table:
    print(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}  {r[3]}")
EOF
