"""report_chart.py — the geometry of the report's latency charts: where every bar, line, dot and
capture lane goes.  templates/chart.svg.j2 draws it.  Pure functions of their arguments;
standard library only.
"""
import math


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
    axis (seconds from the run's start); lanes: [(label, color, [(t0, t1, tip)])] drawn beneath.
    Returns the chart as a dict of shapes in drawing order (the template's only input)."""
    ml, mr, mt, mb = 62, 48, 24 if title else 12, 28
    lane_h = 13
    nl = len(lanes or [])
    total_h = height + (nl * lane_h + 10 if nl else 0)
    pw, ph = width - ml - mr, height - mt - mb
    pts = [(seg["start"] + p["t_s"], p) for seg in segments for p in seg["points"]]
    xmax = max([seg["start"] + seg.get("span", 0) for seg in segments] + [t for t, _ in pts] + [1])
    vals = [p[k] for _, p in pts for k in ("p50_us", "p99_us", "max_us", "completion_p99_us") if p.get(k, 0) > 0]
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

    c = dict(width=width, height=total_h, title=title, ml=ml, mt=mt, pw=pw, ph=ph)
    # scenario bands
    c["bands"] = []
    if len(segments) > 1:
        for i, seg in enumerate(segments):
            x0, x1 = X(seg["start"]), X(seg["start"] + seg.get("span", 0))
            c["bands"].append(dict(x=x0, w=max(0, x1 - x0), parity=i % 2, name=seg["name"]))
    # sent per second: bars on the right axis
    c["bars"] = []
    for t, p in pts:
        if p["sent"]:
            x = X(t - 1)
            c["bars"].append(dict(x=x + 0.5, y=YS(p["sent"]), w=max(1, X(t) - x - 1), h=mt + ph - YS(p["sent"]), t=t, sent=p["sent"]))
    # grid and axes
    c["yticks"] = [dict(y=Y(v), v=v) for v in log_ticks(lo, hi)]
    c["sticks"] = [dict(y=YS(v), v=v) for v in range(0, int(smax) + 1, sstep)]
    c["xticks"] = []
    step = nice_step(xmax, 10)
    t = 0
    while t <= xmax + 1e-9:
        c["xticks"].append(dict(x=X(t), t=t))
        t += step
    # the latency lines, broken where a second had no answers; the hover dots after each
    c["shapes"] = []
    # completion p99 (accepted -> finished) when orderload followed the orders: beside time-to-202
    lines = [("max_us", "lmax", "max"), ("p99_us", "lp99", "p99"), ("p50_us", "lp50", "p50")]
    c["completion"] = any(p.get("completion_p99_us", 0) > 0 for _, p in pts)
    if c["completion"]:
        lines.insert(0, ("completion_p99_us", "lcomp", "completion p99"))
    for key, cls, label in lines:
        for seg in segments:
            run_pts = []
            for p in seg["points"] + [None]:
                if p is not None and p.get(key, 0) > 0:
                    run_pts.append((X(seg["start"] + p["t_s"] - 0.5), Y(p[key])))
                    continue
                if len(run_pts) > 1:
                    c["shapes"].append(dict(shape="polyline", cls=cls, points=run_pts))
                elif len(run_pts) == 1:
                    c["shapes"].append(dict(shape="circle", cls=cls, x=run_pts[0][0], y=run_pts[0][1]))
                run_pts = []
        for seg in segments:
            for p in seg["points"]:
                if p.get(key, 0) > 0:
                    c["shapes"].append(dict(shape="dot", cls=cls, x=X(seg["start"] + p["t_s"] - 0.5), y=Y(p[key]), seg=seg["name"],
                                            t=p["t_s"], label=label, us=p[key]))
    # errors: red ticks on the time axis
    c["errors"] = [dict(x=X(t - 0.5) - 1.5, y=mt + ph - 5, t=t, n=p["errors"]) for t, p in pts if p.get("errors")]
    # legend: in the title row of a wide chart (clear of the scenario labels), else in the plot
    c["legend"] = dict(x=ml + pw - (370 if c["completion"] else 250), y=12 if (title and width >= 700) else mt + 10)
    # capture lanes
    c["lanes"] = []
    y = mt + ph + 26
    for label, color, spans in lanes or []:
        rects = []
        for t0, t1, tip in spans:
            x0, x1 = X(max(0, t0)), X(min(xmax, max(t1, t0)))
            rects.append(dict(x=x0, w=max(3, x1 - x0), color=color, tip=tip))
        c["lanes"].append(dict(label=label, y=y, rects=rects))
        y += lane_h
    return c


def overlay_chart(series, width, height, title=None, categories=None):
    """several latency lines on one log axis, e.g. this run's against its base's: series is
    [{label, cls, points: [(x, us)]}], x in seconds from the run's start, or an index into
    categories (["p50", "p90", ...]) for a percentile chart.  Returns the shapes to draw."""
    ml, mr, mt, mb = 62, 20, 24 if title else 12, 28
    pw, ph = width - ml - mr, height - mt - mb
    vals = [y for s in series for _, y in s["points"] if y and y > 0]
    lo = 10 ** math.floor(math.log10(min(vals))) if vals else 100
    hi_raw = max(vals) if vals else 1000
    hi = next(v for v in log_ticks(lo, hi_raw * 10) if v >= hi_raw)
    if hi <= lo:
        hi = lo * 10
    if categories:
        n = len(categories)

        def X(x):
            return ml + pw * (x + 0.5) / n
    else:
        xmax = max([x for s in series for x, _ in s["points"]] + [1])

        def X(x):
            return ml + pw * x / xmax

    def Y(v):
        return mt + ph - ph * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    c = dict(width=width, height=height, title=title, ml=ml, mt=mt, pw=pw, ph=ph, shapes=[], legend=[])
    c["yticks"] = [dict(y=Y(v), v=v) for v in log_ticks(lo, hi)]
    if categories:
        c["xticks"] = [dict(x=X(i), label=name) for i, name in enumerate(categories)]
    else:
        step, t, c["xticks"] = nice_step(xmax, 10), 0, []
        while t <= xmax + 1e-9:
            c["xticks"].append(dict(x=X(t), label="%ds" % t))
            t += step
    for i, s in enumerate(series):
        pts, run_pts = sorted(s["points"]) + [(None, None)], []
        for x, y in pts:
            if y is not None and y > 0:
                run_pts.append((X(x), Y(y)))
                c["shapes"].append(dict(shape="dot", cls=s["cls"], x=X(x), y=Y(y), label=s["label"],
                                        at=categories[x] if categories else "%g s" % x, us=y))
                continue
            if run_pts:
                c["shapes"].append(dict(shape="polyline" if len(run_pts) > 1 else "circle", cls=s["cls"], points=run_pts,
                                        x=run_pts[0][0], y=run_pts[0][1]))
            run_pts = []
        c["legend"].append(dict(x=ml + 10 + 150 * (i % 4), y=mt + 12 + 14 * (i // 4), cls=s["cls"], label=s["label"]))
    return c
