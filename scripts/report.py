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
  RUN_DIR/compare.json  with a base run (run.json's "base", start_profiling.sh --base): the
                        settings that differ and a verdict per planted problem; beside it
                        profiles/KIND-diff.svg, a differential flame graph per kind

Works on a partial run: what is missing is said, not fatal.  The standard library and Jinja2
(Debian python3-jinja2).  This file runs the analysis and writes the outputs; beside it:
report_run.py (the run's files, go tool pprof), report_figures.py (the figures, units, config
differences), report_sections.py (what each part of the page shows, as data), report_chart.py
(the charts' geometry), report_page.py (the Jinja2 environment), report_compare.py and report_diff.py (this run against
its base), report_settings.py (each run's settings), and templates/ (the markup).
"""
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_compare as RC  # noqa: E402
import report_figures as RF  # noqa: E402
import report_sections as RS  # noqa: E402
from report_figures import trace_summary  # noqa: E402
from report_page import INFO, KINDS, STAGES, render  # noqa: E402
from report_run import Run, find_row, pprof_svg, pprof_top, read, read_json  # noqa: E402


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: scripts/report.py RUN_DIR   (a directory written by scripts/start_profiling.sh)\n")
        return 2
    run = Run(sys.argv[1])
    summary = []

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
    # this run against its base (--base): its lines go last in the summary, the verdicts with them
    compare_lines = []
    cmp = RC.compare(run, fig, compare_lines)
    RF.write_json(os.path.join(run.dir, "summary.json"), fig)
    kn = fig["knobs"]
    scen = sorted((load.get("scenarios") or {}).items(), key=lambda kv: kv[1].get("start_time_s", 0))
    ths = load.get("thresholds") or []
    th_failed = [t for t in ths if not t.get("ok")]
    missing = [k for k in KINDS if not any(run.has(k + e) for e in (".pb.gz", ".json"))]

    # ---- the page -------------------------------------------------------------------------------
    context = dict(title="orderd profiling report", runname=os.path.basename(run.dir), meta=meta, has_load=bool(load),
                   nths=len(ths), nfailed=len(th_failed), missing=missing, th=RF.THRESHOLDS, knobs=kn, cpu=fig["cpu"])
    context["cards"] = RS.cards(fig, found, summary)
    context["ld"] = RS.load_section(run, load, scen, ths, summary)
    context["sections"] = RS.kind_sections(run, fig, found, tops, graphs, extra, groups, trace, gc, summary)
    context["schedule"] = RS.schedule_section(run)
    context["stats"] = RS.stats_section(run, summary)
    context["files"] = RS.files_section(run)
    if cmp:
        cmp["href"] = os.path.relpath(os.path.join(cmp["dir"], "index.html"), run.dir)
    context["cmp"] = cmp
    html = render(context)
    with open(os.path.join(run.dir, "index.html"), "w") as f:
        f.write(html)

    # ---- the plain-text summary -------------------------------------------------------------------
    head = ["orderd profiling run: %s" % run.dir,
            "server %s, %s; orderload exit %s%s" % (meta.get("url", "?"), meta.get("server", "?"), meta.get("orderload_rc", "?"),
                                                 " (a threshold failed: a finding)" if meta.get("orderload_rc") == 99 else ""),
            "profiles: %s" % ("all 7 kinds" if not missing else "MISSING " + ", ".join(missing)), ""]
    files = ["", "report:   %s" % os.path.join(run.dir, "index.html"),
             "profiles: %s" % run.prof,
             "explore:  go tool pprof -http=: %s" % run.shown(run.p("cpu.pb.gz")),
             "trace:    ui.perfetto.dev -> Open trace file -> %s" % run.shown(run.p("trace.json"))]
    text = "\n".join(head + summary + compare_lines + files) + "\n"
    with open(os.path.join(run.dir, "summary.txt"), "w") as f:
        f.write(text)
    sys.stdout.write("\n" + text)
    return 0 if not missing else 1


if __name__ == "__main__":
    sys.exit(main())
