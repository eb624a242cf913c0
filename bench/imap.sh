#!/usr/bin/env bash
# bench/imap.sh [--dovecot | --both] [ARCHIVE] — IMAP command latency on one
# big INBOX, for archiveopteryx and (the same client, the same archive) Dovecot.
#
# ARCHIVE defaults to $BENCH_DATA/million.mbox, made with
#   ../shared/corpus/gen-mbox.py -n 1000000 -s 13 --max-attachment 4000
# (develop on -n 20000 … -o $BENCH_DATA/20k.mbox). RUNS=N (default 5) runs
# of each operation, fewer once an operation's runs took BUDGET seconds (120).
#
# Setup is kept in $BENCH_DATA (default /var/tmp/aox-bench) and reused, because
# importing a million messages takes hours; a marker file says it is done:
#   archiveopteryx  imap-<archive name>/: a private PostgreSQL cluster (initdb
#                   as in dev mode: trust on the socket, fsync on, shared_buffers a quarter of memory up to 8 GB as dev mode sets it, defaults
#                   otherwise) on a free port, aox-installer, the config with
#                   IMAP on 127.0.0.1:$AOX_PORT (default 11143, so that dev
#                   mode's 1143 stays free), user "bench"; then
#                   `aox tune database mostly-writing`, `aox import bench INBOX
#                   ARCHIVE`, `aox tune database mostly-reading`, VACUUM ANALYZE.
#   Dovecot         dovecot/<archive name>/: a throwaway instance (config below,
#                   Maildir, passwd-file, no TLS, 127.0.0.1:$DOVECOT_PORT,
#                   default 10143), filled with `doveadm import` from the mbox.
# Both run the server only for the benchmark and stop it afterwards.
#
# The timed client is bench/imap_client.py (imaplib, stdlib only); its
# docstring says what each operation does and how state is restored. The table
# compares with the targets of the issue; after --both, or whenever results for
# the other server exist for the same archive, it adds a ratio column.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/dovecot.sh"
data="${BENCH_DATA:-/var/tmp/aox-bench}"
runs="${RUNS:-5}"
budget="${BUDGET:-120}"
aox_port="${AOX_PORT:-11143}"
dovecot_port="${DOVECOT_PORT:-10143}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/aox-target}"
client="$here/bench/imap_client.py"

servers=(aox)
case "${1:-}" in
--dovecot) servers=(dovecot); shift ;;
--both) servers=(aox dovecot); shift ;;
-*) echo "usage: $0 [--dovecot | --both] [ARCHIVE]" >&2; exit 2 ;;
esac
archive=$(realpath "${1:-$data/million.mbox}")
[ -f "$archive" ] || { echo "$archive: no such archive" >&2; exit 1; }
name=$(basename "$archive" .mbox)
# The marker records which archive (path, size, mtime) the import was of.
stamp="$archive $(stat -L -c '%s %Y' "$archive")"
mkdir -p "$data"
chmod 755 "$data"

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
log() { echo "imap.sh: $*" >&2; }

cleanups=()
cleanup() { local c; for c in "${cleanups[@]}"; do eval "$c" || true; done; }
trap cleanup EXIT

