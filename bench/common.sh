# Shared helpers for bench/ scripts (sourced).
set -euo pipefail
VMAIL_SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VMAIL_BUILD_DIR=${VMAIL_BUILD_DIR:-$VMAIL_SOURCE_DIR/build}
VMAIL=$VMAIL_BUILD_DIR/vmail
[ -x "$VMAIL" ] || { echo "build first: scripts/build" >&2; exit 1; }

# fill_users DB DOMAIN N: inserts N users directly (no hashing) into a migrated database.
fill_users() {
  local db=$1 domain=$2 n=$3
  python3 - "$db" "$domain" "$n" <<'PY'
import sqlite3, sys
db, domain, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = sqlite3.connect(db)
con.execute("INSERT OR IGNORE INTO domains (name) VALUES (?)", (domain,))
did = con.execute("SELECT id FROM domains WHERE name = ?", (domain,)).fetchone()[0]
con.executemany(
    "INSERT INTO users (domain_id, local, address, password) VALUES (?, ?, ?, ?)",
    ((did, f"u{i:07d}", f"u{i:07d}@{domain}", "{SHA512-CRYPT}$6$benchsalt$" + "x" * 86) for i in range(n)))
con.commit()
PY
}

# time_ms CMD...: runs CMD once, output discarded, and prints its wall milliseconds.
time_ms() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

# median: the median of the numbers on standard input, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

# launcher_env ROOT: sets the array env_args to `env -i …` with a clean PATH,
# ROOT as VMAIL_ROOT and every listener on its own free loopback port, for
# benchmarks that start vmail-launch ("${env_args[@]}" "$LAUNCH").
launcher_env() {
  local ports
  read -r -a ports <<<"$(python3 - <<'PY'
import socket
socks = []
for _ in range(9):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)"
  env_args=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
            VMAIL_ROOT="$1" MAIL_DOMAIN=example.test VMAIL_LISTEN=127.0.0.1 VMAIL_MYNETWORKS=127.0.0.1/32 VMAIL_SPAM=off
            VMAIL_SMTP_PORT=${ports[0]} VMAIL_SUBMISSION_PORT=${ports[1]} VMAIL_SMTPS_PORT=${ports[2]}
            VMAIL_IMAP_PORT=${ports[3]} VMAIL_IMAPS_PORT=${ports[4]} VMAIL_POP3_PORT=${ports[5]}
            VMAIL_POP3S_PORT=${ports[6]} VMAIL_MANAGESIEVE_PORT=${ports[7]} VMAIL_QUOTA_STATUS_PORT=${ports[8]})
}
