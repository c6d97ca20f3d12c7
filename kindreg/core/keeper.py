"""A bounded mirror's keeper: the shell that keeps its volume within its share while it serves.

It runs inside the mirror's container, beside the registry (the entrypoint starts it when the
container has KINDREG_KEEP_BYTES), because a bound must hold while kindreg is not running and
the registry image has nothing but busybox to run it with. Its rule is kindreg.core.mirrorstore's
(the same images, the same LRU, the same "a layer a kept image uses stays"), written in awk;
tests/live/test_disk_bound.py checks that both choose the same images on the same store.

Recency comes from real reads: the entrypoint passes the registry's log through `record`, which
appends every successful manifest or blob read (GET or HEAD) to kindreg-reads.log in the volume. An image never read since counts from its first
fetch (its manifest's mtime).

Online eviction, and why a pull never gets a broken blob:
- the registry runs without its in-memory blob descriptor cache when bounded (render), so a
  removed blob is a miss, fetched again through the proxy, never a stale "it exists";
- links go first (tags, revisions, layer links; registry/storage/paths.go), blob data last: a
  request for an evicted image finds no link and fetches from the upstream (proxy/proxyblobstore.go
  `ServeBlob`: a local miss is served from the remote and stored again);
- nothing read within the stack's `mirrors.inUseFor` (KINDREG_KEEP_IN_USE seconds) is evicted:
  a node pulling an image reads its manifest, then one blob after another, each read recorded
  when it completes; no blob written in that time is removed either (a pull of a new image
  stores its manifest first, then its blobs). What is in use may hold the volume over its
  budget until it is not (the keeper says so in the mirror's log);
- just before removing blob data it looks again for manifests stored since it looked and keeps
  every blob they name;
- a blob being served when it is removed is read to its end (its open file stays readable).
Data is removed with `rm -rf` of the blob's directory, as distribution's own garbage collection
does (registry/storage/vacuum.go `RemoveBlob` deletes the blob's directory).
"""
from __future__ import annotations

KEEP_BYTES_ENV = "KINDREG_KEEP_BYTES"
IN_USE_ENV = "KINDREG_KEEP_IN_USE"
READS_FILE = "kindreg-reads.log"  # in the volume: survives the container, read by `cache prune`
HIGH_PERCENT = 90  # past this share of the budget the keeper evicts ...
LOW_PERCENT = 80  # ... down to this one: room for what arrives before its next round
# How fast a mirror can fill, for how long the keeper may sleep: a round when the headroom left
# could fill in that time, at most every 30 s, at least every second.
FILL_BYTES_PER_SECOND = 64 * 1024 * 1024

# Reads the registry's access log (gorilla's combined format:
# `ip - - [time] "GET /v2/<repo>/manifests/<ref> HTTP/1.1" 200 ...`), passes every line on.
RECORD = r"""
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
"""

