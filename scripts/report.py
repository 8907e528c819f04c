#!/usr/bin/env python3
"""report.py RUN_DIR — the report of a scripts/start_profiling.sh run.

Reads what the run left in RUN_DIR (run.json, load.json from orderload --json, profiles/,
scheduled/, stats.json, orderd.log), analyses the pprof files with `go tool pprof` (top tables,
call graphs with graphviz, a -base diff), and writes

  RUN_DIR/index.html    one self-contained page: inline CSS and SVG, no network, no library
  RUN_DIR/summary.txt   the same in plain text, also printed on stdout
  RUN_DIR/summary.json  every planted problem's figure and verdict (report_figures.py computes
                        them against its THRESHOLDS; t/60 reads them)
  RUN_DIR/analysis/     the go tool pprof outputs the page is made from

Standard library only.  Works on a partial run: what is missing is said, not fatal.  Beside it:
report_figures.py (the figures, units, config differences) and report_page.py (styles, charts,
the page's text).
"""
import datetime
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_figures as RF  # noqa: E402
from report_figures import trace_summary  # noqa: E402
from report_page import CSS, INFO, JS, KIND_COLORS, KINDS, STAGES, bar, data_uri_svg, esc, fmt_bytes, fmt_num, fmt_us, inline_flame, latency_chart  # noqa: E402
from report_run import TOP_RE, Run, find_row, pprof_svg, pprof_top, read, read_json, short, tool  # noqa: E402


class Page:
    def __init__(self):
        self.parts = []

    def add(self, *s):
        self.parts.extend(s)

    def html(self):
        return "\n".join(self.parts)


def cmd_block(lines):
    """a <pre> of commands; lines starting with # are comments"""
    out = []
    for l in lines:
        out.append('<span class="c">%s</span>' % esc(l) if l.startswith("#") else esc(l))
    return "<pre>%s</pre>" % "\n".join(out)


def top_table(top, highlight, n=10):
    if not top or not top["rows"]:
        return '<p class="muted">no samples</p>'
    rows = top["rows"][:n]
    o = ['<div class="scroll"><table><tr><th>flat</th><th>flat%</th><th>sum%</th><th>cum</th><th>cum%</th><th class="l">function</th></tr>']
    for r in rows:
        hl = short(r["name"]) in highlight
        o.append('<tr%s><td>%s</td><td>%.2f%%</td><td>%.2f%%</td><td>%s</td><td>%.2f%%</td><td class="l"><code>%s</code></td></tr>'
                 % (' class="hl"' if hl else "", esc(RF.human(r["flat"])), r["flatp"], r["sump"], esc(RF.human(r["cum"])), r["cump"],
                    esc(r["name"])))
    o.append("</table></div>")
    return "\n".join(o)


def stage_side(top, title):
    """the five pipeline stages' shares (cum%) of a profile, as bars"""
    if not top:
        return ""
    o = ["<h3>%s <span class=\"small muted\">(cum%%)</span></h3><table>" % esc(title)]
    for s in STAGES:
        r = find_row(top, s)
        pct = r["cump"] if r else 0.0
        o.append('<tr><td class="l"><code>%s</code></td><td style="width:220px">%s</td><td>%.1f%%</td></tr>'
                 % (s, bar(pct, "#2f5d8a"), pct))
    o.append("</table>")
    return "\n".join(o)


