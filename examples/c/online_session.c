/*
 * online_session.c: real-time P2P trading with storage through an esmarket session.
 *
 * Generates a p2p_online case (IEEE 33-bus feeder, 15-minute slots), starts a session and steps
 * it slot by slot with "{}" (each slot's PV, load and prices default to the generated series; a
 * simulator would pass its own measurements: {"pvKW": [...], "loadKW": [...], "buyPrice": ...}).
 * Halfway it checkpoints the session with esm_session_state and finishes on a session re-created
 * from that state. Every slot must be solved and every battery within its bounds.
 *
 *   online_session [prosumers] [days]      (default 30 prosumers, 30 days)
 */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esmarket.h"

int main(int argc, char **argv) {
    int prosumers = argc > 1 ? atoi(argv[1]) : 30;
    int days = argc > 2 ? atoi(argv[2]) : 30;
    if (prosumers < 1 || days < 1 || days > 30) { fprintf(stderr, "usage: online_session [prosumers] [days ≤ 30]\n"); return 2; }
    int slots = 96 * days;
    char spec[200], *config = NULL, *error = NULL;
    snprintf(spec, sizeof spec, "{\"mechanism\":\"p2p_online\",\"prosumers\":%d,\"periods\":%d,\"seed\":1}", prosumers, slots);
    if (esm_generate_case(spec, &config) != ESM_OK) { fprintf(stderr, "%s\n", config); esm_string_free(config); return 1; }

    /* the batteries' bounds, from the configuration */
    json_object *doc = json_tokener_parse(config), *people = NULL;
    if (!doc || !json_object_object_get_ex(doc, "prosumers", &people)) { fprintf(stderr, "bad case\n"); return 1; }
    int n = (int)json_object_array_length(people), batteries = 0;
    double *lo = calloc((size_t)n, sizeof *lo), *hi = calloc((size_t)n, sizeof *hi);
    for (int i = 0; i < n; i++) {
        json_object *storage, *v;
        lo[i] = -1e300; hi[i] = 1e300;
        if (json_object_object_get_ex(json_object_array_get_idx(people, i), "storage", &storage)) {
            batteries++;
            if (json_object_object_get_ex(storage, "socMinKWh", &v)) lo[i] = json_object_get_double(v);
            if (json_object_object_get_ex(storage, "socMaxKWh", &v)) hi[i] = json_object_get_double(v);
        }
    }
    json_object_put(doc);

    esm_session *session = esm_session_new(config, &error);
    esm_string_free(config);
    if (!session) { fprintf(stderr, "%s\n", error); esm_string_free(error); return 1; }
    double cost = 0, low = 1e300, high = -1e300;
    int failures = 0;
    for (int t = 0; t < slots && !failures; t++) {
        if (t == slots / 2) { /* checkpoint and resume */
            char *state = NULL;
            if (esm_session_state(session, &state) != ESM_OK) { failures++; break; }
            esm_session_free(session);
            session = esm_session_new(state, &error);
            esm_string_free(state);
            if (!session) { fprintf(stderr, "%s\n", error); esm_string_free(error); return 1; }
        }
        char *result = NULL;
        int rc = esm_session_step(session, "{}", &result);
        json_object *r = rc == ESM_OK ? json_tokener_parse(result) : NULL, *status, *rows, *objective, *v;
        if (!r || !json_object_object_get_ex(r, "status", &status) || strcmp(json_object_get_string(status), "solved")) {
            fprintf(stderr, "slot %d: %s\n", t, result ? result : "(no result)");
            failures++;
        } else {
            if (json_object_object_get_ex(r, "objective", &objective) && json_object_object_get_ex(objective, "totalCost", &v))
                cost += json_object_get_double(v);
            json_object_object_get_ex(r, "prosumers", &rows);
            for (int i = 0; i < n; i++) {
                if (lo[i] < -1e299) continue;
                json_object_object_get_ex(json_object_array_get_idx(rows, i), "socKWh", &v);
                double soc = json_object_get_double(v);
                if (soc < lo[i] || soc > hi[i]) { fprintf(stderr, "slot %d: battery %d at %g kWh\n", t, i, soc); failures++; }
                if (soc < low) low = soc;
                if (soc > high) high = soc;
            }
        }
        if (r) json_object_put(r);
        esm_string_free(result);
    }
    esm_session_free(session);
    free(lo);
    free(hi);
    if (failures) return 1;
    printf("slots: %d solved (%d prosumers, %d batteries, resumed from a checkpoint at slot %d)\n", slots, n, batteries, slots / 2);
    printf("state of charge: %.3f .. %.3f kWh, all within bounds\n", low, high);
    printf("total cost: %.2f\n", cost);
    return 0;
}
