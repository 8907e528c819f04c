/*
 * pprof — profile.proto encoder.  Field numbers from pprof's proto/profile.proto:
 *
 *   Profile  1 sample_type  2 sample  3 mapping  4 location  5 function  6 string_table
 *            7 drop_frames  8 keep_frames  9 time_nanos  10 duration_nanos  11 period_type
 *            12 period  13 comment  14 default_sample_type
 *   ValueType 1 type  2 unit
 *   Sample   1 location_id (packed)  2 value (packed)  3 label
 *   Label    1 key  2 str  3 num  4 num_unit
 *   Mapping  1 id  2 memory_start  3 memory_limit  4 file_offset  5 filename  6 build_id
 *            7 has_functions  8 has_filenames  9 has_line_numbers  10 has_inline_frames
 *   Location 1 id  2 mapping_id  3 address  4 line  5 is_folded
 *   Line     1 function_id  2 line
 *   Function 1 id  2 name  3 system_name  4 filename  5 start_line
 */
#include "prof/pprof.h"

#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "base/hashmap.h"
#include "prof/legacy.h"
#include "prof/symbolize.h"

/* --- protobuf primitives --------------------------------------------------------------------- */

enum { WT_VARINT = 0, WT_LEN = 2 };

static void pb_varint(od_buf_t *b, uint64_t v)
{
    char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (char)v;
    od_buf_append(b, tmp, n);
}

static void pb_tag(od_buf_t *b, unsigned field, unsigned wt)
{
    pb_varint(b, ((uint64_t)field << 3) | wt);
}

/* an optional scalar: omitted when zero (proto3 default) */
static void pb_uint(od_buf_t *b, unsigned field, uint64_t v)
{
    if (v == 0) return;
    pb_tag(b, field, WT_VARINT);
    pb_varint(b, v);
}

static void pb_int(od_buf_t *b, unsigned field, int64_t v)
{
    pb_uint(b, field, (uint64_t)v); /* int64: negative numbers as 10-byte two's complement */
}

static void pb_bytes(od_buf_t *b, unsigned field, const void *p, size_t n)
{
    pb_tag(b, field, WT_LEN);
    pb_varint(b, n);
    od_buf_append(b, p, n);
}

/* a sub-message held in `msg`, which is then emptied for reuse */
static void pb_msg(od_buf_t *b, unsigned field, od_buf_t *msg)
{
    pb_bytes(b, field, msg->base ? msg->base : "", msg->len);
    od_buf_reset(msg);
}

/* --- tables ---------------------------------------------------------------------------------- */

/* string → index in the string table */
typedef struct strtab {
    const char **keys; /* in table order; the strings are `index`'s keys */
    size_t n, cap_keys;
    od_map_t index; /* value.num: the string's index */
} strtab_t;

static int64_t str_id(strtab_t *t, const char *s)
{
    if (s == NULL) s = "";
    int added;
    od_map_entry_t *e = od_map_put_str(&t->index, s, &added);
    if (!added) return e->value.num;
    if (t->n == t->cap_keys) {
        t->cap_keys = t->cap_keys ? t->cap_keys * 2 : 256;
        t->keys = od_realloc(t->keys, t->cap_keys * sizeof(*t->keys));
    }
    t->keys[t->n] = e->key;
    e->value.num = (int64_t)t->n;
    return (int64_t)t->n++;
}

static void strtab_dispose(strtab_t *t)
{
    free(t->keys);
    od_map_dispose(&t->index);
}

/* Returns the entry for the key k[0..n) (words) in an id map (value.num: the id, 1-based), a
 * new one holding 0 for the caller to fill. */
static od_map_entry_t *id_entry(od_map_t *m, const uint64_t *k, size_t n)
{
    return od_map_put(m, k, n * sizeof(*k), NULL);
}

/* --- mappings -------------------------------------------------------------------------------- */

/* what the locations of a mapping got from symbolization: its has_* flags */
enum { MAP_FUNCS = 1, MAP_FILES = 2, MAP_LINES = 4, MAP_INLINE = 8 };

typedef struct mapping {
    uint64_t start, limit, offset; /* as the process maps it */
    uint64_t bias;                 /* subtracted from its addresses in the profile (see below) */
    char *file;                    /* owned */
    uint64_t id;
    unsigned has; /* MAP_* */
} mapping_t;

/* dl_iterate_phdr callback: the load bias of the object whose PT_LOAD segments hold the
 * address in *arg (written back there; left alone when none does) */