def cpu_side(found, top):
    return stage_side(top, "the pipeline's stages in the CPU samples")


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: scripts/report.py RUN_DIR   (a directory written by scripts/start_profiling.sh)\n")
        return 2
    run = Run(sys.argv[1])
    summary = []
    P = Page()

    # ---- analysis --------------------------------------------------------------------------
    tops, graphs, found = {}, {}, {}
    for k in ["cpu", "memory", "goroutines", "block", "mutex"]:
        tops[k] = pprof_top(run, k + ".pb.gz", k + "-top.txt")
        graphs[k] = pprof_svg(run, k + ".pb.gz", k + "-callgraph.svg")
    extra = {
        "block_busy": pprof_top(run, "block.pb.gz", "block-top-ignore-idle.txt", "-ignore=next_order"),
        "memory_alloc": pprof_top(run, "memory.pb.gz", "memory-top-alloc_space.txt", "-sample_index=alloc_space"),
        "memory_diff": pprof_top(run, "memory.pb.gz", "memory-top-base-diff.txt", "-base", run.p("memory-base.pb.gz"))
        if run.has("memory-base.pb.gz") else None,
    }
    groups = RF.thread_groups(read(run.p("goroutines.txt")))
    trace = trace_summary(run.p("trace.json")) if run.has("trace.json") else None
    gc = read_json(run.p("gc.json"))

    # the planted hotspots: the stage's share (cum%) and whether it leads the pipeline's stages
    for k in ["cpu", "memory", "block", "mutex"]:
        top = tops[k]
        row = find_row(top, INFO[k]["stage"])
        leaf = find_row(top, INFO[k]["leaf"])
        stage_share = {s: (find_row(top, s) or {}).get("cump", 0.0) for s in STAGES}
        share = row["cump"] if row else 0.0
        leads = row is not None and share > 0 and share >= max(stage_share.values())
        found[k] = dict(row=row, leaf=leaf, share=share, leads=leads)
    if extra["block_busy"] and extra["block_busy"]["rows"]:
        # -ignore keeps the percentages of the whole profile: the share of what remains is
        # relative to the remaining root
        r = find_row(extra["block_busy"], "od_stage_pay")
        rest = max(x["cump"] for x in extra["block_busy"]["rows"])
        found["block"]["busy_share"] = 100.0 * r["cump"] / rest if r and rest > 0 else 0.0
    if extra["memory_diff"] and extra["memory_diff"]["rows"]:
        # the -base diff: the share of the heap's growth between the start of high and the end
        r = find_row(extra["memory_diff"], "od_stage_record")
        found["memory"]["growth_share"] = abs(r["cump"]) if r else 0.0
    # the server's threads: the profiler's own (prof-*, scheduler) are counted apart
    found["goroutines"] = RF.thread_counts(groups)

    meta = run.meta
    load = run.load or {}
    # every planted problem's figure against its threshold (scripts/report_figures.py)
    capture_seconds = {}
    for pr in load.get("profiles") or []:
        q = re.search(r"seconds=(\d+)", pr.get("path", ""))
        kind = os.path.basename(pr.get("file", "")).split(".")[0]
        if q and kind not in capture_seconds:
            capture_seconds[kind] = int(q.group(1))
    fig = RF.compute(run, tops, extra, read_json(os.path.join(run.dir, "profile.json")) or {}, capture_seconds)
    fig["quick"] = bool(meta.get("quick"))
    tc = found["goroutines"]
    fig["threads"] = dict(workers=tc["nworkers"], server=tc["nthreads"], busy=tc["busy"], profiler=tc["nprofiler"])
    RF.write_json(os.path.join(run.dir, "summary.json"), fig)
    kn = fig["knobs"]
    for k in INFO:  # the planted work as this run's workers.lua set it
        if "planted" in INFO[k]:
            INFO[k]["planted"] = INFO[k]["planted"].format(
                work_us=esc(RF.fmt_ns(kn["work_us"] * 1e3)), alloc=esc(RF.fmt_bytes(kn["alloc_bytes"])), pay_ms=kn["ms_per_priority"],
                hold_us=esc(RF.fmt_ns(kn["hold_us"] * 1e3)), workers=kn["workers"],
                stripes="1 stripe" if kn["stripes"] == 1 else "%d stripes" % kn["stripes"])
    INFO["cpu"]["measures"] = INFO["cpu"]["measures"].format(engine=esc(fig["cpu"]["engine"]), hz=esc(fig["cpu"]["hz"]))
    scen = sorted((load.get("scenarios") or {}).items(), key=lambda kv: kv[1].get("start_time_s", 0))
    ths = load.get("thresholds") or []
    th_failed = [t for t in ths if not t.get("ok")]
    missing = [k for k in KINDS if not any(run.has(k + e) for e in (".pb.gz", ".json"))]

    # ---- header ------------------------------------------------------------------------------
    title = "orderd profiling report"
    runname = os.path.basename(run.dir)
    P.add("<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
          '<meta name="viewport" content="width=device-width, initial-scale=1">',
          "<title>%s — %s</title>" % (esc(title), esc(runname)), "<style>%s</style></head><body>" % CSS)
    pills = []
    if load:
        pills.append('<span class="pill %s">thresholds: %d of %d met</span>'
                     % ("ok" if not th_failed else "bad", len(ths) - len(th_failed), len(ths)))
    pills.append('<span class="pill %s">profiles: %d of 7 kinds</span>' % ("ok" if not missing else "bad", 7 - len(missing)))
    pills.append('<span class="pill">%s</span>' % ("--quick: scenarios scaled to %s s" % meta.get("span_s") if meta.get("quick")
                                                     else "full length (%s s of load)" % meta.get("span_s", "?")))
    pills.append('<span class="pill">server: %s</span>' % esc(meta.get("server", "?")))
    if meta.get("port_note"):
        pills.append('<span class="pill warn">%s</span>' % esc(meta["port_note"]))
    P.add("<header><h1>%s</h1>" % esc(title),
          '<div class="sub">%s &middot; %s &middot; %s at commit %s &middot; %s &middot; %s s from start to report</div>'
          % (esc(runname), esc(meta.get("started_at", "")), esc(meta.get("version", "orderd")), esc(meta.get("commit", "?")),
             esc(meta.get("url", "")), esc(meta.get("seconds", "?"))),
          '<div class="pills">%s</div></header>' % "".join(pills))
    P.add('<nav><a href="#glance">At a glance</a><a href="#load">Load</a>'
          + "".join('<a href="#%s">%s</a>' % (k, esc(INFO[k]["title"].split(" (")[0])) for k in KINDS)
          + '<a href="#scheduled">Schedule</a><a href="#stats">Server stats</a><a href="#files">Files</a></nav><main>')

    # ---- at a glance ---------------------------------------------------------------------------
    P.add('<h2 id="glance">At a glance: the planted hotspots</h2>',
          '<p class="small muted">Each pipeline stage is a planted hotspot (knobs in <code>lua/workers.lua</code>); '
          "each card is what its profile shows for it in this run. Click a card for the flame graph and the top table.</p>",
          '<div class="glance">')
    summary.append("planted problems (each figure from its profile, against its target):")
    th = RF.THRESHOLDS
    cards = [("cpu", "CPU", "od_stage_price"), ("mutex", "Mutex", "inventory_take"), ("block", "Block", "od_stage_pay"),
             ("memory", "Memory", "od_stage_record"), ("goroutines", "Threads", "worker-N")]
    for k, label, fn in cards:
        color = KIND_COLORS[k]
        warn = ""
        if k == "goroutines":
            f = found.get(k, {})
            big, pct = "%d of %d" % (f.get("nworkers", 0), f.get("nthreads", 0)), f.get("share", 0)
            note = "threads are workers; %d busy in the pipeline mid-burst" % f.get("busy", 0)
            ok = bool(f.get("leads"))
            verdict = "&#10003; every worker named" if ok else "&#10007; no worker thread in this profile"
            line = "  threads  %d worker threads of the server's %d, %d busy mid-burst (and %d profiler threads)" % (
                f.get("nworkers", 0), f.get("nthreads", 0), f.get("busy", 0), f.get("nprofiler", 0))
        else:
            f = fig[k]
            ok = f["ok"]
            cum = RF.human(f["cum"]) if f["cum"] else "–"
            if k == "cpu":
                pct = f["share"]
                note = "of the CPU samples (cum %s); engine %s at %s Hz" % (cum, esc(f["engine"]), esc(f["hz"]))
                verdict = ("&#10003; dominates: &ge; %g%%" % th["cpu_share"]) if ok else "&#10007; below the %g%% target" % th["cpu_share"]
            elif k == "mutex":
                pct = f["share"]
                waits = ("waits %s = %.1f%% of %d workers &times; %g s" % (RF.fmt_ns(f["wait_s"] * 1e9), f["wait_pct"], f["workers"],
                                                                          f["window_s"])) if f["wait_pct"] is not None else "waits unknown"
                note = "of the lock waits (cum %s); %s" % (cum, waits)
                if ok:
                    verdict = "&#10003; dominates: &ge; %g%%, waits &ge; %g%% of the workers' time" % (th["mutex_share"], th["mutex_wait_pct"])
                elif f["share"] < th["mutex_share"]:
                    verdict = "&#10007; below the %g%% target%s" % (th["mutex_share"], "; most waits: " + ", ".join(
                        "%s %.0f%%" % o for o in f["others"][:2]) if f["others"] else "")
                else:
                    verdict = "&#10007; the waits are under %g%% of the workers' time: little contention" % th["mutex_wait_pct"]
            elif k == "block":
                pct = f["busy_share"] or 0
                note = "of the delay without idle waits (%.0f%% with them; cum %s)" % (f["share"], cum)
                verdict = ("&#10003; dominates: &ge; %g%%" % th["block_busy_share"]) if ok else "&#10007; below the %g%% target" % th["block_busy_share"]
            else:
                pct = f["share"]
                note = "of the heap in use (%s); results_kept &times; alloc_bytes explains %s" % (
                    RF.fmt_bytes(f["held_bytes"]), RF.fmt_bytes(f["explained_bytes"]))
                verdict = "&#10003; the top in-use site" if ok else "&#10007; the top in-use site is %s" % esc(f["top_site"] or "?")
                if f["leak_hint"]:
                    warn = ('<div class="verdict warn">&#9888; holds more than the %d kept results &times; %s explain: a leak? '
                            "(<code>-base</code> diff, <code>-sample_index=alloc_space</code>)</div>"
                            % (f["records"], RF.fmt_bytes(f["alloc_bytes"])))
            big = "%.0f%%" % pct
            line = "  %-8s %-17s %s  [%s]" % (k, fn, RF.verdict_text(k, f), "ok" if ok else "MISSED")
        summary.append(line)
        P.add('<a class="hot" href="#%s" style="border-top-color:%s"><div class="k">%s</div><div class="fn">%s</div>'
              '<div class="big">%s</div>%s<div class="note">%s</div><div class="verdict %s">%s</div>%s</a>'
              % (k, color, label, esc(fn), big, bar(pct, color), note, "ok" if ok else "bad", verdict, warn))
    P.add("</div>")

    # ---- load ---------------------------------------------------------------------------------
    P.add('<h2 id="load">Load: lua/scenarios/all.lua through orderload</h2>')
    if not load:
        P.add('<p class="bad">load.json is missing: orderload did not finish.</p>')
    else:
        started = load.get("started_at", "")
        try:
            t_start = datetime.datetime.strptime(started[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp() \
                + float("0." + started[20:23] if len(started) > 22 else 0)
        except ValueError:
            t_start = None
        segments = []
        for name, s in scen:
            segments.append(dict(name=name, start=s.get("start_time_s", 0), span=s.get("duration_s", 0),
                                 points=s.get("timeline") or []))
        # capture lanes: windows from the files' times (saved at the end of their window)
        lanes = []
        if t_start:
            by_kind = {}
            for f in sorted(os.listdir(run.prof)) if os.path.isdir(run.prof) else []:
                m = re.match(r"^(cpu|trace|memory|goroutines|mutex|block|gc)", f)
                if not m or f in run.late:
                    continue
                end = os.path.getmtime(run.p(f)) - t_start
                prof = next((p for p in load.get("profiles", []) if os.path.basename(p.get("file", "")) == f), None)
                secs = 0
                if prof:
                    q = re.search(r"seconds=(\d+)", prof.get("path", ""))
                    secs = int(q.group(1)) if q else 0
                if end < 0 or end > segments[-1]["start"] + segments[-1]["span"] + 60 if segments else True:
                    continue
                by_kind.setdefault(m.group(1), []).append((end - secs, end, "%s: %s" % (f, ("%d s window" % secs) if secs else "snapshot")))
            for e in run.manifest:
                try:
                    st = datetime.datetime.strptime(e["started_at"][:19], "%Y-%m-%dT%H:%M:%S").replace(
                        tzinfo=datetime.timezone.utc).timestamp() + float("0." + e["started_at"][20:23]) - t_start
                except (KeyError, ValueError):
                    continue
                by_kind.setdefault("schedule", []).append((st, st + float(e.get("seconds", 0)),
                                                           "schedule (%s): %s" % (e.get("entry", ""), e.get("name", ""))))
            for k in ["cpu", "trace", "memory", "goroutines", "mutex", "block", "schedule"]:
                if k in by_kind:
                    lanes.append(("schedule" if k == "schedule" else ("threads" if k == "goroutines" else k),
                                  KIND_COLORS.get(k, "#999"), by_kind[k]))
        P.add('<div class="card">', latency_chart(segments, 1180, 300, lanes,
                                                  "Latency per second and requests sent per second"),
              '<div class="small muted">Latency is measured from each request\'s intended start (log scale); the '
              "bars are requests sent per second (right axis); red ticks on the time axis are seconds with errors. "
              "Beneath, one lane per profile kind: when each capture ran (its window, or a tick for a snapshot); "
              "<i>schedule</i> is the server's own <code>lua/schedule.lua</code>. Hover a point for its value.</div></div>")
        # the table
        P.add('<div class="card"><div class="scroll"><table><tr><th class="l">scenario</th><th>target</th><th>achieved</th><th>scheduled</th><th>sent</th>'
              "<th>completed</th><th>late</th><th>dropped</th><th>errors</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th>"
              '<th class="l">status codes</th><th>thresholds</th></tr>')
        summary.append("")
        summary.append("load (orderload %s, exit %s):" % ("lua/scenarios/demo.lua = all.lua + captures", meta.get("orderload_rc", "?")))
        for name, s in scen + [("total", load.get("total") or {})]:
            c, r, lat = s.get("counts", {}), s.get("rate", {}), s.get("latency_us", {})
            errs = sum((s.get("errors") or {}).values())
            mine = [t for t in ths if t.get("scope") == name]
            th_html = " ".join('<span class="%s" title="%s">%s</span>' % ("ok" if t["ok"] else "bad", esc(t["expr"]),
                                                                       "&#10003;" if t["ok"] else "&#10007;") for t in mine)
            codes = ", ".join("%s: %d" % (k2, v) for k2, v in sorted((s.get("status_codes") or {}).items()))
            tgt = r.get("target")
            P.add('<tr%s><td class="l"><b>%s</b></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>'
                  "<td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"l\">%s</td><td>%s</td></tr>"
                  % (' class="hl"' if name == "total" else "", esc(name), "%.1f/s" % tgt if tgt else "–", "%.1f/s" % r.get("achieved", 0),
                     fmt_num(c.get("scheduled", 0)), fmt_num(c.get("sent", 0)), fmt_num(c.get("completed", 0)), fmt_num(c.get("late", 0)),
                     fmt_num(c.get("dropped", 0)), fmt_num(errs), fmt_us(lat.get("p50")), fmt_us(lat.get("p90")), fmt_us(lat.get("p99")),
                     fmt_us(lat.get("p99.9")), fmt_us(lat.get("max")), esc(codes), th_html))
            summary.append("  %-7s %7s -> %7s  sent %5d  completed %5d  errors %3d  p50 %9s  p99 %9s  max %9s  %s"
                           % (name, "%.1f/s" % tgt if tgt else "-", "%.1f/s" % r.get("achieved", 0), c.get("sent", 0),
                              c.get("completed", 0), errs, fmt_us(lat.get("p50")), fmt_us(lat.get("p99")), fmt_us(lat.get("max")), codes))
        P.add("</table></div>")
        if ths:
            P.add('<p class="small">Thresholds (exit %s%s): %s</p>' % (
                meta.get("orderload_rc", "?"), ": a threshold failed — a finding, not a crash" if th_failed else "",
                " &middot; ".join('<span class="%s">%s %s (%s)</span>' % ("ok" if t["ok"] else "bad", "&#10003;" if t["ok"] else "&#10007;",
                                                                           esc(t["expr"]), esc(t.get("scope"))) for t in ths)))
            for t in th_failed:
                summary.append("  threshold failed: %s (value %s)" % (t["expr"], t.get("value")))
        for w in load.get("warnings") or []:
            P.add('<p class="small bad">orderload: %s</p>' % esc(w))
        P.add("</div>")
        # one small chart per scenario
        P.add('<div class="cols3">')
        for name, s in scen:
            seg = dict(name=name, start=0, span=s.get("duration_s", 0), points=s.get("timeline") or [])
            c = s.get("counts", {})
            P.add('<div class="card">', latency_chart([seg], 380, 200, None, "%s — %s/s for %s s" % (
                name, fmt_num((s.get("rate") or {}).get("target") or 0), fmt_num(s.get("duration_s", 0)))),
                '<div class="small muted">%s sent, %s completed, %s late, %s dropped &middot; achieved %.1f/s</div></div>'
                % (fmt_num(c.get("sent", 0)), fmt_num(c.get("completed", 0)), fmt_num(c.get("late", 0)), fmt_num(c.get("dropped", 0)),
                   (s.get("rate") or {}).get("achieved", 0)))
        P.add("</div>")

    # ---- the profiles -------------------------------------------------------------------------
    when = {
        "cpu": "during <b>high</b> (50/s): three windows of the same length, one per format (one CPU profile runs at a time)",
        "memory": "at the end, once the queue was empty (the base for the diff: at the start of <b>high</b>)",
        "goroutines": "mid-<b>burst</b> (100/s)",
        "block": "over the <b>burst</b> (a delta: <code>?seconds=N</code>)",
        "mutex": "over the <b>burst</b> (a delta: <code>?seconds=N</code>)",
        "trace": "during <b>high</b> (50/s)",
        "gc": "at the end, once the queue was empty",
    }
    binary = run.shown(os.path.join(run.dir, "orderd"))
    for k in KINDS:
        info = INFO[k]
        P.add('<h2 id="%s">%s</h2>' % (k, esc(info["title"])), '<div class="card">')
        P.add("<p>%s</p>" % info["measures"])
        P.add('<p class="small">Captured %s.</p>' % when[k])
        lates = [f for f in run.late if f.startswith(k)]
        if lates:
            P.add('<p class="bad small">%s could not be captured during the run (see orderload\'s warnings in load.stderr) '
                  "and was fetched after it, without load.</p>" % esc(", ".join(lates)))
        if k in found:
            f = found[k]
            if k == "goroutines":
                verdict = ("%d of the server's %d threads are workers; %d of them were busy in the pipeline at that instant. "
                           "The profiler's own %d threads (<code>prof-*</code>, <code>scheduler</code>) are not counted: "
                           "they are the table's last row." % (f["nworkers"], f["nthreads"], f["busy"], f["nprofiler"]))
            else:
                row = f["row"]
                verdict = ("<code>%s</code>: %s %s (%.1f%%)%s" % (info["stage"], esc(RF.human(row["cum"])) if row else "–", info["unit"], f["share"],
                                                              "" if f["leads"] else " — <span class=\"bad\">not the leading stage here</span>"))
                if f.get("leaf") and info["leaf"] != info["stage"]:
                    verdict += "; its leaf <code>%s</code> alone: %s (%.1f%%)" % (info["leaf"], esc(RF.human(f["leaf"]["flat"])), f["leaf"]["flatp"])
                if k == "memory" and "growth_share" in f:
                    verdict += ("; and %.0f%% of what the heap grew by between the start of <b>high</b> and the end "
                                "(<code>-base</code> diff below)" % f["growth_share"])
                if k == "memory":
                    rest = [r for r in (tops["memory"] or {}).get("rows", []) if short(r["name"]) != "od_stage_record"]
                    if rest:
                        big2 = max(rest, key=lambda r: RF.parse_qty(r["flat"])[0] or 0)
                        verdict += "; the largest other in-use site: <code>%s</code> %s (%.1f%%)" % (
                            esc(short(big2["name"])), esc(RF.human(big2["flat"])), big2["flatp"])
                if k == "block" and "busy_share" in f:
                    verdict += ("; idle workers waiting for an order (<code>next_order</code>) take the rest: ignore them with "
                                "<code>-ignore=next_order</code> and the payment wait is %.0f%% of what remains." % f["busy_share"])
            target = ""
            if k in fig and isinstance(fig[k], dict) and "ok" in fig[k]:
                target = '<br><span class="%s">Target: %s &mdash; %s</span>' % (
                    "ok" if fig[k]["ok"] else "bad", esc(RF.verdict_text(k, fig[k])), "met" if fig[k]["ok"] else "missed")
            P.add('<div class="planted"><b>Planted:</b> %s<br><span class="found">Found: %s</span>%s</div>' % (info["planted"], verdict, target))

        if k in ("cpu", "memory", "goroutines", "block", "mutex"):
            pb = run.p(k + ".pb.gz")
            fsvg = read(run.p(k + ".svg"))
            if fsvg and "<svg" in fsvg:
                P.add("<h3>Flame graph <span class=\"small muted\">(the server's <code>?format=svg</code>; click a frame to zoom, "
                      "the bottom bar to reset; hover for values)</span></h3>", inline_flame(fsvg, "flame-" + k))
            else:
                P.add('<p class="bad">no flame graph (%s.svg missing)</p>' % k)
            P.add('<div class="cols"><div>')
            top = tops[k]
            P.add("<h3>Top 10 <span class=\"small muted\">(<code>go tool pprof -top</code>)</span></h3>")
            if top:
                P.add('<div class="small muted">%s</div>' % esc(" · ".join(RF.human_text(h) for h in top["header"] if not h.startswith("File:")
                                                                          and not h.startswith("Build ID")
                                                                          and not h.startswith("Showing top"))))
                P.add(top_table(top, {INFO[k]["stage"], INFO[k]["leaf"]}))
            else:
                P.add('<p class="muted">go tool pprof is not available or the profile is missing.</p>')
            P.add("</div><div>")
            if k == "block" and extra["block_busy"]:
                P.add("<h3>Without the idle waits <span class=\"small muted\">(<code>-ignore=next_order</code>)</span></h3>",
                      top_table(extra["block_busy"], {"od_stage_pay"}, 6))
            if k == "memory" and extra["memory_diff"]:
                P.add("<h3>What grew during high and burst <span class=\"small muted\">(<code>-base memory-base.pb.gz</code>)</span></h3>",
                      top_table(extra["memory_diff"], {"od_stage_record"}, 6))
            if k == "memory" and extra["memory_alloc"]:
                P.add("<h3>Allocated since start <span class=\"small muted\">(<code>-sample_index=alloc_space</code>)</span></h3>",
                      top_table(extra["memory_alloc"], {"od_stage_record"}, 6))
            if k == "goroutines" and groups:
                P.add("<h3>Threads by stack <span class=\"small muted\">(the text format, <code>?format=text</code>)</span></h3>",
                      '<table><tr><th>n</th><th class="l">threads</th><th class="l">state</th><th class="l">where</th></tr>')
                prow = RF.profiler_row(groups)
                for g in sorted([g for g in groups if not g["profiler"]], key=lambda g: (-g["count"])) + ([prow] if prow else []):
                    states = {}
                    for s in g["states"]:
                        states[s] = states.get(s, 0) + 1
                    P.add('<tr%s><td>%d</td><td class="l">%s</td><td class="l">%s</td><td class="l"><code>%s</code></td></tr>'
                          % (' class="hl"' if any(t.startswith("worker-") for t in g["threads"]) else "", g["count"],
                             ("<b>the profiler's:</b> " if g["profiler"] else "") + esc(", ".join(g["threads"])), esc(", ".join("%s%s" % (s, " ×%d" % n if n > 1 else "") for s, n in states.items())),
                             esc(g["where"])))
                P.add("</table>")
            if k == "cpu":
                P.add(cpu_side(found["cpu"], tops["cpu"]))
            if k == "mutex":
                P.add(stage_side(tops["mutex"], "the pipeline's stages in the lock waits"))
            P.add("</div></div>")
            P.add("<h3>Files and commands <span class=\"small muted\">(from the project root)</span></h3>")
            links = []
            for ext, what in ((".pb.gz", "pprof"), (".prof", "legacy"), (".svg", "flame graph"), (".txt", "text")):
                if run.has(k + ext):
                    links.append('<a href="%s" download>%s%s</a> <span class="muted small">(%s, %s)</span>'
                                 % (esc(run.href(run.p(k + ext))), k, ext, what, fmt_bytes(os.path.getsize(run.p(k + ext)))))
            P.add('<div class="files">%s</div>' % " ".join(links))
            F = run.shown(pb)
            focus = {"cpu": "od_stage_price", "memory": "od_stage_record", "block": "od_stage_pay", "mutex": "od_stage_reserve",
                     "goroutines": "worker_main"}[k]
            lines = ["# interactive: flame graph, graph, source, peek (View menu) in your browser",
                     "go tool pprof -http=: %s" % F,
                     "go tool pprof -top %s" % F,
                     "go tool pprof -top -focus=%s %s" % (focus, F)]
            if k == "cpu":
                lines += ["go tool pprof -list=price_fraud_score %s   # the source, line by line" % F]
            if k == "block":
                lines += ["go tool pprof -top -ignore=next_order %s   # without the idle workers" % F]
            if k == "memory":
                lines += ["go tool pprof -sample_index=alloc_space -top %s" % F]
                if run.has("memory-base.pb.gz"):
                    lines += ["go tool pprof -top -base %s %s   # what grew" % (run.shown(run.p("memory-base.pb.gz")), F)]
            if k == "goroutines":
                lines += ["go tool pprof -traces %s   # every stack with its threads and states" % F]
            lines += ["go tool pprof -svg %s > %s-callgraph.svg   # call graph (graphviz)" % (F, k)]
            if k in ("cpu", "memory", "block", "mutex") and run.has(k + ".prof"):
                lines += ["# the legacy gperftools format, symbolized against the binary that ran:",
                          "google-pprof --text %s %s" % (binary, run.shown(run.p(k + ".prof"))),
                          "google-pprof --web %s %s" % (binary, run.shown(run.p(k + ".prof")))]
            P.add(cmd_block(lines))
            if graphs.get(k):
                uri = data_uri_svg(graphs[k])
                P.add('<details><summary>Call graph (<code>go tool pprof -svg</code>, top 30 nodes)</summary>'
                      '<a href="%s"><img class="callgraph" alt="call graph of the %s profile" src="%s"></a></details>'
                      % (esc(run.href(graphs[k])), k, uri))
            elif not run.dot:
                P.add('<p class="small muted">No call graph: graphviz (<code>dot</code>) is not installed.</p>')
        elif k == "trace":
            if trace:
                F = run.shown(run.p("trace.json"))
                P.add("<p>%s events over %s on %d threads (%s), %d flows from an HTTP thread to a worker.</p>"
                      % (fmt_num(trace["events"]), fmt_us(trace["window_us"]), len(trace["threads"]), esc(", ".join(trace["threads"])),
                         trace["flows"]))
                P.add('<div class="cols"><div><h3>Spans</h3><table><tr><th class="l">span</th><th>count</th><th>total</th><th>mean</th>'
                      "<th>p99</th><th>max</th></tr>")
                for r in trace["spans"][:12]:
                    P.add('<tr%s><td class="l"><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                          % (' class="hl"' if r["name"] in ("pay", "price", "reserve") else "", esc(r["name"]), fmt_num(r["count"]),
                             fmt_us(r["total"]), fmt_us(r["mean"]), fmt_us(r["p99"]), fmt_us(r["max"])))
                P.add("</table></div><div><h3>Open it</h3>")
                P.add('<div class="files"><a href="%s" download>trace.json</a> <span class="muted small">(%s)</span></div>'
                      % (esc(run.href(run.p("trace.json"))), fmt_bytes(os.path.getsize(run.p("trace.json")))))
                P.add("<ol><li>Go to <b>ui.perfetto.dev</b> (or <code>chrome://tracing</code>) and choose <b>Open trace file</b>.</li>"
                      "<li>Pick <code>%s</code>. Perfetto reads it in your browser: the file stays on your machine.</li>"
                      "<li>Each thread is a track; click a span to see its order id, <b>Flow events</b> to follow an order "
                      "from <code>http-0</code> to its worker; <code>W</code>/<code>S</code> zoom, <code>A</code>/<code>D</code> pan.</li></ol>"
                      % esc(F))
                P.add('<p class="small">The spans show the pipeline as the profiles do: <code>pay</code> waits longest (block), '
                      "<code>price</code> is steady CPU, <code>reserve</code> includes its stripe waits (mutex).</p></div></div>")
            else:
                P.add('<p class="bad">trace.json is missing.</p>')
        elif k == "gc":
            if gc and "before" in gc:
                P.add('<table><tr><th class="l">bytes</th><th>before</th><th>after</th><th>change</th></tr>')
                names = [("allocated_bytes", "allocated (in use by the program)"), ("heap_size_bytes", "heap size (reserved by tcmalloc)"),
                         ("physical_bytes", "physical"), ("pageheap_free_bytes", "free in the page heap"),
                         ("pageheap_unmapped_bytes", "unmapped (returned to the OS)"), ("central_cache_free_bytes", "free in the central cache"),
                         ("transfer_cache_free_bytes", "free in the transfer cache"), ("thread_cache_free_bytes", "free in the thread caches"),
                         ("rss_bytes", "resident set size (RSS)")]
                for key, label in names:
                    b, a = gc["before"].get(key), gc["after"].get(key)
                    if b is None or a is None:
                        continue
                    P.add('<tr%s><td class="l">%s</td><td>%s</td><td>%s</td><td>%s%s</td></tr>'
                          % (' class="hl"' if key in ("rss_bytes", "pageheap_unmapped_bytes") else "", esc(label), fmt_bytes(b), fmt_bytes(a),
                             "+" if a - b > 0 else "", fmt_bytes(a - b)))
                P.add("</table>")
                P.add("<p>Released <b>%s</b> to the operating system in %s (allocator: %s).</p>"
                      % (fmt_bytes(gc.get("released_bytes", 0)), fmt_us(gc.get("release_us", 0)), esc(gc.get("allocator", "?"))))
                summary.append("")
                summary.append("gc: allocated %s, heap %s, RSS %s -> %s (released %s in %s)" % (
                    fmt_bytes(gc["before"].get("allocated_bytes", 0)), fmt_bytes(gc["before"].get("heap_size_bytes", 0)),
                    fmt_bytes(gc["before"].get("rss_bytes", 0)), fmt_bytes(gc["after"].get("rss_bytes", 0)),
                    fmt_bytes(gc.get("released_bytes", 0)), fmt_us(gc.get("release_us", 0))))
                links = ['<a href="%s" download>gc%s</a>' % (esc(run.href(run.p("gc" + e))), e) for e in (".json", ".txt") if run.has("gc" + e)]
                P.add('<div class="files">%s</div>' % " ".join(links))
                P.add(cmd_block(["curl %s/profile/gc              # JSON" % meta.get("url", "http://127.0.0.1:8080"),
                                 "curl '%s/profile/gc?format=text'  # this table" % meta.get("url", "http://127.0.0.1:8080")]))
            else:
                P.add('<p class="bad">gc.json is missing.</p>')
        P.add("</div>")

    # ---- the server's own schedule ---------------------------------------------------------------
    P.add('<h2 id="scheduled">Captured by the server\'s schedule</h2><div class="card">')
    P.add("<p>orderd's <code>lua/schedule.lua</code> captures on its own (timed, periodic, or when its state matches, e.g. "
          "<code>s.scenario == \"burst\"</code>); the run pointed <code>profiling.output_dir</code> at "
          "<code>%s</code>.</p>" % esc(run.shown(os.path.join(run.dir, "scheduled"))))
    if run.manifest:
        P.add('<table><tr><th class="l">file</th><th class="l">kind</th><th class="l">label</th><th class="l">trigger</th>'
              '<th class="l">entry</th><th>window</th><th>size</th><th class="l">top function (go tool pprof)</th></tr>')
        for e in run.manifest:
            name = e.get("name", "")
            path = os.path.join(run.dir, "scheduled", name)
            topfn = ""
            if name.endswith(".pb.gz") and run.go and os.path.isfile(path):
                t = tool("go", "tool", "pprof", "-top", "-nodecount=3", path)
                if t:
                    rows = [TOP_RE.match(l) for l in t.splitlines()]
                    rows = [r for r in rows if r]
                    if rows:
                        topfn = "%s (%s%%)" % (rows[0].group(6), rows[0].group(2))
            P.add('<tr><td class="l"><a href="%s" download>%s</a></td><td class="l">%s</td><td class="l">%s</td><td class="l">%s</td>'
                  '<td class="l"><code>%s</code></td><td>%s</td><td>%s</td><td class="l"><code>%s</code></td></tr>'
                  % (esc(run.href(path)), esc(name), esc(e.get("kind", "")), esc(e.get("label", "")), esc(e.get("trigger", "")),
                     esc(e.get("entry", "")), ("%g s" % e["seconds"]) if e.get("seconds") else "snapshot", fmt_bytes(e.get("bytes", 0)),
                     esc(topfn)))
        P.add("</table>")
    else:
        P.add('<p class="muted">The schedule captured nothing during this run.</p>')
    P.add("</div>")

    # ---- /stats at the end ------------------------------------------------------------------------
    # the fields in a grid of field/value pairs that wraps with the page's width, the shutdown and
    # the run config beneath: side by side, the table ran under the panel beside it
    P.add('<h2 id="stats">The server at the end (<code>GET /stats</code>)</h2><div class="card">')
    st = run.stats or {}
    if st:
        P.add('<div class="kv">')
        for key, v in st.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, dict):
                v = ", ".join("%s: %s" % (a, b) for a, b in v.items())
            elif key.endswith("_bytes") and isinstance(v, (int, float)):
                v = fmt_bytes(v)
            P.add('<div><code>%s</code><span>%s</span></div>' % (esc(key), esc(v)))
        P.add("</div>")
        summary.append("")
        summary.append("server: accepted %s, processed %s (success %s, errors %s), rejected %s, processing p99 %s ms" % (
            st.get("accepted"), st.get("total_processed"), st.get("success_count"), st.get("error_count"), st.get("rejected"),
            (st.get("processing_time_ms") or {}).get("p99")))
    else:
        P.add('<p class="bad">stats.json is missing.</p>')
    P.add('<div class="cols"><div>')
    drain = [l for l in run.log.splitlines() if "summary:" in l or "draining" in l]
    P.add("<h3>Shutdown</h3>")
    if drain:
        P.add('<pre class="wrap">%s</pre>' % esc("\n".join(drain[-3:])))
        summary.append("drain: " + drain[-1].split("summary:", 1)[-1].strip())
    else:
        P.add('<p class="muted">The server was left running (<code>--keep-running</code>): no drain summary yet.</p>')
    P.add("</div><div>")
    # what the run's config changes, computed from the two files (not assumed)
    cfg_name = meta.get("config", "config/orderd.yaml")
    default_cfg = read(os.path.join(run.root, cfg_name))
    run_cfg = read(os.path.join(run.dir, "orderd.yaml"))
    P.add("<h3>Run config</h3>")
    if default_cfg is None or run_cfg is None:
        P.add('<p class="small bad">%s or the run\'s orderd.yaml is missing: cannot say what differs.</p>' % esc(cfg_name))
    else:
        changes = RF.config_changes(default_cfg, run_cfg)
        if changes:
            P.add('<p class="small"><a href="orderd.yaml">orderd.yaml</a> is <code>%s</code> with %d key%s changed:</p>'
                  '<table class="cfg"><tr><th class="l">key</th><th class="l">%s</th><th class="l">this run</th></tr>%s</table>'
                  % (esc(cfg_name), len(changes), "" if len(changes) == 1 else "s", esc(cfg_name), "".join(
                      '<tr><td class="l"><code>%s</code></td><td class="l">%s</td><td class="l">%s</td></tr>'
                      % (esc(k2), esc(a) if a is not None else "<i>absent</i>", esc(b) if b is not None else "<i>absent</i>")
                      for k2, a, b in changes)))
        else:
            P.add('<p class="small"><a href="orderd.yaml">orderd.yaml</a> is <code>%s</code> unchanged.</p>' % esc(cfg_name))
        summary.append("run config: %s%s" % (cfg_name, " with " + ", ".join("%s=%s" % (k2, b) for k2, _, b in changes)
                                             if changes else " unchanged"))
    P.add('<p class="small">Server log: <a href="orderd.log">orderd.log</a>. Its <code>PROFILE: interrupts/evictions/bytes</code> '
          "lines come from gperftools' libprofiler (the itimer CPU engine) as each CPU profile stops: the SIGPROF "
          "interrupts it took, the stacks evicted from its in-memory table to the buffer, and the buffer's bytes. "
          "They are not errors%s.</p>" % ("; this run's engine, %s, prints none" % esc(fig["cpu"]["engine"])
                                          if not fig["cpu"]["engine"].startswith("itimer") else ""))
    P.add("</div></div></div>")

    # ---- files -------------------------------------------------------------------------------------
    P.add('<h2 id="files">Files in this run</h2><div class="card"><table><tr><th class="l">file</th><th>size</th></tr>')
    for dp, dn, fn in sorted(os.walk(run.dir)):
        dn.sort()
        for f in sorted(fn):
            full = os.path.join(dp, f)
            rel = os.path.relpath(full, run.dir)
            if rel == "index.html":
                continue
            P.add('<tr><td class="l"><a href="%s">%s</a></td><td>%s</td></tr>' % (esc(rel), esc(rel), fmt_bytes(os.path.getsize(full))))
    P.add("</table></div>")
    P.add("</main><footer>Written by scripts/report.py from the files beside it; no network, no external scripts. "
          "See GUIDE.md for how to read each profile.</footer>", "<script>%s</script></body></html>" % JS)

    with open(os.path.join(run.dir, "index.html"), "w") as f:
        f.write(P.html())

    # ---- the plain-text summary -------------------------------------------------------------------
    head = ["orderd profiling run: %s" % run.dir,
            "server %s, %s; orderload exit %s%s" % (meta.get("url", "?"), meta.get("server", "?"), meta.get("orderload_rc", "?"),
                                                 " (a threshold failed: a finding)" if meta.get("orderload_rc") == 99 else ""),
            "profiles: %s" % ("all 7 kinds" if not missing else "MISSING " + ", ".join(missing)), ""]
    files = ["", "report:   %s" % os.path.join(run.dir, "index.html"),
             "profiles: %s" % run.prof,
             "explore:  go tool pprof -http=: %s" % run.shown(run.p("cpu.pb.gz")),
             "trace:    ui.perfetto.dev -> Open trace file -> %s" % run.shown(run.p("trace.json"))]
    text = "\n".join(head + summary + files) + "\n"
    with open(os.path.join(run.dir, "summary.txt"), "w") as f:
        f.write(text)
    sys.stdout.write("\n" + text)
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())
