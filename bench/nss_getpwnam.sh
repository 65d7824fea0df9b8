#!/usr/bin/env bash
# getpwnam(3) latency at 100k users: libnss_vmail.so.2 beside glibc's own
# `files` module reading a passwd file with the same 100k users.
#   bench/nss_getpwnam.sh [users, default 100000] [runs, default 5]
# Each run looks up random existing users through glibc with only one NSS
# service configured (as `getent -s` does) and prints the mean microseconds
# per lookup, wall clock and CPU (user + system, steadier on a shared
# machine); the table shows the medians of the runs.
#   vmail          the database alone (no -wal: the immutable read path)
#   vmail+writer   a writer holds the database open (WAL: the ordinary read path)
#   files          /etc/passwd replaced by the 100k-line file, only inside a
#                  private mount namespace (unshare -m + bind mount; needs root).
#                  The real /etc/passwd is never touched.
source "$(dirname "$0")/common.sh"
users=${1:-100000}
runs=${2:-5}
bench=$VMAIL_BUILD_DIR/nss_getpwnam_bench
[ -x "$bench" ] && [ -f "$VMAIL_BUILD_DIR/libnss_vmail.so.2" ] || { echo "build first: scripts/build" >&2; exit 1; }

root=$(mktemp -d)
writer=
cleanup() {
  [ -n "$writer" ] && kill "$writer" 2>/dev/null && wait "$writer" 2>/dev/null
  rm -rf "$root"
}
trap cleanup EXIT
export VMAIL_ROOT=$root
db=$root/data/state/vmail.db
"$VMAIL" -q db migrate
"$VMAIL" -q domain add bench.test
fill_users "$db" bench.test "$users"

# The files module's passwd: the usual system lines, then the same users as
# `vmail getent passwd` prints them.
passwd=$root/passwd
cat /etc/passwd >"$passwd"
"$VMAIL" getent passwd >>"$passwd"
[ "$(grep -c '@bench.test:' "$passwd")" = "$users" ] || { echo "vmail getent passwd: wrong user count" >&2; exit 1; }

vmail_lookups=100000
files_lookups=${FILES_LOOKUPS:-500}  # a linear scan per lookup: fewer are enough

run_vmail() { LD_LIBRARY_PATH=$VMAIL_BUILD_DIR "$bench" vmail u @bench.test "$users" "$vmail_lookups"; }
run_files() {
  unshare -m sh -c 'mount --bind "$1" /etc/passwd && shift && exec "$@"' sh "$passwd" \
    "$bench" files u @bench.test "$users" "$files_lookups"
}
median_of() { # median_of RUNS CMD...: the medians of CMD's two printed figures over RUNS runs
  local n=$1
  shift
  local out
  out=$(for _ in $(seq 1 "$n"); do "$@"; done)
  for col in 1 2; do
    echo "$out" | awk -v c=$col '{print $c}' | sort -g |
      awk '{a[NR]=$1} END {printf "%14s", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
  done
  echo
}

printf '%-14s %8s %9s %14s %14s\n' service users lookups "wall us/lookup" "cpu us/lookup"
printf '%-14s %8s %9s %s\n' vmail "$users" "$vmail_lookups" "$(median_of "$runs" run_vmail)"

python3 - "$db" <<'PY' &
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1])
con.execute("SELECT count(*) FROM users").fetchone()  # opens the WAL
time.sleep(3600)
PY
writer=$!
for _ in $(seq 1 50); do [ -e "$db-wal" ] && break; sleep 0.1; done
printf '%-14s %8s %9s %s\n' vmail+writer "$users" "$vmail_lookups" "$(median_of "$runs" run_vmail)"
kill "$writer" && wait "$writer" 2>/dev/null || true
writer=

if unshare -m true 2>/dev/null; then
  printf '%-14s %8s %9s %s\n' files "$users" "$files_lookups" "$(median_of "$runs" run_files)"
else
  echo "files: skipped (needs root for a private mount namespace)" >&2
fi
