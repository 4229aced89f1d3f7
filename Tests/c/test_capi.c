/*
 * test_capi.c: boundary tests of the C API of libesmarket (include/esmarket.h), fed with illegal
 * input on purpose. Every returned string is released with esm_string_free, so the test also runs
 * clean under valgrind (Tests/c/run.sh with ESM_VALGRIND=1).
 *
 * Prints one line per check and ends with "N passed, M failed"; exits 1 on any failure.
 * Build and run: Tests/c/run.sh
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <json.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esmarket.h"

static int passed, failed;

static void check(int ok, const char *name, const char *detail) {
    if (ok) {
        passed++;
        printf("PASS %s\n", name);
    } else {
        failed++;
        printf("FAIL %s%s%s\n", name, detail ? ": " : "", detail ? detail : "");
    }
    fflush(stdout);
}

static const char *code_name(int rc) {
    switch (rc) {
    case ESM_OK: return "ESM_OK";
    case ESM_ERR_INVALID_JSON: return "ESM_ERR_INVALID_JSON";
    case ESM_ERR_INVALID_INPUT: return "ESM_ERR_INVALID_INPUT";
    case ESM_ERR_UNSUPPORTED: return "ESM_ERR_UNSUPPORTED";
    case ESM_ERR_INTERNAL: return "ESM_ERR_INTERNAL";
    case ESM_ERR_NULL_OUTPUT: return "ESM_ERR_NULL_OUTPUT";
    default: return "unknown return code";
    }
}

static const char *err_code_for(int rc) {
    switch (rc) {
    case ESM_ERR_INVALID_JSON: return "invalid_json";
    case ESM_ERR_INVALID_INPUT: return "invalid_input";
    case ESM_ERR_UNSUPPORTED: return "unsupported";
    default: return "internal";
    }
}

/* Checks that `doc` is a well-formed error document with error.code == `code` and, when
 * `path` is not NULL, error.path == `path` ("" accepted as the root; expect_null_path demands
 * JSON null). Writes a reason into why[] on failure. */
static int error_document_ok(const char *doc, const char *code, const char *path,
                             int expect_null_path, char *why, size_t n) {
    if (!doc) { snprintf(why, n, "no error document"); return 0; }
    json_tokener *tok = json_tokener_new();
    json_object *root = json_tokener_parse_ex(tok, doc, (int)strlen(doc) + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        snprintf(why, n, "error document is not JSON: %.200s", doc);
        if (root) json_object_put(root);
        return 0;
    }
    int ok = 0;
    json_object *schema, *status, *err, *c, *p, *m;
    if (!json_object_is_type(root, json_type_object)) snprintf(why, n, "not an object");
    else if (!json_object_object_get_ex(root, "schema", &schema) ||
             strcmp(json_object_get_string(schema), "esmarket/1"))
        snprintf(why, n, "schema is not esmarket/1: %.200s", doc);
    else if (!json_object_object_get_ex(root, "status", &status) ||
             strcmp(json_object_get_string(status), "error"))
        snprintf(why, n, "status is not \"error\": %.200s", doc);
    else if (!json_object_object_get_ex(root, "error", &err) ||
             !json_object_is_type(err, json_type_object))
        snprintf(why, n, "no \"error\" object: %.200s", doc);
    else if (!json_object_object_get_ex(err, "code", &c) || !json_object_is_type(c, json_type_string) ||
             strcmp(json_object_get_string(c), code))
        snprintf(why, n, "error.code is not \"%s\": %.300s", code, doc);
    else if (!json_object_object_get_ex(err, "message", &m) || !json_object_is_type(m, json_type_string) ||
             json_object_get_string_len(m) == 0)
        snprintf(why, n, "error.message missing or empty: %.300s", doc);
    else if (!json_object_object_get_ex(err, "path", &p))
        snprintf(why, n, "error.path missing (must be present, null when unknown): %.300s", doc);
    else if (expect_null_path && p != NULL)
        snprintf(why, n, "error.path must be null: %.300s", doc);
    else if (path && (!p || !json_object_is_type(p, json_type_string) ||
                      strcmp(json_object_get_string(p), path)))
        snprintf(why, n, "error.path is not \"%s\": %.300s", path, doc);
    else ok = 1;
    json_object_put(root);
    return ok;
}

