#!/usr/bin/env python3
"""report_settings.py — the settings a start_profiling.sh run tries, and what each run recorded.

  report_settings.py prepare --run RUN_DIR --orderd BIN --config FILE [--workers FILE] [--set KEY=VALUE]...

writes RUN_DIR/config.yaml (FILE with the YAML --set keys applied) and, when a workers.lua key
is set or --workers is given, RUN_DIR/workers.lua (that script, wrapped so that the --set values
replace its own) with config.yaml's pool.script pointing at it; nothing outside RUN_DIR is
written, so a tried setting never edits a tracked file.  It then runs `BIN --check -c
config.yaml` and maps each FILE:LINE:COL: problem back to the --set that caused it (by the line
it wrote, or by the key the message names).  On success it records the effective settings as
RUN_DIR/settings.json (every YAML key, and the workers table as lua5.4 evaluates it) so that a
later run can diff them.  Exit 0 when the settings pass, 2 when one is refused (each problem on
stderr), 1 when something else went wrong.

A KEY whose first part is one of the YAML's sections (listen, http, pool, profiling, metrics,
scenarios) is a YAML key; any other is a key of the table workers.lua returns (reserve.stripes,
price.work_us, workers).  scripts/report.py reads settings.json back through `settings_of`.
Standard library only.
"""
import json
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_figures  # noqa: E402

YAML_SECTIONS = ("listen", "http", "pool", "profiling", "metrics", "scenarios")
# what every run changes for itself: not a setting that differs between two runs
RUN_OWN = ("listen", "profiling.output_dir", "pool.script")
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
WHERE_RE = re.compile(r"^(.+?):(\d+)(?::(\d+))?: (.*)$")


class Refused(Exception):
    """a --set (or file) the run cannot try: the message names it"""


def parse_set(arg):
    """KEY=VALUE as (key, value); Refused when it is not of that shape"""
    key, eq, value = arg.partition("=")
    if not eq or not key:
        raise Refused("--set %s: expected KEY=VALUE (e.g. reserve.stripes=1, profiling.cpu_hz=250)" % arg)
    if not KEY_RE.match(key):
        raise Refused("--set %s: %r is not a dotted key (letters, digits, _ and .)" % (arg, key))
    if "\n" in value:
        raise Refused("--set %s: a value is one line" % key)
    return key, value


def is_yaml(key):
    return key.split(".")[0] in YAML_SECTIONS


# ---- YAML: one key set in a block-style file, the rest of the file as it was ---------------------

def _content(line):
    """(indent, key, rest) of a `key: rest` line, comments and blank lines None"""
    body = re.sub(r"\s+#.*$", "", line.rstrip("\n"))
    if not body.strip() or body.lstrip().startswith("#"):
        return None
    m = re.match(r"^( *)([A-Za-z0-9_]+):(?:\s+(.*)|)$", body)
    if not m:
        return (len(body) - len(body.lstrip(" ")), None, None)
    return len(m.group(1)), m.group(2), (m.group(3) or "").strip()


def yaml_value(value):
    """the text of a YAML scalar: as given (numbers, true, flow lists), quoted only when the
    text would otherwise start a comment or a mapping"""
    if value == "":
        return '""'
    if (" #" in value or ": " in value or value.startswith("#")) and value[0] not in "[{\"'":
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    return value


