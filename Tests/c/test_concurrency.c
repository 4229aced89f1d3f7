/*
 * test_concurrency.c: 8 threads call esm_clear at once, many times, on different documents of
 * several mechanisms (energy_sharing with each algorithm, two_layer direct / bidding /
 * centralized, social_optimum SOCP and LinDistFlow, conic LP / SOCP / mixed-integer, the
 * two_layer_voltage case of the generator, error documents of each code) and every reply must be
 * byte-identical to the serial reply of the same document (return code and text), once the
 * wall-clock fields of "stats" (every key ending in "Seconds") are masked. Then 8 threads each
 * drive sessions (esm_session_*: market sessions with update documents, a p2p_online session
 * slot by slot), and every step's reply must equal the same step of a serial session.
 *
 * Usage: test_concurrency [calls-per-thread]    (default 40; Tests/c/run.sh passes 100, 40 under
 *                                                TSan, 4 under valgrind)
 * Prints one line per check and ends with "N passed, M failed"; exits 1 on any failure.
 * Built and run by Tests/c/run.sh (also under valgrind and ThreadSanitizer, see Makefile).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esmarket.h"

enum { THREADS = 8, MAX_DOCS = 64 };

static int passed, failed;
static void check(int ok, const char *name, const char *detail) {
    if (ok) { passed++; printf("PASS %s\n", name); }
    else { failed++; printf("FAIL %s%s%s\n", name, detail ? ": " : "", detail ? detail : ""); }
    fflush(stdout);
}

/* A copy of `doc` with the number after every key ending in Seconds" replaced by 0. */
static char *mask_timing(const char *doc) {
    size_t n = strlen(doc);
    char *out = malloc(n + 1), *w = out;
    const char *r = doc;
    while (*r) {
        const char *hit = strstr(r, "Seconds\":");
        if (!hit) { size_t rest = strlen(r); memcpy(w, r, rest); w += rest; break; }
        size_t head = (size_t)(hit - r) + strlen("Seconds\":");
        memcpy(w, r, head); w += head; r += head;
        while (*r && strchr("0123456789+-.eE", *r)) r++;
        *w++ = '0';
    }
    *w = 0;
    return out;
}

typedef struct { char *problem; const char *name; int rc; char *masked; } document;
static document docs[MAX_DOCS];
static int ndocs;

static void add(const char *name, char *problem) {
    if (ndocs == MAX_DOCS || !problem) return;
    docs[ndocs].name = name;
    docs[ndocs].problem = problem;
    ndocs++;
}

/* A generated case (the generator's output), with `insert` spliced in after the opening brace. */
static char *generated(const char *spec, const char *insert) {
    char *problem = NULL;
    int rc = esm_generate_case(spec, &problem);
    if (rc != ESM_OK) {
        printf("FAIL esm_generate_case(%s): %s\n", spec, problem ? problem : "(none)");
        failed++;
        esm_string_free(problem);
        return NULL;
    }
    size_t a = strlen(insert), b = strlen(problem);
    char *doc = malloc(a + b + 2);
    doc[0] = '{';
    memcpy(doc + 1, insert, a);
    memcpy(doc + 1 + a, problem + 1, b); /* includes the NUL */
    esm_string_free(problem);
    return doc;
}

static char *text(const char *s) { return strdup(s); }

static const char *LP =
    "{\"schema\":\"esmarket/1\",\"mechanism\":\"conic\",\"conic\":{\"q\":[-1,-2],"
    "\"A\":{\"m\":3,\"n\":2,\"colptr\":[0,2,4],\"rowval\":[0,1,0,2],\"nzval\":[1,-1,1,-1]},"
    "\"b\":[4,0,0],\"cones\":[{\"type\":\"nonneg\",\"dim\":3}]}}";
static const char *SOCP =
    "{\"schema\":\"esmarket/1\",\"mechanism\":\"conic\",\"conic\":{\"q\":[1,0,0],"
    "\"A\":{\"m\":4,\"n\":3,\"colptr\":[0,1,2,3],\"rowval\":[1,2,3],\"nzval\":[-1,-1,-1]},"
    "\"b\":[0,0,1,1],\"cones\":[{\"type\":\"zero\",\"dim\":1},{\"type\":\"soc\",\"dim\":3}]}}";
