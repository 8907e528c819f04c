"""report_figures.py — the figures of a start_profiling.sh run, and each planted problem's verdict.

Used by scripts/report.py (the cards, the plain-text summary, summary.json) and read back by
t/60-start-profiling.t through summary.json.  Every verdict is computed here from the profiles
and the thresholds below; nothing is assumed to hold.

Quantities from `go tool pprof -top` ("15996.32kB", "9.45s", "250ms") are parsed into bytes or
nanoseconds and printed in human units (15.6 MiB, 9.45 s).  Standard library only.
"""
import json
import math
import os
import re

# each planted problem's figure and the threshold it must reach (issue #10's targets)
THRESHOLDS = {
    "cpu_share": 80.0,        # od_stage_price, % of the CPU samples
    "mutex_share": 80.0,      # inventory_take, % of the lock-wait delay
    "mutex_wait_pct": 5.0,    # the lock waits, % of the workers' time in the window
    "block_busy_share": 90.0,  # od_stage_pay, % of the delay once idle waits are ignored
}
# a leak is suspected when od_stage_record holds more than this times what results_kept x
# alloc_bytes explains (the heap profile is sampled: ~10 % error at the default period)
LEAK_FACTOR = 1.3

_UNITS = {
    "B": ("bytes", 1), "kB": ("bytes", 1024), "MB": ("bytes", 1024 ** 2), "GB": ("bytes", 1024 ** 3),
    "TB": ("bytes", 1024 ** 4),
    "ns": ("ns", 1), "us": ("ns", 1e3), "µs": ("ns", 1e3), "ms": ("ns", 1e6), "s": ("ns", 1e9),
    "mins": ("ns", 60e9), "hrs": ("ns", 3600e9),
}
_QTY = re.compile(r"^(-?[\d.]+(?:e[+-]?\d+)?)([A-Za-zµ]*)$")


def parse_qty(s):
    """a pprof quantity ("15996.32kB", "9.45s", "1234") as (value in bytes or ns, "bytes"|"ns"|"count")"""
    m = _QTY.match(str(s).strip())
    if not m:
        return None, None
    v, unit = float(m.group(1)), m.group(2)
    if not unit:
        return v, "count"
    dim, mul = _UNITS.get(unit, (None, None))
    if dim is None:
        return None, None
    return v * mul, dim


def fmt_bytes(n):
    n = float(n)
    for unit in ["B", "KiB", "MiB", "GiB"]:
        if abs(n) < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024


def fmt_ns(ns):
    ns = float(ns)
    a = abs(ns)
    if a < 1e3:
        return "%d ns" % round(ns)
    if a < 1e6:
        return "%.0f µs" % (ns / 1e3)
    if a < 1e9:
        return ("%.1f ms" if a < 1e8 else "%.0f ms") % (ns / 1e6)
    return "%.2f s" % (ns / 1e9)


def human(s):
    """a pprof quantity in human units; what cannot be parsed is returned as it was"""
    v, dim = parse_qty(s)
    if dim == "bytes":
        return fmt_bytes(v)
    if dim == "ns":
        return fmt_ns(v)
    if dim == "count":
        return "{:,}".format(int(v)).replace(",", " ") if float(v).is_integer() else "%.2f" % v
    return str(s)


def human_text(text):
    """every pprof quantity in a line of text (a -top header) in human units"""
    return re.sub(r"(?<![\w.])-?\d+(?:\.\d+)?(?:kB|MB|GB|TB|B|ns|us|ms|s|mins|hrs)(?![\w])",
                  lambda m: human(m.group(0)), text)


def header_total(top):
    """the profile's total from a -top header ("... of 9450.85ms total"), parsed"""
    for h in (top or {}).get("header", []):
        m = re.search(r"of (\S+) total", h)
        if m:
            return parse_qty(m.group(1))
    return None, None


def header_duration_s(top):
    for h in (top or {}).get("header", []):
        m = re.search(r"Duration: (\S+?),?(?:\s|$)", h)
        if m:
            v, dim = parse_qty(m.group(1))
            if dim == "ns":
                return v / 1e9
    return None


def row_cum(top, fn):
    """(cum%, cum quantity) of function fn in a -top table; (0, None) when absent"""
    for r in (top or {}).get("rows", []):
        if r["name"].split(" (")[0].strip() == fn:
            return r["cump"], r["cum"]
    return 0.0, None


