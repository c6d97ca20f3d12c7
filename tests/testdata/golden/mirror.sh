#!/bin/sh
# kindreg mirror entrypoint: pull-through while $KINDREG_UPSTREAM answers, its cache alone otherwise.
UPSTREAM="${KINDREG_UPSTREAM:?the container needs KINDREG_UPSTREAM}"
NAME="${KINDREG_MIRROR:-mirror}"
PULL_THROUGH='/etc/kindreg/registry/config.yml'
CACHE_ONLY='/etc/kindreg/registry/cache-only.yml'
MODE_FILE="${KINDREG_MODE_FILE:-/tmp/kindreg-mode}"
INTERVAL="${KINDREG_PROBE_INTERVAL:-10}"
pid=

# Any HTTP answer (401 from an anonymous /v2/ included) means the upstream is reachable.
# busybox wget says "server returned error"; GNU wget exits 6 (auth) or 8 (HTTP error).
# The time limit comes from `timeout`: some busybox builds crash on `wget -T`.
reachable() {
  out=$(timeout 5 wget -O /dev/null "$UPSTREAM/v2/" 2>&1)
  rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 6 ] || [ "$rc" -eq 8 ] && return 0
  case "$out" in *"server returned error"*) return 0 ;; esac
  return 1
}

stop() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
  exit 0
}
trap stop TERM INT

while :; do
  if reachable; then mode=pull-through; config=$PULL_THROUGH
  else mode=cache-only; config=$CACHE_ONLY
  fi
  echo "$mode" > "$MODE_FILE"
  echo "kindreg: mirror $NAME serving in $mode mode (upstream $UPSTREAM)" >&2
  registry serve "$config" &
  pid=$!
  if [ "$mode" = cache-only ]; then
    while kill -0 "$pid" 2>/dev/null; do
      sleep "$INTERVAL" & wait $!
      if reachable; then
        echo "kindreg: upstream $UPSTREAM is back; switching to pull-through" >&2
        kill -TERM "$pid" 2>/dev/null
        break
      fi
    done
  fi
  wait "$pid"
  pid=
  sleep 1
done
