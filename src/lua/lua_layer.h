/*
 * lua_layer — the one layer between the Lua C API and every Lua front end of orderd and
 * orderload (workers.lua, the rules, the profiling schedule, the load scenarios), the way
 * lauxlib sits on lapi.  Three parts, one job each:
 *
 *   states     (lua_state.c)   od_lua_open builds a state from a policy: which standard
 *                              libraries, whether the sandbox removes what could stop the
 *                              process or lift the limits, an instruction budget per call
 *                              (a count hook) and a memory bound (a counting allocator).
 *                              One message handler, one protected call (od_lua_call) and one
 *                              load-and-run (od_lua_run_file), both reporting
 *                              "FILE:LINE: message".
 *   positions  (lua_where.c)   od_lua_src_open reads a script's text once and maps every
 *                              field of the table constructor the chunk returns (nested
 *                              constructors too) to its line and column, so a message about a
 *                              bad value names where the value was written.  od_lua_report is
 *                              the one FILE:LINE[:COL] reporter.
 *   schemas    (lua_schema.c)  od_lua_schema_apply walks a Lua table against a table of
 *                              od_lua_field_t (name, type, bounds, default, nested fields),
 *                              the way config.c walks the YAML: unknown keys, wrong types and
 *                              out-of-range values are refused, each with its position.
 *
 * Why a scanner and not constructor functions (entry{...} recording their caller's line
 * through lua_getinfo): our files are plain data that users write as `return { ... }`, and
 * lua_getinfo cannot tell where a key of a plain table was written; making them call
 * constructors would change every file users have.  The scanner is a real tokenizer (it
 * skips comments, strings and long brackets, and tracks (), [], {} and function/do/if/repeat
 * blocks), so it finds the field the value came from, not the first matching text.  Values a
 * script computes or builds elsewhere (`reserve = my_table`) are reported at the field that
 * holds them, or at the nearest enclosing one.
 *
 * Threads: a state never crosses threads; nothing here keeps global state, so every function
 * is thread-safe for distinct states and distinct od_lua_src_t objects.
 *
 * Ownership: a state from od_lua_open is released with od_lua_close (never lua_close: the
 * layer's bookkeeping lives beside the state).  od_lua_src_t is released with
 * od_lua_src_close; the od_lua_where_t pointers it hands out live as long as it does.
 * Strings the policy and the schema name (subject, field names, help) are not copied: static
 * strings.  Messages are appended to the caller's od_buf_t.
 */
#ifndef OD_LUA_LAYER_H
#define OD_LUA_LAYER_H

#include <lua.h>
#include <stddef.h>

#include "base/util.h"

/* --- states ------------------------------------------------------------------------------ */

/* the standard libraries, for od_lua_policy_t.libs */
enum {
    OD_LUA_LIB_BASE = 1 << 0, /* always opened: the base library and `orderd` */
    OD_LUA_LIB_PACKAGE = 1 << 1,
    OD_LUA_LIB_COROUTINE = 1 << 2,
    OD_LUA_LIB_TABLE = 1 << 3,
    OD_LUA_LIB_IO = 1 << 4,
    OD_LUA_LIB_OS = 1 << 5,
    OD_LUA_LIB_STRING = 1 << 6,
    OD_LUA_LIB_MATH = 1 << 7,
    OD_LUA_LIB_UTF8 = 1 << 8,
    OD_LUA_LIB_DEBUG = 1 << 9,
};
#define OD_LUA_LIBS_ALL 0x3ff
/* the sandbox's libraries: all but debug (it could remove the budget hook) */
#define OD_LUA_LIBS_SANDBOX (OD_LUA_LIBS_ALL & ~OD_LUA_LIB_DEBUG)

/** what a state may do; passed to od_lua_open and copied */
typedef struct od_lua_policy {
    unsigned libs;       /* OD_LUA_LIB_* bits (OD_LUA_LIBS_ALL for trusted configuration) */
    int sandbox;         /* remove os.exit, os.execute, package.loadlib and C modules */
    long budget;         /* instructions per od_lua_call / od_lua_run_file; 0 = unbounded */
    size_t memory;       /* bytes the state may hold; 0 = unbounded */
    const char *subject; /* names the script's code in limit messages ("rule"); static */
    int traceback;       /* the message handler appends a stack traceback */
} od_lua_policy_t;

/**
 * returns a new state built to `policy`, with the `orderd` table: orderd.cpus() (online
 * processors) and orderd.env(name) (an environment variable or nil).  Release with
 * od_lua_close.  Aborts on out-of-memory.
 */
lua_State *od_lua_open(const od_lua_policy_t *policy);
/** closes a state from od_lua_open; NULL is allowed */
void od_lua_close(lua_State *L);
/** changes a state's budget and memory bound (0 keeps the current value) */
void od_lua_set_limits(lua_State *L, size_t memory, long budget);
/** bytes the state holds now */
size_t od_lua_memory(lua_State *L);
/** the state's policy (with the current limits) */
const od_lua_policy_t *od_lua_policy(lua_State *L);

#define OD_LUA_ERR -1 /* a runtime or syntax error, or the budget ran out: the state is fine */
/* the memory bound was hit: what the call held is collected; if what the state still keeps is
 * large, replace the state */
#define OD_LUA_ERRMEM -2

/**
 * calls the function below the nargs arguments in protected mode, under the state's budget,
 * through the layer's message handler; on error the message ("FILE:LINE: message", plus a
 * traceback when the policy asks) is appended to err (when not NULL) and popped
 * @return 0 if successful, OD_LUA_ERR or OD_LUA_ERRMEM if not
 */
int od_lua_call(lua_State *L, int nargs, int nresults, od_buf_t *err);

