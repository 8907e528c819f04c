/*
 * heap_pages — transparent huge pages for the heap once it has grown.
 *
 * Why: a queue that grows touches fresh memory for every order it holds.  On this kind of
 * virtual machine a 4 KiB page fault costs about 12 µs; a 2 MiB transparent huge page is one
 * fault for 512 of those pages.  What is left is the clearing itself, which is cheap on
 * memory the host already backs (0.06 ns a byte, measured) and about 2 ns a byte on memory
 * it does not (3.4 ns in 4 KiB pages): which one a page is depends on the host, so the other
 * lever is fewer bytes per order (pool/order.h).
 *
 * How: tcmalloc gets its memory from a pluggable system allocator.  od_heap_pages_install
 * puts one in front of tcmalloc's own that passes the first `after_bytes` through unchanged
 * (so an idle server's RSS stays what it was) and then asks for 2 MiB-aligned multiples of
 * 2 MiB and marks them MADV_HUGEPAGE.  Memory tcmalloc releases is released as before (a
 * huge page is split when part of it is released).  Nothing else changes.
 *
 * Threading: call once from main before any thread starts.  tcmalloc calls the allocator
 * under its own lock.  In builds without tcmalloc (the sanitizers own malloc) it does nothing.
 */
#ifndef OD_HEAP_PAGES_H
#define OD_HEAP_PAGES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Heap growth beyond after_bytes from now on comes in MADV_HUGEPAGE chunks of 2 MiB.
 * @return 0 if installed, -1 if not (no tcmalloc, or transparent huge pages are off: *why says
 *         which)
 */
int od_heap_pages_install(size_t after_bytes, const char **why);

#ifdef __cplusplus
}
#endif

#endif
