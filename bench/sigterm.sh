#!/usr/bin/env bash
# SIGTERM to exit: starts vmail-launch on a fresh VMAIL_ROOT, waits until
# `vmail health` is healthy, sends SIGTERM and times until the launcher has
# exited (SPEC "Launcher": within 1 s). One fresh root per run; prints each
# run and the median. Not a test: speed is measured here, not asserted.
#   bench/sigterm.sh [runs]        (default 5; KEEP=1 keeps each root and its launcher.log)
source "$(dirname "$0")/common.sh"
LAUNCH=$VMAIL_BUILD_DIR/vmail-launch
[ -x "$LAUNCH" ] || { echo "build first: scripts/build" >&2; exit 1; }
runs=${1:-5}

stops=()
for run in $(seq "$runs"); do
  root=$(mktemp -d /tmp/vmail-bench-sigterm-XXXXXX)
  chmod 755 "$root"
  launcher_env "$root"
  "${env_args[@]}" "$LAUNCH" >>"$root/launcher.log" 2>&1 &
  pid=$!
  until "${env_args[@]}" "$VMAIL" health --timeout 2 >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "launcher died; see $root/launcher.log" >&2; exit 1; }
    sleep 0.1
  done
  sleep 1  # past the after-start steps (postqueue -f)
  start=$(date +%s%N)
  kill -TERM "$pid"
  wait "$pid" || true
  ms=$((($(date +%s%N) - start) / 1000000))
  stops+=("$ms")
  echo "run $run: SIGTERM to exit $ms ms"
  [ -n "${KEEP:-}" ] && echo "kept $root" || rm -rf "$root"
done
echo "SIGTERM to exit: median $(printf '%s\n' "${stops[@]}" | median) ms over $runs runs (${stops[*]})"
