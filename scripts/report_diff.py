"""report_diff.py — a differential flame graph of two pprof profiles of one kind, for
scripts/report.py's comparison with a base run.

The profiles are read straight from their .pb.gz (gzip, then the protocol-buffer wire format of
pprof's profile.proto: only the fields a flame graph needs) into folded stacks, one value per
stack (the profile's default sample type: cpu nanoseconds, lock delay, bytes in use, threads).
The graph is drawn as flamegraph.pl draws its difffolded input: each frame as wide as it is in
THIS run, coloured by how much it changed from the BASE — red grew, blue shrank, white the same,
deeper the larger the change against the frame's own size, or 5 % of the profile for a
smaller frame (flamegraph.pl scales against the largest change instead, which paints a 3 %
drift as deep as a 70-fold one).  Frames that exist only in the base have
no width; the graph names the largest of them beneath.  Standard library only.
"""
import gzip
import os

# ---- pprof's profile.proto, as much of it as a flame graph needs -----------------------------------


def _fields(buf):
    """(field number, wire type, value) of a protocol-buffer message: an int for varints and
    fixed-width fields, bytes for length-delimited ones"""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _varint(buf, i)
        elif wire == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wire == 2:
            ln, i = _varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        elif wire == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ValueError("wire type %d" % wire)
        yield field, wire, v


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _ints(wire, v, signed=False):
    """a repeated integer field's values: packed (bytes) or one varint"""
    if wire == 2:
        out, i = [], 0
        while i < len(v):
            x, i = _varint(v, i)
            out.append(x)
    else:
        out = [v]
    if signed:
        out = [x - (1 << 64) if x >= 1 << 63 else x for x in out]
    return out


def read_profile(path):
    """{"type": sample type, "unit": its unit, "stacks": {(root, ..., leaf): value}} of a .pb.gz,
    the default sample type's values; None when the file cannot be read"""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    strings, types, samples, locs, funcs, default = [], [], [], {}, {}, 0
    try:
        for field, wire, v in _fields(data):
            if field == 1:
                t = {f: x for f, _, x in _fields(v)}
                types.append((t.get(1, 0), t.get(2, 0)))
            elif field == 2:
                ids, vals = [], []
                for f, w, x in _fields(v):
                    if f == 1:
                        ids += _ints(w, x)
                    elif f == 2:
                        vals += _ints(w, x, signed=True)
                samples.append((ids, vals))
            elif field == 4:
                lid, lines, addr = 0, [], 0
                for f, w, x in _fields(v):
                    if f == 1:
                        lid = x
                    elif f == 3:
                        addr = x
                    elif f == 4:
                        lines.append({g: y for g, _, y in _fields(x)}.get(1, 0))
                locs[lid] = (lines, addr)
            elif field == 5:
                fn = {f: x for f, _, x in _fields(v)}
                funcs[fn.get(1, 0)] = fn.get(2, 0)
            elif field == 6:
                strings.append(v.decode("utf-8", "replace"))
            elif field == 14:
                default = v
    except (IndexError, ValueError):
        return None
    if not types:
        return None
    idx = len(types) - 1  # pprof's choice when the profile names no default: the last type
    for i, (t, _) in enumerate(types):
        if default and t == default:
            idx = i

    def s(i):
        return strings[i] if 0 <= i < len(strings) else "?"

    stacks = {}
    for ids, vals in samples:
        if idx >= len(vals) or vals[idx] == 0:
            continue
        frames = []
        for lid in reversed(ids):  # location_id[0] is the leaf
            lines, addr = locs.get(lid, ([], 0))
            names = [s(funcs.get(fid, 0)) for fid in lines] or ["0x%x" % addr]
            frames += reversed(names)  # a location's first line is its innermost inlined call
        key = tuple(frames)
        stacks[key] = stacks.get(key, 0) + vals[idx]
    return dict(type=s(types[idx][0]), unit=s(types[idx][1]), stacks=stacks)


# ---- the graph's geometry -------------------------------------------------------------------------

WIDTH, PAD, FRAME_H, TOP, BOTTOM = 1200, 10, 16, 56, 40


def _tree(this, base):
    """the call tree: node = [this value, base value, {child name: node}] under a root "all" """
    root = [0, 0, {}]
    for stacks, col in ((this, 0), (base, 1)):
        for frames, v in stacks.items():
            node = root
            node[col] += v
            for name in frames:
                node = node[2].setdefault(name, [0, 0, {}])
                node[col] += v
    return root


def diff_graph(this, base, fmt):
    """the differential flame graph of two read_profile results as the template's shapes;
    fmt formats a value of the profile's unit"""
    root = _tree(this["stacks"], base["stacks"])
    total = root[0]
    frames, gone = [], []

    def walk(name, node, x, depth, path):
        if node[0] <= 0:
            if node[1] > 0:
                leafward = list(reversed(path + [name]))
                gone.append((node[1], " ← ".join(leafward[:4]) + (" ← …" if len(leafward) > 4 else "")))
            return
        frames.append((name, node, x, depth))
        cx = x
        for child in sorted(node[2]):
            walk(child, node[2][child], cx, depth + 1, path + [name])
            cx += node[2][child][0]

    if total > 0:
        walk("all", root, 0, 0, [])
    depth = max([d for _, _, _, d in frames] + [0]) + 1
    height = TOP + depth * FRAME_H + BOTTOM
    pw = WIDTH - 2 * PAD
    floor = 0.05 * max(root[0], root[1])
    out, red, blue = [], 0, 0
    for name, (tv, bv, _), x, d in frames:
        w = pw * tv / total
        if w < 0.3:  # narrower than a third of a pixel: invisible anyway
            continue
        delta = tv - bv
        # how deep: the change against the frame's own size (a frame that doubled is half way,
        # a new one full), so that noise of a few percent stays pale whatever else changed; a
        # frame under 5 % of the profile counts as 5 %, so that a few samples coming or going
        # in a small frame stay pale too
        r = abs(delta) / max(tv, bv, floor)
        shade = int(round(250 - 230 * r))
        if delta > 0:
            fill, red = "rgb(255,%d,%d)" % (shade, shade), red + 1
        elif delta < 0:
            fill, blue = "rgb(%d,%d,255)" % (shade, shade), blue + 1
        else:
            fill = "rgb(250,250,250)"
        change = ("+" if delta > 0 else "") + (fmt(delta) if delta else "0")
        pct = " (%+.0f%%)" % (100.0 * delta / bv) if bv else " (new)"
        chars = int((w - 6) / 7)
        label = name if len(name) <= chars else (name[:chars - 2] + ".." if chars >= 3 else "")
        out.append(dict(name=name, x=x / total, w=tv / total, d=d, px=PAD + pw * x / total, pw=w, dark=shade < 110,
                        y=height - BOTTOM - (d + 1) * FRAME_H, fill=fill, label=label,
                        tip="%s: this run %s, base %s, %s%s" % (name, fmt(tv), fmt(bv), change, pct if delta else "")))
    gone.sort(reverse=True)
    return dict(width=WIDTH, height=height, frames=out, red=red, blue=blue, total=fmt(total), base_total=fmt(root[1]),
                kind=this["type"], gone=[dict(value=fmt(v), path=p) for v, p in gone[:3]], gone_n=len(gone),
                gone_y=height - 14, script=_zoom_script())


def _zoom_script():
    """the page's zoom handler (templates/report.js), so that the file zooms on its own too"""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", "report.js")) as f:
            return f.read()
    except OSError:
        return ""
