#!/bin/sh
# kindreg mirror entrypoint: pull-through while $KINDREG_UPSTREAM answers, its cache alone otherwise;
# with KINDREG_KEEP_BYTES, its volume kept within that many bytes (kindreg.core.keeper).
UPSTREAM="${KINDREG_UPSTREAM:?the container needs KINDREG_UPSTREAM}"
NAME="${KINDREG_MIRROR:-mirror}"
PULL_THROUGH='/etc/kindreg/registry/config.yml'
CACHE_ONLY='/etc/kindreg/registry/cache-only.yml'
MODE_FILE="${KINDREG_MODE_FILE:-/tmp/kindreg-mode}"
INTERVAL="${KINDREG_PROBE_INTERVAL:-10}"
DATA='/var/lib/registry'
V2="$DATA/docker/registry/v2"
KEEP_READS="$DATA/kindreg-reads.log"
LOG_PIPE=/tmp/kindreg-registry-log
pid=
keeper=
KEEP_BYTES="${KINDREG_KEEP_BYTES:-}"
KEEP_GRACE="${KINDREG_KEEP_IN_USE:-60}"
KEEP_HIGH=90
KEEP_LOW=80
KEEP_RATE=67108864
KEEP_PLAN='/etc/kindreg/registry/keep.awk'
KEEP_WORK=/tmp/kindreg-keep

record() {
  awk -v reads="$KEEP_READS" '
    { print; fflush() }
    match($0, /"(GET|HEAD) \/v2\/[^ "]+\/(manifests|blobs)\/[^ "?]+[^"]*" (200|206|304|307) /) {
      split(substr($0, RSTART + 1, RLENGTH), w, " ")
      path = w[2]; sub(/\?.*/, "", path)
      i = index(path, "/manifests/"); n = 11
      if (!i) { i = index(path, "/blobs/"); n = 7 }
      print systime(), substr(path, 5, i - 5), substr(path, i + n) >> reads
      close(reads)
    }'
}

keep_inventory() {
  touch "$KEEP_WORK/start"
  find "$V2/repositories" -type f -path '*/_manifests/revisions/sha256/*/link' | awk '{ print "R", $0 }'
  find "$V2/repositories" -type f -path '*/_manifests/tags/*/current/link' -exec awk '{ print "T", FILENAME, $0 }' {} +
  find "$V2/blobs" -type f -name data -exec stat -c 'B %n %s %Y' {} +
  keep_names
  [ -f "$KEEP_READS" ] && awk '{ print "X", $0 }' "$KEEP_READS"
}

# "M <manifest data> <digest>" for every digest the manifests name (`-newer FILE`: only those
# of revisions stored since FILE).
keep_names() {
  find "$V2/repositories" -type f -path '*/_manifests/revisions/sha256/*/link' "$@" |
    awk -v v2="$V2" '{ d = $0; sub(/\/link$/, "", d); sub(/^.*\//, "", d); print v2 "/blobs/sha256/" substr(d, 1, 2) "/" d "/data" }' |
    sort -u | xargs -r grep -oE 'sha256:[0-9a-f]{64}' -H 2>/dev/null | awk -F: '{ print "M", $1, $2 ":" $3 }'
}

keep_round() {
  used=$1
  mkdir -p "$KEEP_WORK"
  [ -d "$V2/repositories" ] || return 0
  keep_inventory > "$KEEP_WORK/inventory"
  awk -v now="$(date +%s)" -v grace="$KEEP_GRACE" -v used="$used" \
      -v target="$(awk -v b="$KEEP_BYTES" -v p="$KEEP_LOW" 'BEGIN { printf "%d", b * p / 100 }')" \
      -f "$KEEP_PLAN" "$KEEP_WORK/inventory" > "$KEEP_WORK/actions"
  : > "$KEEP_WORK/blobs"
  while read -r kind a b; do
    case "$kind" in
      tag) rm -rf -- "$V2/repositories/$a/_manifests/tags/$b" ;;
      rev) rm -rf -- "$V2/repositories/$a/_manifests/revisions/sha256/$b" ;;
      layer) rm -rf -- "$V2/repositories/$a/_layers/sha256/$b" ;;
      repo) rm -rf -- "$V2/repositories/$a" ;;
      blob) echo "$a" >> "$KEEP_WORK/blobs" ;;
      say) echo "kindreg: keeper of mirror $NAME: $a $b" >&2 ;;
    esac
  done < "$KEEP_WORK/actions"
  # Manifests stored since the inventory keep every blob they name.
  keep_names -newer "$KEEP_WORK/start" |
    awk '{ sub(/^sha256:/, "", $3); print $3; d = $2; sub(/\/data$/, "", d); sub(/^.*\//, "", d); print d }' > "$KEEP_WORK/named"
  awk 'FILENAME == ARGV[1] { named[$1] = 1; next } !($1 in named)' "$KEEP_WORK/named" "$KEEP_WORK/blobs" |
    while read -r d; do
      rm -rf -- "$V2/blobs/sha256/$(echo "$d" | cut -c1-2)/$d"
    done
}