def top_flat_site(top):
    """the function with the largest flat value (the top in-use site of a heap profile)"""
    rows = (top or {}).get("rows", [])
    if not rows:
        return None
    best = max(rows, key=lambda r: parse_qty(r["flat"])[0] or 0)
    return best["name"].split(" (")[0].strip()


# ---- the run's config: what the server was told ---------------------------------------------

def yaml_keys(text):
    """{dotted.key: value text} of a simple block-style YAML file (the shape of config/orderd.yaml:
    mappings by indentation, flow values kept as text, comments dropped)"""
    out, stack = {}, []
    for line in (text or "").splitlines():
        body = re.sub(r"\s+#.*$", "", line.rstrip())
        if not body.strip() or body.lstrip().startswith("#"):
            continue
        m = re.match(r"^(\s*)([A-Za-z0-9_]+):\s*(.*)$", body)
        if not m:
            continue
        ind, key, val = len(m.group(1)), m.group(2), m.group(3).strip()
        while stack and stack[-1][0] >= ind:
            stack.pop()
        path = ".".join([k for _, k in stack] + [key])
        if val == "":
            stack.append((ind, key))
        else:
            out[path] = val.strip('"') if val != '""' else ""
    return out


def config_changes(default_text, run_text):
    """[(key, default value or None, run value or None)] where the run's config differs"""
    a, b = yaml_keys(default_text), yaml_keys(run_text)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def lua_number(text, key, default):
    m = re.search(r"\b%s\s*=\s*(\d+)" % re.escape(key), text or "")
    return int(m.group(1)) if m else default


# ---- the figures -----------------------------------------------------------------------------

def compute(run, tops, extra, profile_status, capture_seconds):
    """every planted problem's figure and verdict; profile_status is GET /profile's JSON (or {}),
    capture_seconds {kind: the ?seconds= window of its capture}"""
    th = THRESHOLDS
    stats = run.stats or {}
    cfg = yaml_keys(_read(os.path.join(run.dir, "orderd.yaml")))
    workers_path = cfg.get("pool.script", "lua/workers.lua")
    if not os.path.isabs(workers_path):
        workers_path = os.path.join(run.root, workers_path)
    wl = _read(workers_path)
    # the workers table as the run recorded it (settings.json: a generated workers.lua sets its
    # values after the original's, so the text alone would say the original's)
    recorded = (_read_json(os.path.join(run.dir, "settings.json")) or {}).get("workers") or {}

    def knob(key, default):
        v = recorded.get(key)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else lua_number(wl, key.split(".")[-1], default)

    fig = {"thresholds": th}
    # the knobs as the run's workers.lua set them (the C defaults where it leaves one out)
    fig["knobs"] = dict(workers=stats.get("workers") or knob("workers", 4), stripes=knob("reserve.stripes", 4),
                        hold_us=knob("reserve.hold_us", 200), work_us=knob("price.work_us", 2000),
                        ms_per_priority=knob("pay.ms_per_priority", 10), alloc_bytes=knob("record.alloc_bytes", 8192))

    # CPU: the stage's share of the samples, and the engine that took them
    share, cum = row_cum(tops.get("cpu"), "od_stage_price")
    engine = profile_status.get("cpu_engine")
    hz = profile_status.get("cpu_hz") or _int(cfg.get("profiling.cpu_hz"), 100)
    fig["cpu"] = dict(fn="od_stage_price", share=share, cum=cum, ok=share >= th["cpu_share"] and cum is not None,
                      engine=engine or "itimer (gperftools)", engine_reported=engine is not None, hz=hz)

    # mutex: the planted lock's share of the delay, and the waits against the workers' time
    mtop = tops.get("mutex")
    share, cum = row_cum(mtop, "inventory_take")
    total, dim = header_total(mtop)
    window = header_duration_s(mtop) or capture_seconds.get("mutex")
    workers = stats.get("workers") or knob("workers", 4)
    wait_s = total / 1e9 if dim == "ns" and total is not None else None
    wait_pct = 100.0 * wait_s / (workers * window) if wait_s is not None and window and workers else None
    fig["mutex"] = dict(fn="inventory_take", share=share, cum=cum, wait_s=wait_s, window_s=window, workers=workers,
                        wait_pct=wait_pct,
                        ok=share >= th["mutex_share"] and wait_pct is not None and wait_pct >= th["mutex_wait_pct"])
    others = []
    for r in (mtop or {}).get("rows", []):
        n = r["name"].split(" (")[0].strip()
        if r["flatp"] > 0 and n != "inventory_take":
            others.append((n, r["flatp"]))
    fig["mutex"]["others"] = others[:3]

    # block: the payment wait's share once the idle workers' waits are ignored
    b = extra.get("block_busy")
    bshare = None
    if b and b.get("rows"):
        pay, _ = row_cum(b, "od_stage_pay")
        rest = max(x["cump"] for x in b["rows"])
        bshare = 100.0 * pay / rest if rest > 0 else 0.0
    share, cum = row_cum(tops.get("block"), "od_stage_pay")
    fig["block"] = dict(fn="od_stage_pay", share=share, cum=cum, busy_share=bshare,
                        ok=bshare is not None and bshare >= th["block_busy_share"])

    # memory: the top in-use site, and what results_kept x alloc_bytes explains
    mem = tops.get("memory")
    top_site = top_flat_site(mem)
    share, cum = row_cum(mem, "od_stage_record")
    held = parse_qty(cum)[0] if cum else 0.0
    alloc = knob("record.alloc_bytes", 8192)
    leak = knob("record.leak_bytes", 0)
    kept = _int(cfg.get("pool.results_kept"), 10000)
    records = min(stats.get("success_count") or 0, kept)
    explained = records * alloc
    period = _int(cfg.get("profiling.heap_sample_bytes"), 524288)
    leak_hint = held > LEAK_FACTOR * explained + 2 * period
    fig["memory"] = dict(fn="od_stage_record", share=share, cum=cum, held_bytes=held, top_site=top_site,
                         ok=top_site == "od_stage_record", alloc_bytes=alloc, leak_bytes=leak, results_kept=kept,
                         records=records, explained_bytes=explained, leak_hint=bool(leak_hint),
                         sampled=heap_samples(held, alloc + leak, period))
    return fig


