#!/usr/bin/env bash
# bench/lmtp.sh [RUNS] — LMTP delivery throughput, 10 concurrent clients, to 1
# and to 10 recipients a message.
#
# For each recipient count and run: a fresh dev-mode instance (private
# PostgreSQL, durable commits: fsync and synchronous_commit on; LMTP on
# 127.0.0.1:2026, so dev mode's ports must be free), users u1 … u10, then the
# client sends the archive's messages. CLIENT=rust (default) is
# bench/lmtp_client.rs, which pipelines MAIL, RCPT and DATA as Postfix's LMTP
# client does; CLIENT=python is bench/lmtp.py (smtplib, one command at a time,
# and about 0.85 ms of CPU a message of its own on this machine).
#
# After each run it waits for the server's filler to compute the full-text
# vectors the run left pending, and prints how long that took, and the CPU
# seconds PostgreSQL and the server used during the run (from /proc).
#
# Archive (made once with ../shared/corpus/gen-mbox.py, kept in $BENCH_DATA):
#   gen-mbox.py -n 2000 -s 7 --max-attachment 20000     (~27 MB, 14 KB a message)
set -euo pipefail
runs="${1:-3}"
client="${CLIENT:-rust}"
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/dev.sh"
data="${BENCH_DATA:-/var/tmp/aox-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/aox-target}"
archive="$data/lmtp-2000.mbox"
mkdir -p "$data"
chmod 755 "$data"
[ -f "$archive" ] || python3 "$here/../shared/corpus/gen-mbox.py" -n 2000 -s 7 --max-attachment 20000 -o "$archive" --quiet

(cd "$here" && cargo build --release --quiet --bin aox --bin archiveopteryx --example lmtp)
bin="$CARGO_TARGET_DIR/release"

# CPU seconds (user + system) of a process and its children, from /proc.
cpu_of() { awk '{printf "%.2f\n", ($14 + $15 + $16 + $17) / 100}' "/proc/$1/stat"; }
postgres_cpu() { # the postmaster and every process under it
    local pm=$1 total=0 p
    for p in "$pm" $(pgrep -P "$pm"); do total=$(echo "$total + $(cpu_of "$p" 2>/dev/null || echo 0)" | bc); done
    echo "$total"
}
conf_value() { sed -n "s/^$2 *= *//p" "$1"; }

run_once() { # recipients → "deliveries_per_s p99_ms pg_cpu server_cpu vector_lag_s"
    local r=$1 dir pid
    dir=$(mktemp -d "$data/lmtp-run.XXXXXX")
    chmod 755 "$dir"
    start_dev "$bin/archiveopteryx" "$dir" LMTP
    pid=$dev_pid
    local conf="$dir/dev/archiveopteryx.conf" u
    for u in $(seq 1 10); do "$bin/aox" -c "$conf" add user "u$u" pw "u$u@example.org" >/dev/null; done
    local pending="SELECT count(*) FROM bodyparts WHERE search_tsv IS NULL AND text IS NOT NULL"
    local psql=(env PGPASSWORD="$(conf_value "$conf" db-password)" psql -At -h "$(conf_value "$conf" db-address)"
        -p "$(conf_value "$conf" db-port)" -U "$(conf_value "$conf" db-user)" -d "$(conf_value "$conf" db-name)")
    local pm
    pm=$(head -1 "$dir/dev/pgdata/postmaster.pid")
    local pg0 srv0 pg1 srv1
    pg0=$(postgres_cpu "$pm")
    srv0=$(cpu_of "$pid")
    if [ "$client" = python ]; then
        python3 "$here/bench/lmtp.py" --port 2026 --mbox "$archive" --recipients "$r" >"$dir/client"
    else
        "$bin/examples/lmtp" --port 2026 --mbox "$archive" --recipients "$r" >"$dir/client"
    fi
    pg1=$(postgres_cpu "$pm")
    srv1=$(cpu_of "$pid")
    local start lag="" left
    start=$(date +%s.%N)
    for _ in $(seq 1 1200); do
        left=$("${psql[@]}" -c "$pending")
        [ "$left" = 0 ] && { lag=$(echo "$(date +%s.%N) - $start" | bc); break; }
        sleep 0.1
    done
    kill -INT "$pid"
    wait "$pid" || true
    local row
    row=$(awk -v r="$r" '$1 == r {print $6, $8}' "$dir/client")
    [ -n "$row" ] || { cat "$dir/client" >&2; echo "the client printed no result" >&2; exit 1; }
    echo "$row $(echo "$pg1 - $pg0" | bc) $(echo "$srv1 - $srv0" | bc) ${lag:-unfinished}"
    rm -rf "$dir"
}

echo "$(grep -c '^From ' "$archive") messages from $archive, 10 concurrent clients ($client), median of $runs runs"
printf "%5s %10s %8s %16s %16s %14s\n" rcpts deliv/s p99_ms postgres_cpu_s server_cpu_s vectors_after_s
for r in 1 10; do
    : >"$data/lmtp-$r.results"
    for _ in $(seq 1 "$runs"); do run_once "$r" >>"$data/lmtp-$r.results"; done
    col() { awk -v c="$1" '{print $c}' "$data/lmtp-$r.results" | median; }
    printf "%5d %10.1f %8.1f %16.2f %16.2f %14s\n" "$r" "$(col 1)" "$(col 2)" "$(col 3)" "$(col 4)" "$(col 5)"
done
echo "(all runs: $data/lmtp-{1,10}.results as 'deliv/s p99_ms postgres_cpu_s server_cpu_s vectors_after_s')"
