/* handover — SIGUSR2 (handover.h) */
#include "handover.h"

#include "base/log.h"

int od_handover_begin(od_app_t *app)
{
    (void)app;
    od_warn("SIGUSR2: hand-over is not built yet; this process keeps serving");
    return -1;
}