def yaml_set(lines, key, value):
    """sets dotted KEY to VALUE in LINES (a list, changed in place); returns the 1-based line
    numbers written.  A key that is not there is added at the end of its section."""
    parts = key.split(".")
    start, end, indent = 0, len(lines), 0
    for depth, name in enumerate(parts):
        found = None
        last_content = start - 1
        for i in range(start, end):
            c = _content(lines[i])
            if c is None:
                continue
            if c[0] < indent:
                break
            last_content = i
            if c[0] == indent and c[1] == name and found is None:
                found = (i, c)
        if found is None:
            # the rest of the path, as a block under the last line of this section
            at = last_content + 1 if last_content >= start else start
            new = []
            for d, n in enumerate(parts[depth:]):
                pad = " " * (indent + 2 * d)
                new.append("%s%s:%s\n" % (pad, n, " " + yaml_value(value) if depth + d == len(parts) - 1 else ""))
            if at > 0 and not lines[at - 1].endswith("\n"):
                lines[at - 1] += "\n"
            lines[at:at] = new
            return list(range(at + 1, at + 1 + len(new)))
        i, (_, _, rest) = found
        if depth == len(parts) - 1:
            m = re.match(r"^( *[A-Za-z0-9_]+:)(\s*)([^#\n]*?)(\s*#.*)?$", lines[i].rstrip("\n"))
            lines[i] = "%s %s%s\n" % (m.group(1), yaml_value(value), "   " + m.group(4).strip() if m.group(4) else "")
            return [i + 1]
        if rest:
            raise Refused("--set %s=%s: %s is written as one value (%s) in the config; set the whole value instead, e.g. --set '%s=%s'"
                          % (key, value, ".".join(parts[:depth + 1]), rest, ".".join(parts[:depth + 1]), rest))
        # the child block: the lines after it indented deeper
        start = i + 1
        end = start
        child = None
        for j in range(start, len(lines)):
            c = _content(lines[j])
            if c is None:
                continue
            if c[0] <= indent:
                break
            end = j + 1
            child = c[0] if child is None else child
        end = max(end, start)
        indent = child if child is not None else indent + 2
    return []


# ---- workers.lua: the script wrapped, the --set values replacing its own ---------------------------

def lua_literal(value):
    if re.match(r"^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$", value) or value in ("true", "false"):
        return value
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def workers_script(source_text, source_name, sets):
    """the generated workers.lua: the original's lines keep their numbers (the wrapper opens on
    its first line), then one line per --set.  Returns (text, {line: key}).  orderd cannot say
    on which line a wrapped field was written (its errors then say line 1): each --set is found
    again by the key the message names"""
    body = source_text if source_text.endswith("\n") else source_text + "\n"
    if not sets:  # --workers alone: a verbatim copy, so that orderd locates each field as in the file
        return body, {}
    out = ["local tried = (function(...) " + body, "end)(...)\n",
           "-- generated by scripts/start_profiling.sh: %s with --set applied (%s itself is unchanged)\n" % (source_name, source_name),
           "local function set(path, v)\n",
           "  local t = tried\n",
           "  for i = 1, #path - 1 do\n",
           "    if type(t[path[i]]) ~= \"table\" then t[path[i]] = {} end\n",
           "    t = t[path[i]]\n",
           "  end\n",
           "  t[path[#path]] = v\n",
           "end\n"]
    text = "".join(out)
    line = text.count("\n") + 1
    where = {}
    for key, value in sets:
        path = ", ".join('"%s"' % p for p in key.split("."))
        text += "set({%s}, %s) -- --set %s=%s\n" % (path, lua_literal(value), key, value.replace("\n", " "))
        where[line] = key
        line += 1
    return text + "return tried\n", where


