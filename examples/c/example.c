/*
 * example.c: clear a small energy-sharing community with libesmarket, from C.
 *
 * The problem document is built with json-c, passed to esm_clear as JSON text, and the result
 * document is parsed with json-c again. Every string esmarket returns is released with
 * esm_string_free.
 *
 * Build and run (from the repository root, after `swift build -c release --product esmarket`):
 *   make -C examples/c run
 * or by hand:
 *   cc -O2 -Wall -Wextra -I include $(pkg-config --cflags json-c) examples/c/example.c \
 *      -o examples/c/example -L .build/release -lesmarket $(pkg-config --libs json-c) \
 *      -Wl,-rpath,$PWD/.build/release
 *   examples/c/example
 */
#include <json.h>
#include <stdio.h>
#include <stdlib.h>

#include "esmarket.h"

/* One prosumer: fixed demand `load` (kW), rooftop PV `pv` (kW), and a flexible resource
 * (a small generator or flexible demand) with cost costA/2 p^2 + costB p on [minKW, maxKW]. */
static json_object *prosumer(const char *id, double load, double pv, double min_kw, double max_kw,
                             double cost_a, double cost_b) {
    json_object *p = json_object_new_object();
    json_object_object_add(p, "id", json_object_new_string(id));
    json_object_object_add(p, "loadKW", json_object_new_double(load));
    json_object_object_add(p, "pvKW", json_object_new_double(pv));
    json_object *flex = json_object_new_object();
    json_object_object_add(flex, "minKW", json_object_new_double(min_kw));
    json_object_object_add(flex, "maxKW", json_object_new_double(max_kw));
    json_object_object_add(flex, "costA", json_object_new_double(cost_a));
    json_object_object_add(flex, "costB", json_object_new_double(cost_b));
    json_object_object_add(p, "flex", flex);
    return p;
}

static double number(json_object *obj, const char *key) {
    json_object *v;
    return json_object_object_get_ex(obj, key, &v) ? json_object_get_double(v) : 0.0;
}

static const char *text(json_object *obj, const char *key) {
    json_object *v;
    return json_object_object_get_ex(obj, key, &v) ? json_object_get_string(v) : "";
}

int main(void) {
    printf("libesmarket %s (%s)\n", esm_version(), esm_schema());

    /* ---- the problem ---- */
    json_object *problem = json_object_new_object();
    json_object_object_add(problem, "schema", json_object_new_string("esmarket/1"));
    json_object_object_add(problem, "mechanism", json_object_new_string("energy_sharing"));

    json_object *grid = json_object_new_object();
    json_object_object_add(grid, "buyPrice", json_object_new_double(0.30)); /* tariff, per kWh */
    json_object_object_add(grid, "sellPrice", json_object_new_double(0.08)); /* feed-in, per kWh */
    json_object_object_add(problem, "grid", grid);

    json_object *communities = json_object_new_array();
    json_object *community = json_object_new_object();
    json_object_object_add(community, "id", json_object_new_string("street"));
    json_object_object_add(community, "sensitivity", json_object_new_double(0.01));
    json_object_array_add(communities, community); /* no intercept: the community must clear */
    json_object_object_add(problem, "communities", communities);

    json_object *prosumers = json_object_new_array();
    json_object_array_add(prosumers, prosumer("house-1", 1.5, 4.0, 0.0, 0.0, 0.01, 0.0)); /* PV only */
    json_object_array_add(prosumers, prosumer("house-2", 3.0, 0.0, 0.0, 3.0, 0.04, 0.12)); /* small CHP */
    json_object_array_add(prosumers, prosumer("house-3", 2.0, 1.0, -2.0, 0.0, 0.05, 0.25)); /* flexible heat pump */
    json_object_array_add(prosumers, prosumer("shop", 6.0, 2.5, 0.0, 2.0, 0.03, 0.10)); /* battery-backed genset */
    json_object_array_add(prosumers, prosumer("school", 4.0, 5.0, 0.0, 0.0, 0.01, 0.0)); /* PV only */
    json_object_object_add(problem, "prosumers", prosumers);

    /* ---- clear ---- */
    char *result_json = NULL;
    int rc = esm_clear(json_object_to_json_string_ext(problem, JSON_C_TO_STRING_PLAIN), &result_json);
    json_object_put(problem);
    if (rc != ESM_OK) {
        fprintf(stderr, "esm_clear failed (code %d): %s\n", rc, result_json ? result_json : "(no document)");
        esm_string_free(result_json);
        return 1;
    }

    json_object *result = json_tokener_parse(result_json);
    esm_string_free(result_json);
    if (!result) {
        fprintf(stderr, "the result is not JSON\n");
        return 1;
    }

    /* ---- print ---- */
    printf("status: %s\n", text(result, "status"));
    json_object *list;
    if (json_object_object_get_ex(result, "communities", &list)) {
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            json_object *c = json_object_array_get_idx(list, i);
            printf("community %s: price %.4f per kWh, uncleared export %.3f kW\n", text(c, "id"),
                   number(c, "price"), number(c, "unclearedExportKW"));
        }
    }
    printf("%-8s %10s %9s %11s %9s %9s %9s %9s\n", "prosumer", "netImport", "flex", "sharedExp",
           "gridBuy", "gridSell", "cost", "payment");
    if (json_object_object_get_ex(result, "prosumers", &list)) {
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            json_object *p = json_object_array_get_idx(list, i);
            printf("%-8s %10.3f %9.3f %11.3f %9.3f %9.3f %9.4f %9.4f\n", text(p, "id"),
                   number(p, "netImportKW"), number(p, "flexKW"), number(p, "sharedExportKW"),
                   number(p, "gridBuyKW"), number(p, "gridSellKW"), number(p, "cost"),
                   number(p, "payment"));
        }
    }
    json_object *objective;
    if (json_object_object_get_ex(result, "objective", &objective))
        printf("social cost: %.4f\n", number(objective, "socialCost"));
    json_object_put(result);
    return 0;
}