keep_compact_reads() {
  [ -f "$KEEP_READS" ] || return 0
  [ "$(stat -c %s "$KEEP_READS")" -gt 1048576 ] || return 0
  awk '{ t[$2 " " $3] = $1 } END { for (k in t) print t[k], k }' "$KEEP_READS" > "$KEEP_READS.new" &&
    mv -f "$KEEP_READS.new" "$KEEP_READS"
}

keep() {
  while :; do
    used=$(du -sk "$DATA" 2>/dev/null | awk '{ printf "%d", $1 * 1024 }')
    over=$(awk -v u="${used:-0}" -v b="$KEEP_BYTES" -v p="$KEEP_HIGH" 'BEGIN { print (u > b * p / 100) ? 1 : 0 }')
    [ "$over" = 1 ] && keep_round "$used"
    keep_compact_reads
    sleep "$(awk -v u="${used:-0}" -v b="$KEEP_BYTES" -v p="$KEEP_HIGH" -v r="$KEEP_RATE" \
      'BEGIN { s = (b * p / 100 - u) / r; if (s < 1) s = 1; if (s > 30) s = 30; printf "%d", s }')" & wait $!
  done
}

# The registry, its log also recorded as reads when the mirror is bounded.
serve() {
  if [ -n "$KEEP_BYTES" ]; then
    rm -f "$LOG_PIPE" && mkfifo "$LOG_PIPE"
    record < "$LOG_PIPE" &
    registry serve "$1" > "$LOG_PIPE" 2>&1 &
  else
    registry serve "$1" &
  fi
  pid=$!
}

# Any HTTP answer (401 from an anonymous /v2/ included) means the upstream is reachable.
# busybox wget says "server returned error"; GNU wget exits 6 (auth) or 8 (HTTP error).
# The time limit comes from `timeout`: some busybox builds crash on `wget -T`.
# With KINDREG_PROBE_URL (a `via` registry: asked through the front cache, whose TLS client every
# server accepts, where busybox's lacks what Go's TLS servers require), the front's own
# gateway errors mean the registry behind it is away.
reachable() {
  out=$(timeout 5 wget -O /dev/null "${KINDREG_PROBE_URL:-$UPSTREAM}/v2/" 2>&1)
  rc=$?
  if [ -n "${KINDREG_PROBE_URL}" ]; then
    case "$out" in *" 502 "*|*" 503 "*|*" 504 "*) return 1 ;; esac
  fi
  [ "$rc" -eq 0 ] || [ "$rc" -eq 6 ] || [ "$rc" -eq 8 ] && return 0
  case "$out" in *"server returned error"*) return 0 ;; esac
  return 1
}

stop() {
  [ -n "$keeper" ] && kill -TERM "$keeper" 2>/dev/null
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid"
  exit 0
}
trap stop TERM INT
if [ -n "$KEEP_BYTES" ]; then
  keep &
  keeper=$!
fi

while :; do
  if reachable; then mode=pull-through; config=$PULL_THROUGH
  else mode=cache-only; config=$CACHE_ONLY
  fi
  echo "$mode" > "$MODE_FILE"
  echo "kindreg: mirror $NAME serving in $mode mode (upstream $UPSTREAM)" >&2
  serve "$config"
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
