/*
 * symdwfl — the libdwfl session of the symbolizer helper process: PC → function, file, line
 * (with inlined frames) for the modules of another process (orderd, the helper's parent).
 * See symdwfl.h.  Single-threaded: only the helper's loop calls in.
 */
#include "prof/symdwfl.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hashmap.h"

/* libstdc++'s demangler (orderd links -lstdc++ for tcmalloc and libprofiler anyway). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

#define INTERN_MAX_BYTES (32u << 20) /* beyond this, new names become "?" */
#define REFRESH_INTERVAL_NS 1000000000ull

static pid_t target; /* the process symbolized */
static Dwfl *dwfl;
static uint64_t last_refresh_ns;
static od_map_t interned; /* the names handed out: a key stays put while the map grows */
static size_t intern_bytes;

/* --- interned strings ------------------------------------------------------------------------ */

/* Returns a copy of s that lives for the life of the process. */
static const char *intern(const char *s)
{
    if (s == NULL || *s == '\0') return "";
    size_t n = strlen(s);
    od_map_entry_t *e = od_map_find(&interned, s, n);
    if (e) return e->key;
    if (intern_bytes + n > INTERN_MAX_BYTES) return "?";
    intern_bytes += n + 1;
    return od_map_put(&interned, s, n, NULL)->key;
}

/* Interns the demangled form of a linkage name (or the name itself when it is not mangled). */
static const char *intern_demangled(const char *name)
{
    if (name == NULL || name[0] != '_' || name[1] != 'Z') return intern(name);
    int status = -1;
    char *d = __cxa_demangle(name, NULL, NULL, &status);
    const char *r = intern(status == 0 && d ? d : name);
    free(d);
    return r;
}

/* --- the libdwfl session --------------------------------------------------------------------- */

/* Separate debug info only from the local build-id tree (/usr/lib/debug/.build-id): the standard
 * callback may ask debuginfod over the network, which a server must never do in a request. */
static int find_debuginfo_local(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                                const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                                char **debuginfo_file_name)
{
    return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
                                        debuglink_crc, debuginfo_file_name);
}

/* The ELF file of a module.  A binary or library replaced on disk since it was mapped (a
 * rebuild while the server runs) shows in /proc/PID/maps as "PATH (deleted)", which the
 * standard callback cannot open; the mapped file itself is still reachable through
 * /proc/PID/map_files/START-END (and the main program through /proc/PID/exe). */
static int find_elf_target(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                           char **file_name, Elf **elfp)
{
    int fd = dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
    static const char deleted[] = " (deleted)";
    size_t n = strlen(modname), d = sizeof(deleted) - 1;
    if (fd >= 0 || *elfp != NULL || n <= d || strcmp(modname + n - d, deleted) != 0) return fd;

    size_t len = 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)target);
    char *maps = od_read_file(path, &len);
    for (char *line = maps; line && *line;) {
        char *eol = strchr(line, '\n');
        if (eol) *eol = '\0';
        unsigned long long start, end;
        int path_at = 0;
        if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %n", &start, &end, &path_at) == 2 && path_at > 0 &&
            strcmp(line + path_at, modname) == 0) {
            snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", (int)target, start, end);
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                free(*file_name);
                *file_name = od_strdup(path);
            }
            break;
        }
        line = eol ? eol + 1 : NULL;
    }
    free(maps);
    if (fd < 0) {
        char exe[4096];
        snprintf(path, sizeof(path), "/proc/%d/exe", (int)target);
        ssize_t e = readlink(path, exe, sizeof(exe) - 1);
        exe[e > 0 ? e : 0] = '\0';
        if (e > 0 && strcmp(exe, modname) == 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
            free(*file_name);
            *file_name = od_strdup(path);
        }
    }
    return fd;
}

static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = find_elf_target,
    .find_debuginfo = find_debuginfo_local,
    .debuginfo_path = &debuginfo_path,
};

