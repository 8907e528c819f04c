/*
 * Where each field of a script's returned table was written: a tokenizer for Lua source and
 * the map it builds (see lua_layer.h for why a scanner), and the one FILE:LINE reporter.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_layer.h"

struct od_lua_where {
    int line, col;
    char *key;                    /* a keyed field's name; NULL for an element or a bare constructor */
    struct od_lua_where **fields; /* when the value is a constructor: its fields and elements */
    size_t nfields, cap, nitems;  /* nitems: the positional ones among them */
    size_t index;                 /* a positional element's index (1-based), else 0 */
};

struct od_lua_src {
    char *path;
    int columns;
    od_lua_where_t *root;
    od_lua_where_t **all; /* every node, for od_lua_src_close */
    size_t nall, capall;
};

/* --- tokens --------------------------------------------------------------------------------- */

typedef enum { TK_NAME, TK_STRING, TK_OTHER, TK_EOF } tk_kind_t;

typedef struct token {
    tk_kind_t kind;
    const char *s; /* TK_NAME: the name; TK_STRING: the contents of a short string */
    size_t len;
    char op; /* TK_OTHER: the first character ('=' only for a lone '=') */
    int line, col;
} token_t;

static int is_name_start(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_name_char(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* the level of a long bracket opening at p ("[[" is 0, "[==[" is 2), or -1 */
static int long_level(const char *p, const char *end)
{
    if (p >= end || *p != '[') return -1;
    int n = 0;
    for (p++; p < end && *p == '='; p++)
        n++;
    return p < end && *p == '[' ? n : -1;
}

typedef struct lexer {
    const char *p, *end, *line_start;
    int line;
} lexer_t;

static void newline(lexer_t *lx, const char *at)
{
    lx->line++;
    lx->line_start = at + 1;
}

/* skips a long bracket of `level` whose opening ends before lx->p; stops after its close */
static void skip_long(lexer_t *lx, int level)
{
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (c == '\n') newline(lx, lx->p);
        if (c == ']') {
            const char *q = lx->p + 1;
            int n = 0;
            while (q < lx->end && *q == '=') {
                n++;
                q++;
            }
            if (n == level && q < lx->end && *q == ']') {
                lx->p = q + 1;
                return;
            }
        }
        lx->p++;
    }
}

static token_t next_token(lexer_t *lx)
{
    for (;;) {
        if (lx->p >= lx->end) return (token_t){.kind = TK_EOF, .line = lx->line};
        char c = *lx->p;
        if (c == '\n') {
            newline(lx, lx->p++);
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            lx->p++;
        } else if (c == '-' && lx->p + 1 < lx->end && lx->p[1] == '-') {
            lx->p += 2;
            int level = long_level(lx->p, lx->end);
            if (level >= 0) {
                lx->p += level + 2;
                skip_long(lx, level);
            } else {
                while (lx->p < lx->end && *lx->p != '\n')
                    lx->p++;
            }
        } else if (c == '#' && lx->p == lx->line_start && lx->line == 1 && lx->p + 1 < lx->end &&
                   lx->p[1] == '!') { /* a #! line, as luaL_loadfile skips it */
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else {
            break;
        }
    }
    token_t t = {.line = lx->line, .col = (int)(lx->p - lx->line_start) + 1, .s = lx->p};
    char c = *lx->p;
    if (is_name_start((unsigned char)c)) {
        while (lx->p < lx->end && is_name_char((unsigned char)*lx->p))
            lx->p++;
        t.kind = TK_NAME;
        t.len = (size_t)(lx->p - t.s);
    } else if (c == '"' || c == '\'') {
        t.kind = TK_STRING;
        t.s = ++lx->p;
        int escaped = 0;
        while (lx->p < lx->end && *lx->p != c && *lx->p != '\n') {
            if (*lx->p == '\\' && lx->p + 1 < lx->end) {
                escaped = 1;
                if (*++lx->p == '\n') newline(lx, lx->p);
            }
            lx->p++;
        }
        t.len = (size_t)(lx->p - t.s);
        if (escaped) t.s = NULL; /* not compared as a key: unescaping is not worth it here */
        if (lx->p < lx->end && *lx->p == c) lx->p++;
    } else if (long_level(lx->p, lx->end) >= 0) {
        int level = long_level(lx->p, lx->end);
        lx->p += level + 2;
        t.kind = TK_STRING;
        t.s = NULL;
        skip_long(lx, level);
    } else if (c >= '0' && c <= '9') {
        t.kind = TK_OTHER;
        t.op = '0';
        for (lx->p++; lx->p < lx->end; lx->p++) {
            char d = *lx->p, prev = lx->p[-1];
            if (!(is_name_char((unsigned char)d) || d == '.' ||
                  ((d == '+' || d == '-') && (prev == 'e' || prev == 'E' || prev == 'p' || prev == 'P'))))
                break;
        }
    } else {
        t.kind = TK_OTHER;
        t.op = c;
        lx->p++;
        /* '==', '~=', '<=', '>=' are not assignments */
        if ((c == '=' || c == '~' || c == '<' || c == '>') && lx->p < lx->end && *lx->p == '=') {
            lx->p++;
            t.op = 'c';
        }
    }
    return t;
}

static int is_word(const token_t *t, const char *w)
{
    return t->kind == TK_NAME && t->len == strlen(w) && memcmp(t->s, w, t->len) == 0;
}

static int is_op(const token_t *t, char op)
{
    return t->kind == TK_OTHER && t->op == op;
}

/* --- the map --------------------------------------------------------------------------------- */

static od_lua_where_t *new_node(od_lua_src_t *src, const token_t *at)
{
    od_lua_where_t *w = od_calloc(1, sizeof(*w));
    w->line = at->line;
    w->col = at->col;
    if (src->nall == src->capall)
        src->all =
            od_realloc(src->all, (src->capall = src->capall ? 2 * src->capall : 64) * sizeof(*src->all));
    src->all[src->nall++] = w;
    return w;
}

static void add_child(od_lua_where_t *parent, od_lua_where_t *child)
{
    if (parent->nfields == parent->cap)
        parent->fields = od_realloc(parent->fields, (parent->cap = parent->cap ? 2 * parent->cap : 8) *
                                                        sizeof(*parent->fields));
    parent->fields[parent->nfields++] = child;
}

typedef enum { FR_CONS, FR_PAREN, FR_BRACKET, FR_BLOCK } frame_kind_t;

typedef struct frame {
    frame_kind_t kind;
    od_lua_where_t *node; /* FR_CONS */
    int expect;           /* FR_CONS: the next token starts a field or element */
} frame_t;

typedef struct scan {
    token_t *tk;
    size_t ntk;
    frame_t *stack;
    size_t depth, cap;
} scan_t;

static void push(scan_t *s, frame_kind_t kind, od_lua_where_t *node)
{
    if (s->depth == s->cap)
        s->stack = od_realloc(s->stack, (s->cap = s->cap ? 2 * s->cap : 16) * sizeof(*s->stack));
    s->stack[s->depth++] = (frame_t){kind, node, kind == FR_CONS};
}

/* pops up to and including the innermost frame of `kind` (none if there is none: unbalanced) */
static void pop(scan_t *s, frame_kind_t kind)
{
    size_t d = s->depth;
    while (d > 0 && s->stack[d - 1].kind != kind)
        d--;
    if (d > 0) s->depth = d - 1;
}

/* at tokens i..: `[ "key" ] =`?  Sets *after to the token after `=`. */
static int string_key(const scan_t *s, size_t i, size_t *after)
{
    if (i + 3 < s->ntk && is_op(&s->tk[i], '[') && s->tk[i + 1].kind == TK_STRING && s->tk[i + 1].s &&
        is_op(&s->tk[i + 2], ']') && is_op(&s->tk[i + 3], '=')) {
        *after = i + 4;
        return 1;
    }
    return 0;
}

/* at tokens i..: `[ expr ] =`?  Sets *after to the token after `=`. */
static int expr_key(const scan_t *s, size_t i, size_t *after)
{
    if (!is_op(&s->tk[i], '[')) return 0;
    int d = 0;
    for (size_t j = i; j < s->ntk; j++) {
        if (is_op(&s->tk[j], '[')) d++;
        if (is_op(&s->tk[j], ']') && --d == 0) {
            if (j + 1 < s->ntk && is_op(&s->tk[j + 1], '=')) {
                *after = j + 2;
                return 1;
            }
            return 0;
        }
    }
    return 0;
}

static char *dup_n(const char *p, size_t n)
{
    char *k = od_malloc(n + 1);
    memcpy(k, p, n);
    k[n] = '\0';
    return k;
}

static void build(od_lua_src_t *src, scan_t *s)
{
    od_lua_where_t *ret_root = NULL; /* the last `return {` at the top level */
    const token_t *ret_name = NULL;  /* or the last `return NAME` */
    struct {
        const token_t *name;
        od_lua_where_t *node;
    } assigned[64]; /* top-level `NAME = {` (the latest of each) */
    size_t nassigned = 0;
    int last_return_table = 0;

    for (size_t i = 0; i < s->ntk && s->tk[i].kind != TK_EOF; i++) {
        const token_t *t = &s->tk[i];
        frame_t *top = s->depth ? &s->stack[s->depth - 1] : NULL;
        od_lua_where_t *field = NULL; /* a field or element starting here */
        if (top && top->kind == FR_CONS && top->expect && !is_op(t, '}') && !is_op(t, ',') &&
            !is_op(t, ';')) {
            top->expect = 0;
            size_t after;
            field = new_node(src, t);
            if (t->kind == TK_NAME && i + 1 < s->ntk && is_op(&s->tk[i + 1], '=')) {
                field->key = dup_n(t->s, t->len);
                i += 2;
            } else if (string_key(s, i, &after)) {
                field->key = dup_n(s->tk[i + 1].s, s->tk[i + 1].len);
                i = after;
            } else if (expr_key(s, i, &after)) {
                i = after; /* a computed key: not findable, and not an element */
            } else {
                field->index = ++top->node->nitems;
            }
            add_child(top->node, field);
            if (i >= s->ntk) break;
            t = &s->tk[i];
        }
        if (is_op(t, '{')) {
            od_lua_where_t *node = field ? field : new_node(src, t); /* `key = {` is the field */
            if (s->depth == 0) {
                if (i > 0 && is_word(&s->tk[i - 1], "return")) {
                    ret_root = node;
                    last_return_table = 1;
                } else if (i > 1 && is_op(&s->tk[i - 1], '=') && s->tk[i - 2].kind == TK_NAME &&
                           nassigned < OD_ARRAY_SIZE(assigned)) {
                    assigned[nassigned].name = &s->tk[i - 2];
                    assigned[nassigned++].node = node;
                }
            }
            push(s, FR_CONS, node);
        } else if (is_op(t, '}')) {
            pop(s, FR_CONS);
        } else if (is_op(t, '(')) {
            push(s, FR_PAREN, NULL);
        } else if (is_op(t, ')')) {
            pop(s, FR_PAREN);
        } else if (is_op(t, '[')) {
            push(s, FR_BRACKET, NULL);
        } else if (is_op(t, ']')) {
            pop(s, FR_BRACKET);
        } else if ((is_op(t, ',') || is_op(t, ';')) && top && top->kind == FR_CONS) {
            top->expect = 1;
        } else if (is_word(t, "function") || is_word(t, "do") || is_word(t, "if") || is_word(t, "repeat")) {
            push(s, FR_BLOCK, NULL);
        } else if (is_word(t, "end") || is_word(t, "until")) {
            pop(s, FR_BLOCK);
        } else if (s->depth == 0 && i > 0 && is_word(&s->tk[i - 1], "return") && t->kind == TK_NAME) {
            ret_name = t;
            last_return_table = 0;
        }
    }
    if (last_return_table) {
        src->root = ret_root;
    } else if (ret_name) {
        for (size_t k = nassigned; k-- > 0;)
            if (assigned[k].name->len == ret_name->len &&
                memcmp(assigned[k].name->s, ret_name->s, ret_name->len) == 0) {
                src->root = assigned[k].node;
                break;
            }
    }
}

od_lua_src_t *od_lua_src_open(const char *path, int columns)
{
    od_lua_src_t *src = od_calloc(1, sizeof(*src));
    src->path = od_strdup(path);
    src->columns = columns;
    size_t len;
    char *text = od_read_file(path, &len);
    if (text == NULL) return src;
    lexer_t lx = {.p = text, .end = text + len, .line_start = text, .line = 1};
    scan_t s = {0};
    size_t cap = 0;
    do {
        if (s.ntk == cap) s.tk = od_realloc(s.tk, (cap = cap ? 2 * cap : 256) * sizeof(*s.tk));
        s.tk[s.ntk] = next_token(&lx);
    } while (s.tk[s.ntk++].kind != TK_EOF);
    build(src, &s);
    free(s.tk);
    free(s.stack);
    free(text);
    return src;
}

void od_lua_src_close(od_lua_src_t *src)
{
    if (src == NULL) return;
    for (size_t i = 0; i < src->nall; i++) {
        free(src->all[i]->key);
        free(src->all[i]->fields);
        free(src->all[i]);
    }
    free(src->all);
    free(src->path);
    free(src);
}

const char *od_lua_src_path(const od_lua_src_t *src)
{
    return src->path;
}

const od_lua_where_t *od_lua_where_root(const od_lua_src_t *src)
{
    return src ? src->root : NULL;
}

const od_lua_where_t *od_lua_where_field(const od_lua_where_t *w, const char *key)
{
    if (w == NULL || key == NULL) return NULL;
    for (size_t i = w->nfields; i-- > 0;) /* the last one written is the one Lua keeps */
        if (w->fields[i]->key && strcmp(w->fields[i]->key, key) == 0) return w->fields[i];
    return NULL;
}

const od_lua_where_t *od_lua_where_item(const od_lua_where_t *w, size_t i)
{
    if (w == NULL || i == 0 || i > w->nitems) return NULL;
    for (size_t k = 0; k < w->nfields; k++)
        if (w->fields[k]->index == i) return w->fields[k];
    return NULL;
}

size_t od_lua_where_count(const od_lua_where_t *w)
{
    return w ? w->nitems : 0;
}

int od_lua_where_line(const od_lua_where_t *w)
{
    return w ? w->line : 0;
}

int od_lua_where_col(const od_lua_where_t *w)
{
    return w ? w->col : 0;
}

void od_lua_report(od_buf_t *errors, const od_lua_src_t *src, const od_lua_where_t *w, const char *fmt, ...)
{
    if (errors == NULL) return;
    int line = w ? w->line : 1, col = w ? w->col : 1;
    if (src->columns)
        od_buf_printf(errors, "%s:%d:%d: ", src->path, line, col);
    else
        od_buf_printf(errors, "%s:%d: ", src->path, line);
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(errors, fmt, ap);
    va_end(ap);
    od_buf_putc(errors, '\n');
}
