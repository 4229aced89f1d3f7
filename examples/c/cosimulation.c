/*
 * cosimulation.c: a co-simulation loop in C through a session (README "Sessions").
 *
 *   cosimulation [prosumers] [steps]      (defaults: 12300 prosumers, 96 quarter-hours)
 *
 * The headline case (two_layer_voltage on the IEEE 123-bus feeder) is generated once and kept in
 * an esm_session; every quarter-hour the loop hands it an update document with each prosumer's
 * load and PV for that quarter-hour as columns, built with json-c, and reads the step's status and
 * its community prices back. Load and PV follow the daily shapes of examples/python/cosimulation.py.
 * At the end the session's document (esm_session_state) is cleared afresh with esm_clear: its
 * objective must equal the last step's. Exit status 0 when every step cleared and that holds.
 */
#define _POSIX_C_SOURCE 200809L
#include <json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esmarket.h"

static double load_shape(double hour) {
    return 0.3 + 0.1 * exp(-pow((hour - 8.0) / 1.5, 2)) + 0.25 * exp(-pow((hour - 19.0) / 2.0, 2));
}

static double pv_shape(double hour) {
    return hour > 6.0 && hour < 18.0 ? sin(3.14159265358979323846 * (hour - 6.0) / 12.0) : 0.0;
}

static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The "objective" member of a result document, as text (for comparing two results). */
static char *objective_of(const char *result) {
    json_object *root = json_tokener_parse(result), *objective = NULL;
    char *text = NULL;
    if (root && json_object_object_get_ex(root, "objective", &objective))
        text = strdup(json_object_to_json_string_ext(objective, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    return text;
}

int main(int argc, char **argv) {
    int prosumers = argc > 1 ? atoi(argv[1]) : 12300;
    int steps = argc > 2 ? atoi(argv[2]) : 96;
    if (prosumers < 1 || steps < 1) { fprintf(stderr, "usage: %s [prosumers] [steps]\n", argv[0]); return 2; }

    char spec[160], *problem = NULL, *error = NULL;
    snprintf(spec, sizeof spec, "{\"mechanism\":\"two_layer_voltage\",\"feeder\":\"ieee123\",\"prosumers\":%d,\"seed\":7}", prosumers);
    if (esm_generate_case(spec, &problem) != ESM_OK) { fprintf(stderr, "%s\n", problem); esm_string_free(problem); return 1; }

    /* Each prosumer's loadKW and pvKW in the case: the bases of the profiles. */
    json_object *doc = json_tokener_parse(problem), *list = NULL;
    if (!doc || !json_object_object_get_ex(doc, "prosumers", &list)) { fprintf(stderr, "no prosumers\n"); return 1; }
    size_t n = json_object_array_length(list);
    double *load = calloc(n, sizeof *load), *pv = calloc(n, sizeof *pv);
    for (size_t i = 0; i < n; i++) {
        json_object *who = json_object_array_get_idx(list, i), *v = NULL;
        if (json_object_object_get_ex(who, "loadKW", &v)) load[i] = json_object_get_double(v);
        if (json_object_object_get_ex(who, "pvKW", &v)) pv[i] = json_object_get_double(v);
    }
    json_object_put(doc);

    esm_session *session = esm_session_new(problem, &error);
    esm_string_free(problem);
    if (!session) { fprintf(stderr, "esm_session_new: %s\n", error); esm_string_free(error); return 1; }
    printf("session: two_layer_voltage, ieee123, %zu prosumers; one step per quarter-hour\n", n);

    int cleared = 0;
    double total = 0, slowest = 0;
    unsigned seed = 7;
    char *last = NULL;
    for (int k = 0; k < steps; k++) {
        double hour = fmod(0.25 * k, 24.0);
        /* {"prosumers": {"loadKW": [...], "pvKW": [...]}}: columns in the session's order */
        json_object *update = json_object_new_object(), *columns = json_object_new_object();
        json_object *loads = json_object_new_array_ext((int)n), *pvs = json_object_new_array_ext((int)n);
        for (size_t i = 0; i < n; i++) {
            double noise = 0.9 + 0.1 * (double)rand_r(&seed) / RAND_MAX;
            json_object_array_add(loads, json_object_new_double(load[i] * load_shape(hour) * noise));
            json_object_array_add(pvs, json_object_new_double(pv[i] * pv_shape(hour) * noise));
        }
        json_object_object_add(columns, "loadKW", loads);
        json_object_object_add(columns, "pvKW", pvs);
        json_object_object_add(update, "prosumers", columns);

        char *result = NULL;
        double t0 = seconds();
        int rc = esm_session_step(session, json_object_to_json_string_ext(update, JSON_C_TO_STRING_PLAIN), &result);
        double dt = seconds() - t0;
        json_object_put(update);
        total += dt;
        if (dt > slowest) slowest = dt;

        json_object *r = result ? json_tokener_parse(result) : NULL, *status = NULL, *communities = NULL;
        const char *st = r && json_object_object_get_ex(r, "status", &status) ? json_object_get_string(status) : "error";
        if (rc == ESM_OK && (!strcmp(st, "solved") || !strcmp(st, "solved_inaccurate"))) cleared++;
        if (k % 4 == 0 || k == steps - 1) {
            double lo = INFINITY, hi = -INFINITY;
            if (r && json_object_object_get_ex(r, "communities", &communities)) {
                for (size_t c = 0; c < json_object_array_length(communities); c++) {
                    json_object *price = NULL;
                    if (json_object_object_get_ex(json_object_array_get_idx(communities, c), "price", &price)) {
                        double p = json_object_get_double(price);
                        lo = p < lo ? p : lo;
                        hi = p > hi ? p : hi;
                    }
                }
            }
            printf("%02d:%02d  %-17s prices %.4f..%.4f  step %.1f ms\n", (int)hour, (int)(60 * fmod(hour, 1.0)), st,
                   isfinite(lo) ? lo : 0, isfinite(hi) ? hi : 0, 1e3 * dt);
        }
        json_object_put(r);
        esm_string_free(last);
        last = result;
    }

    char *state = NULL, *fresh = NULL;
    esm_session_state(session, &state);
    esm_clear(state, &fresh);
    char *a = last ? objective_of(last) : NULL, *b = fresh ? objective_of(fresh) : NULL;
    int same = a && b && !strcmp(a, b);
    printf("steps: %d, cleared: %d; step mean %.1f ms, slowest %.1f ms\n", steps, cleared, 1e3 * total / steps, 1e3 * slowest);
    printf("last step equals a fresh clear of the session's document: %s\n", same ? "yes" : "NO");
    free(a);
    free(b);
    esm_string_free(state);
    esm_string_free(fresh);
    esm_string_free(last);
    esm_session_free(session);
    free(load);
    free(pv);
    return same && cleared == steps ? 0 : 1;
}
