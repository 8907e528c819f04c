"""report_page.py — the drawing parts of scripts/report.py's page: the stylesheet, the one
script (flame graph zoom), the latency charts and bars (SVG drawn here), and the server's flame
graphs made safe to inline.  Pure functions of their arguments; standard library only.
"""
import base64
import html
import math
import os
import re

from report_figures import fmt_bytes  # noqa: F401 (the page's byte sizes, one definition)


def esc(s):
    return html.escape(str(s), quote=True)


def fmt_us(us):
    if us is None:
        return "–"
    us = float(us)
    if us < 1000:
        return "%d µs" % round(us)
    if us < 1e6:
        return ("%.1f ms" if us < 1e5 else "%.0f ms") % (us / 1000)
    return "%.2f s" % (us / 1e6)


def fmt_num(n):
    if isinstance(n, float) and not n.is_integer():
        return "%.2f" % n
    return "{:,}".format(int(n)).replace(",", " ")


# ---- charts (SVG drawn here) --------------------------------------------------------------------

def nice_step(span, target):
    raw = span / max(1, target)
    for s in [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600]:
        if s >= raw:
            return s
    return 600


def log_ticks(lo, hi):
    ticks, k = [], math.floor(math.log10(lo))
    while True:
        for m in (1, 2, 5):
            v = m * 10 ** k
            if v > hi * 1.0001:
                return ticks
            if v >= lo * 0.9999:
                ticks.append(v)
        k += 1


def latency_chart(segments, width, height, lanes=None, title=None):
    """segments: [{name, start, points: [{t_s, sent, p50_us, p99_us, max_us, errors}]}] on one time
    axis (seconds from the run's start); lanes: [(label, color, [(t0, t1, tip)])] drawn beneath"""
    ml, mr, mt, mb = 62, 48, 24 if title else 12, 28
    lane_h = 13
    nl = len(lanes or [])
    total_h = height + (nl * lane_h + 10 if nl else 0)
    pw, ph = width - ml - mr, height - mt - mb
    pts = [(seg["start"] + p["t_s"], p) for seg in segments for p in seg["points"]]
    xmax = max([seg["start"] + seg.get("span", 0) for seg in segments] + [t for t, _ in pts] + [1])
    vals = [p[k] for _, p in pts for k in ("p50_us", "p99_us", "max_us") if p.get(k, 0) > 0]
    lo = 10 ** math.floor(math.log10(min(vals))) if vals else 100
    hi_raw = max(vals) if vals else 1000
    hi = next(v for v in log_ticks(lo, hi_raw * 10) if v >= hi_raw)
    if hi <= lo:
        hi = lo * 10
    smax = max([p["sent"] for _, p in pts] + [1])
    sstep = nice_step(smax, 2)
    smax = sstep * math.ceil(smax / sstep)

    def X(t):
        return ml + pw * t / xmax

    def Y(v):
        return mt + ph - ph * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    def YS(v):
        return mt + ph - ph * v / smax

    o = ['<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" '
         'role="img">' % (width, total_h, width, total_h)]
    if title:
        o.append('<text x="%d" y="16" class="ct">%s</text>' % (ml, esc(title)))
    # scenario bands
    for i, seg in enumerate(segments):
        x0, x1 = X(seg["start"]), X(seg["start"] + seg.get("span", 0))
        if len(segments) > 1:
            o.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" class="band%d"/>' % (x0, mt, max(0, x1 - x0), ph, i % 2))
            o.append('<text x="%.1f" y="%d" class="bl">%s</text>' % (x0 + 4, mt + 12, esc(seg["name"])))
    # sent per second: bars on the right axis
    for t, p in pts:
        if p["sent"]:
            x = X(t - 1)
            o.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar"><title>%s s: %d sent</title></rect>'
                     % (x + 0.5, YS(p["sent"]), max(1, X(t) - x - 1), mt + ph - YS(p["sent"]), fmt_num(t), p["sent"]))
    # grid and axes
    for v in log_ticks(lo, hi):
        y = Y(v)
        o.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>' % (ml, ml + pw, y, y))
        o.append('<text x="%d" y="%.1f" class="yl">%s</text>' % (ml - 6, y + 4, fmt_us(v)))
    for v in range(0, int(smax) + 1, sstep):
        o.append('<text x="%d" y="%.1f" class="sl">%d/s</text>' % (ml + pw + 5, YS(v) + 4, v))
    step = nice_step(xmax, 10)
    t = 0
    while t <= xmax + 1e-9:
        o.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="tick"/>' % (X(t), X(t), mt + ph, mt + ph + 4))
        o.append('<text x="%.1f" y="%d" class="xl">%ds</text>' % (X(t), mt + ph + 16, t))
        t += step
    o.append('<rect x="%d" y="%d" width="%d" height="%d" class="frame"/>' % (ml, mt, pw, ph))
    # the latency lines, broken where a second had no answers
    for key, cls, label in (("max_us", "lmax", "max"), ("p99_us", "lp99", "p99"), ("p50_us", "lp50", "p50")):
        for seg in segments:
            run_pts = []
            for p in seg["points"] + [None]:
                if p is not None and p.get(key, 0) > 0:
                    run_pts.append((X(seg["start"] + p["t_s"] - 0.5), Y(p[key])))
                    continue
                if len(run_pts) > 1:
                    o.append('<polyline class="%s" points="%s"/>' % (cls, " ".join("%.1f,%.1f" % q for q in run_pts)))
                elif len(run_pts) == 1:
                    o.append('<circle class="%s" cx="%.1f" cy="%.1f" r="2"/>' % (cls, run_pts[0][0], run_pts[0][1]))
                run_pts = []
        for seg in segments:
            for p in seg["points"]:
                if p.get(key, 0) > 0:
                    o.append('<circle class="dot %s" cx="%.1f" cy="%.1f" r="3"><title>%s, %g s: %s %s</title></circle>'
                             % (cls, X(seg["start"] + p["t_s"] - 0.5), Y(p[key]), esc(seg["name"]), p["t_s"], label, fmt_us(p[key])))
    # errors: red ticks on the time axis
    for t, p in pts:
        if p.get("errors"):
            o.append('<rect x="%.1f" y="%d" width="3" height="5" class="err"><title>%g s: %d errors</title></rect>'
                     % (X(t - 0.5) - 1.5, mt + ph - 5, t, p["errors"]))
    # legend: in the title row of a wide chart (clear of the scenario labels), else in the plot
    lx = ml + pw - 250
    ly = 12 if (title and width >= 700) else mt + 10
    for i, (cls, label) in enumerate((("lp50", "p50"), ("lp99", "p99"), ("lmax", "max"))):
        o.append('<line x1="%d" x2="%d" y1="%d" y2="%d" class="%s"/><text x="%d" y="%d" class="lg">%s</text>'
                 % (lx + i * 62, lx + i * 62 + 18, ly, ly, cls, lx + i * 62 + 22, ly + 4, label))
    o.append('<rect x="%d" y="%d" width="12" height="8" class="bar"/><text x="%d" y="%d" class="lg">sent/s</text>'
             % (lx + 186, ly - 4, lx + 202, ly + 4))
    # capture lanes
    y = mt + ph + 26
    for label, color, spans in lanes or []:
        o.append('<text x="%d" y="%d" class="ll">%s</text>' % (ml - 6, y + 9, esc(label)))
        o.append('<line x1="%d" x2="%d" y1="%d" y2="%d" class="lane"/>' % (ml, ml + pw, y + 5, y + 5))
        for t0, t1, tip in spans:
            x0, x1 = X(max(0, t0)), X(min(xmax, max(t1, t0)))
            o.append('<rect x="%.1f" y="%d" width="%.1f" height="10" rx="2" fill="%s"><title>%s</title></rect>'
                     % (x0, y, max(3, x1 - x0), color, esc(tip)))
        y += lane_h
    o.append("</svg>")
    return "\n".join(o)


