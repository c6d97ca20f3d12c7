
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
