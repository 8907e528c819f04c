/*
 * util — unit tests (TAP): the FNV-1a hash against the published test vectors, the duration
 * parsers, the name check with and without dots, and the atomic file writer (the file
 * appears whole, the temporary goes, a failure names the path and leaves the old file).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "base/util.h"

static void test_hash(void)
{
    /* FNV-1a 64 test vectors (Fowler, Noll, Vo) */
    ok(od_hash_bytes("", 0) == 0xcbf29ce484222325ull, "hash of nothing is the offset basis");
    ok(od_hash_bytes("a", 1) == 0xaf63dc4c8601ec8cull, "hash of \"a\"");
    ok(od_hash_str("foobar") == 0x85944171f73967e8ull, "hash of \"foobar\"");
    ok(od_hash_str("foobar") == od_hash_bytes("foobar", 6), "od_hash_str == od_hash_bytes");
    ok(od_hash_add(od_hash_bytes("foo", 3), "bar", 3) == od_hash_str("foobar"),
       "od_hash_add continues a hash");
    ok(od_hash_word(OD_HASH_INIT, 1) != od_hash_word(OD_HASH_INIT, 2), "od_hash_word tells words apart");
}

static void test_duration(void)
{
    static const struct {
        const char *s;
        uint64_t ns;
    } good[] = {{"250ms", 250000000ull},
                {"10s", 10000000000ull},
                {"1.5m", 90000000000ull},
                {"2h", 7200000000000ull},
                {"30", 30000000000ull},
                {"5us", 5000ull},
                {"7ns", 7ull}};
    for (size_t i = 0; i < OD_ARRAY_SIZE(good); i++) {
        uint64_t ns = 0;
        ok(od_parse_duration(good[i].s, &ns) == 0 && ns == good[i].ns, "duration \"%s\" = %llu ns", good[i].s,
           (unsigned long long)good[i].ns);
    }
    static const char *const bad[] = {"", "ms", "-1s", "5 s", "5d", "1e30h", "nan", "inf"};
    for (size_t i = 0; i < OD_ARRAY_SIZE(bad); i++) {
        uint64_t ns = 0;
        ok(od_parse_duration(bad[i], &ns) == -1, "duration \"%s\" refused", bad[i]);
    }
    uint64_t ns = 0;
    ok(od_seconds_to_ns(1.5, 2000000000ull, &ns) == 0 && ns == 1500000000ull, "1.5 seconds");
    ok(od_seconds_to_ns(0, 1, &ns) == 0 && ns == 0, "0 seconds");
    ok(od_seconds_to_ns(3, 2000000000ull, &ns) == -1, "3 seconds over a 2 s bound refused");
    ok(od_seconds_to_ns(-1, 2000000000ull, &ns) == -1, "negative seconds refused");
    ok(od_seconds_to_ns(0.0 / 0.0, 2000000000ull, &ns) == -1, "NaN seconds refused");
}

static void test_names(void)
{
    ok(od_name_valid("abc_DEF-09", 10, 64), "letters, digits, _ and -");
    ok(!od_name_valid("", 0, 64), "empty name refused");
    ok(!od_name_valid("abcd", 4, 3), "longer than max refused");
    ok(!od_name_valid("a.b", 3, 64), "a dot refused without OD_NAME_DOTS");
    ok(!od_name_valid("a/b", 3, 64), "a slash refused");
    ok(!od_name_valid("a\0b", 3, 64), "a NUL refused");
    ok(!od_name_valid("caf\xc3\xa9", 5, 64), "non-ASCII refused");
    ok(od_name_check("cpu-1.pb.gz", 11, 200, OD_NAME_DOTS), "dots allowed with OD_NAME_DOTS");
    ok(!od_name_check(".manifest.jsonl.tmp", 19, 200, OD_NAME_DOTS), "a leading dot refused");
    ok(!od_name_check("a..b", 4, 200, OD_NAME_DOTS), "two dots in a row refused");
    ok(!od_name_check("a/b.c", 5, 200, OD_NAME_DOTS), "a slash refused with OD_NAME_DOTS");
}

static void test_write_atomic(void)
{
    char dir[] = "/tmp/od-util-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        skip(9, "mkdtemp: %s", strerror(errno));
        return;
    }
    char *path = od_asprintf("%s/out.json", dir), *tmp = od_asprintf("%s/.out.json.tmp", dir);
    od_buf_t err = OD_BUF_INIT;
    ok(od_write_file_atomic(path, "{\"a\":1}\n", 8, 0644, &err) == 0, "writes a new file");
    size_t len = 0;
    char *got = od_read_file(path, &len);
    ok(got && len == 8 && memcmp(got, "{\"a\":1}\n", 8) == 0, "the file holds the bytes");
    free(got);
    ok(access(tmp, F_OK) != 0, "no temporary file left behind");
    ok(od_write_file_atomic(path, "x", 1, 0600, &err) == 0, "replaces an existing file");
    got = od_read_file(path, &len);
    ok(got && len == 1 && got[0] == 'x', "the new contents replace the old");
    free(got);
    struct stat st;
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the mode is the one asked for");
    ok(err.len == 0, "nothing reported on success");

    char *missing = od_asprintf("%s/no/such/dir/f", dir);
    errno = 0;
    int rc = od_write_file_atomic(missing, "x", 1, 0644, &err);
    ok(rc == -1 && errno == ENOENT, "a missing directory fails with ENOENT");
    char *want = od_asprintf("cannot write %s: %s", missing, strerror(ENOENT));
    is_str(err.base, want, "the error names the path and the reason");
    free(want);
    free(missing);

    od_buf_reset(&err);
    if (geteuid() != 0 && chmod(dir, 0500) == 0) {
        ok(od_write_file_atomic(path, "y", 1, 0644, &err) == -1, "a read-only directory fails");
        got = od_read_file(path, &len);
        ok(got && len == 1 && got[0] == 'x', "... and the old file is untouched");
        free(got);
        chmod(dir, 0700);
    } else {
        skip(2, "running as root: a read-only directory does not stop writes");
    }
    unlink(path);
    rmdir(dir);
    free(path);
    free(tmp);
    od_buf_dispose(&err);
}

int main(void)
{
    test_hash();
    test_duration();
    test_names();
    test_write_atomic();
    return done_testing();
}
