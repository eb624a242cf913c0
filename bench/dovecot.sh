# bench/dovecot.sh — sourced by bench/imap.sh and bench/import.sh: a
# throwaway Dovecot instance to compare against, on this same machine.

# start_dovecot DIR NAME PORT: writes DIR/dovecot.conf (Maildir under
# DIR/mail, one user "bench" with password "secret", IMAP on 127.0.0.1:PORT),
# starts Dovecot and waits until it listens. Sets dovecot_conf,
# dovecot_master (its pid), dovecot_uid and dovecot_gid. Exits if Dovecot
# is not installed.
start_dovecot() {
    local dir=$1 name=$2 port=$3
    command -v dovecot >/dev/null || { echo "Dovecot is not installed (apt-get install dovecot-imapd)" >&2; exit 1; }
    dovecot_conf="$dir/dovecot.conf"
    mkdir -p "$dir/run" "$dir/state" "$dir/mail"
    chmod 755 "$dir"
    # The mail user: nobody (Dovecot refuses uid 0 for mail); its files live in $dir/mail.
    dovecot_uid=$(id -u nobody)
    dovecot_gid=$(id -g nobody)
    chown "$dovecot_uid:$dovecot_gid" "$dir/mail"
    echo "bench:{PLAIN}secret:$dovecot_uid:$dovecot_gid::$dir/mail/bench::" >"$dir/passwd"
    cat >"$dovecot_conf" <<EOF
# Written by bench/dovecot.sh: a throwaway Dovecot for benchmarks only.
instance_name = aoxbench-$name
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = $dovecot_uid
last_valid_uid = $dovecot_uid
first_valid_gid = $dovecot_gid
mail_location = maildir:~/Maildir
mail_max_userip_connections = 20
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service stats {
  inet_listener http {
    port = 0
  }
}
protocol imap {
  mail_plugins =
}
namespace inbox {
  inbox = yes
  separator = /
}
EOF
    dovecot -c "$dovecot_conf"
    dovecot_master=""
    for _ in $(seq 1 100); do
        dovecot_master=$(cat "$dir/run/master.pid" 2>/dev/null || true)
        [ -n "$dovecot_master" ] && python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "Dovecot did not listen on 127.0.0.1:$port within 10 s (see $dir/dovecot.log)" >&2
    exit 1
}

# dovecot_import DIR ARCHIVE: `doveadm import` of the mbox ARCHIVE into
# INBOX of user bench of the instance start_dovecot made in DIR. doveadm
# reads an mbox through an mbox mailbox list: the archive becomes INBOX of a
# list rooted in an empty directory, with its indexes in memory (the
# archive's directory is not ours). doveadm asks the running instance's
# auth service for the user, so Dovecot must be running.
dovecot_import() {
    local dir=$1 archive=$2
    rm -rf "$dir/mail/bench" "$dir/mbox"
    mkdir -p "$dir/mbox"
    chown "$dovecot_uid:$dovecot_gid" "$dir/mbox"
    doveadm -c "$dovecot_conf" import -u bench "mbox:$dir/mbox:INBOX=$archive:INDEX=MEMORY" "" mailbox INBOX
}
