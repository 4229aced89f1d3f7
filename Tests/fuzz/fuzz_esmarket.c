/*
 * fuzz_esmarket.c: libFuzzer target for the C API of libesmarket (esm_clear,
 * esm_clear_with_progress and esm_generate_case).
 *
 * Every input goes, as a NUL-terminated string, to esm_clear_with_progress (as a problem document),
 * to esm_generate_case (as a case specification; a generated problem is cleared too) and to
 * esm_session_step of a fresh session of a small market (as an update document). A reply is a
 * finding (abort, so libFuzzer saves the input) when
 *   - the return code is not one of ESM_OK .. ESM_ERR_UNSUPPORTED (ESM_ERR_INTERNAL is "a bug,
 *     please report", ESM_ERR_NULL_OUTPUT cannot happen with an out-parameter),
 *   - the document is missing, not strict JSON, or holds a NaN or infinite number,
 *   - an error document does not carry the code of the return code, or a result says "error",
 *   - a progress event is not a JSON object,
 *   - a session step that returns an error changed the session (esm_session_state differs), or
 *     the session does not clear "{}" afterwards.
 * AddressSanitizer (and LeakSanitizer at exit) report memory errors and leaks; a trap in Swift
 * (overflow, index out of range, force unwrap) is a crash libFuzzer records.
 *
 * Structure-aware mutations: LLVMFuzzerCustomMutator parses the input with json-c and, when it is
 * JSON, changes one node (extreme or scaled numbers, 1e400, deleted keys, duplicated array
 * elements (duplicate ids), ids moved to other fields (dangling references), swapped siblings
 * (minKW/maxKW, from/to), wrong types, unknown keys, mechanism names, deeper nesting, subtrees
 * spliced from elsewhere in the document) and prints it back; otherwise, and one time in four, it
 * leaves the bytes to libFuzzer's own mutations, so arbitrary bytes are fuzzed as well.
 *
 * Build and run: Tests/fuzz/run.sh (see there).
 */
#include <json.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esmarket.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* Case specifications above this many prosumers are not generated here: they are valid (up to
 * 2,000,000) and only slow, and a slow input is not a finding. Larger cases are covered by the
 * benchmarks (bench/memory.py). */
#define MAX_GENERATED_PROSUMERS 400
/* A generated problem is cleared when it is smaller than this (bytes). */
#define MAX_CLEARED_GENERATED 60000
/* Progress events after which the harness interrupts a solve (an interrupt is a legal answer). */
#define MAX_EVENTS 5000
/* Wall-clock seconds after which the harness interrupts a solve at its next progress event. A
 * small document may be a large, valid problem (a generated 50-prosumer, 24-period p2p_gne case
 * clears in ~3 s, ~60 s under this build's instrumentation): slowness is not a finding, but an
 * interrupt that is not honoured is. libFuzzer's -timeout (run.sh) catches a solve that runs on
 * after the interrupt, or that emits no progress events for that long. */
#define MAX_SECONDS 5.0

static void finding(const char *what, const char *input, const char *doc) {
    fprintf(stderr, "\n==== esmarket fuzz finding: %s\n---- input (first 2000 bytes):\n%.2000s\n"
                    "---- reply (first 2000 bytes):\n%.2000s\n", what, input ? input : "(null)",
            doc ? doc : "(null)");
    abort();
}

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

static json_object *parse_strict(const char *text) {
    json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, text, (int)strlen(text) + 1);
    int ok = json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!ok && root) { json_object_put(root); root = NULL; }
    return root;
}

static const char *code_for(int rc) {
    switch (rc) {
    case ESM_ERR_INVALID_JSON: return "invalid_json";
    case ESM_ERR_INVALID_INPUT: return "invalid_input";
    case ESM_ERR_UNSUPPORTED: return "unsupported";
    default: return "internal";
    }
}

/* Checks one reply of the C API; returns the status string's copy in status[] (empty if none). */
static void check_reply(const char *call, int rc, const char *doc, const char *input, char *status, size_t n) {
    char what[160];
    status[0] = 0;
    if (rc == ESM_ERR_INTERNAL) { snprintf(what, sizeof what, "%s returned ESM_ERR_INTERNAL", call); finding(what, input, doc); }
    if (rc < ESM_OK || rc > ESM_ERR_UNSUPPORTED) { snprintf(what, sizeof what, "%s returned %d", call, rc); finding(what, input, doc); }
    if (!doc) { snprintf(what, sizeof what, "%s returned no document", call); finding(what, input, doc); }
    json_object *root = parse_strict(doc);
    if (!root || !json_object_is_type(root, json_type_object)) {
        snprintf(what, sizeof what, "%s returned a document that is not a strict JSON object", call);
        finding(what, input, doc);
    }
    if (!all_finite(root)) { snprintf(what, sizeof what, "%s returned a NaN or infinite number", call); finding(what, input, doc); }
    json_object *st = NULL, *err = NULL, *code = NULL;
    if (json_object_object_get_ex(root, "status", &st) && json_object_is_type(st, json_type_string))
        snprintf(status, n, "%s", json_object_get_string(st));
    if (rc == ESM_OK) {
        /* a generated problem has no status; a result must not be an error */
        if (!strcmp(status, "error")) { snprintf(what, sizeof what, "%s: ESM_OK with status error", call); finding(what, input, doc); }
    } else {
        if (strcmp(status, "error") || !json_object_object_get_ex(root, "error", &err) ||
            !json_object_object_get_ex(err, "code", &code) || !json_object_is_type(code, json_type_string) ||
            strcmp(json_object_get_string(code), code_for(rc))) {
            snprintf(what, sizeof what, "%s: error document does not match return code %d", call, rc);
            finding(what, input, doc);
        }
    }
    json_object_put(root);
}

