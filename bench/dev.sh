# bench/dev.sh — sourced by bench/import.sh and bench/lmtp.sh: a fresh
# dev-mode instance per run, and the median of a column of numbers.

# start_dev SERVER DIR PROTOCOL: starts `SERVER --dev --data-dir DIR/dev`
# (output in DIR/out and DIR/err), waits until it listens for PROTOCOL
# (IMAP, LMTP …) and sets dev_pid. Exits if dev mode stops first (its
# fixed ports must be free).
start_dev() {
    "$1" --dev --data-dir "$2/dev" >"$2/out" 2>"$2/err" &
    dev_pid=$!
    for _ in $(seq 1 600); do
        grep -q "listening for $3" "$2/err" && return 0
        kill -0 "$dev_pid" 2>/dev/null || { cat "$2/err" >&2; echo "dev mode exited (are its ports free?)" >&2; exit 1; }
        sleep 0.1
    done
    echo "dev mode did not listen for $3 within a minute" >&2
    exit 1
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
