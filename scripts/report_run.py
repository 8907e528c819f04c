"""report_run.py — what a start_profiling.sh run left in its directory, read for scripts/report.py:
run.json, load.json, stats.json, the log, the schedule's manifest, and the pprof files through
`go tool pprof` (top tables, call graphs).  Standard library only.
"""
import json
import os
import re
import shutil
import subprocess

# ---- small helpers -----------------------------------------------------------------------------


def read(path, binary=False):
    try:
        with open(path, "rb" if binary else "r", **({} if binary else {"errors": "replace"})) as f:
            return f.read()
    except OSError:
        return None


def read_json(path):
    t = read(path)
    if t is None:
        return None
    try:
        return json.loads(t)
    except ValueError:
        return None


def tool(*args, timeout=120):
    """runs a command; returns its stdout, or None when it cannot run or fails"""
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0:
        return None
    return r.stdout.decode("utf-8", "replace")


def short(name):
    """a function name from pprof without its " (inline)" suffix"""
    return name.split(" (")[0].strip()


# ---- the run's data -----------------------------------------------------------------------------

class Run:
    def __init__(self, d):
        self.dir = os.path.abspath(d)
        self.meta = read_json(os.path.join(d, "run.json")) or {}
        self.root = self.meta.get("root") or os.getcwd()
        self.load = read_json(os.path.join(d, "load.json"))
        self.stats = read_json(os.path.join(d, "stats.json"))
        self.prof = os.path.join(d, "profiles")
        self.an = os.path.join(d, "analysis")
        os.makedirs(self.an, exist_ok=True)
        self.log = read(os.path.join(d, "orderd.log")) or ""
        late = read(os.path.join(d, "late-captures.txt")) or ""
        self.late = {l.split()[0]: l.split()[1] for l in late.splitlines() if len(l.split()) >= 2}
        self.go = shutil.which("go") is not None
        self.dot = shutil.which("dot") is not None
        self.gpprof = shutil.which("google-pprof") is not None
        self.manifest = []
        for line in (read(os.path.join(d, "scheduled", "manifest.jsonl")) or "").splitlines():
            try:
                self.manifest.append(json.loads(line))
            except ValueError:
                pass

    def p(self, name):
        return os.path.join(self.prof, name)

    def has(self, name):
        return os.path.isfile(self.p(name)) and os.path.getsize(self.p(name)) > 0

    def shown(self, path):
        """a path as a user types it: relative to the project root when under it"""
        path = os.path.abspath(path)
        rel = os.path.relpath(path, self.root)
        return path if rel.startswith("..") else rel

    def href(self, path):
        return os.path.relpath(path, self.dir)


# ---- go tool pprof ------------------------------------------------------------------------------

TOP_RE = re.compile(r"^\s*(-?[\d.]+\w*)\s+(-?[\d.]+)%\s+(-?[\d.]+)%\s+(-?[\d.]+\w*)\s+(-?[\d.]+)%\s+(.+?)\s*$")


def pprof_top(run, name, out, *extra):
    """go tool pprof -top of profiles/NAME, saved as analysis/OUT; returns (header, rows)"""
    if not run.go or not run.has(name):
        return None
    text = tool("go", "tool", "pprof", "-top", "-nodecount=200", *extra, run.p(name))
    if text is None:
        return None
    with open(os.path.join(run.an, out), "w") as f:
        f.write(text)
    header, rows = [], []
    for line in text.splitlines():
        m = TOP_RE.match(line)
        if m:
            rows.append(dict(flat=m.group(1), flatp=float(m.group(2)), sump=float(m.group(3)),
                             cum=m.group(4), cump=float(m.group(5)), name=m.group(6)))
        elif line.strip() and not line.strip().startswith("flat"):
            header.append(line.strip())
    return dict(header=header, rows=rows, text=text, file=os.path.join(run.an, out))


def pprof_svg(run, name, out):
    if not (run.go and run.dot and run.has(name)):
        return None
    text = tool("go", "tool", "pprof", "-svg", "-nodecount=30", run.p(name))
    if not text or "<svg" not in text:
        return None
    path = os.path.join(run.an, out)
    with open(path, "w") as f:
        f.write(text)
    return path


def find_row(top, fn):
    if not top:
        return None
    for r in top["rows"]:
        if short(r["name"]) == fn:
            return r
    return None