/* esm_clear(input) must return `rc` with an error document of code `err_code_for(rc)`. */
static void expect_clear_error(const char *name, const char *input, int rc, const char *path) {
    char *out = (char *)0x1; /* must be overwritten */
    char why[700] = "";
    char *copy = input ? strdup(input) : NULL;
    int got = esm_clear(input, &out);
    int ok = got == rc;
    if (!ok) snprintf(why, sizeof why, "returned %s, expected %s; document: %.300s", code_name(got),
                      code_name(rc), (out && out != (char *)0x1) ? out : "(none)");
    if (ok && out == (char *)0x1) { ok = 0; snprintf(why, sizeof why, "result_json not set"); }
    if (ok) ok = error_document_ok(out, err_code_for(rc), path, rc == ESM_ERR_INVALID_JSON, why, sizeof why);
    if (ok && rc == ESM_ERR_INVALID_JSON && !strstr(out, "byte")) {
        ok = 0;
        snprintf(why, sizeof why, "an invalid_json message gives the byte offset: %.300s", out);
    }
    if (ok && input && strcmp(copy, input)) { ok = 0; snprintf(why, sizeof why, "input was modified"); }
    check(ok, name, why);
    if (out != (char *)0x1) esm_string_free(out);
    free(copy);
}

/* ---- problems ---- */
#define T1_HEAD "{\"schema\":\"esmarket/1\",\"mechanism\":\"energy_sharing\"," \
                "\"grid\":{\"buyPrice\":1.0,\"sellPrice\":0.2}," \
                "\"communities\":[{\"id\":\"c1\",\"sensitivity\":0.1,\"intercept\":0.6}],"
#define PROS(id, load) "{\"id\":\"" id "\",\"loadKW\":" load ",\"flex\":{\"minKW\":0,\"maxKW\":100,\"costA\":0.1,\"costB\":0.1}}"
static const char *T1 = T1_HEAD "\"prosumers\":[" PROS("p1", "2") "," PROS("p2", "4") "," PROS("p3", "6") "]}";

static char *t1_with(const char *field_replacement_for_p2_load) {
    /* T1 with p2's loadKW value replaced by the given JSON text */
    const char *head = T1_HEAD "\"prosumers\":[" PROS("p1", "2") ",{\"id\":\"p2\",\"loadKW\":";
    const char *tail = ",\"flex\":{\"minKW\":0,\"maxKW\":100,\"costA\":0.1,\"costB\":0.1}}," PROS("p3", "6") "]}";
    size_t n = strlen(head) + strlen(field_replacement_for_p2_load) + strlen(tail) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s%s", head, field_replacement_for_p2_load, tail);
    return s;
}

static char *repeat(const char *a, size_t times_a, const char *middle, const char *b, size_t times_b) {
    size_t la = strlen(a), lm = strlen(middle), lb = strlen(b);
    char *s = malloc(la * times_a + lm + lb * times_b + 1), *w = s;
    for (size_t i = 0; i < times_a; i++, w += la) memcpy(w, a, la);
    memcpy(w, middle, lm); w += lm;
    for (size_t i = 0; i < times_b; i++, w += lb) memcpy(w, b, lb);
    *w = 0;
    return s;
}

/* Reads status (always) and communities[0].price (when there is one) from a result document;
 * returns 1 when both were found. */
static int read_result(const char *doc, double *price, char *status, size_t n) {
    json_object *root = json_tokener_parse(doc), *cs, *c0, *pr, *st = NULL;
    if (!root) return 0;
    if (json_object_object_get_ex(root, "status", &st)) snprintf(status, n, "%s", json_object_get_string(st));
    int ok = json_object_object_get_ex(root, "communities", &cs) &&
             json_object_is_type(cs, json_type_array) && json_object_array_length(cs) == 1 &&
             (c0 = json_object_array_get_idx(cs, 0)) &&
             json_object_object_get_ex(c0, "price", &pr);
    if (ok) *price = json_object_get_double(pr);
    json_object_put(root);
    return ok && st;
}

/* 1 when every number in the document is finite (api.md §3: no NaN or infinity in a result). */
static int all_finite(json_object *o) {
    switch (json_object_get_type(o)) {
    case json_type_double: return isfinite(json_object_get_double(o));
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (!all_finite(json_object_array_get_idx(o, i))) return 0;
        return 1;
    case json_type_object: {
        json_object_object_foreach(o, key, value) {
            (void)key;
            if (!all_finite(value)) return 0;
        }
        return 1;
    }
    default: return 1;
    }
}

/* The call must either succeed with a well-formed result whose numbers are all finite, or fail
 * with ESM_ERR_INVALID_INPUT and an error document: never crash, never NaN. */
static void expect_ok_or_invalid_input(const char *name, const char *input) {
    char *out = NULL;
    char why[700] = "";
    int rc = esm_clear(input, &out);
    int ok = 0;
    if (rc == ESM_OK) {
        json_tokener *tok = json_tokener_new();
        json_object *root = out ? json_tokener_parse_ex(tok, out, (int)strlen(out) + 1) : NULL;
        int clean = root && json_tokener_get_error(tok) == json_tokener_success;
        json_tokener_free(tok);
        ok = clean && all_finite(root) && !strstr(out, "NaN") && !strstr(out, "Infinity");
        if (!ok) snprintf(why, sizeof why, "ESM_OK but not a clean result: %.300s", out ? out : "(none)");
        if (root) json_object_put(root);
    } else if (rc == ESM_ERR_INVALID_INPUT) {
        ok = error_document_ok(out, "invalid_input", NULL, 0, why, sizeof why);
    } else {
        snprintf(why, sizeof why, "returned %s: %.300s", code_name(rc), out ? out : "(none)");
    }
    check(ok, name, why);
    esm_string_free(out);
}