/* (Re)reports the process's modules.  Returns 0 or -1. */
static int session_refresh(void)
{
    last_refresh_ns = od_now_ns();
    if (dwfl == NULL) {
        dwfl = dwfl_begin(&proc_callbacks);
        if (dwfl == NULL) return -1;
    }
    dwfl_report_begin(dwfl);
    int rc = dwfl_linux_proc_report(dwfl, target);
    if (dwfl_report_end(dwfl, NULL, NULL) != 0 || rc != 0) return -1;
    return 0;
}

/* Returns the module containing pc, refreshing the module list at most once a second when
 * the PC is in none of them (a library loaded since). */
static Dwfl_Module *module_at(uintptr_t pc)
{
    if (dwfl == NULL && session_refresh() != 0) return NULL;
    Dwfl_Module *mod = dwfl_addrmodule(dwfl, pc);
    if (mod == NULL && od_now_ns() - last_refresh_ns > REFRESH_INTERVAL_NS) {
        if (session_refresh() != 0) return NULL;
        mod = dwfl_addrmodule(dwfl, pc);
    }
    return mod;
}

/* --- DWARF ----------------------------------------------------------------------------------- */

static const char *die_name(Dwarf_Die *die, const char **sysname)
{
    Dwarf_Attribute attr;
    const char *link = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        link = dwarf_formstring(&attr);
    const char *name = NULL;
    if (dwarf_attr_integrate(die, DW_AT_name, &attr)) name = dwarf_formstring(&attr);
    if (link) {
        *sysname = intern(link);
        return intern_demangled(link);
    }
    *sysname = intern(name);
    return intern(name);
}

static int die_decl_line(Dwarf_Die *die)
{
    int line = 0;
    if (dwarf_decl_line(die, &line) != 0) return 0;
    return line;
}

/* Interns a source path, made absolute with the compilation directory when it is relative, so
 * that `pprof -list` finds the file from any directory. */
static const char *intern_path(Dwarf_Die *cudie, const char *f)
{
    if (f == NULL || f[0] == '\0' || f[0] == '/' || cudie == NULL) return intern(f);
    Dwarf_Attribute attr;
    const char *dir = dwarf_attr(cudie, DW_AT_comp_dir, &attr) ? dwarf_formstring(&attr) : NULL;
    if (dir == NULL || dir[0] == '\0') return intern(f);
    while (f[0] == '.' && f[1] == '/')
        f += 2;
    char *full = od_asprintf("%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", f);
    const char *r = intern(full);
    free(full);
    return r;
}

/* File and line of an inlined subroutine's call site. */
static void call_site(Dwarf_Die *cudie, Dwarf_Die *inl, const char **file, int *line)
{
    Dwarf_Attribute attr;
    Dwarf_Word idx = 0, ln = 0;
    Dwarf_Files *files;
    size_t nfiles;
    *file = "";
    *line = 0;
    if (dwarf_attr(inl, DW_AT_call_line, &attr) && dwarf_formudata(&attr, &ln) == 0) *line = (int)ln;
    if (dwarf_attr(inl, DW_AT_call_file, &attr) && dwarf_formudata(&attr, &idx) == 0 &&
        dwarf_getsrcfiles(cudie, &files, &nfiles) == 0 && idx < nfiles) {
        const char *f = dwarf_filesrc(files, idx, NULL, NULL);
        if (f) *file = intern_path(cudie, f);
    }
}