def bar(pct, color):
    pct = max(0.0, min(100.0, pct))
    return ('<svg class="mini" viewBox="0 0 200 10" preserveAspectRatio="none" width="100%%" height="10">'
            '<rect width="200" height="10" fill="#eceff3" rx="3"/><rect width="%.1f" height="10" fill="%s" rx="3"/></svg>'
            % (2 * pct, color))


# ---- flame graphs from the server (?format=svg), embedded inline ---------------------------------

def inline_flame(svg_text, ident):
    """the server's flame graph, made safe to inline: no XML prolog, no script (the page has one
    zoom handler for all), its stylesheet scoped to its own id, and it scales to the page"""
    s = re.sub(r"<\?xml[^>]*\?>", "", svg_text)
    s = re.sub(r"<!DOCTYPE[^>]*>", "", s)
    s = re.sub(r"<script.*?</script>", "", s, flags=re.S)

    def scope(m):
        rules = []
        for rule in m.group(1).split("}"):
            if "{" not in rule:
                continue
            sel, body = rule.split("{", 1)
            sel = ",".join("#%s %s" % (ident, x.strip()) for x in sel.split(","))
            rules.append("%s{%s}" % (sel, body))
        return "<style>%s</style>" % "".join(rules)

    s = re.sub(r"<style>(.*?)</style>", scope, s, flags=re.S)
    s = re.sub(r"<svg ", '<svg id="%s" class="flame" preserveAspectRatio="xMinYMin meet" ' % ident, s, count=1)
    s = re.sub(r'(<svg[^>]*?)\swidth="\d+"', r'\1 width="100%"', s, count=1)
    s = re.sub(r'(<svg[^>]*?)\sheight="\d+"', r"\1", s, count=1)
    return s.strip()


def data_uri_svg(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        data = None
    return "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii") if data else None


# ---- the page -----------------------------------------------------------------------------------

_TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
with open(os.path.join(_TEMPLATES, "report.css")) as _f:
    CSS = "\n" + _f.read()

# one zoom handler for every inlined flame graph: click a frame to zoom, the bottom bar to reset
with open(os.path.join(_TEMPLATES, "report.js")) as _f:
    JS = "\n" + _f.read()


# ---- the page's text: what each kind is, how orderd makes it, its planted hotspot ----------

KINDS = ["cpu", "memory", "goroutines", "block", "mutex", "trace", "gc"]

# what each kind is, how orderd makes it, and the hotspot planted for it (lua/workers.lua)
INFO = {
    "cpu": dict(
        title="CPU",
        measures="Where the threads spend CPU time. The CPU engine (this run: {engine} at "
        "<code>profiling.cpu_hz</code> = {hz} Hz) interrupts the threads as they use CPU and records "
        "the stack of the thread interrupted. Waiting threads cost nothing here.",
        stage="od_stage_price",
        leaf="price_fraud_score",
        planted="<code>od_stage_price</code> computes tax, discounts and a fraud score for "
        "<code>price.work_us</code> ({work_us}) of CPU per order: the widest tower, ending in "
        "<code>price_fraud_score</code>.",
        unit="of CPU samples",
    ),
    "memory": dict(
        title="Memory (heap)",
        measures="Sampled heap: tcmalloc records the stack of about one allocation every "
        "<code>profiling.heap_sample_bytes</code> (512 KiB) and scales the samples up. The default "
        "view, <code>inuse_space</code>, is what is still allocated when the profile is taken; "
        "<code>alloc_space</code> counts everything allocated since the start.",
        stage="od_stage_record",
        leaf="od_stage_record",
        planted="<code>od_stage_record</code> keeps <code>record.alloc_bytes</code> ({alloc}) of "
        "result and history per finished order, up to <code>pool.results_kept</code> orders "
        "(<code>record.leak_bytes</code> &gt; 0 would also leak on purpose).",
        unit="of the heap in use",
    ),
    "goroutines": dict(
        title="Threads (goroutines)",
        measures="The stack of every thread at one instant, grouped by identical stack, each "
        "thread named (<code>http-0</code>, <code>worker-N</code>; the profiler's own are <code>prof-job-N</code>, "
        "<code>prof-capture-KIND</code>, <code>prof-symbolize</code> and <code>scheduler</code>, labelled "
        "<code>profiler=yes</code>, and the idle ones fold into one group) with its "
        "state: orderd signals each thread, which records its own stack in the handler.",
        stage="worker_main",
        leaf="worker_main",
        planted="The <code>workers</code> worker threads of <code>lua/workers.lua</code>, mid-burst: "
        "busy in the pipeline's stages or waiting for the next order.",
        unit="of the threads",
    ),
    "block": dict(
        title="Block",
        measures="Time spent blocked in the server's own waits (instrumented condition waits and "
        "sleeps): <code>contentions/count</code> and <code>delay/nanoseconds</code>. As in Go, idle "
        "workers waiting for an order (<code>next_order</code>) count too.",
        stage="od_stage_pay",
        leaf="od_stage_pay",
        planted="<code>od_stage_pay</code> waits for the payment: priority &times; "
        "<code>pay.ms_per_priority</code> ({pay_ms} ms) per order, the Go seed's delay.",
        unit="of the time blocked",
    ),
    "mutex": dict(
        title="Mutex",
        measures="Contention on the server's own mutexes (<code>od_mutex</code>: inventory stripes, "
        "queue, results store): each acquisition that had to wait records the stack and the wait "
        "(1 in <code>profiling.mutex_fraction</code>).",
        stage="od_stage_reserve",
        leaf="inventory_take",
        planted="<code>od_stage_reserve</code> &rarr; <code>inventory_take</code> holds an inventory "
        "stripe for <code>reserve.hold_us</code> ({hold_us}) per item, with only "
        "<code>reserve.stripes</code> = {stripes} for every SKU, shared by {workers} workers.",
        unit="of the lock waits",
    ),
    "trace": dict(
        title="Execution trace",
        measures="Per-thread event buffers in Chrome Trace Event JSON: a track per thread, a span per "
        "pipeline stage carrying the order id, flows from the HTTP thread that accepted an order "
        "to the worker that processed it, lock waits, scenario marks.",
    ),
    "gc": dict(
        title="GC (allocator statistics)",
        measures="The native analogue of Go's forced GC: tcmalloc's statistics before and after "
        "releasing free memory to the operating system, and how long the release took.",
    ),
}
STAGES = ["od_stage_validate", "od_stage_reserve", "od_stage_price", "od_stage_pay", "od_stage_record"]
KIND_COLORS = {
    "cpu": "#e4572e", "trace": "#7768ae", "memory": "#17bebb", "goroutines": "#76b041",
    "mutex": "#ffc914", "block": "#2e86ab", "gc": "#888888",
}
