#!/usr/bin/env bash
# bench/import.sh [RUNS] — `aox import` throughput on generated archives,
# beside Dovecot's `doveadm import` of the same archive into Maildir.
# CONNECTIONS=N (default 1) is passed to `aox import --connections`;
# DOVECOT=0 leaves Dovecot out (DOVECOT_PORT, default 10144, is its IMAP port).
#
# For each archive and run: a fresh dev-mode instance (private PostgreSQL,
# durable commits: fsync and synchronous_commit on), `aox tune database
# mostly-writing`, a timed `aox import` (wall time and peak RSS from
# /usr/bin/time), then a timed `aox tune database mostly-reading` (filling in
# full-text vectors and rebuilding the search indexes). Each Dovecot run is
# a fresh instance too (bench/dovecot.sh, as bench/imap.sh runs it), its
# import timed the same way, with Dovecot's default durable writes. Prints
# one table row per archive with the median of the runs, and Dovecot's rate
# and aox's ratio to it when Dovecot ran.
#
# Archives (made once with ../shared/corpus/gen-mbox.py, kept in $BENCH_DATA):
#   small    gen-mbox.py -n 20000 -s 12 --max-attachment 20000   (~280 MB)
#   default  gen-mbox.py -n 20000 -s 11                          (~1.5 GB)
set -euo pipefail
runs="${1:-3}"
connections="${CONNECTIONS:-1}"
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/bench/dev.sh"
. "$here/bench/dovecot.sh"
with_dovecot="${DOVECOT:-1}"
dovecot_port="${DOVECOT_PORT:-10144}"
if [ "$with_dovecot" = 1 ] && ! command -v dovecot >/dev/null; then
    echo "import.sh: Dovecot is not installed; running without it (DOVECOT=0 says so)" >&2
    with_dovecot=0
fi
data="${BENCH_DATA:-/var/tmp/aox-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/aox-target}"
gen="$here/../shared/corpus/gen-mbox.py"
mkdir -p "$data"
chmod 755 "$data"

(cd "$here" && cargo build --release --quiet --bin aox --bin archiveopteryx)
bin="$CARGO_TARGET_DIR/release"

declare -A args=(
    [small]="-n 20000 -s 12 --max-attachment 20000"
    [default]="-n 20000 -s 11"
)
for name in small default; do
    [ -f "$data/$name.mbox" ] || python3 "$gen" ${args[$name]} -o "$data/$name.mbox" --quiet
done

run_once() { # archive → "seconds rss_kb rebuild_seconds"
    local archive=$1 dir
    dir=$(mktemp -d "$data/run.XXXXXX")
    chmod 755 "$dir"
    start_dev "$bin/archiveopteryx" "$dir" IMAP
    local pid=$dev_pid
    local aox="$bin/aox -c $dir/dev/archiveopteryx.conf"
    $aox add user bench secret bench@example.org >/dev/null
    $aox tune database mostly-writing >/dev/null
    /usr/bin/time -f "%e %M" -o "$dir/time" $aox import --connections "$connections" bench Archive "$archive" >"$dir/import" 2>/dev/null
    local start end
    start=$(date +%s.%N)
    $aox tune database mostly-reading >/dev/null
    end=$(date +%s.%N)
    kill -INT "$pid"
    wait "$pid" || true
    echo "$(cat "$dir/time") $(echo "$end - $start" | bc)"
    grep -q "Imported 20000 messages" "$dir/import" || { cat "$dir/import" >&2; echo "import did not store 20000 messages" >&2; exit 1; }
    rm -rf "$dir"
}

dovecot_once() { # archive → seconds
    local archive=$1 dir start end stored
    dir=$(mktemp -d "$data/dovecot-run.XXXXXX")
    start_dovecot "$dir" "import-run" "$dovecot_port"
    start=$(date +%s.%N)
    dovecot_import "$dir" "$archive" >/dev/null
    end=$(date +%s.%N)
    stored=$(doveadm -c "$dovecot_conf" mailbox status -u bench messages INBOX | grep -o '[0-9]*$')
    doveadm -c "$dovecot_conf" stop
    [ "$stored" = 20000 ] || { echo "Dovecot stored $stored messages, not 20000" >&2; exit 1; }
    echo "$end - $start" | bc
    rm -rf "$dir"
}

printf "%-10s %9s %9s %10s %10s %8s %12s %14s %12s %8s\n" archive messages MB import_s msg/s MB/s peak_RSS_MB index_rebuild_s dovecot_msg/s ratio
for name in small default; do
    archive="$data/$name.mbox"
    mb=$(echo "$(stat -L -c %s "$archive") / 1000000" | bc -l)
    : >"$data/$name.results"
    : >"$data/$name.dovecot.results"
    for _ in $(seq 1 "$runs"); do
        run_once "$archive" >>"$data/$name.results"
        if [ "$with_dovecot" = 1 ]; then dovecot_once "$archive" >>"$data/$name.dovecot.results"; fi
    done
    secs=$(awk '{print $1}' "$data/$name.results" | median)
    rss=$(awk '{print $2}' "$data/$name.results" | median)
    rebuild=$(awk '{print $3}' "$data/$name.results" | median)
    dovecot_rate="-"
    ratio="-"
    if [ "$with_dovecot" = 1 ]; then
        dovecot_secs=$(median <"$data/$name.dovecot.results")
        dovecot_rate=$(printf "%.0f" "$(echo "20000 / $dovecot_secs" | bc -l)")
        ratio=$(printf "%.2f" "$(echo "$dovecot_secs / $secs" | bc -l)")
    fi
    printf "%-10s %9d %9.0f %10.2f %10.0f %8.1f %12.0f %14.2f %12s %8s\n" "$name" 20000 "$mb" "$secs" \
        "$(echo "20000 / $secs" | bc -l)" "$(echo "$mb / $secs" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$rebuild" \
        "$dovecot_rate" "$ratio"
done
echo "(median of $runs runs each, --connections $connections; all runs: $data/*.results as 'seconds peak_rss_kb rebuild_seconds', $data/*.dovecot.results as Dovecot's seconds; ratio: aox's rate over Dovecot's)"
