"""report_page.py — the page of scripts/report.py: the Jinja2 environment that renders
templates/report.html.j2 (autoescaped; the only markup passed through unescaped is our own: the
server's flame graphs as inline_flame cleans them), the filters the templates format numbers
with, and what the page knows about each profile kind.  The markup itself lives in templates/.
"""
import base64
import os
import re
import sys

try:
    import jinja2
except ImportError:  # the one library beyond the standard one: say what to install
    sys.exit("report.py: Jinja2 is missing: apt-get install python3-jinja2 (scripts/install-deps.sh installs it)")

import report_figures as RF
from report_run import short

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


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


# ---- flame graphs from the server (?format=svg), embedded inline ---------------------------------

def inline_flame(svg_text, ident):
    """the server's flame graph, made safe to inline: no XML prolog, no script (the page has one
    zoom handler for all), its stylesheet scoped to its own id, and it scales to the page"""
    s = re.sub(r"<\?xml[^>]*\?>", "", svg_text)
    s = re.sub(r"<!DOCTYPE[^>]*>", "", s)
    s = re.sub(r"<script.*?</script>", "", s, flags=re.S)
    # its search and zoom controls need that script: dropped with it
    s = re.sub(r'<text id="(?:search|unzoom|matched|details)"[^>]*>.*?</text>\n?', "", s, flags=re.S)

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


# ---- what the page knows about each kind (its text is templates/_kinds_text.html.j2) ----------

KINDS = ["cpu", "memory", "goroutines", "block", "mutex", "trace", "gc"]

# the title of each kind's section; for the pprof kinds, the planted stage, its leaf function and
# the unit of the stage's share
INFO = {
    "cpu": dict(title="CPU", stage="od_stage_price", leaf="price_fraud_score", unit="of CPU samples"),
    "memory": dict(title="Memory (heap)", stage="od_stage_record", leaf="od_stage_record", unit="of the heap in use"),
    "goroutines": dict(title="Threads (goroutines)", stage="worker_main", leaf="worker_main", unit="of the threads"),
    "block": dict(title="Block", stage="od_stage_pay", leaf="od_stage_pay", unit="of the time blocked"),
    "mutex": dict(title="Mutex", stage="od_stage_reserve", leaf="inventory_take", unit="of the lock waits"),
    "trace": dict(title="Execution trace"),
    "gc": dict(title="GC (allocator statistics)"),
}
STAGES = ["od_stage_validate", "od_stage_reserve", "od_stage_price", "od_stage_pay", "od_stage_record"]
KIND_COLORS = {
    "cpu": "#e4572e", "trace": "#7768ae", "memory": "#17bebb", "goroutines": "#76b041",
    "mutex": "#ffc914", "block": "#2e86ab", "gc": "#888888",
}


# ---- rendering ---------------------------------------------------------------------------------

def environment():
    """the templates' environment: autoescape on for .html and .j2, a block tag's own line dropped,
    a name the context lacks an error (not an empty string), and the page's number formats as filters"""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters.update(fmt_us=fmt_us, fmt_num=fmt_num, fmt_bytes=RF.fmt_bytes, fmt_ns=RF.fmt_ns, human=RF.human,
                       short=short, f1=lambda v: "%.1f" % v, f2=lambda v: "%.2f" % v)
    return env


def render(context):
    """the page, as one string"""
    return environment().get_template("report.html.j2").render(context)