def lua_table(path):
    """{dotted.key: value} of the table a workers.lua returns, evaluated by lua5.4 with orderd's
    two functions (env, cpus); (None, why) when it cannot be"""
    prog = r"""
orderd = { env = os.getenv, cpus = function() local f = io.popen("nproc") local n = f and tonumber(f:read("l")) if f then f:close() end return n or 1 end }
local ok, t = pcall(dofile, arg[1])
if not ok then io.stderr:write(tostring(t), "\n") os.exit(1) end
local function walk(p, v)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do walk(p == "" and tostring(k) or p .. "." .. tostring(k), v[k]) end
  else
    io.write(p, "\t", type(v), "\t", tostring(v), "\n")
  end
end
walk("", t)
"""
    for lua in ("lua5.4", "lua"):
        try:
            r = subprocess.run([lua, "-", path], input=prog.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode != 0:
            return None, r.stderr.decode("utf-8", "replace").strip()
        out = {}
        for line in r.stdout.decode("utf-8", "replace").splitlines():
            k, typ, v = (line.split("\t") + ["", ""])[:3]
            if typ == "number":
                out[k] = int(float(v)) if re.match(r"^-?\d+(\.0+)?$", v) else float(v)
            elif typ == "boolean":
                out[k] = v == "true"
            else:
                out[k] = v
        return out, None
    return None, "lua5.4 is not installed (scripts/install-deps.sh installs it)"


# ---- the effective settings of a run --------------------------------------------------------------

def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def yaml_scalars(text):
    """{dotted.key: value text} of a block-style YAML file (flow values kept as text)"""
    return report_figures.yaml_keys(text)


def effective(yaml_path, root, workers_source=None, sets=None, config_name=None):
    """the settings a run had: YAML keys (its own listen and paths left out) and the workers table"""
    cfg = yaml_scalars(_read(yaml_path) or "")
    script = cfg.get("pool.script", "lua/workers.lua")
    if script and not os.path.isabs(script):
        script = os.path.join(root, script)
    workers, why = lua_table(script) if script else (None, "no pool.script")
    return {"config": config_name, "workers_file": workers_source or cfg.get("pool.script", "lua/workers.lua"),
            "sets": sets or [], "yaml": {k: v for k, v in cfg.items() if k not in RUN_OWN},
            "workers": workers, "workers_error": why}


def settings_of(run_dir, root):
    """a run's settings: its settings.json, or (a run made before there was one) derived from its
    orderd.yaml and the pool.script it names, as that file is now"""
    try:
        with open(os.path.join(run_dir, "settings.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        pass
    y = os.path.join(run_dir, "orderd.yaml")
    if not os.path.isfile(y):
        return None
    s = effective(y, root)
    s["derived"] = True
    return s


def flat(settings):
    """{key: (where, value)}: YAML and workers.lua keys in one namespace (their sections differ)"""
    out = {}
    for k, v in (settings.get("yaml") or {}).items():
        out[k] = ("YAML", v)
    for k, v in (settings.get("workers") or {}).items():
        out[k] = ("workers.lua", v)
    return out


def differences(base, this):
    """[(key, where, base value or None, this value or None)] of the settings that differ"""
    a, b = flat(base or {}), flat(this or {})
    rows = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k, (None, None))[1], b.get(k, (None, None))[1]
        if str(va) != str(vb):
            rows.append((k, (b.get(k) or a.get(k))[0], va, vb))
    return rows


# ---- prepare: generate, check, map the problems back, record ---------------------------------------

def _write(run, name, config_text, sets, workers_file, root):
    """RUN/NAME (the config with the YAML sets applied) and, when needed, RUN/workers.lua; returns
    (the config's path, {its line: key}, {workers.lua line: key}, the workers script's source)"""
    lines = config_text.splitlines(True)
    yaml_lines = {}
    for key, value in [s for s in sets if is_yaml(s[0])]:
        for n in yaml_set(lines, key, value):
            yaml_lines[n] = key
    wsets = [s for s in sets if not is_yaml(s[0])]
    script_lines, source = {}, None
    if wsets or workers_file:
        source = workers_file or yaml_scalars("".join(lines)).get("pool.script", "lua/workers.lua")
        wtext = _read(source if os.path.isabs(source) else os.path.join(root, source))
        if wtext is None:
            raise Refused("%s: cannot read the workers script" % source)
        gen, script_lines = workers_script(wtext, source, wsets)
        with open(os.path.join(run, "workers.lua"), "w") as f:
            f.write(gen)
        for n in yaml_set(lines, "pool.script", os.path.join(run, "workers.lua")):
            yaml_lines.setdefault(n, "pool.script")
    path = os.path.join(run, name)
    with open(path, "w") as f:
        f.write("".join(lines))
    return path, yaml_lines, script_lines, source


def _named(msg, keys):
    """the key of keys that an orderd message is about: it opens the message ("reserve.stripes
    must be a number") or is quoted in it ('unknown key "reserve.bogus"'); the whole key first,
    then its parents (an unknown section: 'unknown key "zzz"' for zzz.a)"""
    for depth in range(max([k.count(".") + 1 for k in keys] + [0]), 0, -1):
        for k in keys:
            ps = k.split(".")
            if len(ps) < depth:
                continue
            p = ".".join(ps[:depth])
            if msg.startswith(p + " ") or '"%s"' % p in msg:
                return k
    return None


def _check(orderd, run, config, cfg_path, yaml_lines, script_lines, source, sets):
    """orderd --check of cfg_path: [] when it passes, else each problem, named by the --set that
    caused it where one did (by the line written for it, or the key its message names)"""
    r = subprocess.run([orderd, "--check", "-c", cfg_path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = r.stdout.decode("utf-8", "replace")
    if r.returncode == 0:
        return []
    problems, given, script = [], dict(sets), os.path.join(run, "workers.lua")
    for line in out.splitlines():
        m = WHERE_RE.match(line)
        if not m:
            if line.strip() and line.strip() != "ok":
                problems.append(line.strip())
            continue
        path, ln, msg = os.path.abspath(m.group(1)), int(m.group(2)), m.group(4)
        key = yaml_lines.get(ln) if path == cfg_path else script_lines.get(ln) if path == script else None
        if key is None:
            key = _named(msg, [k for k, _ in sets])
        if key is not None and key in given:
            problems.append("--set %s=%s: %s" % (key, given[key], msg))
        elif path in (script, cfg_path):  # the file the run's copy was made from, at the same line
            col = ":" + m.group(3) if m.group(3) else ""
            problems.append("%s:%s%s: %s" % (source if path == script else config, ln, col, msg))
        else:
            problems.append(line)
    return problems or [out.strip() or "orderd --check exited %d" % r.returncode]


def prepare(run, orderd, config, workers_file, raw_sets, root):
    sets = [parse_set(s) for s in raw_sets]
    text = _read(config)
    if text is None:
        raise Refused("--config %s: cannot read it" % config)
    cfg_path, yaml_lines, script_lines, source = _write(run, "config.yaml", text, sets, workers_file, root)
    problems = _check(orderd, run, config, cfg_path, yaml_lines, script_lines, source, sets)
    wsets = [s for s in sets if not is_yaml(s[0])]
    if problems and wsets and len(wsets) < len(sets):
        # orderd reads the workers script only once the YAML passes: check it again without the
        # YAML's --set, so that every refused --set is named at once
        alone = _write(run, "config-workers.yaml", text, wsets, workers_file, root)
        try:
            problems += [p for p in _check(orderd, run, config, *alone, wsets) if p not in problems and p.startswith("--set ")]
        finally:
            os.unlink(alone[0])
            _write(run, "config.yaml", text, sets, workers_file, root)
    if problems:
        raise Refused("the settings do not pass orderd --check:\n  " + "\n  ".join(problems))

    shown = os.path.relpath(config, root) if not os.path.relpath(config, root).startswith("..") else config
    rec = effective(cfg_path, root, source, ["%s=%s" % kv for kv in sets], shown)
    with open(os.path.join(run, "settings.json"), "w") as f:
        json.dump(rec, f, indent=1, sort_keys=True)
        f.write("\n")
    return rec


def main(argv):
    args = {"--set": []}
    i = 1
    if len(argv) < 2 or argv[1] != "prepare":
        sys.stderr.write(__doc__)
        return 1
    i = 2
    while i < len(argv):
        a = argv[i]
        if a in ("--run", "--orderd", "--config", "--workers", "--set", "--root") and i + 1 < len(argv):
            if a == "--set":
                args["--set"].append(argv[i + 1])
            else:
                args[a] = argv[i + 1]
            i += 2
        else:
            sys.stderr.write("report_settings.py: unknown argument %s\n" % a)
            return 1
    root = os.path.abspath(args.get("--root", os.getcwd()))
    try:
        rec = prepare(os.path.abspath(args["--run"]), args["--orderd"], os.path.abspath(args["--config"]),
                      args.get("--workers"), args["--set"], root)
    except Refused as e:
        sys.stderr.write("start_profiling.sh: %s\n" % e)
        return 2
    except (KeyError, OSError, subprocess.TimeoutExpired) as e:
        sys.stderr.write("start_profiling.sh: preparing the settings failed: %s\n" % e)
        return 1
    for s in rec["sets"]:
        print("    --set %s" % s)
    if rec.get("workers_error"):
        print("    (the workers table is not recorded: %s)" % rec["workers_error"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
