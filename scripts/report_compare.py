"""report_compare.py — this run against a base run (start_profiling.sh --base RUN_DIR), as data
for templates/_compare.html.j2 and lines for the plain-text summary.

Per profile kind: a differential flame graph saved as profiles/KIND-diff.svg (report_diff.py)
and `go tool pprof -top -diff_base BASE THIS`; the latency of both runs on one chart, over time
and by percentile (completion latency too when orderload followed the orders); the settings
that differ (each run's settings.json, report_settings.py); and a verdict per planted problem
from the figures each run's own report derived (its summary.json): "lock waits 97.7 ms ->
6.94 s, x71 (grew)".  The base directory is only read.  Standard library and Jinja2.
"""
import math
import os

import report_diff as RD
import report_figures as RF
import report_settings as RSET
from report_chart import overlay_chart
from report_page import environment, fmt_us, inline_flame
from report_run import pprof_top, read_json

PPROF_KINDS = ["cpu", "memory", "goroutines", "block", "mutex"]
# a change smaller than a figure's noise factor either way is "about the same": the spread of
# each figure over three --quick runs of the same settings on a shared 2-core machine (CPU
# 570-800 ms, lock waits 6.9-10.8 s, time-to-202 p99 4.2-21 ms: the generator's own lateness),
# rounded up.  SAME is the default for a figure not listed.
SAME = 1.25
NOISE = {"cpu": 1.5, "mutex": 2.0, "block": 1.25, "memory": 1.25, "latency": 3.0, "completion": 1.5, "processing": 1.3}


def _fmt_ratio(r):
    return ("%.1f" % r) if r < 10 else ("%.0f" % r)


def sampling_noise(na, nb, floor):
    """the factor within which two sampled figures standing for na and nb samples are the
    same: three standard deviations of their ratio (each figure's relative error is about
    1/sqrt(n)), at least `floor`.  Two runs of the same demo settings hold the same ~1,400
    records, and their heap figures came out 26.6 and 36.9 MiB (65 samples each, the ratio's
    sd about 17 %): a fixed 1.25 called that "grew"."""
    if not na or not nb or na <= 0 or nb <= 0:
        return floor
    return max(floor, math.exp(3 * math.sqrt(1 / na + 1 / nb)))


def judge(a, b, same=SAME):
    """(trend, the change as text) of a figure going from a (base) to b (this run); a change
    under the factor same either way is the same"""
    if a is None or b is None:
        return "unknown", "not in both runs"
    if a <= 0 and b <= 0:
        return "same", "none in either"
    if a <= 0:
        return "grew", "new"
    r = b / a
    if r >= same:
        return "grew", "×" + _fmt_ratio(r)
    if r <= 1 / same:
        return "shrank", "÷" + _fmt_ratio(1 / r) if r > 0 else "gone"
    return "same", ("×%.2f" % r) if r >= 1 else ("÷%.2f" % (1 / r))


def _qty(s):
    v, _ = RF.parse_qty(s) if s else (None, None)
    return v


def _p(d, *path):
    for k in path:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def verdicts(base_fig, this_fig, base_load, this_load, base_stats, this_stats):
    """[{problem, kind, figure, base, this, text, trend, change}] from both runs' figures"""
    rows = []

    def add(problem, kind, figure, a, b, fmt, noise, same=None):
        same = same or NOISE.get(noise, SAME)
        trend, change = judge(a, b, same)
        fa, fb = fmt(a) if a is not None else "?", fmt(b) if b is not None else "?"
        rows.append(dict(problem=problem, kind=kind, figure=figure, base=a, this=b, trend=trend, change=change, noise=round(same, 2),
                         base_text=fa, this_text=fb, text="%s %s → %s, %s" % (figure, fa, fb, change)))

    ns, by = RF.fmt_ns, RF.fmt_bytes
    add("CPU hotspot", "cpu", "od_stage_price CPU", _qty(_p(base_fig, "cpu", "cum")), _qty(_p(this_fig, "cpu", "cum")), ns, "cpu")
    wa, wb = _p(base_fig, "mutex", "wait_s"), _p(this_fig, "mutex", "wait_s")
    add("lock contention", "mutex", "lock waits", wa * 1e9 if wa is not None else None, wb * 1e9 if wb is not None else None, ns, "mutex")
    add("blocking", "block", "payment waits (od_stage_pay)", _qty(_p(base_fig, "block", "cum")), _qty(_p(this_fig, "block", "cum")), ns, "block")
    add("heap", "memory", "od_stage_record in use", _p(base_fig, "memory", "held_bytes"), _p(this_fig, "memory", "held_bytes"), by, "memory",
        sampling_noise(_p(base_fig, "memory", "sampled"), _p(this_fig, "memory", "sampled"), NOISE["memory"]))
    add("latency", "load", "p99 time-to-202", _p(base_load, "total", "latency_us", "p99"), _p(this_load, "total", "latency_us", "p99"), fmt_us, "latency")
    ca, cb = _p(base_load, "total", "completion_us", "p99"), _p(this_load, "total", "completion_us", "p99")
    if ca is not None or cb is not None:
        add("latency", "load", "p99 completion (accepted → finished)", ca, cb, fmt_us, "completion")
    pa, pb = _p(base_stats, "processing_time_ms", "p99"), _p(this_stats, "processing_time_ms", "p99")
    add("processing", "stats", "p99 processing time", pa * 1000 if pa is not None else None, pb * 1000 if pb is not None else None,
        fmt_us, "processing")
    return rows