def heap_samples(held, size, period):
    """about how many sampled allocations a heap profile's `held` bytes of `size`-byte blocks
    stand for: tcmalloc samples a block with probability 1 - exp(-size/period), and the
    profile scales each sample back up, so the figure's relative error is about 1/sqrt(this)
    (24 KiB records at the default 512 KiB: 1 in 22, so 1,400 records are about 65 samples,
    +-12 %).  None when it cannot be told (no sampling, no block size)."""
    if not held or not size or not period or period <= 0:
        return None
    return held / size * (1 - math.exp(-size / period))


def verdict_text(k, f):
    """one line saying what the figure is against its threshold"""
    th = THRESHOLDS
    if k == "cpu":
        return "%.1f%% of the CPU samples (%s at %s Hz); needs >= %g%%" % (f["share"], f["engine"], f["hz"], th["cpu_share"])
    if k == "mutex":
        w = ("waits %s = %.1f%% of %d workers x %g s" % (fmt_ns(f["wait_s"] * 1e9), f["wait_pct"], f["workers"], f["window_s"])
             if f["wait_pct"] is not None else "waits unknown")
        return "%.1f%% of the lock waits, %s; needs >= %g%% and >= %g%%" % (f["share"], w, th["mutex_share"], th["mutex_wait_pct"])
    if k == "block":
        return ("%.1f%% of the delay without idle waits (%.1f%% with them); needs >= %g%%"
                % (f["busy_share"] or 0, f["share"], th["block_busy_share"]))
    if k == "memory":
        s = "top in-use site: %s; od_stage_record holds %s = %.1f%%, results_kept x alloc_bytes explains %s" % (
            f["top_site"] or "?", fmt_bytes(f["held_bytes"]), f["share"], fmt_bytes(f["explained_bytes"]))
        return s + ("; MORE: a leak?" if f["leak_hint"] else "")
    return ""


def write_json(path, fig):
    with open(path, "w") as f:
        json.dump(fig, f, indent=1, sort_keys=True)
        f.write("\n")


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _int(s, default):
    try:
        return int(str(s).replace("MiB", "").strip()) if s is not None else default
    except ValueError:
        return default