static int bias_of(struct dl_phdr_info *info, size_t size, void *arg)
{
    uint64_t *addr = arg;
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uint64_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && *addr >= lo && *addr < lo + ph->p_memsz) {
            *addr = info->dlpi_addr;
            return 1;
        }
    }
    return 0;
}

/* The main binary's addresses are written as the binary links them (runtime address minus
 * the PIE load bias), its mapping likewise: the profile reads as if orderd were loaded where
 * it links, which every reader handles.  Go's `go tool pprof` takes object addresses to be
 * runtime ones ("no support for shared libraries"): with the runtime addresses of a PIE it
 * disassembles the wrong range and its Source view and -disasm come out empty whenever the
 * binary is at the mapping's path.  With link addresses they match `objdump -d orderd` too.
 * Libraries keep their runtime addresses: rebased, they would overlap one another. */
static void set_main_bias(mapping_t *m, size_t n)
{
    char exe[4096];
    ssize_t elen = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n == 0 || elen <= 0) return;
    exe[elen] = '\0';
    if (strcmp(m[0].file, exe) != 0) return;
    uint64_t a = m[0].start;
    if (dl_iterate_phdr(bias_of, &a) == 0 || a > m[0].start) return;
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].file, exe) == 0) m[i].bias = a;
}

/* Parses the executable entries of a /proc/self/maps text; the main binary goes first. */
static mapping_t *parse_maps(const char *text, size_t *count)
{
    mapping_t *v = NULL;
    size_t n = 0, cap = 0;
    char exe[4096];
    ssize_t elen = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[elen > 0 ? elen : 0] = '\0';
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[4608];
        if (len >= sizeof(buf)) len = sizeof(buf) - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        line = eol ? eol + 1 : NULL;

        unsigned long long start, limit, offset, inode;
        char perm[8];
        int path_at = 0;
        if (sscanf(buf, "%llx-%llx %7s %llx %*s %llu %n", &start, &limit, perm, &offset, &inode, &path_at) <
            5)
            continue;
        if (strchr(perm, 'x') == NULL) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            v = od_realloc(v, cap * sizeof(*v));
        }
        const char *path = path_at > 0 && path_at <= (int)strlen(buf) ? buf + path_at : "";
        v[n].start = start;
        v[n].limit = limit;
        v[n].offset = offset;
        v[n].file = od_strdup(path);
        v[n].bias = 0;
        v[n].id = 0;
        v[n].has = 0;
        if (exe[0] && strcmp(path, exe) == 0 && n > 0 && strcmp(v[0].file, exe) != 0) {
            mapping_t t = v[0]; /* main binary first: pprof treats mapping 1 as the program */
            v[0] = v[n];
            v[n] = t;
        }
        n++;
    }
    for (size_t i = 0; i < n; i++)
        v[i].id = i + 1;
    *count = n;
    return v;
}

static mapping_t *mapping_of(mapping_t *m, size_t n, uint64_t addr)
{
    for (size_t i = 0; i < n; i++)
        if (addr >= m[i].start && addr < m[i].limit) return &m[i];
    return NULL;
}

/* --- the encoder ----------------------------------------------------------------------------- */

typedef struct enc {
    strtab_t strs;
    od_map_t locs, funcs; /* address, and (func, file, sysname) → id */
    od_buf_t locations, functions, tmp, line;
    uint64_t nlocs, nfuncs;
    mapping_t *maps;
    size_t nmaps;
} enc_t;

static uint64_t function_id(enc_t *e, const od_sym_frame_t *f)
{
    /* symbolize.c interns its strings: equal names are equal pointers */
    uint64_t k[3] = {(uint64_t)(uintptr_t)f->func, (uint64_t)(uintptr_t)f->file,
                     (uint64_t)(uintptr_t)f->sysname};
    od_map_entry_t *ent = id_entry(&e->funcs, k, 3);
    if (ent->value.num) return (uint64_t)ent->value.num;
    uint64_t id = ++e->nfuncs;
    ent->value.num = (int64_t)id;
    od_buf_t *m = &e->tmp;
    pb_uint(m, 1, id);
    pb_int(m, 2, str_id(&e->strs, f->func));
    pb_int(m, 3, str_id(&e->strs, f->sysname));
    pb_int(m, 4, str_id(&e->strs, f->file));
    pb_int(m, 5, f->start_line);
    pb_msg(&e->functions, 5, m);
    return id;
}

