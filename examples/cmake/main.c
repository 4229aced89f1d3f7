/* Generates a small energy_sharing case, clears it and prints the result's status and size.
 * Built by examples/cmake/CMakeLists.txt against an installed libesmarket (pkg-config). */
#include <stdio.h>
#include <string.h>

#include <esmarket.h>

int main(void) {
    char *problem = NULL, *result = NULL;
    printf("esmarket %s (%s)\n", esm_version(), esm_schema());
    int rc = esm_generate_case("{\"mechanism\":\"energy_sharing\",\"prosumers\":20,\"seed\":3}", &problem);
    if (rc != ESM_OK) {
        fprintf(stderr, "esm_generate_case: %d %s\n", rc, problem ? problem : "");
        esm_string_free(problem);
        return 1;
    }
    rc = esm_clear(problem, &result);
    esm_string_free(problem);
    if (rc != ESM_OK) {
        fprintf(stderr, "esm_clear: %d %s\n", rc, result ? result : "");
        esm_string_free(result);
        return 1;
    }
    /* A real program reads the document with a JSON parser; the status is enough here. */
    const char *solved = strstr(result, "\"status\":\"solved\"");
    printf("result: %zu bytes, %s\n", strlen(result), solved ? "status solved" : "status not solved");
    esm_string_free(result);
    return solved ? 0 : 2;
}
