/* The request counters: see counters.h. */
#include "http/counters.h"

uint64_t od_http_counts[OD_ROUTE_LABELS_MAX][OD_METHOD_COUNT][OD_HTTP_CODES];

/* the codes orderd answers (request.c's reasons) and those h2o writes itself (fallback.c) */
static const short codes[OD_HTTP_CODES - 1] = {200, 201, 202, 204, 301, 302, 304, 400, 401, 403,
                                               404, 405, 406, 408, 409, 411, 413, 414, 415, 416,
                                               417, 422, 429, 431, 500, 501, 502, 503, 504, 505};

int od_http_code_col(int status)
{
    /* a binary search of 30 sorted codes: five compares */
    int lo = 0, hi = OD_HTTP_CODES - 2;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (codes[mid] == status) return mid;
        if (codes[mid] < status)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return OD_HTTP_CODES - 1;
}

int od_http_code_of_col(int col)
{
    return col >= 0 && col < OD_HTTP_CODES - 1 ? codes[col] : 0;
}