# ---- the threads (goroutines text format) ------------------------------------------------------

def thread_groups(text):
    """the groups of the text format: count, thread names, states, first frame in our sources, and
    whether they are the profiler's own threads (a "# profiler: yes" line, or only prof-* and
    scheduler names: the idle ones come folded into one "N @ prof-* xN waiting" group)"""
    groups, g = [], None
    for line in (text or "").splitlines():
        m = re.match(r"^(\d+) @ ", line)
        if m:
            g = dict(count=int(m.group(1)), threads=[], states=[], frames=[], profiler=False)
            groups.append(g)
        elif g is not None and line.startswith("# threads:"):
            g["threads"] = [t.strip() for t in line.split(":", 1)[1].split(",")]
        elif g is not None and line.startswith("# state:"):
            g["states"] = [t.strip() for t in line.split(":", 1)[1].split(",")]
        elif g is not None and re.match(r"^# profiler: yes\b", line):
            g["profiler"] = True
        elif g is not None and line.startswith("#\t"):
            parts = line.split("\t")
            if len(parts) >= 4:
                g["frames"].append((parts[2].split("+")[0], parts[3]))
    for g in groups:
        if g["threads"] and all(t.startswith("prof-") or t == "scheduler" for t in g["threads"]):
            g["profiler"] = True
        ours = [f for f in g["frames"] if "/src/" in f[1] and not f[0].startswith("od_cond") and
                not f[0].startswith("od_mutex") and not f[0].startswith("od_sleep")]
        g["where"] = ours[0][0] if ours else (g["frames"][0][0] if g["frames"] else "?")
    return groups


def thread_counts(groups):
    """the server's threads (the profiler's left out), its workers, the busy ones, the profiler's"""
    server = [g for g in groups if not g["profiler"]]
    workers = [g for g in server if any(t.startswith("worker-") for t in g["threads"])]
    nworkers = sum(len([t for t in g["threads"] if t.startswith("worker-")]) for g in workers)
    nthreads = sum(g["count"] for g in server)
    busy = sum(1 for g in workers for s in g["states"] if s and "waiting for order" not in s)
    return dict(nworkers=nworkers, nthreads=nthreads, busy=busy, share=100.0 * nworkers / nthreads if nthreads else 0,
                nprofiler=sum(g["count"] for g in groups if g["profiler"]), leads=nworkers > 0)


def profiler_row(groups):
    """the profiler's groups as the threads table's one row: count, names, states (None if none)"""
    pg = [g for g in groups if g["profiler"]]
    if not pg:
        return None
    return dict(count=sum(g["count"] for g in pg), threads=[t for g in pg for t in g["threads"]],
                states=[s for g in pg for s in g["states"]], where="the profiler's own threads", profiler=True)


# ---- the trace ----------------------------------------------------------------------------------

def trace_summary(path):
    t = _read_json(path)
    if t is None:
        return None
    ev = t.get("traceEvents", []) if isinstance(t, dict) else t
    threads = {}
    spans = {}
    flows = 0
    t0, t1 = None, None
    for e in ev:
        ph = e.get("ph")
        if ph == "M" and e.get("name") == "thread_name":
            threads[e.get("tid")] = e.get("args", {}).get("name", "?")
        elif ph == "X":
            spans.setdefault(e.get("name", "?"), []).append(float(e.get("dur", 0)))
            ts = float(e.get("ts", 0))
            t0 = ts if t0 is None else min(t0, ts)
            t1 = ts + float(e.get("dur", 0)) if t1 is None else max(t1, ts + float(e.get("dur", 0)))
        elif ph == "s":
            flows += 1
    rows = []
    for name, durs in spans.items():
        durs.sort()
        rows.append(dict(name=name, count=len(durs), total=sum(durs), mean=sum(durs) / len(durs),
                         p99=durs[min(len(durs) - 1, int(math.ceil(0.99 * len(durs))) - 1)], max=durs[-1]))
    rows.sort(key=lambda r: -r["total"])
    return dict(events=len(ev), threads=sorted(threads.values()), spans=rows, flows=flows,
                window_us=(t1 - t0) if t0 is not None else 0)


def _read_json(path):
    try:
        return json.loads(_read(path))
    except ValueError:
        return None
