/*
 * schedule: od_schedule_check — the entries' and their keys' lines (from the lua layer's
 * source map, past comments, strings and long brackets holding braces; line 1 when the list
 * is built in code), and the problems it reports.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "schedule/schedule.h"
#include "tap.h"
#include "tmpfiles.h"

/* checks `text`; returns the problems (static buffer) */
static const char *check(const char *text, int *rc)
{
    static od_buf_t errors;
    od_buf_reset(&errors);
    *rc = od_schedule_check(put("s.lua", text), 300, &errors);
    return errors.base ? errors.base : "";
}

static int has(const char *out, const char *line_and_msg)
{
    char want[256];
    snprintf(want, sizeof(want), "%s/s.lua:%s", tmpdir, line_and_msg);
    if (strstr(out, want) != NULL) return 1;
    printf("# wanted \"%s\" in:\n", want);
    for (const char *l = out; *l;) { /* the output, as TAP comments */
        const char *nl = strchr(l, '\n');
        int n = nl ? (int)(nl - l) : (int)strlen(l);
        printf("#   %.*s\n", n, l);
        l += n + (nl != NULL);
    }
    return 0;
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/orderd-sched-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) od_fatal("mkdtemp failed");
    od_log_level = OD_LOG_ERROR;
    int rc;
    const char *out;

    out = check("return {}\n", &rc);
    is_int(rc, 0, "an empty schedule is valid");
    is_int(od_schedule_check("", 300, NULL), 0, "no schedule is valid");

    out = check("-- a { brace in a comment\n"
                "--[[ and { more\n"
                "  { here } ]]\n"
                "local x = \"{ in a string }\" .. '{' .. [[\n"
                "{ long string }]]\n"
                "return {\n"
                "  { at = '1s', capture = 'cpu' }, -- {\n"
                "  --[==[ { ]==]\n"
                "  { every = '2s',\n"
                "    capture = { 'memory', 'gc' } },\n"
                "  { at = '3s', capture = 'nope' },\n"
                "}\n",
                &rc);
    is_int(rc, -1, "an unknown kind fails");
    ok(has(out, "11: entry 3: capture names an unknown kind \"nope\""),
       "its line, past braces in comments and strings");

    out = check("local list = {}\n"
                "list[1] = { when = function(s)\n"
                "  return true end, capture = 'cpu', cooldown = 'never' }\n"
                "return list\n",
                &rc);
    ok(has(out, "1: entry 1: cooldown must be a duration"),
       "a list built in code: no position for its fields, reported at line 1 with the entry named");

    out = check("return {\n"
                "  { at = -1, capture = 'cpu' },\n"
                "  { every = '0.5s', capture = 'cpu' },\n"
                "  { at = '1s', capture = {} },\n"
                "  { at = '1s', capture = { 'cpu', 'cpu' } },\n"
                "  { at = '1s', capture = 'trace', format = 'svg' },\n"
                "  { at = '1s', capture = 'cpu', seconds = 0 },\n"
                "  { at = '1s', capture = 'cpu', label = ('x'):rep(60) },\n"
                "  'cpu',\n"
                "  { at = '1s', capture = 'heap', format = 'folded', seconds = '2s' },\n"
                "}\n",
                &rc);
    is_int(rc, -1, "bad entries fail");
    ok(has(out, "2: entry 1: at must be a duration"), "a negative duration");
    ok(has(out,
           "3: entry 2: every must be a duration (seconds, or a string such as \"90s\" or \"5m\") from 1s"),
       "a period under 1 s");
    ok(has(out, "4: entry 3: capture lists no kind"), "an empty capture list");
    ok(has(out, "5: entry 4: capture lists \"cpu\" twice"), "a kind twice");
    ok(has(out, "6: entry 5: format applies to cpu"), "a format on trace");
    ok(has(out, "7: entry 6: seconds must be from 1 to 300"), "zero seconds");
    ok(has(out, "8: entry 7: label must be"), "a long label");
    ok(has(out, "9: entry 8 must be a table"), "an entry that is not a table");
    ok(!strstr(out, "entry 9"), "aliases (heap), formats and duration strings for seconds are fine");

    out = check("return {\n"
                "  { at = '1s',\n"
                "    capture = 'cpu', colour = 'red' },\n"
                "  { every = '5s', capture = 'gc',\n"
                "    cooldown = '9s' },\n"
                "  { at = '1s', capture = 'cpu', [7] = true },\n"
                "}\n",
                &rc);
    is_int(rc, -1, "unknown keys fail");
    ok(has(out, "3: entry 1: unknown key \"colour\""), "an unknown key, at its own line");
    ok(has(out, "5: entry 2: cooldown applies to when entries only"), "cooldown without when, at its line");
    ok(has(out, "6: entry 3: ") && strstr(out, "keys must be names") && strstr(out, "got a number key"),
       "a key that is not a name");

    out = check("return {\n"
                "  { at = '1s', capture = 'cpu' },\n"
                "  extra = 1,\n"
                "}\n",
                &rc);
    ok(rc == -1 && has(out, "3: the schedule is a list of entries") && strstr(out, "unexpected key extra"),
       "a named key in the list, at its line");

    out = check("while true do end\n", &rc);
    ok(rc == -1 && has(out, "1: when(s) exceeded its budget"), "an endless script is stopped");

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return done_testing();
}