typedef struct { int events; double start; const char *input; } observer;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int on_progress(const char *event_json, void *user) {
    observer *o = user;
    json_object *ev = event_json ? parse_strict(event_json) : NULL;
    if (!ev || !json_object_is_type(ev, json_type_object)) finding("a progress event is not a JSON object", o->input, event_json);
    json_object_put(ev);
    return ++o->events >= MAX_EVENTS || now_seconds() - o->start > MAX_SECONDS;
}

static void clear_one(const char *call, const char *text) {
    char *out = NULL, status[64];
    observer o = {0, now_seconds(), text};
    int rc = esm_clear_with_progress(text, on_progress, &o, &out);
    check_reply(call, rc, out, text, status, sizeof status);
    esm_string_free(out);
}

/* A specification that asks for more than MAX_GENERATED_PROSUMERS prosumers is skipped. */
static int small_specification(const char *text) {
    json_object *spec = parse_strict(text), *p;
    int small = 1;
    if (spec && json_object_is_type(spec, json_type_object) && json_object_object_get_ex(spec, "prosumers", &p)) {
        double n = json_object_get_double(p);
        if (json_object_is_type(p, json_type_int) || json_object_is_type(p, json_type_double))
            small = !(n > MAX_GENERATED_PROSUMERS);
    } else if (spec && json_object_is_type(spec, json_type_object)) {
        small = 0; /* the default is 1000 prosumers */
    }
    json_object_put(spec);
    return small;
}

/* The session every input is stepped on as an update document (README "Sessions"): three
 * prosumers, two with flex, so that rows, columns and flex updates reach the decoder (a storage
 * update is refused: energy_sharing has no storage model, and the edits are taken back). */
static const char *SESSION_PROBLEM =
    "{\"schema\":\"esmarket/1\",\"mechanism\":\"energy_sharing\",\"grid\":{\"buyPrice\":0.3,\"sellPrice\":0.1},"
    "\"communities\":[{\"id\":\"c\",\"sensitivity\":0.05}],\"prosumers\":["
    "{\"id\":\"a\",\"loadKW\":4,\"flex\":{\"minKW\":0,\"maxKW\":5,\"costA\":0.2,\"costB\":0.05}},"
    "{\"id\":\"b\",\"loadKW\":1,\"pvKW\":6,\"flex\":{\"minKW\":0,\"maxKW\":2,\"costA\":0.1,\"costB\":0.05}},"
    "{\"id\":\"c\",\"loadKW\":2}]}";

static void step_session(const char *text) {
    char *error = NULL, *before = NULL, *after = NULL, *out = NULL, status[64];
    esm_session *s = esm_session_new(SESSION_PROBLEM, &error);
    if (!s) finding("esm_session_new refused the harness's own problem", SESSION_PROBLEM, error);
    if (esm_session_state(s, &before) != ESM_OK) finding("esm_session_state failed", text, before);
    int rc = esm_session_step(s, text, &out);
    check_reply("esm_session_step", rc, out, text, status, sizeof status);
    esm_string_free(out);
    if (rc != ESM_OK) {
        if (esm_session_state(s, &after) != ESM_OK || strcmp(before, after))
            finding("a session step that returned an error changed the session", text, after);
    }
    out = NULL;
    rc = esm_session_step(s, "{}", &out);
    check_reply("esm_session_step (after)", rc, out, text, status, sizeof status);
    if (rc != ESM_OK) finding("the session does not clear \"{}\" after the input's step", text, out);
    esm_string_free(out);
    esm_string_free(before);
    esm_string_free(after);
    esm_string_free(error);
    esm_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0; /* the C API reads up to the first NUL */

    clear_one("esm_clear_with_progress", text);
    step_session(text);

    if (small_specification(text)) {
        char *problem = NULL, status[64];
        int rc = esm_generate_case(text, &problem);
        check_reply("esm_generate_case", rc, problem, text, status, sizeof status);
        if (rc == ESM_OK && strlen(problem) < MAX_CLEARED_GENERATED) clear_one("esm_clear (generated)", problem);
        esm_string_free(problem);
    }
    free(text);
    return 0;
}

