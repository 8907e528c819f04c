"""report_sections.py — what each part of the report shows, as data for templates/: the glance
cards, the load, each profile kind's section, the server's schedule, its /stats and the run's
files.  Each function also appends the part's lines to the plain-text summary.  No markup here.
"""
import datetime
import os
import re

import report_figures as RF
from report_chart import latency_chart
from report_page import INFO, KIND_COLORS, STAGES, data_uri_svg, fmt_num, fmt_us, inline_flame
from report_run import TOP_RE, find_row, read, short, tool

# the cards, in the order the page shows them: kind, label, the function named
CARDS = [("cpu", "CPU", "od_stage_price"), ("mutex", "Mutex", "inventory_take"), ("block", "Block", "od_stage_pay"),
         ("memory", "Memory", "od_stage_record"), ("goroutines", "Threads", "worker-N")]


def cards(fig, found, summary):
    """a card per planted hotspot: its figure (big, and as a bar's pct) and verdict"""
    out = []
    summary.append("planted problems (each figure from its profile, against its target):")
    for k, label, fn in CARDS:
        if k == "goroutines":
            f = found.get(k, {})
            big, pct, ok, cum = "%d of %d" % (f.get("nworkers", 0), f.get("nthreads", 0)), f.get("share", 0), bool(f.get("leads")), None
            summary.append("  threads  %d worker threads of the server's %d, %d busy mid-burst (and %d profiler threads)" % (
                f.get("nworkers", 0), f.get("nthreads", 0), f.get("busy", 0), f.get("nprofiler", 0)))
        else:
            f = fig[k]
            ok = f["ok"]
            cum = RF.human(f["cum"]) if f["cum"] else "–"
            pct = (f["busy_share"] or 0) if k == "block" else f["share"]
            big = "%.0f%%" % pct
            summary.append("  %-8s %-17s %s  [%s]" % (k, fn, RF.verdict_text(k, f), "ok" if ok else "MISSED"))
        out.append(dict(k=k, label=label, fn=fn, color=KIND_COLORS[k], f=f, ok=ok, big=big, pct=pct, cum=cum))
    return out


def _utc(stamp):
    """seconds since the epoch of an orderload time stamp (2026-12-01T23:58:12.345Z)"""
    return datetime.datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()


def _lanes(run, load, segments, t_start):
    """the capture lanes beneath the run's chart: windows from the files' times (saved at the end
    of their window), and the server's schedule from its manifest"""
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
            st = _utc(e["started_at"]) + float("0." + e["started_at"][20:23]) - t_start
        except (KeyError, ValueError):
            continue
        by_kind.setdefault("schedule", []).append((st, st + float(e.get("seconds", 0)), "schedule (%s): %s" % (e.get("entry", ""), e.get("name", ""))))
    lanes = []
    for k in ["cpu", "trace", "memory", "goroutines", "mutex", "block", "schedule"]:
        if k in by_kind:
            lanes.append(("schedule" if k == "schedule" else ("threads" if k == "goroutines" else k), KIND_COLORS.get(k, "#999"), by_kind[k]))
    return lanes


