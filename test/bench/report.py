#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# test/bench/report.py OUT - the report of scripts/kslub-bench: reads
# OUT/runs.csv (one line per run) and OUT/machine.txt, prints the tables and
# writes OUT/results.csv (one line per workload and allocator),
# OUT/results.md and OUT/chart.png.
#
# Per workload and allocator: the median wall time with its min-max spread,
# the median peak RSS and, for the workloads that print it, the median RSS
# after the workload freed its memory.  kslub's ratio is to the best peer:
# the lowest of glibc, jemalloc, tcmalloc and mimalloc that did not fail.
import csv
import math
import os
import statistics
import sys

ALLOCATORS = ["glibc", "jemalloc", "tcmalloc", "mimalloc", "kslub"]
PEERS = ALLOCATORS[:-1]

out = sys.argv[1]
runs = list(csv.DictReader(open(os.path.join(out, "runs.csv"))))
machine = {}
try:
    for line in open(os.path.join(out, "machine.txt")):
        k, _, v = line.rstrip("\n").partition("=")
        machine[k] = v
except OSError:
    pass

# a cache line's round trip between two CPUs before and after each
# workload's runs (xcpu.csv, ns; absent in older result folders)
xcpu = {}
try:
    for r in csv.DictReader(open(os.path.join(out, "xcpu.csv"))):
        vals = [int(v) for v in (r["before_ns"], r["after_ns"]) if v and v.isdigit()]
        if vals:
            xcpu[r["workload"]] = vals
except (OSError, KeyError):
    pass
xcpu_low = min((v for vals in xcpu.values() for v in vals), default=None)
xcpu_high = max((v for vals in xcpu.values() for v in vals), default=None)


def xcpu_text(w):
    """before/after, and * when either is over twice the run's lowest."""
    vals = xcpu.get(w)
    if not vals:
        return "-"
    return "/".join(str(v) for v in vals) + (" *" if max(vals) > 2 * xcpu_low else "")


order = []
cells = {}
for r in runs:
    w, a = r["workload"], r["allocator"]
    if w not in order:
        order.append(w)
    c = cells.setdefault((w, a), {"wall": [], "rss": [], "after": [], "failed": 0, "runs": 0})
    c["runs"] += 1
    if r["status"] != "0":
        c["failed"] += 1
        continue
    c["wall"].append(float(r["wall_s"]))
    if r["maxrss_kb"]:
        c["rss"].append(int(r["maxrss_kb"]))
    if r["rss_after_free_kb"]:
        c["after"].append(int(r["rss_after_free_kb"]))


def summary(w, a):
    c = cells.get((w, a))
    if not c or c["failed"] or not c["wall"]:
        return None
    return {
        "median": statistics.median(c["wall"]),
        "min": min(c["wall"]),
        "max": max(c["wall"]),
        "rss": statistics.median(c["rss"]) if c["rss"] else None,
        "after": statistics.median(c["after"]) if c["after"] else None,
        "runs": c["runs"],
    }


def failed_text(w, a):
    c = cells.get((w, a))
    if not c:
        return "-"
    return "FAILED" if c["failed"] == c["runs"] else "FAILED %d/%d" % (c["failed"], c["runs"])


def time_unit(s):
    if s < 1e-3:
        return 1e6, "%.0f", "us"
    if s < 0.1:
        return 1e3, "%.1f", "ms"
    if s < 1:
        return 1e3, "%.0f", "ms"
    return 1, "%.2f", "s"


def fmt_time(s):
    mul, f, unit = time_unit(s)
    return (f + " %s") % (s * mul, unit)


def fmt_spread(s):
    """median (min-max), all in the median's unit"""
    mul, f, unit = time_unit(s["median"])
    return (f + " %s (" + f + "-" + f + ")") % (
        s["median"] * mul, unit, s["min"] * mul, s["max"] * mul)


def fmt_kb(kb):
    if kb is None:
        return "-"
    if kb >= 1024 * 1024:
        return "%.2f GB" % (kb / 1048576)
    if kb >= 1024:
        return "%.1f MB" % (kb / 1024)
    return "%d KB" % kb


def ratio(w, key):
    """kslub / best peer for one figure, and the best peer's name"""
    k = summary(w, "kslub")
    best = None
    for p in PEERS:
        s = summary(w, p)
        if s is None or s[key] is None:
            continue
        if best is None or s[key] < best[1]:
            best = (p, s[key])
    if k is None or k[key] is None or best is None or best[1] <= 0:
        return None, best[0] if best else None
    return k[key] / best[1], best[0]