# The plan of one round, from the inventory's lines:
#   R <revision link path>   T <tag link path> <digest>   B <blob data path> <size> <mtime>
#   M <manifest data path> <digest it names>   X <time> <repo> <tag or digest>
# Out: tag/rev/layer/repo/blob actions (links first), and `say` lines for the log.
PLAN_AWK = r"""
function hex(d) { sub(/^sha256:/, "", d); return d }
function repo_of(p) { sub(/^.*\/docker\/registry\/v2\/repositories\//, "", p); sub(/\/_(manifests|layers)\/.*$/, "", p); return p }
function digest_dir(p) { sub(/\/(link|data)$/, "", p); sub(/^.*\//, "", p); return p }
$1 == "R" { r = repo_of($2); d = digest_dir($2); rev[r, d] = 1; revs[r] = revs[r] " " d; next }
$1 == "T" { r = repo_of($2); t = $2; sub(/^.*\/_manifests\/tags\//, "", t); sub(/\/current\/link$/, "", t)
            tagged[r] = tagged[r] " " t; tag[r, t] = hex($3); next }
$1 == "B" { d = digest_dir($2); size[d] = $3; mtime[d] = $4; next }
$1 == "M" { names[digest_dir($2)] = names[digest_dir($2)] " " hex($3); next }
$1 == "X" { k = $3 SUBSEP hex($4); if ($2 > seen[k]) seen[k] = $2; next }
END {
  ng = 0
  for (r in revs) {
    n = split(revs[r], ds, " ")
    for (i = 1; i <= n; i++) { m = split(names[ds[i]], xs, " "); for (j = 1; j <= m; j++) if (xs[j] != ds[i] && (r, xs[j]) in rev) child[r, xs[j]] = 1 }
    for (i = 1; i <= n; i++) {
      d = ds[i]; if ((r, d) in child) continue
      g = ++ng; grepo[g] = r; members[g] = d; last[g] = mtime[d] + 0
      m = split(names[d], xs, " ")
      for (j = 1; j <= m; j++) if ((r, xs[j]) in rev && xs[j] != d) members[g] = members[g] " " xs[j]
      k = split(members[g], ms, " "); set = ""
      for (j = 1; j <= k; j++) { set = set " " ms[j]; c = split(names[ms[j]], xs, " "); for (q = 1; q <= c; q++) set = set " " xs[q] }
      c = split(set, xs, " ")
      for (q = 1; q <= c; q++) if (seen[r, xs[q]] > last[g]) last[g] = seen[r, xs[q]]
      c = split(tagged[r], ts, " ")
      for (q = 1; q <= c; q++) if (index(" " members[g] " ", " " tag[r, ts[q]] " ") && seen[r, ts[q]] > last[g]) last[g] = seen[r, ts[q]]
      c = split(set, xs, " "); blobs[g] = ""
      for (q = 1; q <= c; q++) if (!((g, xs[q]) in inset)) { inset[g, xs[q]] = 1; blobs[g] = blobs[g] " " xs[q]; held[xs[q]]++; hold[r, xs[q]]++ }
      groups[r]++
    }
  }
  free = 0
  for (d in size) if (!(d in held) && mtime[d] < now - grace) { drop[d] = 1; free += size[d] }
  nc = 0
  for (g = 1; g <= ng; g++) if (last[g] < now - grace) { for (i = nc; i > 0 && last[order[i]] > last[g]; i--) order[i + 1] = order[i]; order[i + 1] = g; nc++ }
  for (i = 1; i <= nc && used - free > target; i++) {
    g = order[i]; r = grepo[g]; freed = 0; groups[r]--
    c = split(blobs[g], xs, " ")
    for (q = 1; q <= c; q++) {
      b = xs[q]; hold[r, b]--
      if (--held[b] == 0 && (b in size)) { drop[b] = 1; freed += size[b] }
      if (hold[r, b] == 0) gone[r, b] = 1
    }
    free += freed; evicted[r] = 1
    split(members[g], ms, " ")
    printf "say evicted %s@sha256:%s %d-bytes,last-read-%ds-ago\n", r, ms[1], freed, now - last[g]
  }
  if (used - free > target) printf "say still-over %d-bytes-used,%d-kept-as-in-use-or-shared\n", used - free, target
  for (r in evicted) if (groups[r] > 0) {
    c = split(tagged[r], ts, " "); for (q = 1; q <= c; q++) if ((r, tag[r, ts[q]]) in gone) print "tag", r, ts[q]
  }
  for (r in evicted) if (groups[r] > 0) {
    c = split(revs[r], ds, " "); for (q = 1; q <= c; q++) if ((r, ds[q]) in gone) print "rev", r, ds[q]
  }
  for (k in gone) { split(k, p, SUBSEP); if (groups[p[1]] > 0 && !((p[1], p[2]) in rev)) print "layer", p[1], p[2] }
  for (r in evicted) if (groups[r] == 0) print "repo", r
  for (d in drop) print "blob", d
}
"""

KEEP = r"""
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
"""


def settings(plan_path: str) -> str:
    """The keeper's shell variables (fixed numbers and paths, no user value)."""
    return f"""KEEP_BYTES="${{{KEEP_BYTES_ENV}:-}}"
KEEP_GRACE="${{{IN_USE_ENV}:-60}}"
KEEP_HIGH={HIGH_PERCENT}
KEEP_LOW={LOW_PERCENT}
KEEP_RATE={FILL_BYTES_PER_SECOND}
KEEP_PLAN='{plan_path}'
KEEP_WORK=/tmp/kindreg-keep
"""