def _fmt_for(unit):
    if unit == "nanoseconds":
        return RF.fmt_ns
    if unit == "bytes":
        return RF.fmt_bytes
    return lambda v: "{:,}".format(int(v)).replace(",", " ")


def _timeline(load, key):
    """[(seconds from the run's start, us)] of one timeline field over every scenario"""
    pts = []
    for s in (load or {}).get("scenarios", {}).values():
        for p in s.get("timeline") or []:
            if p.get(key):
                pts.append((s.get("start_time_s", 0) + p["t_s"], p[key]))
    return pts


PCTS = ["p50", "p90", "p99", "p99.9", "max"]


def overlays(base_load, this_load):
    """the latency of both runs on one chart over time, and by percentile (None without loads)"""
    if not base_load or not this_load:
        return None
    series = [dict(label="this run p99", cls="o_t99", points=_timeline(this_load, "p99_us")),
              dict(label="base p99", cls="o_b99", points=_timeline(base_load, "p99_us")),
              dict(label="this run p50", cls="o_t50", points=_timeline(this_load, "p50_us")),
              dict(label="base p50", cls="o_b50", points=_timeline(base_load, "p50_us"))]
    comp = [dict(label="this run completion p99", cls="o_tc", points=_timeline(this_load, "completion_p99_us")),
            dict(label="base completion p99", cls="o_bc", points=_timeline(base_load, "completion_p99_us"))]
    series += [s for s in comp if s["points"]]
    time_chart = overlay_chart(series, 1180, 300, "Time-to-202 per second: this run (solid) and the base (dashed)"
                               + (", completion p99 dotted" if any(s["points"] for s in comp) else ""))
    pct = []
    for label, cls, load, key in (("this run time-to-202", "o_t99", this_load, "latency_us"), ("base time-to-202", "o_b99", base_load, "latency_us"),
                                  ("this run completion", "o_tc", this_load, "completion_us"), ("base completion", "o_bc", base_load, "completion_us")):
        lat = _p(load, "total", key)
        if lat:
            pct.append(dict(label=label, cls=cls, points=[(i, lat.get(p)) for i, p in enumerate(PCTS) if lat.get(p)]))
    pct_chart = overlay_chart(pct, 580, 260, "All scenarios, by percentile", categories=PCTS)
    rows = []
    for name in ["total"] + sorted((this_load.get("scenarios") or {}), key=lambda n: this_load["scenarios"][n].get("start_time_s", 0)):
        a = _p(base_load, "total", "latency_us") if name == "total" else _p(base_load, "scenarios", name, "latency_us")
        b = _p(this_load, "total", "latency_us") if name == "total" else _p(this_load, "scenarios", name, "latency_us")
        ca = _p(base_load, "total", "completion_us") if name == "total" else _p(base_load, "scenarios", name, "completion_us")
        cb = _p(this_load, "total", "completion_us") if name == "total" else _p(this_load, "scenarios", name, "completion_us")
        rows.append(dict(name=name, cells=[(p, (a or {}).get(p), (b or {}).get(p), judge((a or {}).get(p), (b or {}).get(p))[1]) for p in PCTS],
                         completion=[(p, (ca or {}).get(p), (cb or {}).get(p), judge((ca or {}).get(p), (cb or {}).get(p))[1]) for p in PCTS]
                         if ca or cb else None))
    return dict(time=time_chart, pct=pct_chart, rows=rows)