static const char *MIP =
    "{\"schema\":\"esmarket/1\",\"mechanism\":\"conic\",\"conic\":{\"q\":[-5,-4,-3],"
    "\"A\":{\"m\":1,\"n\":3,\"colptr\":[0,1,2,3],\"rowval\":[0,0,0],\"nzval\":[2,3,1]},"
    "\"b\":[4],\"cones\":[{\"type\":\"nonneg\",\"dim\":1}],\"integers\":[0,1,2]}}";
static const char *INFEASIBLE_LP =
    "{\"schema\":\"esmarket/1\",\"mechanism\":\"conic\",\"conic\":{\"q\":[1],"
    "\"A\":{\"m\":2,\"n\":1,\"colptr\":[0,2],\"rowval\":[0,1],\"nzval\":[1,-1]},"
    "\"b\":[-1,-1],\"cones\":[{\"type\":\"nonneg\",\"dim\":2}]}}";

static void build_documents(void) {
    add("energy_sharing 300 exact", generated("{\"mechanism\":\"energy_sharing\",\"prosumers\":300,\"seed\":1}", ""));
    add("energy_sharing 500 exact", generated("{\"mechanism\":\"energy_sharing\",\"prosumers\":500,\"seed\":2}", ""));
    add("energy_sharing 200 centralized", generated("{\"mechanism\":\"energy_sharing\",\"prosumers\":200,\"seed\":3}",
                                                    "\"options\":{\"algorithm\":\"centralized\"},"));
    add("energy_sharing 200 priceTaking", generated("{\"mechanism\":\"energy_sharing\",\"prosumers\":200,\"seed\":4}",
                                                    "\"options\":{\"priceTaking\":true},"));
    add("two_layer 33-bus direct", generated("{\"mechanism\":\"two_layer\",\"feeder\":\"ieee33bw\",\"prosumers\":200,\"communities\":6,\"seed\":5}", ""));
    add("two_layer 33-bus bidding", generated("{\"mechanism\":\"two_layer\",\"feeder\":\"ieee33bw\",\"prosumers\":200,\"communities\":6,\"seed\":6}",
                                              "\"options\":{\"algorithm\":\"bidding\"},"));
    add("two_layer 33-bus centralized", generated("{\"mechanism\":\"two_layer\",\"feeder\":\"ieee33bw\",\"prosumers\":120,\"communities\":4,\"seed\":7}",
                                                  "\"options\":{\"algorithm\":\"centralized\"},"));
    add("social_optimum 33-bus socp", generated("{\"mechanism\":\"social_optimum\",\"feeder\":\"ieee33bw\",\"prosumers\":100,\"seed\":8}", ""));
    add("social_optimum 37-bus socp", generated("{\"mechanism\":\"social_optimum\",\"feeder\":\"ieee37\",\"prosumers\":80,\"seed\":9}", ""));
    add("two_layer_voltage (generated)", generated("{\"mechanism\":\"two_layer_voltage\",\"feeder\":\"ieee33bw\",\"prosumers\":60,\"seed\":10}", ""));
    add("p2p_gne 37-bus centralized", generated("{\"mechanism\":\"p2p_gne\",\"prosumers\":12,\"periods\":6,\"seed\":11}", ""));
    add("p2p_gne 33-bus proximal point", generated("{\"mechanism\":\"p2p_gne\",\"feeder\":\"ieee33bw\",\"prosumers\":5,\"periods\":2,\"seed\":12}",
                                                   "\"options\":{\"algorithm\":\"proximal_point\",\"maxIterations\":60},"));
    add("conic LP", text(LP));
    add("conic SOCP", text(SOCP));
    add("conic mixed-integer", text(MIP));
    add("conic infeasible LP", text(INFEASIBLE_LP));
    add("invalid_json: truncated", text("{\"schema\":\"esmarket/1\",\"mechanism\":"));
    add("invalid_json: NaN", text("{\"schema\":\"esmarket/1\",\"mechanism\":\"energy_sharing\",\"x\":NaN}"));
    add("invalid_input: unknown mechanism", text("{\"schema\":\"esmarket/1\",\"mechanism\":\"auction\"}"));
    add("invalid_input: maxKW < minKW",
        text("{\"schema\":\"esmarket/1\",\"mechanism\":\"energy_sharing\",\"grid\":{\"buyPrice\":1,\"sellPrice\":0.2},"
             "\"communities\":[{\"id\":\"c1\",\"sensitivity\":0.1}],"
             "\"prosumers\":[{\"id\":\"p1\",\"loadKW\":2,\"flex\":{\"minKW\":3,\"maxKW\":2}}]}"));
    add("unsupported: storage in energy_sharing",
        text("{\"schema\":\"esmarket/1\",\"mechanism\":\"energy_sharing\",\"grid\":{\"buyPrice\":1,\"sellPrice\":0.2},"
             "\"communities\":[{\"id\":\"c1\",\"sensitivity\":0.1}],\"prosumers\":[{\"id\":\"p1\",\"storage\":"
             "{\"capacityKWh\":10,\"socKWh\":5,\"chargeMaxKW\":1,\"dischargeMaxKW\":1}}]}"));
    add("unsupported: p2p_online leaky battery",
        text("{\"schema\":\"esmarket/1\",\"mechanism\":\"p2p_online\",\"grid\":{\"buyPrice\":1,\"sellPrice\":0.2},"
             "\"prosumers\":[{\"id\":\"p1\",\"loadKW\":2,\"storage\":{\"capacityKWh\":10,\"socKWh\":5,"
             "\"chargeMaxKW\":1,\"dischargeMaxKW\":1,\"selfDischarge\":0.01}}]}"));
    /* social_optimum with LinDistFlow: the generated 33-bus case with the model overridden */
    char *so = generated("{\"mechanism\":\"social_optimum\",\"feeder\":\"ieee33bw\",\"prosumers\":100,\"seed\":11}", "");
    if (so) {
        const char *key = "\"network\":{";
        char *at = strstr(so, key);
        if (at) {
            const char *model = "\"model\":\"lindistflow\",";
            size_t head = (size_t)(at - so) + strlen(key), n = strlen(so), m = strlen(model);
            char *doc = malloc(n + m + 1);
            memcpy(doc, so, head);
            memcpy(doc + head, model, m);
            memcpy(doc + head + m, so + head, n - head + 1);
            add("social_optimum 33-bus lindistflow", doc);
        }
        free(so);
    }
    /* p2p_online (one slot, centralized) on the same complete document */
    char *gne = generated("{\"mechanism\":\"social_optimum\",\"feeder\":\"ieee33bw\",\"prosumers\":20,\"seed\":12}", "");
    if (gne) {
        const char *from = "\"mechanism\":\"social_optimum\"", *to = "\"mechanism\":\"p2p_online\"    ";
        char *at = strstr(gne, from);
        if (at && strlen(from) == strlen(to)) {
            memcpy(at, to, strlen(to));
            add("p2p_online 33-bus, one slot", gne);
        } else {
            free(gne);
        }
    }
}

