#!/usr/bin/env bash
# Batch import throughput (issue 5).
#  1. 100k rows with password_hash into an empty database: wall time of the
#     whole `vmail user import`, export included (target <= 3 s), and the same
#     with --no-export and --no-export --dry-run for the split.
#  2. 2k plaintext rows at SHA512-CRYPT on all cores against the hash-bound
#     rate measured in the same run: cores / (time of one hash), one hash timed
#     single-threaded through the same libxcrypt (target >= 90%).
#   bench/import.sh [rows, default 100000] [plaintext rows, default 2000]
source "$(dirname "$0")/common.sh"
rows=${1:-100000}
plain=${2:-2000}
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hash='{SHA512-CRYPT}$6$benchsalt$'$(printf 'x%.0s' $(seq 1 86))

python3 - "$work" "$rows" "$plain" "$hash" <<'PY'
import sys
work, rows, plain, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(f"{work}/hashed.csv", "w") as f:
    f.write("email,password_hash,quota,name,enabled\n")
    for i in range(rows):
        f.write(f"u{i:07d}@bench.test,{h},1G,\"User {i}\",yes\n")
with open(f"{work}/plain.csv", "w") as f:
    f.write("email,password\n")
    for i in range(plain):
        f.write(f"p{i:06d}@bench.test,bench-password-{i:06d}\n")
PY

fresh_root() {
  rm -rf "$work/root"
  mkdir -p "$work/root"
  export VMAIL_ROOT=$work/root
  "$VMAIL" -q domain add bench.test
}

# Wall seconds (3 decimals) of one command.
secs() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null
  end=$(date +%s%N)
  awk -v ns=$((end - start)) 'BEGIN { printf "%.3f", ns / 1e9 }'
}

echo "cores: $cores"
fresh_root
t_dry=$(secs "$VMAIL" -q --no-export user import "$work/hashed.csv" --dry-run)
t_noexp=$(secs "$VMAIL" -q --no-export user import "$work/hashed.csv")
fresh_root
t_full=$(secs "$VMAIL" -v user import "$work/hashed.csv" 2>"$work/full.log")
users=$(sqlite3 "$work/root/data/state/vmail.db" 'SELECT count(*) FROM users')
lines=$(wc -l <"$work/root/etc/dovecot/users")
printf '%d rows with password_hash: %ss total incl. export (target <= 3 s); %ss --no-export; %ss --dry-run\n' \
  "$rows" "$t_full" "$t_noexp" "$t_dry"
echo "  -> $users users in the database, $lines lines in the exported users file; phases:"
grep -E 'import:' "$work/full.log" | sed 's/^vmail: debug: /     /'
t_nomd=$(secs "$VMAIL" -q --no-export user import "$work/hashed.csv" --on-existing update)
printf '  the same file again with --on-existing update (no export): %ss\n' "$t_nomd"

# One SHA512-CRYPT hash, single-threaded, same library (Python's crypt module wraps libcrypt).
per_hash_ms() {
  python3 -W ignore -c '
import crypt, time
n = 300
t = time.perf_counter()
for i in range(n):
    crypt.crypt("bench-password-%06d" % i, crypt.mksalt(crypt.METHOD_SHA512))
print("%.4f" % ((time.perf_counter() - t) / n * 1000))'
}
h1=$(per_hash_ms)
fresh_root
t_plain=$(secs "$VMAIL" -v user import "$work/plain.csv" 2>"$work/plain.log")
t_hash=$(sed -n 's/.*passwords hashed on [0-9]* threads in \([0-9.]*\) s/\1/p' "$work/plain.log")
h2=$(per_hash_ms)
awk -v n="$plain" -v t="$t_plain" -v th="$t_hash" -v h1="$h1" -v h2="$h2" -v c="$cores" 'BEGIN {
  h = (h1 + h2) / 2; bound = c * 1000 / h; rate = n / t; hrate = n / th
  printf "%d plaintext rows at SHA512-CRYPT: %.3fs for the whole import, %.0f rows/s; hashing phase %.3fs, %.0f/s\n", n, t, rate, th, hrate
  printf "  one hash: %.3f ms (%.3f before, %.3f after); hash-bound rate %d cores / %.3f ms = %.0f/s\n", h, h1, h2, c, h, bound
  printf "  hashing phase reaches %.1f%% of the hash-bound rate, the whole import %.1f%% (target >= 90%%)\n", 100 * hrate / bound, 100 * rate / bound
  printf "  the whole import runs at %.1f%% of its own hashing phase'"'"'s rate (what is not hashing; stable under load)\n", 100 * th / t
}'
