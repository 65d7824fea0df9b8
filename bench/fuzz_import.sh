#!/usr/bin/env bash
# Fuzzes the batch-import readers (src/import/source.h: CSV through libcsv and
# the docker-mailserver formats) with libFuzzer + ASan/UBSan for N seconds
# (default 60). Not part of CI. Installs Debian's clang if it is missing and
# builds into build-fuzz/ (or $VMAIL_FUZZ_BUILD_DIR).
#   bench/fuzz_import.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=${VMAIL_FUZZ_BUILD_DIR:-build-fuzz}
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "installing clang and libclang-rt-14-dev" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y clang libclang-rt-14-dev >/dev/null
fi
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMAIL_FUZZ=ON >/dev/null
cmake --build "$build" --target fuzz_import_source -j"${VMAIL_JOBS:-2}"

corpus=$build/fuzz-corpus
mkdir -p "$corpus"
seed() { printf '%b' "$2" >"$corpus/seed-$1"; }
seed csv 'email,password,quota,name,enabled\r\na@x.test,"pass, ""w""",1G,"two\nlines",yes\r\n\r\nb@x.test,pw,,,0'
seed bom '\xef\xbb\xbfsource,destination\ninfo@x.test,"a@x.test, b@x.test"\n'
seed bad 'email,password\na@x.test,"open\nb@x.test,ab"c\n\xff\xfe,x,y\n'
seed dms 'a@x.test|{SHA512-CRYPT}$6$benchsalt$xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|extra\n# comment\n@x.test catch@x.test,\n  more@x.test\n'
mkdir -p "$build/fuzz-crashes"
"$build/fuzz_import_source" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$build/fuzz-crashes/" "$corpus"