typedef struct { int thread, calls, mismatches, errors; char detail[300]; } worker;

static void *work(void *arg) {
    worker *w = arg;
    for (int i = 0; i < w->calls; i++) {
        /* each thread walks the documents in its own order, so different documents run at once */
        int k = (w->thread * 5 + i * (1 + 2 * w->thread)) % ndocs;
        char *out = NULL;
        int rc = esm_clear(docs[k].problem, &out);
        char *masked = out ? mask_timing(out) : NULL;
        if (!masked) w->errors++;
        else if (rc != docs[k].rc || strcmp(masked, docs[k].masked)) {
            if (!w->mismatches)
                snprintf(w->detail, sizeof w->detail, "thread %d call %d, %s: rc %d vs %d: %.200s", w->thread, i,
                         docs[k].name, rc, docs[k].rc, masked);
            w->mismatches++;
        }
        free(masked);
        esm_string_free(out);
    }
    return NULL;
}

/* ---- sessions: one per thread at a time, each stepped through the same updates ---- */

enum { SESSION_STEPS = 5, MAX_SESSION_DOCS = 4 };
typedef struct { const char *name; char *config; const char *steps[SESSION_STEPS]; char *masked[SESSION_STEPS]; int rc[SESSION_STEPS]; } session_case;
static session_case sessions[MAX_SESSION_DOCS];
static int nsessions;

