#!/usr/bin/env bash
# Cold start to healthy: time from starting vmail-launch until `vmail health`
# exits 0, median of 5. "first" starts on an empty VMAIL_ROOT (database,
# self-signed certificate, Postfix queue tree all created); "restart" starts
# again on the same root after a clean SIGTERM stop.
#   bench/cold_start.sh [runs]
source "$(dirname "$0")/common.sh"
LAUNCH=$VMAIL_BUILD_DIR/vmail-launch
[ -x "$LAUNCH" ] || { echo "build first: scripts/build" >&2; exit 1; }
runs=${1:-5}

# start_until_healthy ROOT: starts the launcher, sets $ms to the time until healthy, leaves it running (PID in $pid).
start_until_healthy() {
  local root=$1
  launcher_env "$root"
  local start end
  start=$(date +%s%N)
  "${env_args[@]}" "$LAUNCH" >>"$root/launcher.log" 2>&1 &
  pid=$!
  until "${env_args[@]}" "$VMAIL" health --timeout 2 >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { echo "launcher died; see $root/launcher.log" >&2; exit 1; }
    sleep 0.05
  done
  end=$(date +%s%N)
  ms=$(((end - start) / 1000000))
}

stop_launcher() {
  kill -TERM "$pid"
  wait "$pid" || true
}

first=() restart=() stop=()
for _ in $(seq "$runs"); do
  root=$(mktemp -d /tmp/vmail-bench-XXXXXX)
  chmod 755 "$root"
  start_until_healthy "$root"; first+=("$ms")
  s=$(date +%s%N); stop_launcher; stop+=($((($(date +%s%N) - s) / 1000000)))
  start_until_healthy "$root"; restart+=("$ms")
  stop_launcher
  rm -rf "$root"
done
echo "cold start to healthy, first start (empty root): median $(printf '%s\n' "${first[@]}" | median) ms  (runs: ${first[*]})"
echo "cold start to healthy, restart (existing root):  median $(printf '%s\n' "${restart[@]}" | median) ms  (runs: ${restart[*]})"
echo "SIGTERM to exit:                                  median $(printf '%s\n' "${stop[@]}" | median) ms  (runs: ${stop[*]})"
