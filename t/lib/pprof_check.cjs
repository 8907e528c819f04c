// Decodes pprof files with npm's pprof-format (the decoder of Datadog's and Pyroscope's Node
// profilers: an implementation independent of Go's) and checks what a profile store needs of
// them: gzip, sample types, every sample's value count and location ids, every location's
// mapping and function ids, every string index in the table.  Prints one JSON line per file:
// {file, ok, errors[], sample_types[], samples, locations, functions, mappings, duration_ns,
//  period_type, functions_named[]}.
//
//   NODE_PATH=build/npm/node_modules node t/lib/pprof_check.cjs FILE...
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const { Profile } = require('pprof-format');

for (const file of process.argv.slice(2)) {
    const out = { file, ok: false, errors: [] };
    const err = m => out.errors.push(m);
    try {
        const raw = fs.readFileSync(file);
        if (raw[0] !== 0x1f || raw[1] !== 0x8b) err('not gzipped');
        const p = Profile.decode(zlib.gunzipSync(raw));
        const strs = p.stringTable.strings;
        const str = (i, what) => {
            const n = Number(i);
            if (!(n >= 0 && n < strs.length)) { err(`${what}: string index ${i} out of range`); return '?'; }
            return strs[n];
        };
        if (strs[0] !== '') err('string_table[0] is not ""');
        out.sample_types = p.sampleType.map(t => str(t.type, 'sample type') + '/' + str(t.unit, 'sample unit'));
        if (!out.sample_types.length) err('no sample types');
        const ids = (list, what) => {
            const m = new Map();
            for (const x of list) {
                const id = Number(x.id);
                if (id === 0) err(`${what} with id 0`);
                if (m.has(id)) err(`${what} ${id} twice`);
                m.set(id, x);
            }
            return m;
        };
        const maps = ids(p.mapping, 'mapping'), funcs = ids(p.function, 'function'), locs = ids(p.location, 'location');
        for (const m of p.mapping) str(m.filename, 'mapping file'), str(m.buildId, 'build id');
        for (const f of p.function) str(f.name, 'function name'), str(f.systemName, 'system name'), str(f.filename, 'function file');
        for (const l of p.location) {
            const mid = Number(l.mappingId);
            if (mid && !maps.has(mid)) err(`location ${l.id}: no mapping ${mid}`);
            for (const ln of l.line) if (!funcs.has(Number(ln.functionId))) err(`location ${l.id}: no function ${ln.functionId}`);
        }
        for (const s of p.sample) {
            if (s.value.length !== p.sampleType.length) err(`a sample has ${s.value.length} values for ${p.sampleType.length} types`);
            for (const id of s.locationId) if (!locs.has(Number(id))) err(`a sample names location ${id}, absent`);
            for (const lb of s.label) str(lb.key, 'label key'), str(lb.str, 'label value');
        }
        if (p.periodType) out.period_type = str(p.periodType.type, 'period type') + '/' + str(p.periodType.unit, 'period unit');
        out.samples = p.sample.length;
        out.locations = p.location.length;
        out.functions = p.function.length;
        out.mappings = p.mapping.length;
        out.duration_ns = Number(p.durationNanos);
        out.functions_named = p.function.map(f => strs[Number(f.name)]);
        out.ok = out.errors.length === 0;
    } catch (e) {
        err('decode: ' + (e && e.message || e));
    }
    out.errors = out.errors.slice(0, 20);
    process.stdout.write(JSON.stringify(out) + '\n');
}