def load_section(run, load, scen, ths, summary):
    """the load: the run's chart with its capture lanes, a row per scenario and the total, the
    thresholds, a small chart per scenario; None when orderload left no load.json"""
    if not load:
        return None
    meta = run.meta
    started = load.get("started_at", "")
    try:
        t_start = _utc(started) + float("0." + started[20:23] if len(started) > 22 else 0)
    except ValueError:
        t_start = None
    segments = [dict(name=name, start=s.get("start_time_s", 0), span=s.get("duration_s", 0), points=s.get("timeline") or [])
                for name, s in scen]
    lanes = _lanes(run, load, segments, t_start) if t_start else []
    out = dict(chart=latency_chart(segments, 1180, 300, lanes, "Latency per second and requests sent per second"), rows=[],
               thresholds=ths, failed=any(not t.get("ok") for t in ths), rc=meta.get("orderload_rc", "?"),
               warnings=load.get("warnings") or [], scenarios=[], self_check=load.get("self_check"), completion=False)
    summary.append("")
    summary.append("load (orderload %s, exit %s):" % ("lua/scenarios/demo.lua = all.lua + captures", meta.get("orderload_rc", "?")))
    for name, s in scen + [("total", load.get("total") or {})]:
        c, r, lat = s.get("counts", {}), s.get("rate", {}), s.get("latency_us", {})
        # completion latency (accepted -> done or failed), when the scenario followed its orders
        comp = s.get("completion_us") if isinstance(s.get("completion_us"), dict) else None
        out["completion"] = out["completion"] or comp is not None
        errs = sum((s.get("errors") or {}).values())
        codes = ", ".join("%s: %d" % (k2, v) for k2, v in sorted((s.get("status_codes") or {}).items()))
        tgt = r.get("target")
        out["rows"].append(dict(name=name, target=tgt, achieved=r.get("achieved", 0), errors=errs, codes=codes,
                                counts={n: c.get(n, 0) for n in ("scheduled", "sent", "completed", "late", "dropped")},
                                latency={n: lat.get(n) for n in ("p50", "p90", "p99", "p99.9", "max")},
                                completion={n: comp.get(n) for n in ("p50", "p99", "max")} if comp else None,
                                thresholds=[t for t in ths if t.get("scope") == name]))
        summary.append("  %-7s %7s -> %7s  sent %5d  completed %5d  errors %3d  p50 %9s  p99 %9s  max %9s  %s"
                       % (name, "%.1f/s" % tgt if tgt else "-", "%.1f/s" % r.get("achieved", 0), c.get("sent", 0),
                          c.get("completed", 0), errs, fmt_us(lat.get("p50")), fmt_us(lat.get("p99")), fmt_us(lat.get("max")), codes))
        if comp:
            summary.append("  %-7s completion (accepted -> finished, %s orders followed): p50 %9s  p99 %9s  max %9s"
                           % ("", fmt_num(comp.get("count") or 0), fmt_us(comp.get("p50")), fmt_us(comp.get("p99")), fmt_us(comp.get("max"))))
    for t in ths:
        if not t.get("ok"):
            summary.append("  threshold failed: %s (value %s)" % (t["expr"], t.get("value")))
    v = load.get("self_check")
    if v:  # orderload's verdict on its own figures
        summary.append("  self-check: %s" % ("ok, the figures measure the server" if v.get("ok") else
                                             "WARNING: " + "; ".join((v.get("problems") or []) + (v.get("advice") or []))))
    for name, s in scen:
        seg = dict(name=name, start=0, span=s.get("duration_s", 0), points=s.get("timeline") or [])
        c = s.get("counts", {})
        title = "%s — %s/s for %s s" % (name, fmt_num((s.get("rate") or {}).get("target") or 0), fmt_num(s.get("duration_s", 0)))
        out["scenarios"].append(dict(chart=latency_chart([seg], 380, 200, None, title), achieved=(s.get("rate") or {}).get("achieved", 0),
                                     counts={n: c.get(n, 0) for n in ("sent", "completed", "late", "dropped")}))
    return out


# ---- each profile kind -------------------------------------------------------------------------

FOCUS = {"cpu": "od_stage_price", "memory": "od_stage_record", "block": "od_stage_pay", "mutex": "od_stage_reserve", "goroutines": "worker_main"}
GC_ROWS = [("allocated_bytes", "allocated (in use by the program)"), ("heap_size_bytes", "heap size (reserved by tcmalloc)"),
           ("physical_bytes", "physical"), ("pageheap_free_bytes", "free in the page heap"),
           ("pageheap_unmapped_bytes", "unmapped (returned to the OS)"), ("central_cache_free_bytes", "free in the central cache"),
           ("transfer_cache_free_bytes", "free in the transfer cache"), ("thread_cache_free_bytes", "free in the thread caches"),
           ("rss_bytes", "resident set size (RSS)")]


def _commands(run, k, F):
    """the commands that open profile k (its .pb.gz shown as F) further"""
    lines = ["# interactive: flame graph, graph, source, peek (View menu) in your browser",
             "go tool pprof -http=: %s" % F,
             "go tool pprof -top %s" % F,
             "go tool pprof -top -focus=%s %s" % (FOCUS[k], F)]
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
        binary = run.shown(os.path.join(run.dir, "orderd"))
        lines += ["# the legacy gperftools format, symbolized against the binary that ran:",
                  "google-pprof --text %s %s" % (binary, run.shown(run.p(k + ".prof"))),
                  "google-pprof --web %s %s" % (binary, run.shown(run.p(k + ".prof")))]
    return lines


