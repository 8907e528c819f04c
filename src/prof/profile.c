#include "prof/profile.h"

#include <stdlib.h>
#include <string.h>

void od_profile_init(od_profile_t *p, od_prof_kind_t kind)
{
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    od_buf_init(&p->raw_legacy);
}

void od_profile_dispose(od_profile_t *p)
{
    for (size_t i = 0; i < p->nsamples; i++) {
        od_prof_sample_t *s = &p->samples[i];
        free(s->pcs);
        for (size_t j = 0; j < s->nlabels; j++) {
            free(s->labels[j].key);
            free(s->labels[j].str);
        }
    }
    free(p->samples);
    free(p->comment);
    od_buf_dispose(&p->raw_legacy);
    memset(p, 0, sizeof(*p));
}

void od_profile_add_type(od_profile_t *p, const char *type, const char *unit)
{
    OD_ASSERT(p->ntypes < OD_PROF_MAX_TYPES);
    p->types[p->ntypes].type = type;
    p->types[p->ntypes].unit = unit;
    p->ntypes++;
}

od_prof_sample_t *od_profile_add(od_profile_t *p, const uintptr_t *pcs, size_t npcs, const int64_t *values)
{
    if (p->nsamples == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        p->samples = od_realloc(p->samples, p->cap * sizeof(*p->samples));
    }
    od_prof_sample_t *s = &p->samples[p->nsamples++];
    memset(s, 0, sizeof(*s));
    s->pcs = od_malloc((npcs ? npcs : 1) * sizeof(*pcs));
    if (npcs) memcpy(s->pcs, pcs, npcs * sizeof(*pcs));
    s->npcs = npcs;
    for (size_t i = 0; i < p->ntypes; i++)
        s->values[i] = values[i];
    return s;
}

void od_profile_label_str(od_prof_sample_t *s, const char *key, const char *value)
{
    OD_ASSERT(s->nlabels < OD_PROF_MAX_LABELS);
    od_prof_label_t *l = &s->labels[s->nlabels++];
    l->key = od_strdup(key);
    l->str = od_strdup(value);
}

void od_profile_label_num(od_prof_sample_t *s, const char *key, int64_t value, const char *unit)
{
    OD_ASSERT(s->nlabels < OD_PROF_MAX_LABELS);
    od_prof_label_t *l = &s->labels[s->nlabels++];
    l->key = od_strdup(key);
    l->num = value;
    l->num_unit = unit;
}