/* ---------------- structure-aware mutator ---------------- */

typedef struct { uint64_t s; } rng;
static uint64_t next(rng *r) {
    r->s += 0x9E3779B97F4A7C15ull; /* SplitMix64 */
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static size_t below(rng *r, size_t n) { return n ? (size_t)(next(r) % n) : 0; }

/* A node of the document and where it hangs (parent == NULL for the root). */
typedef struct { json_object *node, *parent; const char *key; size_t index; } place;
typedef struct { place *items; size_t count, cap; } places;

static void collect(json_object *o, json_object *parent, const char *key, size_t index, places *all) {
    if (all->count == all->cap) {
        all->cap = all->cap ? 2 * all->cap : 64;
        all->items = realloc(all->items, all->cap * sizeof *all->items);
    }
    all->items[all->count++] = (place){o, parent, key, index};
    if (all->count > 20000) return;
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v) collect(v, o, k, 0, all);
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++) collect(json_object_array_get_idx(o, i), o, NULL, i, all);
    }
}

/* Replaces the node at p with v (takes ownership of v). Returns 0 for the root. */
static int replace(place *p, json_object *v) {
    if (!p->parent) { json_object_put(v); return 0; }
    if (p->key) json_object_object_add(p->parent, p->key, v);
    else json_object_array_put_idx(p->parent, p->index, v);
    return 1;
}

static const char *numbers[] = {
    "0", "-0.0", "-1", "1", "2", "0.5", "1e-6", "1e6", "1e-300", "5e-324", "1e300", "1e308",
    "1.7976931348623157e308", "1e400", "-1e400", "123456789012345678901234567890", "-1e-6",
    "0.95", "1.05", "0.2", "1000000", "2000001", "4294967297", "-9223372036854775809",
};
static const char *strings[] = {
    "", "energy_sharing", "two_layer", "two_layer_voltage", "social_optimum", "conic",
    "p2p_reconfiguration", "p2p_gne", "p2p_online", "centralized", "bidding", "exact", "direct",
    "lindistflow", "socp", "ieee33bw", "ieee37", "ieee123", "zero", "nonneg", "soc", "esmarket/1",
    "a\\u0000b", "\xc3\xa9", "lam_price_equals_dlmp", "intercept_equals_dlmp", "summary", "iterations",
};
static const char *keys[] = {
    "extra", "foo", "periods", "options", "timeLimitSeconds", "maxIterations", "tolerance",
    "algorithm", "priceTaking", "congestion", "storage", "peers", "integers", "rateKVA", "closed",
    "intercept", "mode", "substationPrice", "upperPriceRange", "verifyPowerFlow", "builtin",
};

static json_object *number_text(const char *text) {
    return json_object_new_double_s(strtod(text, NULL), text);
}

