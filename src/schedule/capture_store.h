/*
 * capture_store — the directory the profiling schedule writes its captures to
 * (profiling.output_dir) and the manifest that lists them; GET /profiles (http/profiles.c)
 * reads it.
 *
 * Layout: one file per capture, YYYYmmdd-HHMMSS-<kind>[-<label>][-N].<ext> (UTC, N numbering
 * a second capture of the same kind and label within one second), and manifest.jsonl with one
 * JSON object per capture, oldest first: name, kind, label, format, bytes, started_at,
 * seconds, trigger, entry ("FILE:LINE"), line, content_type.
 *
 * Invariants: a capture file is written whole under ".NAME.tmp" and renamed into place, and
 * only then gets its manifest line, appended in one write; so a name in the manifest is a
 * complete file, and a half-written line (no newline) is skipped by readers.  After each
 * write the oldest captures are pruned to keep_files and keep_bytes, rewriting the manifest
 * by an atomic rename.
 *
 * Threads and locks: an od_capture_store_t is the only writer of its directory; its "manifest"
 * lock serializes od_capture_store_put (capture threads write at once).  Readers
 * (od_manifest_read) take no lock and may run on any thread: the manifest only ever changes
 * by appending one whole line or by an atomic rename.
 */
#ifndef OD_CAPTURE_STORE_H
#define OD_CAPTURE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

#define OD_MANIFEST "manifest.jsonl"
#define OD_CAPTURE_NAME_MAX 200 /* bytes in a capture's file name */

/* --- writing (the schedule) ------------------------------------------------------------------ */

typedef struct od_capture_store od_capture_store_t;

/** what a capture's manifest line says about it, besides its name and size (all borrowed) */
typedef struct od_capture_record {
    const char *kind;         /* "cpu", "memory", ... */
    const char *label;        /* "" for none */
    const char *format;       /* the output format's name, e.g. "pprof" */
    const char *ext;          /* the file name's extension, e.g. "pb.gz" */
    const char *content_type; /* served with it by GET /profiles/{name} */
    uint64_t started_wall_ns;
    double seconds;      /* the capture's window, 0 for a snapshot */
    const char *trigger; /* "at", "every" or "when" */
    const char *script;  /* the schedule entry that made it: script path and line */
    int line;
} od_capture_record_t;

/**
 * opens dir (created if missing; a failure is logged and retried at each write), removes the
 * temporaries a stopped run left behind and prunes to the limits (they may have shrunk since).
 * dir is copied.
 * @return the store; release it with od_capture_store_destroy
 */
od_capture_store_t *od_capture_store_create(const char *dir, uint64_t keep_files, uint64_t keep_bytes);
/** frees st (no writer may still be running); NULL is fine */
void od_capture_store_destroy(od_capture_store_t *st);
/**
 * writes data as a new capture file named after rec, appends its manifest line and prunes;
 * a failure is logged with rec's "FILE:LINE" and leaves no trace in the manifest.  Thread-safe.
 * @return 0 if successful, -1 if not
 */
int od_capture_store_put(od_capture_store_t *st, const od_capture_record_t *rec, const od_buf_t *data);

/* --- reading (GET /profiles) ----------------------------------------------------------------- */

/** the manifest's parsed lines, oldest first (lines that do not parse are dropped); owns them */
typedef struct od_manifest {
    json_t **items;
    size_t n, cap;
} od_manifest_t;

/** reads dir's manifest into *m (empty when there is none); release with od_manifest_dispose */
void od_manifest_read(const char *dir, od_manifest_t *m);
void od_manifest_dispose(od_manifest_t *m);
/** @return an item's file name (borrowed from the item) */
const char *od_manifest_item_name(json_t *j);
/** @return 1 if s (len bytes) is a name the directory may hold (od_name_check with
 *  OD_NAME_DOTS: no path, not hidden, not a temporary), else 0 */
int od_capture_name_ok(const char *s, size_t len);

#endif