def fmt_geomean(r):
    return "-" if r is None else "%.3f" % r


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def fmt_ratio(r):
    return "-" if r is None else "%.2f" % r


workloads = [w for w in order if not w.startswith("start-")]
starts = [w for w in order if w.startswith("start-")]

# results.csv
with open(os.path.join(out, "results.csv"), "w", newline="") as f:
    wr = csv.writer(f)
    wr.writerow(["workload", "allocator", "status", "runs", "median_s", "min_s", "max_s",
                 "peak_rss_kb", "rss_after_free_kb"])
    for w in order:
        for a in ALLOCATORS:
            s = summary(w, a)
            if s is None:
                wr.writerow([w, a, failed_text(w, a), cells.get((w, a), {}).get("runs", 0),
                             "", "", "", "", ""])
            else:
                wr.writerow([w, a, "ok", s["runs"], "%.6f" % s["median"], "%.6f" % s["min"],
                             "%.6f" % s["max"], "%.0f" % s["rss"] if s["rss"] else "",
                             "%.0f" % s["after"] if s["after"] else ""])

lines = []


def table(header, rows):
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")


lines.append("# kslub benchmark")
lines.append("")
lines.append("%s; Linux %s; %s, %s cpus, %s; %s repeats%s; suite wall time %s s." % (
    machine.get("date", "?"), machine.get("kernel", "?"), machine.get("cpu", "?"),
    machine.get("nproc", "?"), machine.get("memory", "?"), machine.get("repeats", "?"),
    " (--quick)" if machine.get("quick") == "1" else "", machine.get("elapsed_s", "?")))
lines.append("")
lines.append("Peers (Debian packages): glibc %s, jemalloc %s, tcmalloc %s, mimalloc %s; "
             "kslub %s; redis-server %s." % (
                 machine.get("glibc", "?"), machine.get("jemalloc", "?"),
                 machine.get("tcmalloc", "?"), machine.get("mimalloc", "?"),
                 machine.get("kslub", "?"), machine.get("redis", "?")))
lines.append("")
lines.append("Ratios are kslub / best peer (the lowest of the four peers): below 1 kslub "
             "is better.")
lines.append("")

lines.append("## Wall time: median (min-max)")
lines.append("")
rows = []
far = []
for w in workloads:
    row = [w]
    for a in ALLOCATORS:
        s = summary(w, a)
        row.append(failed_text(w, a) if s is None else fmt_spread(s))
    r, best = ratio(w, "median")
    row += [best or "-", fmt_ratio(r)]
    if xcpu:
        row.append(xcpu_text(w))
        if row[-1].endswith("*"):
            far.append(w)
    rows.append(row)
table(["workload"] + ALLOCATORS + ["best peer", "kslub/best"] + (["cross-CPU ns"] if xcpu else []),
      rows)
if xcpu:
    lines.append("Cross-CPU ns: a cache line's round trip between two CPUs (test/bench/xcpu) "
                 "before and after the workload's runs; %d-%d ns over this run." % (
                     xcpu_low, xcpu_high))
    if far:
        lines.append("Marked *: over twice the run's lowest. The host placed the CPUs farther "
                     "apart meanwhile, which slows every allocator, unequally, in the workloads "
                     "that hand memory between threads: their ratios do not compare with other "
                     "runs'.")
    lines.append("")

def kb_table(title, names, key):
    """A table of one memory figure (KB) per workload and allocator."""
    lines.append(title)
    lines.append("")
    rows = []
    for w in names:
        row = [w]
        for a in ALLOCATORS:
            s = summary(w, a)
            row.append(failed_text(w, a) if s is None else fmt_kb(s[key]))
        r, best = ratio(w, key)
        row += [best or "-", fmt_ratio(r)]
        rows.append(row)
    table(["workload"] + ALLOCATORS + ["best peer", "kslub/best"], rows)


kb_table("## Peak RSS (median of the runs' max RSS)", workloads, "rss")

after_rows = [w for w in workloads if any(
    summary(w, a) and summary(w, a)["after"] is not None for a in ALLOCATORS)]
if after_rows:
    kb_table("## Memory return: RSS after the workload freed its memory "
             "(rss_after_free_kb, ~50 ms after the frees)", after_rows, "after")