static int mutate_tree(json_object *root, rng *r) {
    places all = {0};
    collect(root, NULL, NULL, 0, &all);
    int changed = 0;
    for (int attempt = 0; attempt < 8 && !changed; attempt++) {
        place *p = &all.items[below(r, all.count)];
        json_type t = json_object_get_type(p->node);
        switch (below(r, 12)) {
        case 0: /* an interesting number */
            changed = replace(p, number_text(numbers[below(r, sizeof numbers / sizeof *numbers)]));
            break;
        case 1: /* scale or perturb a number (badly scaled data) */
            if (t == json_type_double || t == json_type_int) {
                double x = json_object_get_double(p->node);
                static const double f[] = {1e-6, 1e6, -1, 0, 10, 0.1, 1e-3, 1e3};
                double y = below(r, 3) == 0 ? x + 1 : x * f[below(r, 8)];
                char buf[64];
                snprintf(buf, sizeof buf, "%.17g", y);
                changed = replace(p, isfinite(y) ? json_object_new_double_s(y, buf) : number_text("1e400"));
            }
            break;
        case 2: /* delete */
            if (p->parent && p->key) { json_object_object_del(p->parent, p->key); changed = 1; }
            else if (p->parent) { json_object_array_del_idx(p->parent, p->index, 1); changed = 1; }
            break;
        case 3: /* duplicate an array element (duplicate ids, longer lists) */
            if (p->parent && !p->key) {
                json_object *copy = NULL;
                if (json_object_deep_copy(p->node, &copy, NULL) == 0) { json_object_array_add(p->parent, copy); changed = 1; }
            }
            break;
        case 4: { /* copy a subtree over another node (dangling references, wrong types, splices) */
            place *q = &all.items[below(r, all.count)];
            json_object *copy = NULL;
            if (q->node != p->node && json_object_deep_copy(q->node, &copy, NULL) == 0) {
                /* never copy an ancestor into its descendant's place twice over: deep copy is safe */
                changed = replace(p, copy);
            }
            break;
        }
        case 5: /* swap two members of one object or array (minKW/maxKW, from/to, order) */
            if (p->parent) {
                json_object *parent = p->parent, *other = NULL;
                const char *okey = NULL;
                size_t oindex = 0;
                if (json_object_is_type(parent, json_type_object)) {
                    size_t n = (size_t)json_object_object_length(parent), k = below(r, n), i = 0;
                    json_object_object_foreach(parent, key, value) { if (i++ == k) { okey = key; other = value; } }
                } else {
                    size_t n = json_object_array_length(parent);
                    oindex = below(r, n);
                    other = json_object_array_get_idx(parent, oindex);
                }
                if (other && other != p->node) {
                    json_object *a = json_object_get(p->node), *b = json_object_get(other);
                    if (json_object_is_type(parent, json_type_object)) {
                        json_object_object_add(parent, p->key, b);
                        json_object_object_add(parent, okey, a);
                    } else {
                        json_object_array_put_idx(parent, p->index, b);
                        json_object_array_put_idx(parent, oindex, a);
                    }
                    changed = 1;
                }
            }
            break;
        case 6: { /* a wrong type */
            json_object *v;
            switch (below(r, 6)) {
            case 0: v = NULL; break;
            case 1: v = json_object_new_boolean(below(r, 2)); break;
            case 2: v = json_object_new_string("3"); break;
            case 3: v = json_object_new_array(); break;
            case 4: v = json_object_new_object(); break;
            default: v = json_object_new_int(7); break;
            }
            if (p->parent) {
                if (p->key) json_object_object_add(p->parent, p->key, v);
                else json_object_array_put_idx(p->parent, p->index, v);
                changed = 1;
            } else if (v) json_object_put(v);
            break;
        }
        case 7: /* an interesting string (mechanism and algorithm names, NUL, empty) */
            if (t == json_type_string || below(r, 4) == 0) {
                const char *s = strings[below(r, sizeof strings / sizeof *strings)];
                json_object *v = strcmp(s, "a\\u0000b") ? json_object_new_string(s) : json_object_new_string_len("a\0b", 3);
                changed = replace(p, v);
            }
            break;
        case 8: /* an unknown or optional key */
            if (t == json_type_object) {
                const char *k = keys[below(r, sizeof keys / sizeof *keys)];
                json_object *v = below(r, 2) ? number_text(numbers[below(r, sizeof numbers / sizeof *numbers)])
                                            : json_object_new_boolean(1);
                json_object_object_add(p->node, k, v);
                changed = 1;
            }
            break;
        case 9: /* deeper nesting */
            if (p->parent) {
                json_object *wrap = json_object_new_array();
                json_object_array_add(wrap, json_object_get(p->node));
                changed = replace(p, wrap);
            }
            break;
        case 10: /* shorten or empty an array */
            if (t == json_type_array && json_object_array_length(p->node) > 0) {
                size_t n = json_object_array_length(p->node), keep = below(r, n);
                json_object_array_del_idx(p->node, keep, n - keep);
                changed = 1;
            }
            break;
        default: /* grow an array with copies of its last element (larger instances) */
            if (t == json_type_array && json_object_array_length(p->node) > 0) {
                size_t n = json_object_array_length(p->node), times = 1 + below(r, 16);
                json_object *last = json_object_array_get_idx(p->node, n - 1);
                for (size_t i = 0; i < times; i++) {
                    json_object *copy = NULL;
                    if (json_object_deep_copy(last, &copy, NULL) == 0) json_object_array_add(p->node, copy);
                }
                changed = 1;
            }
            break;
        }
    }
    free(all.items);
    return changed;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    rng r = {seed * 0x2545F4914F6CDD1Dull + 1};
    if (size == 0 || below(&r, 4) == 0) return LLVMFuzzerMutate(data, size, max_size);
    char *text = malloc(size + 1);
    if (!text) return LLVMFuzzerMutate(data, size, max_size);
    memcpy(text, data, size);
    text[size] = 0;
    json_object *root = parse_strict(text);
    free(text);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return LLVMFuzzerMutate(data, size, max_size);
    }
    int rounds = 1 + (int)below(&r, 3), changed = 0;
    for (int k = 0; k < rounds; k++) changed |= mutate_tree(root, &r);
    size_t n = 0;
    if (changed) {
        const char *out = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        n = out ? strlen(out) : 0;
        if (n > 0 && n <= max_size) memcpy(data, out, n);
        else n = 0;
    }
    json_object_put(root);
    return n ? n : LLVMFuzzerMutate(data, size, max_size);
}
