/*
 * json — a scenario set as the JSON object GET /scenarios answers (see scenario.h).
 */
#include "scenario/loader.h"

static void put_num(od_buf_t *out, double v)
{
    od_buf_printf(out, "%.10g", v);
}

void od_scenario_set_json(const od_scenario_set_t *s, od_buf_t *out)
{
    od_buf_puts(out, "{\"name\":");
    od_buf_json_str(out, s->name);
    od_buf_puts(out, ",\"file\":");
    od_buf_json_str(out, s->file);
    od_buf_puts(out, ",\"scenarios\":{");
    for (size_t i = 0; i < s->nscenarios; i++) {
        const od_scenario_t *sc = &s->scenarios[i];
        if (i) od_buf_putc(out, ',');
        od_buf_json_str(out, sc->name);
        od_buf_puts(out, ":{\"executor\":");
        od_buf_json_str(out, od_executor_name(sc->executor));
        if (sc->executor == OD_EXEC_CONSTANT_RATE) {
            od_buf_puts(out, ",\"rate\":");
            put_num(out, sc->rate);
        } else if (sc->executor == OD_EXEC_RAMPING_RATE) {
            od_buf_puts(out, ",\"start_rate\":");
            put_num(out, sc->start_rate);
            od_buf_puts(out, ",\"stages\":[");
            for (size_t j = 0; j < sc->nstages; j++) {
                od_buf_printf(out, "%s{\"duration_s\":", j ? "," : "");
                put_num(out, (double)sc->stages[j].duration_ns / 1e9);
                od_buf_puts(out, ",\"target\":");
                put_num(out, sc->stages[j].target);
                od_buf_putc(out, '}');
            }
            od_buf_putc(out, ']');
        }
        od_buf_puts(out, ",\"duration_s\":");
        put_num(out, (double)sc->duration_ns / 1e9);
        od_buf_puts(out, ",\"start_time_s\":");
        put_num(out, (double)sc->start_time_ns / 1e9);
        if (sc->connections) od_buf_printf(out, ",\"connections\":%u", sc->connections);
        if (sc->pipeline > 1) od_buf_printf(out, ",\"pipeline\":%u", sc->pipeline);
        if (sc->follow) od_buf_puts(out, ",\"follow\":true");
        od_buf_putc(out, '}');
    }
    od_buf_puts(out, "}}");
}
