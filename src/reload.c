/* reload — SIGHUP (reload.h) */
#include "reload.h"

#include "base/log.h"

int od_reload(od_app_t *app)
{
    (void)app;
    od_warn("SIGHUP: reloading is not built yet; the running config is kept");
    return -1;
}
