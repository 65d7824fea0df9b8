#!/usr/bin/env bash
# Export time per map type at 1k, 10k and 100k users, beside the floor: a bare
# `postmap` of the same vmailbox file (what any export must at least pay).
# Each run renames one user with sqlite3, so users, vmailbox, virtual and
# sender_logins all change (vdomains does not). "full" removes the maps'
# digests first, which forces every map to be rebuilt; "incr" is the normal
# export, which updates hash and lmdb databases in place of a rebuild (cdb is
# always rebuilt).
# At the largest size, also `vmail user add` end to end (with a ready --hash,
# and hashing a password from stdin).
#   bench/export.sh [runs per point, default 5] [sizes, default "1000 10000 100000"]
source "$(dirname "$0")/common.sh"
runs=${1:-5}
sizes=${2:-1000 10000 100000}
largest=${sizes##* }
hash='{SHA512-CRYPT}$6$benchsalt$'$(printf 'x%.0s' $(seq 86))

# fill DB N: N users in domain 1 straight into the database (no hashing).
fill() {
  sqlite3 "$1" "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $2 - 1)
    INSERT INTO users (domain_id, local, address, password)
    SELECT 1, printf('u%07d', i), printf('u%07d@bench.test', i), '$hash' FROM c;"
}

printf '%-8s %-5s %10s %9s %7s %9s %7s %14s %14s\n' users type "floor(ms)" "full(ms)" ratio "incr(ms)" ratio "add--hash(ms)" "add-pw(ms)"
for n in $sizes; do
  for type in hash lmdb cdb; do
    root=$(mktemp -d)
    export VMAIL_ROOT=$root VMAIL_MAP_TYPE=$type
    db=$root/data/state/vmail.db
    "$VMAIL" -q db migrate
    "$VMAIL" -q domain add bench.test
    fill "$db" "$n"
    "$VMAIL" -q export
    cfg=$root/data/state/postmap
    floor=() exp=() incr=() add=() addpw=()
    for i in $(seq 1 "$runs"); do
      cp "$root/etc/postfix/vmailbox" "$root/floor"
      floor+=("$(time_ms postmap -c "$cfg" "$type:$root/floor")")
      sqlite3 "$db" "UPDATE users SET local = 'r$i', address = 'r$i@bench.test' WHERE address = 'u$(printf %07d "$i")@bench.test'"
      rm -f "$root"/etc/postfix/*.digest
      exp+=("$(time_ms "$VMAIL" -q export)")
      sqlite3 "$db" "UPDATE users SET local = 's$i', address = 's$i@bench.test' WHERE address = 'r$i@bench.test'"
      incr+=("$(time_ms "$VMAIL" -q export)")
    done
    f=$(printf '%s\n' "${floor[@]}" | median)
    e=$(printf '%s\n' "${exp[@]}" | median)
    n_=$(printf '%s\n' "${incr[@]}" | median)
    a=- p=-
    if [ "$n" = "$largest" ]; then
      for i in $(seq 1 "$runs"); do
        add+=("$(time_ms "$VMAIL" -q user add "h$i@bench.test" --hash "$hash")")
        addpw+=("$(time_ms bash -c "echo 'bench password' | '$VMAIL' -q user add p$i@bench.test --password-stdin")")
      done
      a=$(printf '%s\n' "${add[@]}" | median)
      p=$(printf '%s\n' "${addpw[@]}" | median)
    fi
    ratio=$(awk -v e="$e" -v f="$f" 'BEGIN { printf "%.2f", (f > 0 ? e / f : 0) }')
    ratio_i=$(awk -v e="$n_" -v f="$f" 'BEGIN { printf "%.2f", (f > 0 ? e / f : 0) }')
    printf '%-8s %-5s %10s %9s %7s %9s %7s %14s %14s\n' "$n" "$type" "$f" "$e" "$ratio" "$n_" "$ratio_i" "$a" "$p"
    rm -rf "$root"
  done
done