def compare(run, fig, summary):
    """the comparison with run.meta["base"] (None when the run has no base); writes
    profiles/KIND-diff.svg, analysis/KIND-top-diff.txt and compare.json, and adds fig["compare"]"""
    base_dir = run.meta.get("base")
    if not base_dir:
        return None
    out = dict(dir=base_dir, shown=run.shown(base_dir), name=os.path.basename(base_dir.rstrip("/")), kinds=[], problems=[])
    if not os.path.isfile(os.path.join(base_dir, "run.json")):
        out["problems"].append("%s is not a run directory any more (no run.json)" % base_dir)
    base_fig = read_json(os.path.join(base_dir, "summary.json"))
    if base_fig is None:
        out["problems"].append("the base has no summary.json (its report did not finish): no verdicts from its figures")
    base_load = read_json(os.path.join(base_dir, "load.json"))
    base_stats = read_json(os.path.join(base_dir, "stats.json"))
    env = environment()
    for k in PPROF_KINDS:
        bp, tp = os.path.join(base_dir, "profiles", k + ".pb.gz"), run.p(k + ".pb.gz")
        entry = dict(k=k, svg=None, flame=None, top=None, red=0, blue=0, missing=None)
        a, b = RD.read_profile(bp), RD.read_profile(tp)
        if a is None or b is None:
            entry["missing"] = "%s.pb.gz is missing or unreadable in %s" % (k, "the base" if a is None else "this run")
        else:
            g = RD.diff_graph(b, a, _fmt_for(b["unit"]))
            svg = env.get_template("diff_flame.svg.j2").render(g=g, title="%s: this run against the base" % k)
            path = run.p(k + "-diff.svg")
            with open(path, "w") as f:
                f.write(svg)
            entry.update(svg=run.href(path), flame=inline_flame(svg, "diff-" + k).replace('class="flame"', 'class="flame diff"', 1),
                         red=g["red"], blue=g["blue"], total=g["total"], base_total=g["base_total"], type=g["kind"])
            entry["top"] = pprof_top(run, k + ".pb.gz", k + "-top-diff.txt", "-diff_base", bp)
            entry["command"] = "go tool pprof -top -diff_base %s %s" % (run.shown(bp), run.shown(tp))
        out["kinds"].append(entry)
    out["settings"] = RSET.differences(RSET.settings_of(base_dir, run.root), RSET.settings_of(run.dir, run.root))
    out["sets"] = (RSET.settings_of(run.dir, run.root) or {}).get("sets") or []
    out["verdicts"] = verdicts(base_fig or {}, fig, base_load, run.load, base_stats, run.stats)
    out["overlays"] = overlays(base_load, run.load)

    fig["compare"] = dict(base=base_dir, settings=[dict(key=k, where=w, base=a, this=b) for k, w, a, b in out["settings"]],
                          verdicts=[{x: v[x] for x in ("problem", "kind", "figure", "base", "this", "trend", "change", "noise", "text")}
                                    for v in out["verdicts"]],
                          diffs={e["k"]: dict(svg=e["svg"], red=e["red"], blue=e["blue"],
                                              pprof=e["top"]["file"] if e["top"] else None) for e in out["kinds"]})
    RF.write_json(os.path.join(run.dir, "compare.json"), fig["compare"])

    summary.append("")
    summary.append("compared with the base %s:" % out["shown"])
    for p in out["problems"]:
        summary.append("  note: " + p)
    summary.append("  settings that differ: %s" % (", ".join("%s %s -> %s" % (k, "(absent)" if a is None else a, "(absent)" if b is None else b)
                                                          for k, _, a, b in out["settings"]) or "none"))
    summary.append("  verdicts (base -> this run; a change within the figure's run-to-run noise is about the same):")
    for v in out["verdicts"]:
        summary.append("    %-16s %s  [%s]" % (v["problem"], v["text"], v["trend"] if v["trend"] != "same" else "same, within ×%g" % v["noise"]))
    summary.append("  differential flame graphs: %s" % " ".join(run.shown(run.p(e["k"] + "-diff.svg")) for e in out["kinds"] if e["svg"]))
    return out