/* ---- progress callbacks ---- */
typedef struct { int events, starts, dones, stop_at; } counter;
static int count_events(const char *event_json, void *user) {
    counter *c = user;
    c->events++;
    json_object *ev = json_tokener_parse(event_json), *e;
    if (ev && json_object_object_get_ex(ev, "event", &e)) {
        if (!strcmp(json_object_get_string(e), "start")) c->starts++;
        if (!strcmp(json_object_get_string(e), "done")) c->dones++;
    }
    if (ev) json_object_put(ev);
    return c->stop_at > 0 && c->events >= c->stop_at;
}

/* ---- threads ---- */
typedef struct { const char *problem; char *result; int rc; } job;
static void *run_job(void *arg) {
    job *j = arg;
    j->rc = esm_clear(j->problem, &j->result);
    return NULL;
}

int main(void) {
    char why[700];
    char *out;
    int rc;

    /* -- static strings -- */
    {
        const char *v = esm_version();
        int a, b, c, used = 0;
        check(v && sscanf(v, "%d.%d.%d%n", &a, &b, &c, &used) == 3 && used == (int)strlen(v),
              "esm_version is MAJOR.MINOR.PATCH", v);
        check(esm_schema() && !strcmp(esm_schema(), "esmarket/1"), "esm_schema is esmarket/1", esm_schema());
    }

    /* -- NULL pointers -- */
    expect_clear_error("NULL problem -> invalid_json", NULL, ESM_ERR_INVALID_JSON, NULL);
    check(esm_clear(T1, NULL) == ESM_ERR_NULL_OUTPUT, "NULL result_json -> ESM_ERR_NULL_OUTPUT", NULL);
    check(esm_clear("{", NULL) == ESM_ERR_NULL_OUTPUT, "NULL result_json with bad input -> ESM_ERR_NULL_OUTPUT", NULL);
    rc = esm_clear(NULL, NULL);
    /* Both NULL: the header allows either reading (no document can be returned in any case). */
    check(rc == ESM_ERR_NULL_OUTPUT || rc == ESM_ERR_INVALID_JSON, "NULL problem and NULL result_json -> error code, no crash", code_name(rc));
    check(esm_clear_with_progress(T1, NULL, NULL, NULL) == ESM_ERR_NULL_OUTPUT,
          "esm_clear_with_progress NULL result_json -> ESM_ERR_NULL_OUTPUT", NULL);
    check(esm_generate_case("{\"mechanism\":\"energy_sharing\",\"prosumers\":3,\"seed\":1}", NULL) == ESM_ERR_NULL_OUTPUT,
          "esm_generate_case NULL problem_json -> ESM_ERR_NULL_OUTPUT", NULL);
    esm_string_free(NULL);
    check(1, "esm_string_free(NULL) is a no-op", NULL);

    /* -- not JSON -- */
    expect_clear_error("empty string -> invalid_json", "", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("only whitespace -> invalid_json", " \n\t ", ESM_ERR_INVALID_JSON, NULL);
    {
        size_t n = strlen(T1);
        char *cut = strdup(T1);
        cut[n / 2] = 0;
        expect_clear_error("truncated JSON (half) -> invalid_json", cut, ESM_ERR_INVALID_JSON, NULL);
        cut[n / 2] = T1[n / 2];
        cut[n - 1] = 0;
        expect_clear_error("truncated JSON (last brace missing) -> invalid_json", cut, ESM_ERR_INVALID_JSON, NULL);
        free(cut);
    }
    expect_clear_error("unterminated string -> invalid_json", "{\"schema\": \"esmarket/1", ESM_ERR_INVALID_JSON, NULL);
    {
        char *s = t1_with("NaN");
        expect_clear_error("bare NaN token -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with("Infinity");
        expect_clear_error("bare Infinity token -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with("-Infinity");
        expect_clear_error("bare -Infinity token -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with("nan");
        expect_clear_error("bare nan token -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with("4 /* kW */");
        expect_clear_error("block comment -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with("4 // kW\n");
        expect_clear_error("line comment -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with("0x4");
        expect_clear_error("hex number -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with("04");
        expect_clear_error("leading zero -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with("+4");
        expect_clear_error("leading plus -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with(".5");
        expect_clear_error("number without integer part -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with("4,");
        expect_clear_error("trailing comma in object -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = t1_with("'4'");
        expect_clear_error("single-quoted string -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
    }
    expect_clear_error("trailing comma in array -> invalid_json", "{\"a\":[1,2,]}", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("two documents -> invalid_json", "{\"schema\":\"esmarket/1\"} {}", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("trailing garbage -> invalid_json", "{\"schema\":\"esmarket/1\"} x", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("unquoted key -> invalid_json", "{schema:\"esmarket/1\"}", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("raw control character in string -> invalid_json", "{\"schema\":\"esm\tarket/1\"}", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("bad escape -> invalid_json", "{\"schema\":\"\\x41\"}", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("invalid UTF-8 byte 0xFF -> invalid_json",
                       "{\"schema\":\"esmarket/1\",\"mechanism\":\"energy_sharing\",\"extra\":{\"n\":\"\xff\xfe\"}}", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("invalid UTF-8 overlong '/' -> invalid_json", "{\"extra\":\"\xc0\xaf\"}", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("invalid UTF-8 surrogate -> invalid_json", "{\"extra\":\"\xed\xa0\x80\"}", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("invalid UTF-8 truncated sequence -> invalid_json", "{\"extra\":\"\xe2\x82\"}", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("invalid UTF-8 above U+10FFFF -> invalid_json", "{\"extra\":\"\xf4\x90\x80\x80\"}", ESM_ERR_INVALID_JSON, NULL);
    expect_clear_error("invalid UTF-8 in a key -> invalid_json", "{\"\xff\":1}", ESM_ERR_INVALID_JSON, NULL);
    {
        char *s = repeat("[", 100000, "", "]", 100000);
        expect_clear_error("100,000 nested arrays -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = repeat("{\"a\":", 100000, "1", "}", 100000);
        expect_clear_error("100,000 nested objects -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        s = repeat("[", 100000, "", "", 0);
        expect_clear_error("100,000 unclosed brackets -> invalid_json", s, ESM_ERR_INVALID_JSON, NULL);
        free(s);
        /* 520 levels in `extra` (deeper than 512) is not JSON for esmarket ... */
        char *inner = repeat("[", 520, "", "]", 520);
        char *doc = malloc(strlen(T1) + strlen(inner) + 32);
        sprintf(doc, "%.*s,\"extra\":%s}", (int)strlen(T1) - 1, T1, inner);
        expect_clear_error("520 nested levels -> invalid_json", doc, ESM_ERR_INVALID_JSON, NULL);
        free(inner);
        free(doc);
        /* ... while 500 levels inside `extra` is a valid problem */
        inner = repeat("[", 500, "", "]", 500);
        doc = malloc(strlen(T1) + strlen(inner) + 32);
        sprintf(doc, "%.*s,\"extra\":%s}", (int)strlen(T1) - 1, T1, inner);
        out = NULL;
        rc = esm_clear(doc, &out);
        snprintf(why, sizeof why, "%s: %.300s", code_name(rc), out ? out : "(none)");
        check(rc == ESM_OK, "500 nested levels inside extra -> ESM_OK", why);
        esm_string_free(out);
        free(inner);
        free(doc);
    }

    /* -- valid JSON, broken contract -- */
    expect_clear_error("JSON array instead of object -> invalid_input", "[]", ESM_ERR_INVALID_INPUT, NULL);
    expect_clear_error("array of the problem -> invalid_input", "[{\"schema\":\"esmarket/1\"}]", ESM_ERR_INVALID_INPUT, NULL);
    expect_clear_error("bare number -> invalid_input", "42", ESM_ERR_INVALID_INPUT, NULL);
    expect_clear_error("bare string -> invalid_input", "\"esmarket/1\"", ESM_ERR_INVALID_INPUT, NULL);
    expect_clear_error("null document -> invalid_input", "null", ESM_ERR_INVALID_INPUT, NULL);
    expect_clear_error("empty object -> invalid_input", "{}", ESM_ERR_INVALID_INPUT, NULL);
    {
        char *s = t1_with("\"4\"");
        expect_clear_error("string in a numeric field -> invalid_input at the field", s, ESM_ERR_INVALID_INPUT, "prosumers[1].loadKW");
        free(s);
        s = t1_with("\"NaN\"");
        expect_clear_error("\"NaN\" string in a numeric field -> invalid_input at the field", s, ESM_ERR_INVALID_INPUT, "prosumers[1].loadKW");
        free(s);
        s = t1_with("true");
        expect_clear_error("boolean in a numeric field -> invalid_input at the field", s, ESM_ERR_INVALID_INPUT, "prosumers[1].loadKW");
        free(s);
        s = t1_with("[4, 5]");
        expect_clear_error("array of 2 values in a numeric field with periods = 1 -> invalid_input at the field", s, ESM_ERR_INVALID_INPUT, "prosumers[1].loadKW");
        free(s);
        s = t1_with("{}");
        expect_clear_error("object in a numeric field -> invalid_input at the field", s, ESM_ERR_INVALID_INPUT, "prosumers[1].loadKW");
        free(s);
        s = t1_with("1e400");
        expect_clear_error("1e400 -> invalid_input at the field", s, ESM_ERR_INVALID_INPUT, "prosumers[1].loadKW");
        free(s);
        s = t1_with("-1e400");
        expect_clear_error("-1e400 -> invalid_input at the field", s, ESM_ERR_INVALID_INPUT, "prosumers[1].loadKW");
        free(s);
    }
    expect_clear_error("prosumers is an object -> invalid_input",
                       T1_HEAD "\"prosumers\":{\"p1\":{}}}", ESM_ERR_INVALID_INPUT, "prosumers");
    expect_clear_error("id is a number -> invalid_input",
                       T1_HEAD "\"prosumers\":[{\"id\":1,\"loadKW\":2,\"flex\":{\"minKW\":0,\"maxKW\":1,\"costA\":0.1,\"costB\":0.1}}]}",
                       ESM_ERR_INVALID_INPUT, "prosumers[0].id");
    expect_clear_error("schema is not esmarket/1 -> invalid_input",
                       "{\"schema\":7,\"mechanism\":\"energy_sharing\"}", ESM_ERR_INVALID_INPUT, "schema");
    expect_clear_error("unknown mechanism -> invalid_input at mechanism",
                       "{\"schema\":\"esmarket/1\",\"mechanism\":\"energy_shareing\",\"prosumers\":[]}", ESM_ERR_INVALID_INPUT, "mechanism");
    expect_clear_error("mechanism is a number -> invalid_input at mechanism",
                       "{\"schema\":\"esmarket/1\",\"mechanism\":1}", ESM_ERR_INVALID_INPUT, "mechanism");
    expect_clear_error("unknown key -> invalid_input at the key",
                       T1_HEAD "\"prosumers\":[{\"id\":\"p1\",\"loadKW\":2,\"flex\":{\"minKW\":0,\"maxKW\":1,\"costA\":0.1,\"costB\":0.1,\"foo\":1}}]}",
                       ESM_ERR_INVALID_INPUT, "prosumers[0].flex.foo");
    expect_clear_error("unknown root key -> invalid_input at the key",
                       T1_HEAD "\"prosumers\":[" PROS("p1", "2") "],\"colour\":\"red\"}", ESM_ERR_INVALID_INPUT, "colour");
    expect_clear_error("maxKW below minKW -> invalid_input at maxKW",
                       T1_HEAD "\"prosumers\":[" PROS("p1", "2") ",{\"id\":\"p2\",\"loadKW\":2,\"flex\":{\"minKW\":3,\"maxKW\":2,\"costA\":0.1,\"costB\":0.1}}]}",
                       ESM_ERR_INVALID_INPUT, "prosumers[1].flex.maxKW");
    expect_clear_error("duplicate id -> invalid_input at the later one",
                       T1_HEAD "\"prosumers\":[" PROS("p1", "2") "," PROS("p2", "2") "," PROS("p1", "3") "]}",
                       ESM_ERR_INVALID_INPUT, "prosumers[2].id");
    expect_clear_error("sellPrice >= buyPrice -> invalid_input at buyPrice",
                       "{\"schema\":\"esmarket/1\",\"mechanism\":\"energy_sharing\",\"grid\":{\"buyPrice\":0.1,\"sellPrice\":0.2},"
                       "\"communities\":[{\"id\":\"c1\",\"sensitivity\":0.1}],\"prosumers\":[" PROS("p1", "2") "]}",
                       ESM_ERR_INVALID_INPUT, "grid.buyPrice");

    /* -- valid JSON, extreme values: a clean result or invalid_input, never NaN or a crash -- */
    {
        const char *extremes[] = {"1e300", "1e-300", "5e-324", "-0.0", "0", "1.7976931348623157e308",
                                  "123456789012345678901234567890", NULL};
        for (int k = 0; extremes[k]; k++) {
            char *s = t1_with(extremes[k]);
            char name[128];
            snprintf(name, sizeof name, "loadKW %s -> clean result or invalid_input", extremes[k]);
            expect_ok_or_invalid_input(name, s);
            free(s);
        }
        expect_ok_or_invalid_input("NUL character (\\u0000) in an id -> clean result or invalid_input",
                                   T1_HEAD "\"prosumers\":[" PROS("p1", "2") "," PROS("p\\u00002", "4") "]}");
        expect_ok_or_invalid_input("sensitivity 1e-300 -> clean result or invalid_input",
                                   "{\"schema\":\"esmarket/1\",\"mechanism\":\"energy_sharing\",\"grid\":{\"buyPrice\":1,\"sellPrice\":0.2},"
                                   "\"communities\":[{\"id\":\"c1\",\"sensitivity\":1e-300,\"intercept\":0.6}],"
                                   "\"prosumers\":[" PROS("p1", "2") "," PROS("p2", "4") "]}");
        expect_ok_or_invalid_input("empty prosumer list -> clean result or invalid_input", T1_HEAD "\"prosumers\":[]}");
    }

    /* -- a valid call -- */
    {
        char *copy = strdup(T1);
        out = NULL;
        rc = esm_clear(T1, &out);
        double price = NAN;
        char status[64] = "";
        int parsed = out && read_result(out, &price, status, sizeof status);
        snprintf(why, sizeof why, "%s, price %.9g, status %s: %.200s", code_name(rc), price, status, out ? out : "(none)");
        check(rc == ESM_OK && parsed && !strcmp(status, "solved"), "valid energy_sharing (T1) -> ESM_OK, solved", why);
        check(parsed && fabs(price - 0.54) < 1e-6, "T1 community price = 0.54", why);
        check(!strcmp(copy, T1), "input string not modified", NULL);
        esm_string_free(out);
        free(copy);
    }
    {
        /* the same problem with insignificant whitespace and escaped characters */
        const char *pretty =
            "\n{ \"schema\" : \"esmarket\\/1\" ,\r\n \"mechanism\":\"energy_sharing\",\t\"grid\":{\"buyPrice\":1E0,\"sellPrice\":2e-1},"
            "\"communities\":[{\"id\":\"\\u0063\\u0031\",\"sensitivity\":0.1,\"intercept\":0.6}],"
            "\"prosumers\":[" PROS("p1", "2.0") "," PROS("p\\u00fc2", "4e0") "," PROS("p3", "6") "]}\n";
        out = NULL;
        rc = esm_clear(pretty, &out);
        double price = NAN;
        char status[64] = "";
        int parsed = out && read_result(out, &price, status, sizeof status);
        snprintf(why, sizeof why, "%s: %.300s", code_name(rc), out ? out : "(none)");
        check(rc == ESM_OK && parsed && fabs(price - 0.54) < 1e-6, "whitespace, escapes and exponents are valid JSON", why);
        esm_string_free(out);
    }

    /* -- progress -- */
    {
        counter c = {0, 0, 0, 0};
        out = NULL;
        rc = esm_clear_with_progress(T1, NULL, NULL, &out);
        check(rc == ESM_OK, "esm_clear_with_progress with NULL fn -> ESM_OK", code_name(rc));
        esm_string_free(out);
        out = NULL;
        rc = esm_clear_with_progress(T1, count_events, &c, &out);
        snprintf(why, sizeof why, "%s, %d events (%d start, %d done)", code_name(rc), c.events, c.starts, c.dones);
        check(rc == ESM_OK && c.events > 0 && c.starts == 1 && c.dones == 1, "progress events: one start, one done", why);
        esm_string_free(out);

        counter stop = {0, 0, 0, 1};
        out = NULL;
        rc = esm_clear_with_progress(T1, count_events, &stop, &out);
        double price = NAN;
        char status[64] = "";
        if (out) read_result(out, &price, status, sizeof status);
        snprintf(why, sizeof why, "%s, status \"%s\"", code_name(rc), status);
        check(rc == ESM_OK && !strcmp(status, "interrupted"), "callback returning non-zero -> status interrupted", why);
        esm_string_free(out);

        counter bad = {0, 0, 0, 0};
        out = NULL;
        rc = esm_clear_with_progress(NULL, count_events, &bad, &out);
        check(rc == ESM_ERR_INVALID_JSON && error_document_ok(out, "invalid_json", NULL, 1, why, sizeof why),
              "esm_clear_with_progress(NULL problem) -> invalid_json", why);
        esm_string_free(out);
        out = NULL;
        rc = esm_clear_with_progress("{", count_events, &bad, &out);
        check(rc == ESM_ERR_INVALID_JSON && error_document_ok(out, "invalid_json", NULL, 1, why, sizeof why),
              "esm_clear_with_progress with invalid JSON -> invalid_json", why);
        esm_string_free(out);
    }

    /* -- case generator -- */
    {
        const char *spec = "{\"mechanism\":\"energy_sharing\",\"prosumers\":200,\"seed\":7}";
        char *a = NULL, *b = NULL, *c = NULL;
        int ra = esm_generate_case(spec, &a), rb = esm_generate_case(spec, &b);
        int rcc = esm_generate_case("{\"mechanism\":\"energy_sharing\",\"prosumers\":200,\"seed\":8}", &c);
        check(ra == ESM_OK && rb == ESM_OK && a && b && !strcmp(a, b), "esm_generate_case: same seed, byte-identical output", code_name(ra));
        check(rcc == ESM_OK && a && c && strcmp(a, c), "esm_generate_case: another seed, another problem", code_name(rcc));
        if (ra == ESM_OK && a) {
            out = NULL;
            rc = esm_clear(a, &out);
            double price = NAN;
            char status[64] = "";
            int parsed = out && read_result(out, &price, status, sizeof status);
            snprintf(why, sizeof why, "%s, status %s", code_name(rc), status);
            check(rc == ESM_OK && parsed && !strcmp(status, "solved"), "generated case clears", why);
            esm_string_free(out);
        } else {
            check(0, "generated case clears", "no generated case");
        }
        esm_string_free(a);
        esm_string_free(b);
        esm_string_free(c);

        out = (char *)0x1;
        rc = esm_generate_case(NULL, &out);
        check(rc == ESM_ERR_INVALID_JSON && out != (char *)0x1 && error_document_ok(out, "invalid_json", NULL, 1, why, sizeof why),
              "esm_generate_case(NULL) -> invalid_json", why);
        if (out != (char *)0x1) esm_string_free(out);
        out = NULL;
        rc = esm_generate_case("{\"mechanism\":", &out);
        check(rc == ESM_ERR_INVALID_JSON && error_document_ok(out, "invalid_json", NULL, 1, why, sizeof why),
              "esm_generate_case(truncated) -> invalid_json", why);
        esm_string_free(out);
        out = NULL;
        rc = esm_generate_case("{\"mechanism\":\"no_such_mechanism\",\"prosumers\":3,\"seed\":1}", &out);
        check(rc == ESM_ERR_INVALID_INPUT && error_document_ok(out, "invalid_input", "mechanism", 0, why, sizeof why),
              "esm_generate_case(unknown mechanism) -> invalid_input at mechanism", why);
        esm_string_free(out);
        out = NULL;
        rc = esm_generate_case("[]", &out);
        check(rc == ESM_ERR_INVALID_INPUT && error_document_ok(out, "invalid_input", NULL, 0, why, sizeof why),
              "esm_generate_case([]) -> invalid_input", why);
        esm_string_free(out);
    }

    /* -- sessions (p2p_online): spec §7 C4 stepped, bad input, checkpoint and resume -- */
    {
        const char *config =
            "{\"schema\":\"esmarket/1\",\"mechanism\":\"p2p_online\","
            "\"grid\":{\"buyPrice\":0.25,\"sellPrice\":0.05},"
            "\"prosumers\":[{\"id\":\"p1\",\"pvKW\":5,\"loadKW\":2,\"peers\":[\"p2\"],\"tradeCostA\":0.05,"
            "\"storage\":{\"capacityKWh\":10,\"socKWh\":5,\"socMinKWh\":1,\"socMaxKWh\":10,"
            "\"chargeMaxKW\":2,\"dischargeMaxKW\":2,\"lyapunovV\":20,\"socShiftKWh\":8.5}},"
            "{\"id\":\"p2\",\"loadKW\":4,\"tradeCostA\":0.05}],"
            "\"options\":{\"priceFloor\":0.05,\"priceCeiling\":0.25}}";
        char *err = (char *)0x1;
        esm_session *s = esm_session_new(config, &err);
        check(s != NULL && err == NULL, "esm_session_new(p2p_online config) -> session, *error_json NULL", err && err != (char *)0x1 ? err : NULL);
        if (s) {
            /* bad input: error with the path, session unchanged (the next slot is still slot 0) */
            out = NULL;
            rc = esm_session_step(s, "{\"pvKW\":[5,-1]}", &out);
            check(rc == ESM_ERR_INVALID_INPUT && error_document_ok(out, "invalid_input", "pvKW[1]", 0, why, sizeof why),
                  "esm_session_step(negative pvKW) -> invalid_input at pvKW[1]", why);
            esm_string_free(out);
            out = NULL;
            rc = esm_session_step(s, "{\"pvKW\":[5,", &out);
            check(rc == ESM_ERR_INVALID_JSON && error_document_ok(out, "invalid_json", NULL, 1, why, sizeof why),
                  "esm_session_step(truncated) -> invalid_json", why);
            esm_string_free(out);
            /* slot 0: surplus 3 kW; the battery (E = 5 < 7.5) charges 2 kW, the rest is traded */
            out = NULL;
            rc = esm_session_step(s, "{}", &out);
            json_object *doc = (rc == ESM_OK && out) ? json_tokener_parse(out) : NULL;
            json_object *slot = NULL, *status = NULL, *prosumers = NULL;
            int ok = doc && json_object_object_get_ex(doc, "status", &status) &&
                     !strcmp(json_object_get_string(status), "solved") &&
                     json_object_object_get_ex(doc, "slot", &slot) && json_object_get_int(slot) == 0 &&
                     json_object_object_get_ex(doc, "prosumers", &prosumers);
            double soc = NAN, charge = NAN;
            if (ok) {
                json_object *p1 = json_object_array_get_idx(prosumers, 0), *v;
                if (json_object_object_get_ex(p1, "socKWh", &v)) soc = json_object_get_double(v);
                if (json_object_object_get_ex(p1, "chargeKW", &v)) charge = json_object_get_double(v);
            }
            snprintf(why, sizeof why, "rc %d, soc %g, charge %g: %.300s", rc, soc, charge, out ? out : "(none)");
            check(ok && fabs(soc - 7) < 1e-5 && fabs(charge - 2) < 1e-5,
                  "esm_session_step slot 0 -> solved, charge 2 kW, SoC 7 kWh", why);
            if (doc) json_object_put(doc);
            esm_string_free(out);
            /* checkpoint, step both, compare the SoC text of the two results */
            char *state = NULL;
            rc = esm_session_state(s, &state);
            check(rc == ESM_OK && state && strstr(state, "\"slot\":1"), "esm_session_state -> slot 1", state);
            esm_session *r = state ? esm_session_new(state, NULL) : NULL;
            check(r != NULL, "esm_session_new(state) resumes", NULL);
            if (r) {
                char *a = NULL, *b = NULL;
                esm_session_step(s, "{}", &a);
                esm_session_step(r, "{}", &b);
                const char *sa = a ? strstr(a, "\"socKWh\"") : NULL, *sb = b ? strstr(b, "\"socKWh\"") : NULL;
                const char *ea = sa ? strchr(sa, ']') : NULL, *eb = sb ? strchr(sb, ']') : NULL;
                int same = sa && sb && ea && eb && (ea - sa) == (eb - sb) && !strncmp(sa, sb, (size_t)(ea - sa));
                check(same, "resumed session steps like the original (same socKWh text)", a);
                esm_string_free(a);
                esm_string_free(b);
                esm_session_free(r);
            }
            esm_string_free(state);
            esm_session_free(s);
        }
        err = NULL;
        s = esm_session_new("{\"schema\":\"esmarket/1\",\"mechanism\":\"p2p_online\"}", &err);
        check(s == NULL && error_document_ok(err, "invalid_input", "grid", 0, why, sizeof why),
              "esm_session_new(incomplete) -> NULL + invalid_input at grid", why);
        esm_string_free(err);
        s = esm_session_new("{\"schema\":\"esmarket/1\",\"mechanism\":\"p2p_online\"}", NULL);
        check(s == NULL, "esm_session_new with NULL error_json -> NULL, no crash", NULL);
        s = esm_session_new(NULL, NULL);
        check(s == NULL, "esm_session_new(NULL, NULL) -> NULL, no crash", NULL);
        out = NULL;
        rc = esm_session_step(NULL, "{}", &out);
        check(rc == ESM_ERR_INVALID_INPUT && error_document_ok(out, "invalid_input", NULL, 1, why, sizeof why),
              "esm_session_step(NULL session) -> invalid_input, path null", why);
        esm_string_free(out);
        check(esm_session_step(NULL, "{}", NULL) == ESM_ERR_NULL_OUTPUT, "esm_session_step(..., NULL) -> ESM_ERR_NULL_OUTPUT", NULL);
        out = NULL;
        rc = esm_session_state(NULL, &out);
        check(rc == ESM_ERR_INVALID_INPUT, "esm_session_state(NULL session) -> invalid_input", out);
        esm_string_free(out);
        esm_session_free(NULL);
        check(1, "esm_session_free(NULL) is a no-op", NULL);
    }

    /* -- threads: concurrent calls give the serial results -- */
    {
        enum { N = 8 };
        const char *problems[N];
        char *cleared[N];
        char *spec_results[N];
        for (int k = 0; k < N; k++) {
            char spec[128];
            snprintf(spec, sizeof spec, "{\"mechanism\":\"energy_sharing\",\"prosumers\":%d,\"seed\":%d}", 300 + 50 * k, k + 1);
            spec_results[k] = NULL;
            if (esm_generate_case(spec, &spec_results[k]) != ESM_OK) {
                esm_string_free(spec_results[k]);
                spec_results[k] = NULL;
            }
            problems[k] = spec_results[k] ? spec_results[k] : (k % 2 ? T1 : "{broken");
            cleared[k] = NULL;
            esm_clear(problems[k], &cleared[k]);
        }
        pthread_t th[N];
        job jobs[N];
        for (int k = 0; k < N; k++) {
            jobs[k].problem = problems[k];
            jobs[k].result = NULL;
            pthread_create(&th[k], NULL, run_job, &jobs[k]);
        }
        int same = 1;
        for (int k = 0; k < N; k++) {
            pthread_join(th[k], NULL);
            /* compare the documents without "stats" (timings differ between runs) */
            json_object *a = cleared[k] ? json_tokener_parse(cleared[k]) : NULL;
            json_object *b = jobs[k].result ? json_tokener_parse(jobs[k].result) : NULL;
            if (!a || !b || jobs[k].rc != ESM_OK) same = 0;
            if (a && b) {
                json_object_object_del(a, "stats");
                json_object_object_del(b, "stats");
                if (!json_object_equal(a, b)) same = 0;
            }
            if (a) json_object_put(a);
            if (b) json_object_put(b);
            esm_string_free(jobs[k].result);
            esm_string_free(cleared[k]);
            esm_string_free(spec_results[k]);
        }
        check(same, "8 concurrent esm_clear calls give the serial results", NULL);
    }

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
