"""The benchmark table, from the results document (also used to refresh the README)."""
from __future__ import annotations

from kindreg.core.text import table

MiB = 1024 * 1024


def _mib(n: float) -> str:
    return f"{n / MiB:.1f}"


def table_lines(document: dict) -> list[str]:
    out: list[str] = []
    by = {}
    for r in document["results"]:
        by.setdefault(r["measurement"], []).append(r)
    if "sharing" in by:
        first = by["sharing"][0]["params"]
        out.append(f"1. Upstream traffic and disk: P projects pulling the same {first['images']} images "
                   f"({_mib(first['image_set_bytes'])} MiB unique), shared mirrors vs own mirrors")
        rows = [("P", "upstream MiB shared/own", "ratio", "mirror disk MiB shared/own", "ratio",
                 "registries shared/own", "registry memory MiB shared/own", "ratio")]
        for r in by["sharing"]:
            s, o, q = r["raw"]["shared"], r["raw"]["own_mirrors"], r["ratios"]
            rows.append((str(r["params"]["projects"]),
                         f"{_mib(s['upstream_bytes'])} / {_mib(o['upstream_bytes'])}", f"{q['upstream_bytes']:.2f}",
                         f"{_mib(s['mirror_disk_bytes'])} / {_mib(o['mirror_disk_bytes'])}", f"{q['mirror_disk_bytes']:.2f}",
                         f"{s['registry_containers']} / {o['registry_containers']}",
                         f"{_mib(s['registry_memory_bytes'])} / {_mib(o['registry_memory_bytes'])}",
                         f"{q['registry_memory_bytes']:.2f}"))
        out += table(rows)
    if "cold_warm" in by:
        r = by["cold_warm"][0]
        out.append(f"2. Pulling the image set through a {document['machine'].get('upstream_link')} upstream link "
                   f"(median of {r['params']['runs']} runs; ratio to a direct pull)")
        rows = [("source", "seconds", "ratio", "upstream MiB")]
        rows += [(k.replace("_", " "), f"{v:.2f}", f"{r['ratios'][k]:.2f}", _mib(r["upstream_bytes_medians"][k]))
                 for k, v in r["medians_seconds"].items()]
        out += table(rows)
        out.append(f"  upstream bytes, cold pull through the mirror / direct pull: "
                   f"{r['upstream_bytes_ratio_cold_to_direct']:.2f}; the mirror's cache was complete "
                   f"{max(r['raw']['cache_filled_seconds_after_cold_pull']):.1f}s (at most) after the cold pull finished")
    if "warm-pull" in by:
        w = by["warm-pull"][0]
        out.append(f"  warm pull through the mirror / the same pull from a local registry: "
                   f"{w['timeRatioToLocalRegistry']:.2f} (steady state {w['steadyStateRatio']:.2f})")
    if "concurrent-cold-pull" in by:
        first = by["concurrent-cold-pull"][0]
        out.append(f"3. N nodes pulling the same uncached {_mib(first['imageBytes'])} MiB image at once "
                   f"(registry {first['registryVersion']}; median of {first['runs']}; a direct single pull: "
                   f"{first['directSeconds']:.2f} s)")
        rows = [("proxy", "N", "seconds to last node", "time / direct", "upstream bytes per image")]
        for r in by["concurrent-cold-pull"]:
            rows.append((r["proxy"], str(r["n"]), f"{r['secondsToLastNode']:.2f}", f"{r['timeRatioToDirect']:.2f}",
                         f"{r['upstreamBytesPerImage']:.2f}"))
        out += table(rows)
    if "program_cost" in by:
        out.append("4. Building the Pulumi graph under mocks (median of 5), beside a control program "
                   "registering as many bare resources")
        rows = [("stacks", "mirrors", "nodes", "resources", "seconds", "ms/resource", "control ms/resource",
                 "kindreg/control")]
        for r in by["program_cost"]:
            p, raw, q = r["params"], r["raw"], r["ratios"]
            rows.append((p["stacks"], str(p["mirrors"]), str(p["nodes"]), str(raw["resources"]),
                         f"{raw['seconds']:.3f}", f"{q['ms_per_resource']:.2f}",
                         f"{q['control_ms_per_resource']:.2f}", f"{q['to_control']:.2f}"))
        out += table(rows)
    if "program_cost_profile" in by:
        r = by["program_cost_profile"][0]
        out.append(f"  where the time goes at {r['params']['mirrors']} mirrors (share of self time): " +
                   ", ".join(f"{k} {v:.1%}" for k, v in r["shares"].items()))
    out += _engine(by)
    out += _ci_restore(by)
    out += _disk_bound(by)
    return out


