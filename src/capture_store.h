/*
 * capture_store — the directory the schedule writes its captures to (profiling.output_dir):
 * each file written whole under a temporary name and renamed into place, one JSON line per
 * capture in manifest.jsonl, pruned to profiling.keep; what a stopped run left half-written
 * removed at start.  GET /profiles reads it.
 *
 * Locks: the "manifest" lock (manifest_lock) serializes the writers of the directory.
 * Readers take no lock: the manifest only changes by appending one whole line or by an atomic
 * rename.
 */
#ifndef OD_CAPTURE_STORE_H
#define OD_CAPTURE_STORE_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST "manifest.jsonl"

extern pthread_mutex_t manifest_lock;

int make_dirs(const char *dir);
int write_atomic(const char *dir, const char *name, const void *buf, size_t len);
/* the manifest's parsed lines, oldest first (lines that do not parse are dropped) */
typedef struct manifest {
    json_t **items;
    size_t n, cap;
} manifest_t;
void manifest_read(const char *dir, manifest_t *m);
void manifest_dispose(manifest_t *m);
const char *item_name(json_t *j);
uint64_t item_bytes(json_t *j);
int name_ok(const char *s, size_t len);
void prune_locked(const char *dir, uint64_t keep_files, uint64_t keep_bytes);
void remove_temporaries(const char *dir);

#endif
