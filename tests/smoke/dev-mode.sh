#!/usr/bin/env bash
# The README's first command, for real: start dev mode in a fresh data
# directory, log in over IMAP with the printed password, stop it with Ctrl-C
# (SIGINT) and check that PostgreSQL stopped too; then start it again and
# check the cluster and the demo password are reused.
set -euo pipefail
bin="${1:?usage: dev-mode.sh path/to/archiveopteryx}"
dir=$(mktemp -d /tmp/aox-devsmoke.XXXXXX)
chmod 755 "$dir"
# Only a server this script started and has not yet stopped: `kill 0` would
# signal the whole process group (the CI run itself).
pid=
trap 'if [ -n "$pid" ]; then kill -INT "$pid" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT

start() {
    "$bin" --dev --data-dir "$dir/data" >"$dir/out" 2>"$dir/err" &
    pid=$!
    # Wait (bounded) for the listener's ready line.
    for _ in $(seq 1 600); do
        grep -q "listening for IMAP on 127.0.0.1:1143" "$dir/err" && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$dir/out" "$dir/err"; echo "dev mode exited early"; exit 1; }
        sleep 0.1
    done
    cat "$dir/err"; echo "dev mode did not become ready"; exit 1
}

stop() {
    kill -INT "$pid"
    wait "$pid" || true
    pid=
    if pgrep -f "postgres -D $dir/data/pgdata" >/dev/null; then
        echo "PostgreSQL still runs after Ctrl-C"; exit 1
    fi
}

login() {
    python3 - "$1" <<'PY'
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", 1143)
typ, _ = m.login("demo", sys.argv[1])
assert typ == "OK", typ
try:
    m.login("demo", "wrong")
except imaplib.IMAP4.error:
    pass
m.logout()
print("imap login ok")
PY
}

start
password=$(sed -n 's/.*password "\(.*\)".*/\1/p' "$dir/out")
[ -n "$password" ] || { cat "$dir/out"; echo "no password printed"; exit 1; }
login "$password"
stop

start
again=$(sed -n 's/.*password "\(.*\)".*/\1/p' "$dir/out")
[ "$again" = "$password" ] || { echo "demo password changed on reuse"; exit 1; }
grep -q "Create database" "$dir/err" && { echo "reuse re-created the database"; exit 1; }
login "$password"
stop
echo "dev-mode smoke test: 1 passed, 0 failed"
