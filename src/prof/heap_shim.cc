// heap_shim — the two tcmalloc calls that exist only in C++ (MallocExtension::GetHeapSample
// and GetHeapGrowthStacks take a std::string*), wrapped for prof/heap.c.  See prof/heap.h.
//
// In sanitizer builds (-DOD_NO_TCMALLOC) tcmalloc is not linked: the functions are stubs that
// return NULL, and prof/heap.c reports that heap profiling is unavailable.

#include "prof/heap.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#ifndef OD_NO_TCMALLOC
#include <gperftools/malloc_extension.h>

// Copies s into a malloc'd NUL-terminated block (the C side frees it with free(3)).
static char *detach(const std::string &s, size_t *len)
{
    char *p = static_cast<char *>(malloc(s.size() + 1));
    if (p == NULL) return NULL;
    memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
    *len = s.size();
    return p;
}

extern "C" char *od_heap_shim_sample(size_t *len)
{
    try {
        std::string s;
        MallocExtension::instance()->GetHeapSample(&s);
        return detach(s, len);
    } catch (const std::bad_alloc &) {
        return NULL;
    }
}

extern "C" char *od_heap_shim_growth(size_t *len)
{
    try {
        std::string s;
        MallocExtension::instance()->GetHeapGrowthStacks(&s);
        return detach(s, len);
    } catch (const std::bad_alloc &) {
        return NULL;
    }
}

#else // OD_NO_TCMALLOC: the sanitizer owns malloc

extern "C" char *od_heap_shim_sample(size_t *len)
{
    *len = 0;
    return NULL;
}

extern "C" char *od_heap_shim_growth(size_t *len)
{
    *len = 0;
    return NULL;
}

#endif