def _disk_bound(by: dict) -> list[str]:
    out = []
    for r in by.get("disk-bound", []):
        p = r["params"]
        out.append(f"7. A bounded mirror ({_mib(p['pulledBytes'])} MiB pulled through a {_mib(r['boundBytes'])} MiB "
                   f"bound, {p['images']} images, inUseFor {p['inUseFor']}; {p['runs']} runs)")
        out += table([("peak MiB", "peak / bound", "unbounded peak MiB", "pull s bounded", "pull s unbounded",
                       "bounded / unbounded", "upstream bytes, recently used again"),
                      (_mib(r["peakBytes"]), f"{r['diskToBoundRatio']:.3f}", _mib(r["unboundedPeakBytes"]),
                       f"{r['pullSecondsBounded']:.2f}", f"{r['pullSecondsUnbounded']:.2f}",
                       f"{r['pullTimeRatioToUnbounded']:.3f}", str(r["upstreamBytesRecentlyUsed"]))])
    return out


def _ci_restore(by: dict) -> list[str]:
    out = []
    for r in by.get("ci-restore", []):
        out.append(f"6. A CI runner started warm ({r['params']['images']} images, "
                   f"{_mib(r['params']['image_set_bytes'])} MiB; median of {r['params']['runs']} runs)")
        out += table([("cold pull s", "save s", "restore s", "restore / cold pull", "pull after restore s",
                       "upstream bytes after restore", "archive MiB"),
                      (f"{r['coldPullSeconds']:.2f}", f"{r['saveSeconds']:.2f}", f"{r['restoreSeconds']:.2f}",
                       f"{r['restoreToColdPullRatio']:.3f}", f"{r['pullAfterRestoreSeconds']:.2f}",
                       str(r["upstreamBytesAfterRestore"]), _mib(r["archiveBytes"]))])
    return out


ENGINE = ("noop-up", "noop-preview", "drift-up", "first-up")


def _engine(by: dict) -> list[str]:
    if not any(m in by for m in (*ENGINE, "many-stacks")):
        return []
    out = ["5. kindreg's commands under the real Pulumi engine (plugin doubles; median of the runs), against a floor"]
    rows = [("operation", "seconds", "floor", "floor seconds", "ratio")]
    for m in ENGINE:
        for r in by.get(m, []):
            rows.append((m, f"{r['seconds']:.2f}", r["floorWhat"], f"{r['floorSeconds']:.2f}", f"{r['ratioToFloor']:.2f}"))
    out += table(rows)
    for r in by.get("many-stacks", []):
        out.append(f"  no-op up --stack dev with 1 / 10 / 30 project stacks in the directory: {r['secondsAlone']:.2f} / "
                   f"{r['seconds10']:.2f} / {r['seconds30']:.2f} s (ratios {r['ratio10']:.2f}, {r['ratio30']:.2f}); "
                   f"peak RSS {r['peakRssKiBAlone'] // 1024} / {r['peakRssKiB10'] // 1024} / {r['peakRssKiB30'] // 1024} MiB")
    return out


def render(document: dict) -> str:
    return "\n".join(table_lines(document))