def _threads(groups):
    """the threads table: a row per stack, the busiest first, the profiler's threads last as one"""
    prow = RF.profiler_row(groups)
    rows = []
    for g in sorted([g for g in groups if not g["profiler"]], key=lambda g: (-g["count"])) + ([prow] if prow else []):
        states = {}
        for s in g["states"]:
            states[s] = states.get(s, 0) + 1
        rows.append(dict(count=g["count"], profiler=g["profiler"], threads=", ".join(g["threads"]), where=g["where"],
                         workers=any(t.startswith("worker-") for t in g["threads"]),
                         states=", ".join("%s%s" % (s, " ×%d" % n if n > 1 else "") for s, n in states.items())))
    return rows


def _pprof_kind(run, k, s, tops, graphs, extra, groups):
    s["pprof"] = True
    fsvg = read(run.p(k + ".svg"))
    s["flame"] = inline_flame(fsvg, "flame-" + k) if fsvg and "<svg" in fsvg else None
    top = tops[k]
    s["top"] = top
    s["top_header"] = None
    if top:
        s["top_header"] = " · ".join(RF.human_text(h) for h in top["header"]
                                     if not h.startswith("File:") and not h.startswith("Build ID") and not h.startswith("Showing top"))
    s["highlight"] = [INFO[k]["stage"], INFO[k]["leaf"]]
    s["block_busy"] = extra["block_busy"] if k == "block" else None
    s["memory_diff"] = extra["memory_diff"] if k == "memory" else None
    s["memory_alloc"] = extra["memory_alloc"] if k == "memory" else None
    s["threads"] = _threads(groups) if k == "goroutines" and groups else None
    s["stages"] = [(st, (find_row(top, st) or {}).get("cump", 0.0)) for st in STAGES] if k in ("cpu", "mutex") and top else None
    s["stages_title"] = "the pipeline's stages in the %s" % ("CPU samples" if k == "cpu" else "lock waits")
    s["links"] = [dict(href=run.href(run.p(k + ext)), name=k + ext, what=what, size=os.path.getsize(run.p(k + ext)))
                  for ext, what in ((".pb.gz", "pprof"), (".prof", "legacy"), (".svg", "flame graph"), (".txt", "text")) if run.has(k + ext)]
    s["commands"] = _commands(run, k, run.shown(run.p(k + ".pb.gz")))
    s["graph"] = dict(href=run.href(graphs[k]), uri=data_uri_svg(graphs[k])) if graphs.get(k) else None
    s["dot"] = run.dot


def kind_sections(run, fig, found, tops, graphs, extra, groups, trace, gc, summary):
    """a section per profile kind, in the page's order"""
    out = []
    for k in INFO:
        info = INFO[k]
        # every name the template reads, defined (the environment is strict): None or [] when absent
        s = dict(k=k, title=info["title"], stage=info.get("stage"), leaf=info.get("leaf"), unit=info.get("unit"),
                 lates=[f for f in run.late if f.startswith(k)], found=found.get(k), pprof=False, other_site=None, target=None,
                 target_text=None, trace=None, gc=None, links=[], commands=[])
        if k == "memory":
            rest = [r for r in (tops["memory"] or {}).get("rows", []) if short(r["name"]) != "od_stage_record"]
            if rest:
                s["other_site"] = max(rest, key=lambda r: RF.parse_qty(r["flat"])[0] or 0)
        if k in fig and isinstance(fig[k], dict) and "ok" in fig[k]:
            s["target"], s["target_text"] = fig[k], RF.verdict_text(k, fig[k])
        if k in ("cpu", "memory", "goroutines", "block", "mutex"):
            _pprof_kind(run, k, s, tops, graphs, extra, groups)
        elif k == "trace" and trace:
            tp = run.p("trace.json")
            s.update(trace=trace, href=run.href(tp), size=os.path.getsize(tp), shown=run.shown(tp))
        elif k == "gc" and gc and "before" in gc:
            rows = [dict(label=label, before=gc["before"][key], after=gc["after"][key], hl=key in ("rss_bytes", "pageheap_unmapped_bytes"))
                    for key, label in GC_ROWS if gc["before"].get(key) is not None and gc["after"].get(key) is not None]
            url = run.meta.get("url", "http://127.0.0.1:8080")
            s.update(gc=dict(rows=rows, released=gc.get("released_bytes", 0), release_us=gc.get("release_us", 0), allocator=gc.get("allocator", "?")),
                     links=[dict(href=run.href(run.p("gc" + e)), name="gc" + e) for e in (".json", ".txt") if run.has("gc" + e)],
                     commands=["curl %s/profile/gc              # JSON" % url, "curl '%s/profile/gc?format=text'  # this table" % url])
            summary.append("")
            summary.append("gc: allocated %s, heap %s, RSS %s -> %s (released %s in %s)" % (
                RF.fmt_bytes(gc["before"].get("allocated_bytes", 0)), RF.fmt_bytes(gc["before"].get("heap_size_bytes", 0)),
                RF.fmt_bytes(gc["before"].get("rss_bytes", 0)), RF.fmt_bytes(gc["after"].get("rss_bytes", 0)),
                RF.fmt_bytes(gc.get("released_bytes", 0)), fmt_us(gc.get("release_us", 0))))
        out.append(s)
    return out


