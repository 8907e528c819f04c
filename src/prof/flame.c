/*
 * flame — the SVG flame graph writer (see flame.h): a tree of the folded stacks, drawn as
 * one <g> per frame, with a script for zoom and search.
 */
#include "prof/flame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hashmap.h"
#include "prof/render.h"

typedef struct node {
    char *name; /* owned */
    int64_t value;
    struct node *child, *next;
} node_t;

static node_t *node_new(const char *name, size_t len)
{
    node_t *n = od_calloc(1, sizeof(*n));
    n->name = od_strndup(name, len);
    return n;
}

static void node_free(node_t *n)
{
    while (n) {
        node_t *next = n->next;
        node_free(n->child);
        free(n->name);
        free(n);
        n = next;
    }
}

/* Adds the folded stack s[0..len) ("a;b;c") with its value under root; returns its depth. */
static int tree_add(node_t *root, const char *s, size_t len, int64_t v)
{
    int depth = 0;
    root->value += v;
    node_t *cur = root;
    for (const char *end = s + len; s < end;) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        size_t n = semi ? (size_t)(semi - s) : (size_t)(end - s);
        node_t *c = cur->child;
        while (c && (strlen(c->name) != n || memcmp(c->name, s, n) != 0))
            c = c->next;
        if (c == NULL) {
            c = node_new(s, n);
            c->next = cur->child;
            cur->child = c;
        }
        c->value += v;
        cur = c;
        depth++;
        s += n + (semi != NULL);
    }
    return depth;
}

/* The tree of the folded text ("stack N" per line; the count follows the last space, as
 * names may hold spaces); returns the root, *stacks and *max_depth set. */
static node_t *tree_of(const char *folded, size_t *stacks, int *max_depth)
{
    node_t *root = node_new("all", 3);
    *stacks = 0;
    *max_depth = 0;
    for (const char *line = folded; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *sp = NULL;
        for (const char *q = line; q < line + len; q++)
            if (*q == ' ') sp = q;
        long long v = sp ? strtoll(sp + 1, NULL, 10) : 0;
        if (sp && v > 0) { /* a flame graph has no room for negative values */
            int d = tree_add(root, line, (size_t)(sp - line), v);
            if (d > *max_depth) *max_depth = d;
            (*stacks)++;
        }
        line = eol ? eol + 1 : NULL;
    }
    return root;
}

enum { SVG_W = 1200, SVG_PAD = 10, FRAME_H = 16, TOP = 56, BOTTOM = 30, CHAR_W = 7 };

typedef struct svgctx {
    od_buf_t *out;
    int64_t total;
    const char *unit;
    double scale; /* pixels per value unit */
    double height;
} svgctx_t;

static int cmp_node(const void *a, const void *b)
{
    return strcmp((*(node_t *const *)a)->name, (*(node_t *const *)b)->name);
}

static void warm_colour(const char *name, int *r, int *g, int *b)
{
    /* started from the basis the old copies used, so that a frame keeps the colour it had */
    uint64_t h = od_hash_add(1469598103934665603ull, name, strlen(name));
    *r = 205 + (int)(h % 50);
    *g = (int)((h >> 8) % 230);
    *b = (int)((h >> 16) % 55);
}

static void svg_frame(svgctx_t *c, const node_t *n, int64_t x, int depth)
{
    double px = SVG_PAD + (double)x * c->scale, pw = (double)n->value * c->scale;
    if (pw < 0.1) return; /* too narrow to see: skip it and its children */
    double y = c->height - BOTTOM - (depth + 1) * FRAME_H;
    int r, g, b;
    if (depth == 0)
        r = 240, g = 150, b = 40;
    else
        warm_colour(n->name, &r, &g, &b);
    od_buf_t *o = c->out;
    od_buf_printf(o, "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-d=\"%d\" data-n=\"",
                  (double)x / (double)c->total, (double)n->value / (double)c->total, depth);
    od_buf_xml(o, n->name, 4096);
    od_buf_puts(o, "\"><title>");
    od_buf_xml(o, n->name, 4096);
    od_buf_puts(o, " (");
    od_render_value(o, n->value, c->unit);
    od_buf_printf(o, ", %.2f%%)</title>", 100.0 * (double)n->value / (double)c->total);
    od_buf_printf(o,
                  "<rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" "
                  "data-fill=\"rgb(%d,%d,%d)\" rx=\"2\" ry=\"2\"/>",
                  px, y, pw, FRAME_H - 1, r, g, b, r, g, b);
    od_buf_printf(o, "<text x=\"%.2f\" y=\"%.0f\">", px + 3, y + 11.5);
    int chars = (int)((pw - 6) / CHAR_W);
    size_t len = strlen(n->name);
    if (chars >= 3) {
        if (len <= (size_t)chars) {
            od_buf_xml(o, n->name, len);
        } else {
            od_buf_xml(o, n->name, (size_t)chars - 2);
            od_buf_puts(o, "..");
        }
    }
    od_buf_puts(o, "</text></g>\n");

    size_t nc = 0;
    for (const node_t *ch = n->child; ch; ch = ch->next)
        nc++;
    if (nc == 0) return;
    const node_t **kids = od_malloc(nc * sizeof(*kids));
    nc = 0;
    for (const node_t *ch = n->child; ch; ch = ch->next)
        kids[nc++] = ch;
    qsort(kids, nc, sizeof(*kids), cmp_node);
    int64_t cx = x;
    for (size_t i = 0; i < nc; i++) {
        svg_frame(c, kids[i], cx, depth + 1);
        cx += kids[i]->value;
    }
    free(kids);
}

