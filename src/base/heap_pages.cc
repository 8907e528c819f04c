// heap_pages — transparent huge pages for tcmalloc's heap beyond a threshold.  See
// base/heap_pages.h.  C++ only because tcmalloc's system-allocator hook is a C++ class.

#include "base/heap_pages.h"

#include <cstdio>
#include <cstring>
#include <new>

#ifndef OD_NO_TCMALLOC
#include <gperftools/malloc_extension.h>
#include <sys/mman.h>

namespace
{

const size_t kHuge = size_t(2) << 20;

class HugePages : public SysAllocator
{
  public:
    HugePages(SysAllocator *next, size_t after) : next_(next), left_(after) {}

    // tcmalloc holds its system-allocator lock here, so the counter needs no lock of its own
    void *Alloc(size_t size, size_t *actual, size_t alignment) override
    {
        if (left_ > 0) {
            void *p = next_->Alloc(size, actual, alignment);
            if (p != NULL) left_ -= *actual < left_ ? *actual : left_;
            return p;
        }
        size_t want = (size + kHuge - 1) & ~(kHuge - 1);
        void *p = next_->Alloc(want, actual, alignment > kHuge ? alignment : kHuge);
        if (p == NULL) return next_->Alloc(size, actual, alignment);
        madvise(p, *actual & ~(kHuge - 1), MADV_HUGEPAGE); // advice: failure changes nothing
        return p;
    }

  private:
    SysAllocator *next_;
    size_t left_;
};

// "[never]" in the kernel's setting means MADV_HUGEPAGE would do nothing
bool thp_possible()
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
    if (f == NULL) return false;
    char line[128] = "";
    bool ok = fgets(line, sizeof(line), f) != NULL && strstr(line, "[never]") == NULL;
    fclose(f);
    return ok;
}

// never destroyed: tcmalloc may grow the heap during exit
alignas(HugePages) unsigned char storage[sizeof(HugePages)];

} // namespace

extern "C" int od_heap_pages_install(size_t after_bytes, const char **why)
{
    if (!thp_possible()) {
        *why = "transparent huge pages are off in this kernel";
        return -1;
    }
    MallocExtension *m = MallocExtension::instance();
    SysAllocator *next = m->GetSystemAllocator();
    if (next == NULL) {
        *why = "this malloc has no system-allocator hook";
        return -1;
    }
    m->SetSystemAllocator(new (storage) HugePages(next, after_bytes));
    return 0;
}

#else // OD_NO_TCMALLOC: the sanitizer owns malloc

extern "C" int od_heap_pages_install(size_t after_bytes, const char **why)
{
    (void)after_bytes;
    *why = "this build has no tcmalloc";
    return -1;
}

#endif