static uint64_t location_id(enc_t *e, uint64_t addr)
{
    od_map_entry_t *ent = id_entry(&e->locs, &addr, 1);
    if (ent->value.num) return (uint64_t)ent->value.num;
    uint64_t id = ++e->nlocs;
    ent->value.num = (int64_t)id;

    od_sym_t sym;
    od_symbolize((uintptr_t)addr, &sym);
    uint64_t fids[OD_SYM_MAX_FRAMES];
    for (size_t i = 0; i < sym.nframes; i++)
        fids[i] = sym.frames[i].func[0] ? function_id(e, &sym.frames[i]) : 0;

    mapping_t *map = mapping_of(e->maps, e->nmaps, addr);
    od_buf_t *m = &e->tmp;
    pb_uint(m, 1, id);
    pb_uint(m, 2, map ? map->id : 0);
    pb_uint(m, 3, addr - (map ? map->bias : 0));
    size_t nlines = 0;
    for (size_t i = 0; i < sym.nframes; i++) { /* innermost first, the caller last */
        if (fids[i] == 0) continue;
        nlines++;
        if (map) {
            map->has |= MAP_FUNCS;
            if (sym.frames[i].file[0]) map->has |= MAP_FILES;
            if (sym.frames[i].line > 0) map->has |= MAP_LINES;
            if (nlines > 1) map->has |= MAP_INLINE;
        }
        pb_uint(&e->line, 1, fids[i]);
        pb_int(&e->line, 2, sym.frames[i].line);
        pb_msg(m, 4, &e->line);
    }
    pb_msg(&e->locations, 4, m);
    return id;
}

static void value_type(enc_t *e, od_buf_t *out, unsigned field, const char *type, const char *unit)
{
    pb_int(&e->tmp, 1, str_id(&e->strs, type));
    pb_int(&e->tmp, 2, str_id(&e->strs, unit));
    pb_msg(out, field, &e->tmp);
}