/* Runs a case's steps on a fresh session; replies (masked) into out/rc, or -1 if it could not start. */
static int run_session(const session_case *c, char **out, int *rc) {
    char *error = NULL;
    esm_session *s = esm_session_new(c->config, &error);
    esm_string_free(error);
    if (!s) return -1;
    for (int k = 0; k < SESSION_STEPS; k++) {
        char *reply = NULL;
        rc[k] = esm_session_step(s, c->steps[k], &reply);
        out[k] = reply ? mask_timing(reply) : strdup("");
        esm_string_free(reply);
    }
    esm_session_free(s);
    return 0;
}

static void build_sessions(void) {
    const char *market_steps[SESSION_STEPS] = {
        "{}",
        "{\"prosumers\":[{\"id\":\"p1\",\"loadKW\":3.5},{\"id\":\"p3\",\"pvKW\":2}]}",
        "{\"prosumers\":[{\"id\":\"nobody\",\"loadKW\":1}]}",   /* invalid: the session stays */
        "{\"grid\":{\"buyPrice\":1.2}}",
        "{\"prosumers\":{\"id\":[\"p2\",\"p4\"],\"loadKW\":[0.5,4]}}",
    };
    const char *specs[2] = {"{\"mechanism\":\"energy_sharing\",\"prosumers\":40,\"seed\":21}",
                            "{\"mechanism\":\"social_optimum\",\"feeder\":\"ieee33bw\",\"prosumers\":20,\"seed\":22}"};
    const char *names[2] = {"energy_sharing session", "social_optimum session"};
    for (int d = 0; d < 2; d++) {
        session_case *c = &sessions[nsessions];
        c->name = names[d];
        c->config = generated(specs[d], "");
        if (!c->config) continue;
        for (int k = 0; k < SESSION_STEPS; k++) c->steps[k] = market_steps[k];
        nsessions++;
    }
    /* p2p_online: the one-slot document of build_documents, stepped slot after slot */
    for (int k = 0; k < ndocs; k++) {
        if (strcmp(docs[k].name, "p2p_online 33-bus, one slot")) continue;
        session_case *c = &sessions[nsessions];
        c->name = "p2p_online session";
        c->config = strdup(docs[k].problem);
        const char *online[SESSION_STEPS] = {"{}", "{\"buyPrice\":0.9,\"sellPrice\":0.2}", "{\"pvKW\":[1]}", "{}", "{}"};
        for (int j = 0; j < SESSION_STEPS; j++) c->steps[j] = online[j];
        nsessions++;
    }
}

typedef struct { int thread, rounds, mismatches; char detail[300]; } session_worker;

static void *drive_sessions(void *arg) {
    session_worker *w = arg;
    for (int i = 0; i < w->rounds; i++) {
        const session_case *c = &sessions[(w->thread + i) % nsessions];
        char *out[SESSION_STEPS];
        int rc[SESSION_STEPS];
        if (run_session(c, out, rc)) { w->mismatches++; continue; }
        for (int k = 0; k < SESSION_STEPS; k++) {
            if ((rc[k] != c->rc[k] || strcmp(out[k], c->masked[k])) && !w->mismatches++)
                snprintf(w->detail, sizeof w->detail, "thread %d, %s step %d: rc %d vs %d: %.200s", w->thread, c->name, k,
                         rc[k], c->rc[k], out[k]);
            free(out[k]);
        }
    }
    return NULL;
}

