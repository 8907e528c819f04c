/*
 * arrival — when an open-model scenario's arrivals are due (see scenario.h).
 */
#include <math.h>

#include "scenario/scenario.h"

/* Arrival k happens when the cumulative count of arrivals, the integral of the rate, reaches k:
 * at k / rate for a constant rate, and by solving the quadratic of a linear ramp per stage. */
uint64_t od_scenario_arrival_ns(const od_scenario_t *sc, uint64_t k)
{
    if (sc->executor == OD_EXEC_CONSTANT_RATE) {
        double t = (double)k / sc->rate * 1e9;
        return t < (double)sc->duration_ns ? (uint64_t)t : UINT64_MAX;
    }
    if (sc->executor != OD_EXEC_RAMPING_RATE) return UINT64_MAX;
    double m = (double)k; /* arrivals still to place */
    double t0 = 0, a = sc->start_rate;
    for (size_t i = 0; i < sc->nstages; i++) {
        double d = (double)sc->stages[i].duration_ns / 1e9, b = sc->stages[i].target;
        double in_stage = (a + b) / 2 * d;
        if (m < in_stage) {
            double x;
            double slope = d > 0 ? (b - a) / d : 0;
            double disc = a * a + 2 * slope * m;
            if (disc < 0) disc = 0;
            double den = a + sqrt(disc);
            x = den > 0 ? 2 * m / den : 0;
            if (x > d) x = d;
            double t = (t0 + x) * 1e9;
            return t < (double)sc->duration_ns ? (uint64_t)t : UINT64_MAX;
        }
        m -= in_stage;
        t0 += d;
        a = b;
    }
    return UINT64_MAX;
}

uint64_t od_scenario_arrivals(const od_scenario_t *sc)
{
    double total;
    if (sc->executor == OD_EXEC_CONSTANT_RATE) {
        total = sc->rate * (double)sc->duration_ns / 1e9;
    } else if (sc->executor == OD_EXEC_RAMPING_RATE) {
        total = 0;
        double a = sc->start_rate;
        for (size_t i = 0; i < sc->nstages; i++) {
            total += (a + sc->stages[i].target) / 2 * (double)sc->stages[i].duration_ns / 1e9;
            a = sc->stages[i].target;
        }
    } else {
        return 0;
    }
    /* arrivals 0, 1, ... strictly before the end: ceil(total), with rounding noise removed */
    uint64_t n = (uint64_t)ceil(total - 1e-6);
    while (n > 0 && od_scenario_arrival_ns(sc, n - 1) == UINT64_MAX)
        n--;
    return n;
}
