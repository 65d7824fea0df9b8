#!/usr/bin/env bash
# Median `vmail user add` latency at 0, 1k and 10k existing users, end to end
# (hash + transaction + maildir + export with postmap), with the hashing share
# shown separately: the same add with a ready --hash skips hashing.
#   bench/user_add.sh [runs per point, default 9]
source "$(dirname "$0")/common.sh"
runs=${1:-9}
# A well-formed hash (vmail refuses a malformed --hash).
hash='{SHA512-CRYPT}$6$benchsalt$'$(printf 'x%.0s' $(seq 86))
printf '%-10s %-14s %12s %12s %12s %14s\n' users scheme "add(ms)" "--hash(ms)" "hashing(ms)" "--no-export(ms)"
for scheme in SHA512-CRYPT BLF-CRYPT YESCRYPT; do
  for existing in 0 1000 10000; do
    root=$(mktemp -d)
    export VMAIL_ROOT=$root VMAIL_PASSWORD_SCHEME=$scheme
    "$VMAIL" -q db migrate
    "$VMAIL" -q domain add bench.test
    fill_users "$root/data/state/vmail.db" bench.test "$existing"
    "$VMAIL" -q export
    full=() hashed=() noexp=()
    for i in $(seq 1 "$runs"); do
      full+=("$(time_ms bash -c "echo 'bench password' | '$VMAIL' -q user add p$i@bench.test --password-stdin")")
      hashed+=("$(time_ms "$VMAIL" -q user add h$i@bench.test --hash "$hash")")
      noexp+=("$(time_ms bash -c "echo 'bench password' | '$VMAIL' -q --no-export user add n$i@bench.test --password-stdin")")
    done
    f=$(printf '%s\n' "${full[@]}" | median)
    h=$(printf '%s\n' "${hashed[@]}" | median)
    n=$(printf '%s\n' "${noexp[@]}" | median)
    printf '%-10s %-14s %12s %12s %12s %14s\n' "$existing" "$scheme" "$f" "$h" "$((f - h))" "$n"
    rm -rf "$root"
  done
done