static void test_sessions_in_threads(int rounds) {
    build_sessions();
    check(nsessions == 3, "sessions of energy_sharing, social_optimum and p2p_online", NULL);
    if (!nsessions) return;
    for (int d = 0; d < nsessions; d++) {
        session_case *c = &sessions[d];
        int ok = run_session(c, c->masked, c->rc) == 0;
        char name[160];
        snprintf(name, sizeof name, "%s: a serial run gives results (the invalid update an error)", c->name);
        int errors = 0, results = 0;
        for (int k = 0; ok && k < SESSION_STEPS; k++) { if (c->rc[k] == ESM_OK) results++; else errors++; }
        int invalid = 1;   /* the market sessions' unknown id; p2p_online's pvKW of the wrong length */
        check(ok && errors == invalid && results == SESSION_STEPS - invalid, name, ok ? c->masked[0] : "esm_session_new failed");
    }
    pthread_t th[THREADS];
    session_worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (session_worker){t, rounds, 0, ""};
        if (pthread_create(&th[t], NULL, drive_sessions, &w[t])) { check(0, "pthread_create", NULL); return; }
    }
    int mismatches = 0;
    const char *first = NULL;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        mismatches += w[t].mismatches;
        if (w[t].mismatches && !first) first = w[t].detail;
    }
    char name[160], why[200];
    snprintf(name, sizeof name, "%d threads x %d sessions x %d steps: every step as in a serial session", THREADS, rounds, SESSION_STEPS);
    snprintf(why, sizeof why, "%d mismatches; first: %.150s", mismatches, first ? first : "-");
    check(mismatches == 0, name, why);
    for (int d = 0; d < nsessions; d++) {
        free(sessions[d].config);
        for (int k = 0; k < SESSION_STEPS; k++) free(sessions[d].masked[k]);
    }
}

int main(int argc, char **argv) {
    int calls = argc > 1 ? atoi(argv[1]) : 40;
    if (calls < 1) calls = 1;
    build_documents();
    check(ndocs >= 18, "documents of several mechanisms and error classes", NULL);

    /* serial replies first */
    int codes[6] = {0};
    for (int k = 0; k < ndocs; k++) {
        char *out = NULL;
        docs[k].rc = esm_clear(docs[k].problem, &out);
        docs[k].masked = out ? mask_timing(out) : strdup("");
        if (docs[k].rc >= 0 && docs[k].rc < 6) codes[docs[k].rc]++;
        esm_string_free(out);
        char again_name[160];
        out = NULL;
        int rc = esm_clear(docs[k].problem, &out);
        char *masked = out ? mask_timing(out) : strdup("");
        snprintf(again_name, sizeof again_name, "serial reply is reproducible: %s (rc %d)", docs[k].name, docs[k].rc);
        check(rc == docs[k].rc && !strcmp(masked, docs[k].masked), again_name, masked);
        free(masked);
        esm_string_free(out);
    }
    char why[200];
    snprintf(why, sizeof why, "ESM_OK %d, invalid_json %d, invalid_input %d, unsupported %d, internal %d",
             codes[0], codes[1], codes[2], codes[3], codes[4]);
    check(codes[0] >= 12 && codes[1] >= 2 && codes[2] >= 2 && codes[3] >= 2 && codes[4] == 0,
          "the set has results and errors of every input class, no internal error", why);

    pthread_t th[THREADS];
    worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){t, calls, 0, 0, ""};
        if (pthread_create(&th[t], NULL, work, &w[t])) { check(0, "pthread_create", NULL); return 1; }
    }
    int mismatches = 0, errors = 0;
    const char *first = NULL;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        mismatches += w[t].mismatches;
        errors += w[t].errors;
        if (w[t].mismatches && !first) first = w[t].detail;
    }
    char name[160];
    snprintf(name, sizeof name, "%d threads x %d esm_clear calls on %d documents: byte-identical to serial",
             THREADS, calls, ndocs);
    snprintf(why, sizeof why, "%d mismatches, %d missing documents; first: %.120s", mismatches, errors, first ? first : "-");
    check(mismatches == 0 && errors == 0, name, why);

    int rounds = calls / 8 < 1 ? 1 : calls / 8;
    test_sessions_in_threads(rounds);

    for (int k = 0; k < ndocs; k++) { free(docs[k].problem); free(docs[k].masked); }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