/**
 * loads `path` (text chunks only) and runs it like od_lua_call, leaving nresults values; a
 * file that cannot be read is reported as "FILE:1: cannot open ..."
 * @return 0 if successful, OD_LUA_ERR or OD_LUA_ERRMEM if not
 */
int od_lua_run_file(lua_State *L, const char *path, int nresults, od_buf_t *err);

/**
 * pushes a C function's arguments as one string: each converted as tostring() does, separated
 * by single spaces (the line that orderd.log(...) logs)
 * @return the pushed string, owned by L: valid while it stays on the stack
 */
const char *od_lua_push_args_line(lua_State *L);

/* --- positions --------------------------------------------------------------------------- */

typedef struct od_lua_src od_lua_src_t;
/* a place in the source: a field or element of a table constructor, or the constructor that
 * the chunk returns (the root) */
typedef struct od_lua_where od_lua_where_t;

/**
 * reads and scans `path`.  Never fails: when the file cannot be read or returns no table
 * constructor, every position is unknown and reports fall back to line 1.  With `columns`
 * set, od_lua_report writes FILE:LINE:COL, else FILE:LINE.
 * @return the source map; release with od_lua_src_close
 */
od_lua_src_t *od_lua_src_open(const char *path, int columns);
void od_lua_src_close(od_lua_src_t *src);
/** the path given to od_lua_src_open */
const char *od_lua_src_path(const od_lua_src_t *src);

/** the constructor the chunk returns (`return { ... }`, or `return t` after `t = { ... }`),
 * or NULL */
const od_lua_where_t *od_lua_where_root(const od_lua_src_t *src);
/** the field `key` written in constructor w (`key = v` or `["key"] = v`; the last when
 * written twice), or NULL (also when w is NULL) */
const od_lua_where_t *od_lua_where_field(const od_lua_where_t *w, const char *key);
/** the i-th positional element (1-based) of constructor w, or NULL */
const od_lua_where_t *od_lua_where_item(const od_lua_where_t *w, size_t i);
/** how many positional elements constructor w has (0 for NULL) */
size_t od_lua_where_count(const od_lua_where_t *w);
/** the line (1-based) of w's first token (its key, or the element), 0 for NULL */
int od_lua_where_line(const od_lua_where_t *w);
/** the column (1-based) of w's first token, 0 for NULL */
int od_lua_where_col(const od_lua_where_t *w);

/**
 * appends "FILE:LINE: message\n" (FILE:LINE:COL with columns) at w, or at line 1 (column 1)
 * when w is NULL
 */
void od_lua_report(od_buf_t *errors, const od_lua_src_t *src, const od_lua_where_t *w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- schemas ----------------------------------------------------------------------------- */

typedef enum od_lua_type {
    OD_LUA_T_INT,      /* int: a whole number in [min, max] */
    OD_LUA_T_U32,      /* uint32_t: a whole number in [min, max] */
    OD_LUA_T_LONG,     /* long: a whole number in [min, max] */
    OD_LUA_T_SIZE,     /* size_t: a whole number in [min, max] */
    OD_LUA_T_DOUBLE,   /* double: a finite number in [min, max] */
    OD_LUA_T_BYTES,    /* size_t: a byte count or a size string ("8MiB"), in [min, max] */
    OD_LUA_T_DURATION, /* uint64_t ns: seconds, or a duration string ("90s"), seconds in [min, max] */
    OD_LUA_T_STRING,   /* char *: a string, length in [min, max] (max 0: any); malloc'd copy, the
                        * previous value freed: start from NULL or a malloc'd string */
    OD_LUA_T_FUNCTION, /* int: the line the function is defined at (-1 for a C function); 0 = absent */
    OD_LUA_T_TABLE,    /* nested fields (sub), at the same destination struct */
    OD_LUA_T_CUSTOM,   /* apply() */
} od_lua_type_t;

/** one key of a schema; arrays of them end with {NULL} */
typedef struct od_lua_field {
    const char *name;
    od_lua_type_t type;
    size_t offset; /* of the destination member, offsetof(struct, member) */
    double min, max;
    double def;                     /* od_lua_schema_defaults' value for numeric types */
    const struct od_lua_field *sub; /* OD_LUA_T_TABLE */
    const char *help;               /* what it is, in messages: "worker threads" (or NULL) */
    const char *expect;             /* what a wrong type is told it must be ("a function(order)"); NULL:
                                     * the type's own words */
    int required; /* absence is an error ("missing key"); else absent keys keep dst's value */
    /* OD_LUA_T_CUSTOM: applies the value at idx to the member (dst + offset); 0, or -1 with why:
     * the message follows the field's name and a space ("must be a list of kinds") */
    int (*apply)(lua_State *L, int idx, void *member, od_buf_t *why);
} od_lua_field_t;

/** sets every numeric field (nested ones too) of dst to its default */
void od_lua_schema_defaults(const od_lua_field_t *fields, void *dst);

/**
 * applies the table at idx to dst through `fields`.  Every problem is reported at the
 * position of its field (src, w: the constructor that table was written as, from
 * od_lua_where_root / od_lua_where_field / od_lua_where_item; NULL when unknown), as
 * "FILE:LINE: message\n": keys that are not names, unknown keys (with the likeliest meant one
 * and the known ones), values of the wrong type, numbers out of range or not whole, required
 * keys missing (at the table's own position).  `prefix` names the table in messages ("" at the top,
 * "reserve." inside) and `what` the table itself ("the rules table"; NULL: none).  dst may
 * be partly written when this fails: apply to a copy.
 * @return 0 if successful, -1 if not
 */
int od_lua_schema_apply(lua_State *L, int idx, const od_lua_field_t *fields, void *dst, const char *prefix,
                        const char *what, const od_lua_src_t *src, const od_lua_where_t *w, od_buf_t *errors);

#endif