/* Fills out->frames from the DWARF scopes at pc; leaves nframes 0 when there is no DWARF. */
static void dwarf_frames(Dwfl_Module *mod, uintptr_t pc, od_sym_t *out)
{
    const char *file = "";
    int line = 0;
    Dwarf_Addr bias = 0;
    Dwarf_Die *cudie = dwfl_module_addrdie(mod, pc, &bias);
    Dwfl_Line *dl = dwfl_module_getsrc(mod, pc);
    if (dl) {
        int l = 0;
        const char *f = dwfl_lineinfo(dl, NULL, &l, NULL, NULL, NULL);
        if (f) file = intern_path(cudie, f);
        line = l;
    }
    Dwarf_Die *scopes = NULL;
    int n = cudie ? dwarf_getscopes(cudie, pc - bias, &scopes) : 0;
    if (n > 0) {
        /* dwarf_getscopes continues into the abstract definition of an inlined function; the
         * callers are on the concrete chain from the innermost scope outward */
        Dwarf_Die inner = scopes[0];
        free(scopes);
        scopes = NULL;
        n = dwarf_getscopes_die(&inner, &scopes);
    }
    for (int i = 0; i < n && out->nframes < OD_SYM_MAX_FRAMES; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine) continue;
        od_sym_frame_t *f = &out->frames[out->nframes++];
        f->func = die_name(&scopes[i], &f->sysname);
        f->file = file;
        f->line = line;
        f->start_line = die_decl_line(&scopes[i]);
        if (tag == DW_TAG_subprogram) break;
        call_site(cudie, &scopes[i], &file, &line); /* the caller's position */
    }
    free(scopes);
    if (out->nframes == 0 && dl) {
        /* line info but no scope (e.g. assembly): keep the position, name from the ELF symbol */
        out->frames[0].file = file;
        out->frames[0].line = line;
    }
}

void od_symdwfl_lookup(uintptr_t pc, od_sym_t *out)
{
    memset(out, 0, sizeof(*out));
    out->module = out->symbol = "";
    Dwfl_Module *mod = module_at(pc);
    if (mod == NULL) return;
    Dwarf_Addr base = 0;
    const char *mname = dwfl_module_info(mod, NULL, &base, NULL, NULL, NULL, NULL, NULL);
    out->module = intern(mname);
    out->module_base = (uintptr_t)base;

    GElf_Off off = 0;
    GElf_Sym sym;
    const char *sname = dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
    if (sname) {
        out->symbol = intern(sname);
        out->symbol_addr = pc - off;
    }
    dwarf_frames(mod, pc, out);
    if (out->nframes == 0) {
        if (sname == NULL && out->frames[0].file == NULL) return;
        out->nframes = 1;
        if (out->frames[0].file == NULL) out->frames[0].file = "";
    }
    /* Fill what DWARF left empty (no name on the outer frame) from the ELF symbol. */
    od_sym_frame_t *outer = &out->frames[out->nframes - 1];
    if (outer->func == NULL || outer->func[0] == '\0') {
        outer->func = intern_demangled(sname);
        outer->sysname = out->symbol;
    }
    for (size_t i = 0; i < out->nframes; i++) {
        od_sym_frame_t *f = &out->frames[i];
        if (f->func == NULL) f->func = "";
        if (f->sysname == NULL || f->sysname[0] == '\0') f->sysname = f->func;
        if (f->file == NULL) f->file = "";
    }
    if (out->frames[out->nframes - 1].func[0] == '\0' && out->nframes == 1 && out->frames[0].line == 0)
        out->nframes = 0;
}

/* --- public ---------------------------------------------------------------------------------- */

void od_symdwfl_open(pid_t pid)
{
    od_symdwfl_close();
    target = pid;
}

int od_symdwfl_build_id(uintptr_t addr, od_buf_t *out)
{
    Dwfl_Module *mod = module_at(addr);
    const unsigned char *bits = NULL;
    GElf_Addr vaddr;
    int n = mod ? dwfl_module_build_id(mod, &bits, &vaddr) : -1;
    if (n <= 0) return -1;
    for (int i = 0; i < n; i++)
        od_buf_printf(out, "%02x", bits[i]);
    return 0;
}

void od_symdwfl_close(void)
{
    if (dwfl) dwfl_end(dwfl);
    dwfl = NULL;
}
