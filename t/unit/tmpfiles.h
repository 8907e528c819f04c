/*
 * Helpers shared by the unit tests that load scripts from files (lua_state, lua_where, rules,
 * schedule): a scratch directory of the test's own and put(), which writes a file there.
 * Each test makes `tmpdir` itself (mkdtemp) before its first put.
 */
#ifndef OD_T_TMPFILES_H
#define OD_T_TMPFILES_H

#include <stdio.h>

#include "base/log.h"

static char tmpdir[64];

/* writes text to tmpdir/name; the path returned stays valid for the next 7 calls */
static const char *put(const char *name, const char *text)
{
    static char path[8][128];
    static int n;
    char *p = path[n++ % 8];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    if (f == NULL) od_fatal("cannot write %s", p);
    fputs(text, f);
    fclose(f);
    return p;
}

#endif