if starts:
    lines.append("## Process start: median time of one run (issue target: kslub within "
                 "10% of mimalloc)")
    lines.append("")
    rows = []
    for w in starts:
        row = [w]
        for a in ALLOCATORS:
            s = summary(w, a)
            row.append(failed_text(w, a) if s is None else "%s (%d runs)" % (
                fmt_time(s["median"]), s["runs"]))
        k, m = summary(w, "kslub"), summary(w, "mimalloc")
        km = k["median"] / m["median"] if k and m else None
        r, best = ratio(w, "median")
        row += [fmt_ratio(km), fmt_ratio(r)]
        rows.append(row)
    table(["program"] + ALLOCATORS + ["kslub/mimalloc", "kslub/best"], rows)

gm_time = geomean([ratio(w, "median")[0] for w in workloads])
gm_rss = geomean([ratio(w, "rss")[0] for w in workloads])
gm_after = geomean([ratio(w, "after")[0] for w in after_rows])
n_time = sum(1 for w in workloads if ratio(w, "median")[0] is not None)
lines.append("## Geometric means of kslub / best peer (over %d workloads; process start "
             "not included)" % n_time)
lines.append("")
# three decimals: the targets are 1.00 and 1.10, which two would blur
lines.append("- time: %s" % fmt_geomean(gm_time))
lines.append("- peak RSS: %s" % fmt_geomean(gm_rss))
if after_rows:
    lines.append("- RSS after free: %s" % fmt_geomean(gm_after))
failed = sorted({(w, a) for (w, a), c in cells.items() if c["failed"]})
if failed:
    lines.append("")
    lines.append("FAILED runs: " + ", ".join("%s under %s" % wa for wa in failed) +
                 " (logs: failed-*.log beside this file)")
lines.append("")
if "redis" in order:
    lines.append("Note on redis: Debian's redis-server is linked with libjemalloc.so.2. "
                 "malloc, free, calloc, realloc and malloc_usable_size are taken from the "
                 "preloaded library; mallctl, nallocx and malloc_stats_print (statistics "
                 "and hints) still come from jemalloc. The glibc column preloads libc.so.6 "
                 "so that glibc's malloc comes first; without it the server would run on "
                 "jemalloc. Time is redis-benchmark's wall time, RSS the server's VmHWM.")
    lines.append("")

text = "\n".join(lines)
with open(os.path.join(out, "results.md"), "w") as f:
    f.write(text)
print()
print(text)

# chart.png: kslub / best peer, one group of bars per workload
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("report: matplotlib is missing (apt-get install python3-matplotlib): no chart")
    sys.exit(0)

labels = workloads + starts
series = [("time", "median", "#4c72b0"), ("peak RSS", "rss", "#dd8452"),
          ("RSS after free", "after", "#55a868")]
fig, ax = plt.subplots(figsize=(10, 0.55 * len(labels) + 2.2))
height = 0.26
ypos = list(range(len(labels)))
values_all = []
for i, (name, key, color) in enumerate(series):
    ys, xs = [], []
    for j, w in enumerate(labels):
        r = ratio(w, key)[0]
        if r is None:
            continue
        ys.append(j + (i - 1) * height)
        xs.append(r)
    if not xs:
        continue
    values_all += xs
    ax.barh(ys, xs, height=height, color=color, label=name, left=0)
    for y, x in zip(ys, xs):
        ax.text(x, y, " %.2f" % x, va="center", fontsize=7)
for j, w in enumerate(labels):
    if summary(w, "kslub") is None and (w, "kslub") in cells:
        ax.text(1.0, j, " kslub FAILED", va="center", color="red", fontsize=8)
ax.axvline(1.0, color="black", linewidth=1.2, linestyle="--")
ax.set_xscale("log")
lo = min(values_all + [1.0]) / 1.5
hi = max(values_all + [1.0]) * 1.6
ax.set_xlim(lo, hi)
ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if lo <= t <= hi]
ax.set_xticks(ticks)
ax.set_xticklabels(["%g" % t for t in ticks])
ax.set_yticks(ypos)
ax.set_yticklabels(labels)
ax.invert_yaxis()
ax.set_xlabel("kslub / best peer (log scale; below 1 = kslub better)")
title = "kslub vs best of glibc, jemalloc, tcmalloc, mimalloc"
if machine.get("date"):
    title += "\n%s, %s cpus, %s repeats; geomean time %s, peak RSS %s" % (
        machine["date"], machine.get("nproc", "?"), machine.get("repeats", "?"),
        fmt_geomean(gm_time), fmt_geomean(gm_rss))
ax.set_title(title, fontsize=10)
ax.grid(axis="x", which="both", alpha=0.3)
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(out, "chart.png"), dpi=110)
print("chart: %s" % os.path.join(out, "chart.png"))