/* Zoom, search and the details line (see flame.h).  Frames keep their fractions in data-*;
 * every redraw places each frame from them. */
static const char script[] =
    "var W=1200,P=10,CW=7,HL='rgb(230,0,230)';\n"
    "var fs=[],term=null;\n" /* the frames follow the script: collected at load */
    "window.addEventListener('load',function(){fs=Array.prototype.slice.call(document.querySelectorAll('g.f')"
    ");});\n"
    "function el(id){return document.getElementById(id);}\n"
    "function num(f,k){return +f.getAttribute('data-'+k);}\n"
    "function fit(n,w){var c=Math.floor((w-6)/CW);if(c<3)return '';"
    "return n.length<=c?n:n.substr(0,c-2)+'..';}\n"
    "function place(f,a,b,zx,zw){f.style.display='';"
    "var px=P+(a-zx)/zw*(W-2*P),pw=(b-a)/zw*(W-2*P);"
    "var r=f.getElementsByTagName('rect')[0],t=f.getElementsByTagName('text')[0];"
    "r.setAttribute('x',px);r.setAttribute('width',pw);t.setAttribute('x',px+3);"
    "t.textContent=fit(f.getAttribute('data-n'),pw);}\n"
    /* zoom: the frame's subtree over the width, its ancestors full width and faded */
    "function zoom(g){var zx=num(g,'x'),zw=num(g,'w'),zd=num(g,'d');if(zd===0)return unzoom();"
    "fs.forEach(function(f){var x=num(f,'x'),w=num(f,'w'),d=num(f,'d');"
    "if(d<zd){if(x<=zx+1e-12&&x+w>=zx+zw-1e-12){place(f,zx,zx+zw,zx,zw);f.classList.add('fade');}"
    "else f.style.display='none';return;}"
    "f.classList.remove('fade');var a=Math.max(x,zx),b=Math.min(x+w,zx+zw);"
    "if(b-a<=1e-12)f.style.display='none';else place(f,a,b,zx,zw);});"
    "el('unzoom').style.display='';}\n"
    "function unzoom(){fs.forEach(function(f){f.classList.remove('fade');"
    "place(f,num(f,'x'),num(f,'x')+num(f,'w'),0,1);});el('unzoom').style.display='none';}\n"
    /* search: highlight, and the share of the profile under a match (the union of ranges) */
    "function pattern(t){try{return new RegExp(t);}"
    "catch(e){return new RegExp(t.replace(/[.*+?^${}()|[\\]\\\\]/g,'\\\\$&'));}}\n"
    "function search(t){var re=pattern(t),iv=[];term=t;"
    "fs.forEach(function(f){var r=f.getElementsByTagName('rect')[0];"
    "if(re.test(f.getAttribute('data-n'))){r.setAttribute('fill',HL);iv.push([num(f,'x'),num(f,'x')+num(f,'w'"
    ")]);}"
    "else r.setAttribute('fill',r.getAttribute('data-fill'));});"
    "iv.sort(function(a,b){return a[0]-b[0];});var sum=0,end=-1;"
    "iv.forEach(function(v){if(v[0]>=end){sum+=v[1]-v[0];end=v[1];}"
    "else if(v[1]>end){sum+=v[1]-end;end=v[1];}});"
    "var m=el('matched');m.textContent='Matched: '+(100*sum).toFixed(1)+'%';m.style.display='';"
    "el('search').textContent='Reset Search';}\n"
    "function unsearch(){term=null;fs.forEach(function(f){var r=f.getElementsByTagName('rect')[0];"
    "r.setAttribute('fill',r.getAttribute('data-fill'));});"
    "el('matched').style.display='none';el('search').textContent='Search';}\n"
    "function ask(){var t=window.prompt('Search for (a regular expression)',term||'');"
    "if(t===null)return;if(t==='')unsearch();else search(t);}\n"
    "document.addEventListener('keydown',function(e){"
    "if(((e.ctrlKey||e.metaKey)&&(e.key==='f'||e.key==='F'))||e.key==='F3'){e.preventDefault();ask();}"
    "else if(e.key==='Escape'){unsearch();unzoom();}});\n"
    "function frame(n){while(n&&!(n.classList&&n.classList.contains('f')))n=n.parentNode;return n;}\n"
    "document.documentElement.addEventListener('click',function(e){var t=e.target;"
    "if(t.id==='search'){if(term===null)ask();else unsearch();return;}"
    "if(t.id==='unzoom'){unzoom();return;}var g=frame(t);if(g)zoom(g);});\n"
    "document.documentElement.addEventListener('mouseover',function(e){var g=frame(e.target);"
    "if(g)el('details').textContent=g.getElementsByTagName('title')[0].textContent;});\n"
    "document.documentElement.addEventListener('mouseout',function(e){"
    "if(frame(e.target))el('details').textContent=' ';});\n";