# ---- the server's side ---------------------------------------------------------------------------

def schedule_section(run):
    """what the server's own schedule captured (its manifest), each pprof file's top function"""
    entries = []
    for e in run.manifest:
        name = e.get("name", "")
        path = os.path.join(run.dir, "scheduled", name)
        topfn = ""
        if name.endswith(".pb.gz") and run.go and os.path.isfile(path):
            t = tool("go", "tool", "pprof", "-top", "-nodecount=3", path)
            if t:
                rows = [r for r in (TOP_RE.match(line) for line in t.splitlines()) if r]
                if rows:
                    topfn = "%s (%s%%)" % (rows[0].group(6), rows[0].group(2))
        entries.append(dict(href=run.href(path), name=name, kind=e.get("kind", ""), label=e.get("label", ""), trigger=e.get("trigger", ""),
                            entry=e.get("entry", ""), seconds=e.get("seconds"), bytes=e.get("bytes", 0), topfn=topfn))
    return dict(dir=run.shown(os.path.join(run.dir, "scheduled")), entries=entries)


def stats_section(run, summary):
    """GET /stats at the end as field/value pairs, the drain summary, and what the run's config
    changes (computed from the two files, not assumed; changes is None when one is missing)"""
    st = run.stats or {}
    fields = []
    for key, v in st.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, dict):
            v = ", ".join("%s: %s" % (a, b) for a, b in v.items())
        elif key.endswith("_bytes") and isinstance(v, (int, float)):
            v = RF.fmt_bytes(v)
        fields.append((key, v))
    if st:
        summary.append("")
        summary.append("server: accepted %s, processed %s (success %s, errors %s), rejected %s, processing p99 %s ms" % (
            st.get("accepted"), st.get("total_processed"), st.get("success_count"), st.get("error_count"), st.get("rejected"),
            (st.get("processing_time_ms") or {}).get("p99")))
    drain = [line for line in run.log.splitlines() if "summary:" in line or "draining" in line][-3:]
    if drain:
        summary.append("drain: " + drain[-1].split("summary:", 1)[-1].strip())
    cfg_name = run.meta.get("config", "config/orderd.yaml")
    default_cfg = read(os.path.join(run.root, cfg_name))
    run_cfg = read(os.path.join(run.dir, "orderd.yaml"))
    changes = None
    if default_cfg is not None and run_cfg is not None:
        changes = RF.config_changes(default_cfg, run_cfg)
        summary.append("run config: %s%s" % (cfg_name, " with " + ", ".join("%s=%s" % (k2, b) for k2, _, b in changes)
                                             if changes else " unchanged"))
    return dict(fields=fields, drain=drain, cfg_name=cfg_name, changes=changes)


def files_section(run):
    """every file of the run but the page itself: (path relative to the run, size)"""
    out = []
    for dp, dn, fn in sorted(os.walk(run.dir)):
        dn.sort()
        for f in sorted(fn):
            rel = os.path.relpath(os.path.join(dp, f), run.dir)
            if rel != "index.html":
                out.append((rel, os.path.getsize(os.path.join(dp, f))))
    return out