bench_aox() {
    (cd "$here" && cargo build --release --quiet --bin aox --bin archiveopteryx --bin aox-installer)
    local bin="$CARGO_TARGET_DIR/release" dir="$data/imap-$name"
    local pgbin
    pgbin=$(dirname "$(realpath "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")")
    mkdir -p "$dir"
    chmod 755 "$dir"
    local pgdata="$dir/pgdata" conf="$dir/archiveopteryx.conf"
    if [ ! -f "$pgdata/PG_VERSION" ]; then
        rm -rf "$pgdata"
        mkdir -m 700 "$pgdata"
        [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdata"
        as_postgres "$pgbin/initdb" -D "$pgdata" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 -E UTF8 >"$dir/initdb.log"
        cat >>"$pgdata/postgresql.conf" <<EOF
# bench/imap.sh: the settings dev mode's private cluster uses.
listen_addresses = '127.0.0.1'
port = $(free_port)
unix_socket_directories = '$pgdata'
max_connections = 200
shared_buffers = $(awk '/^MemTotal:/ {m = int($2 / 4096); print (m < 128 ? 128 : (m > 8192 ? 8192 : m))}' /proc/meminfo)MB
password_encryption = 'scram-sha-256'
EOF
    fi
    local pgport
    pgport=$(awk -F' = ' '/^port = /{p=$2} END{print p}' "$pgdata/postgresql.conf")
    if ! as_postgres "$pgbin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
        as_postgres "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w start >/dev/null
        cleanups+=("as_postgres '$pgbin/pg_ctl' -D '$pgdata' -m fast -w stop >/dev/null")
    fi
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
    local aox="$bin/aox -c $conf"
    if [ "$(cat "$dir/imported" 2>/dev/null)" != "$stamp" ]; then
        log "importing $archive into archiveopteryx (once; kept in $dir)"
        $aox --json list users | grep -q '"bench"' || $aox add user bench secret bench@example.org >/dev/null
        $aox tune database mostly-writing >/dev/null
        local start end
        start=$(date +%s)
        $aox import bench INBOX "$archive" >"$dir/import.log"
        end=$(date +%s)
        $aox tune database mostly-reading >/dev/null
        as_postgres "$pgbin/psql" -q -h "$pgdata" -p "$pgport" -U postgres -d archiveopteryx \
            -c 'VACUUM ANALYZE' >/dev/null
        echo "$((end - start))" >"$dir/import.seconds"
        log "imported in $((end - start)) s: $(head -1 "$dir/import.log")"
        echo "$stamp" >"$dir/imported"
    fi

    # Data kept from an older build follows the schema this one speaks.
    $aox upgrade schema >/dev/null
    "$bin/archiveopteryx" -c "$conf" 2>"$dir/server.log" &
    local pid=$!
    cleanups+=("kill -INT $pid 2>/dev/null; wait $pid")
    for _ in $(seq 1 300); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $aox_port), 1).close()" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || { cat "$dir/server.log" >&2; log "the server exited (is port $aox_port free?)"; exit 1; }
        sleep 0.2
    done
    log "archiveopteryx (pid $pid) on 127.0.0.1:$aox_port, $runs runs"
    python3 "$client" run --port "$aox_port" --user bench --password secret --label aox \
        --archive "$archive" --runs "$runs" --budget "$budget" --server-pid "$pid" --out "$dir/results.json"
    kill -INT "$pid"
    wait "$pid" || true
}

bench_dovecot() {
    local dir="$data/dovecot/$name"
    mkdir -p "$dir"
    chmod 755 "$data/dovecot"
    start_dovecot "$dir" "$name" "$dovecot_port"
    local conf=$dovecot_conf master=$dovecot_master
    cleanups+=("doveadm -c '$conf' stop 2>/dev/null")
    if [ "$(cat "$dir/imported" 2>/dev/null)" != "$stamp" ]; then
        log "importing $archive into Dovecot (once; kept in $dir)"
        local start end
        start=$(date +%s)
        dovecot_import "$dir" "$archive"
        end=$(date +%s)
        echo "$((end - start))" >"$dir/import.seconds"
        log "imported in $((end - start)) s: $(doveadm -c "$conf" mailbox status -u bench messages INBOX)"
        echo "$stamp" >"$dir/imported"
    fi
    log "Dovecot $(dovecot --version) (master pid $master) on 127.0.0.1:$dovecot_port, $runs runs"
    python3 "$client" run --port "$dovecot_port" --user bench --password secret --label dovecot \
        --archive "$archive" --runs "$runs" --budget "$budget" --dovecot-master-pid "$master" --out "$dir/results.json"
    doveadm -c "$conf" stop
}

for s in "${servers[@]}"; do
    "bench_$s"
done

aox_results="$data/imap-$name/results.json"
dovecot_results="$data/dovecot/$name/results.json"
if [ "${servers[0]}" = dovecot ] && [ ! -f "$aox_results" ]; then
    python3 "$client" table "$dovecot_results"
elif [ -f "$dovecot_results" ] && [ -f "$aox_results" ]; then
    python3 "$client" table "$aox_results" "$dovecot_results"
else
    python3 "$client" table "$aox_results"
fi
