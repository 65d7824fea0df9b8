#!/usr/bin/env bash
# Fuzzes every target of fuzz/ (validators and the passwd-file and map line
# renderers) with libFuzzer + ASan/UBSan for N seconds each (default 60), one
# after the other, and prints per target the executions and crashes. Not part
# of CI. Installs Debian's clang if it is missing; builds into build-fuzz/ (or
# $VMAIL_FUZZ_BUILD_DIR). New corpus entries go to build-fuzz/fuzz-corpus/;
# crash inputs to build-fuzz/fuzz-crashes/<target>/ (commit a fixed one into
# fuzz/corpus/<target>/). VMAIL_FUZZ_TARGETS="hash domain" picks targets.
#   bench/fuzz.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=${VMAIL_FUZZ_BUILD_DIR:-build-fuzz}
targets=${VMAIL_FUZZ_TARGETS:-$(sed -n 's/^set(VMAIL_FUZZ_TARGETS \(.*\))$/\1/p' fuzz/CMakeLists.txt)}
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "installing clang and libclang-rt-14-dev" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y clang libclang-rt-14-dev >/dev/null
fi
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMAIL_FUZZ=ON >/dev/null
for t in $targets; do
  if ! cmake --build "$build" --target "fuzz_$t" -j"${VMAIL_JOBS:-2}" >"$build/build.log" 2>&1; then
    tail -30 "$build/build.log" >&2
    exit 1
  fi
done

printf '%-16s %8s %12s %8s\n' target seconds executions crashes
for t in $targets; do
  corpus=$build/fuzz-corpus/$t
  crashes=$build/fuzz-crashes/$t
  mkdir -p "$corpus" "$crashes"
  log=$build/fuzz-$t.log
  "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 -timeout=10 \
    -artifact_prefix="$crashes/" "$corpus" "fuzz/corpus/$t" >"$log" 2>&1 || true
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  found=$(find "$crashes" -type f | wc -l)
  printf '%-16s %8s %12s %8s\n' "$t" "$seconds" "${runs:-?}" "$found"
done