int od_pprof_encode(const od_profile_t *p, od_buf_t *out, od_buf_t *err)
{
    enc_t e;
    memset(&e, 0, sizeof(e));
    od_buf_t samples = OD_BUF_INIT, packed = OD_BUF_INIT, head = OD_BUF_INIT, maps_text = OD_BUF_INIT;
    str_id(&e.strs, ""); /* string_table[0] must be "" */

    if (p->ntypes == 0) {
        od_buf_puts(err, "pprof: profile has no sample types");
        return -1;
    }
    od_legacy_append_maps(&maps_text);
    e.maps = parse_maps(maps_text.base, &e.nmaps);
    set_main_bias(e.maps, e.nmaps);

    for (size_t t = 0; t < p->ntypes; t++)
        value_type(&e, &head, 1, p->types[t].type, p->types[t].unit);

    int leaf_exact = p->kind == OD_PROF_CPU;
    od_symbolize_profile(p); /* one round trip to the symbolizer per 1024 PCs */
    for (size_t i = 0; i < p->nsamples; i++) {
        const od_prof_sample_t *s = &p->samples[i];
        od_buf_t sm = OD_BUF_INIT;
        for (size_t j = 0; j < s->npcs; j++)
            pb_varint(&packed, location_id(&e, od_sym_lookup_pc(s->pcs[j], j, leaf_exact)));
        if (packed.len) pb_msg(&sm, 1, &packed);
        for (size_t t = 0; t < p->ntypes; t++)
            pb_varint(&packed, (uint64_t)s->values[t]);
        pb_msg(&sm, 2, &packed);
        for (size_t l = 0; l < s->nlabels; l++) {
            const od_prof_label_t *lb = &s->labels[l];
            od_buf_t lm = OD_BUF_INIT;
            pb_int(&lm, 1, str_id(&e.strs, lb->key));
            if (lb->str) {
                pb_int(&lm, 2, str_id(&e.strs, lb->str));
            } else {
                pb_int(&lm, 3, lb->num);
                if (lb->num_unit) pb_int(&lm, 4, str_id(&e.strs, lb->num_unit));
            }
            pb_msg(&sm, 3, &lm);
            od_buf_dispose(&lm);
        }
        pb_msg(&samples, 2, &sm);
        od_buf_dispose(&sm);
    }

    /* Mappings: every location was symbolized here; each has_* flag says what that gave, so
     * that pprof neither trusts what is not there nor tries again where it is. */
    od_buf_t mappings = OD_BUF_INIT;
    for (size_t i = 0; i < e.nmaps; i++) {
        od_buf_t *m = &e.tmp;
        od_buf_t bid = OD_BUF_INIT;
        if (e.maps[i].file[0] == '/') od_symbolize_build_id((uintptr_t)e.maps[i].start, &bid);
        pb_uint(m, 1, e.maps[i].id);
        pb_uint(m, 2, e.maps[i].start - e.maps[i].bias);
        pb_uint(m, 3, e.maps[i].limit - e.maps[i].bias);
        pb_uint(m, 4, e.maps[i].offset);
        pb_int(m, 5, str_id(&e.strs, e.maps[i].file));
        pb_int(m, 6, str_id(&e.strs, bid.base ? bid.base : ""));
        pb_uint(m, 7, (e.maps[i].has & MAP_FUNCS) != 0);
        pb_uint(m, 8, (e.maps[i].has & MAP_FILES) != 0);
        pb_uint(m, 9, (e.maps[i].has & MAP_LINES) != 0);
        pb_uint(m, 10, (e.maps[i].has & MAP_INLINE) != 0);
        pb_msg(&mappings, 3, m);
        od_buf_dispose(&bid);
    }

    /* Scalars and the period type, then the comments: all of them add strings. */
    od_buf_t tail = OD_BUF_INIT;
    pb_int(&tail, 9, (int64_t)p->time_ns);
    pb_int(&tail, 10, (int64_t)p->duration_ns);
    if (p->period_type.type) value_type(&e, &tail, 11, p->period_type.type, p->period_type.unit);
    pb_int(&tail, 12, p->period);
    if (p->comment) {
        for (const char *c = p->comment; *c;) {
            const char *nl = strchr(c, '\n');
            size_t len = nl ? (size_t)(nl - c) : strlen(c);
            char *line = od_strndup(c, len);
            if (len) pb_int(&tail, 13, str_id(&e.strs, line));
            free(line);
            c = nl ? nl + 1 : c + len;
        }
    }
    if (p->default_type) pb_int(&tail, 14, str_id(&e.strs, p->default_type));

    od_buf_append(out, head.base, head.len);
    if (samples.len) od_buf_append(out, samples.base, samples.len);
    if (mappings.len) od_buf_append(out, mappings.base, mappings.len);
    if (e.locations.len) od_buf_append(out, e.locations.base, e.locations.len);
    if (e.functions.len) od_buf_append(out, e.functions.base, e.functions.len);
    for (size_t i = 0; i < e.strs.n; i++)
        pb_bytes(out, 6, e.strs.keys[i], strlen(e.strs.keys[i]));
    if (tail.len) od_buf_append(out, tail.base, tail.len);

    for (size_t i = 0; i < e.nmaps; i++)
        free(e.maps[i].file);
    free(e.maps);
    strtab_dispose(&e.strs);
    od_map_dispose(&e.locs);
    od_map_dispose(&e.funcs);
    od_buf_dispose(&e.locations);
    od_buf_dispose(&e.functions);
    od_buf_dispose(&e.tmp);
    od_buf_dispose(&e.line);
    od_buf_dispose(&samples);
    od_buf_dispose(&packed);
    od_buf_dispose(&head);
    od_buf_dispose(&maps_text);
    od_buf_dispose(&mappings);
    od_buf_dispose(&tail);
    return 0;
}

/* gzip (RFC 1952) of in, appended to out */
static int gzip_append(const char *in, size_t len, od_buf_t *out, od_buf_t *err)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        od_buf_puts(err, "pprof: deflateInit2 failed");
        return -1;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    int rc;
    do {
        od_buf_reserve(out, 65536);
        z.next_out = (Bytef *)out->base + out->len;
        z.avail_out = 65536;
        rc = deflate(&z, Z_FINISH);
        out->len += 65536 - z.avail_out;
        out->base[out->len] = '\0';
    } while (rc == Z_OK || (rc == Z_BUF_ERROR && z.avail_out == 0));
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        od_buf_printf(err, "pprof: deflate failed (%d)", rc);
        return -1;
    }
    return 0;
}

int od_pprof_write(const od_profile_t *p, od_buf_t *out, od_buf_t *err)
{
    od_buf_t raw = OD_BUF_INIT;
    int rc = od_pprof_encode(p, &raw, err);
    if (rc == 0) rc = gzip_append(raw.base ? raw.base : "", raw.len, out, err);
    od_buf_dispose(&raw);
    return rc;
}