int od_flame_svg(const od_profile_t *p, od_buf_t *out, od_buf_t *err)
{
    int t = od_render_default_type(p);
    if (t < 0) {
        od_buf_puts(err, "svg: profile has no sample types");
        return -1;
    }
    od_buf_t folded = OD_BUF_INIT;
    if (od_render_folded(p, &folded, err) != 0) {
        od_buf_dispose(&folded);
        return -1;
    }
    size_t n;
    int max_depth;
    node_t *root = tree_of(folded.base, &n, &max_depth);
    od_buf_dispose(&folded);

    svgctx_t c = {out, root->value, p->types[t].unit, 0, 0};
    c.height = TOP + (max_depth + 1) * FRAME_H + BOTTOM;
    c.scale = root->value > 0 ? (double)(SVG_W - 2 * SVG_PAD) / (double)root->value : 0;

    od_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    od_buf_printf(out,
                  "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" "
                  "viewBox=\"0 0 %d %.0f\">\n",
                  SVG_W, c.height, SVG_W, c.height);
    od_buf_puts(out, "<style>text{font-family:Verdana,sans-serif;font-size:12px;fill:#000}"
                     "g.f{cursor:pointer}g.f:hover rect{stroke:#000;stroke-width:0.5}g.fade{opacity:0.5}"
                     ".t{font-size:17px;text-anchor:middle}.s{font-size:12px;text-anchor:middle;fill:#555}"
                     ".b{cursor:pointer;fill:#333}.b:hover{fill:#000;text-decoration:underline}</style>\n");
    od_buf_puts(out, "<script type=\"text/ecmascript\"><![CDATA[\n");
    od_buf_puts(out, script);
    od_buf_puts(out, "]]></script>\n");
    od_buf_printf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%.0f\" fill=\"#f8f8f0\"/>\n", SVG_W,
                  c.height);
    od_buf_printf(out, "<text class=\"t\" x=\"%d\" y=\"24\">", SVG_W / 2);
    od_buf_printf(out, "%s profile: ", od_render_kind_name(p->kind));
    od_buf_xml(out, p->types[t].type ? p->types[t].type : "?", 200);
    od_buf_puts(out, " (");
    od_buf_xml(out, p->types[t].unit ? p->types[t].unit : "?", 200);
    od_buf_puts(out, "), total ");
    od_render_value(out, root->value, p->types[t].unit);
    od_buf_puts(out, "</text>\n");
    od_buf_printf(out, "<text class=\"s\" x=\"%d\" y=\"44\">", SVG_W / 2);
    if (root->value > 0)
        od_buf_printf(out, "%zu stacks; click a frame to zoom, Ctrl-F to search", n);
    else
        od_buf_puts(out, "no samples");
    od_buf_puts(out, "</text>\n");
    od_buf_printf(
        out, "<text id=\"unzoom\" class=\"b\" x=\"%d\" y=\"24\" style=\"display:none\">Reset Zoom</text>\n",
        SVG_PAD);
    od_buf_printf(out,
                  "<text id=\"search\" class=\"b\" x=\"%d\" y=\"24\" text-anchor=\"end\">Search</text>\n",
                  SVG_W - SVG_PAD);
    od_buf_printf(out, "<text id=\"details\" x=\"%d\" y=\"%.0f\"> </text>\n", SVG_PAD, c.height - 10);
    od_buf_printf(
        out, "<text id=\"matched\" x=\"%d\" y=\"%.0f\" text-anchor=\"end\" style=\"display:none\"> </text>\n",
        SVG_W - SVG_PAD, c.height - 10);
    if (root->value > 0) svg_frame(&c, root, 0, 0);
    od_buf_puts(out, "</svg>\n");
    node_free(root);
    return 0;
}
