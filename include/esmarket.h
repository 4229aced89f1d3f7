/*
 * esmarket.h: the C interface of libesmarket.
 *
 * esmarket clears energy-sharing markets among prosumers in distribution grids. Every call takes
 * a JSON document (UTF-8, NUL-terminated) and returns a JSON document; the documents follow the
 * contract "esmarket/1" (see README, section "JSON contract").
 *
 * Mechanisms that clear: energy_sharing, two_layer, two_layer_voltage, social_optimum, conic and
 * p2p_gne (the P2P market as a generalized Nash game; its extensions of the contract — peers as
 * objects with per-partner terms, contractPrice, tradeMaxKW, storage selfDischarge / costWearA /
 * socFinalMinKWh, periodHours, grid priceSlope / importMinKW / importMaxKW, network model
 * "linear_angle" with angleMaxDeg, options equilibrium / verifyEquilibrium, and the "trades"
 * table whose rows have "from" and "to" instead of "id" — are listed in README's contract
 * section). p2p_online (real-time P2P with storage; options.algorithm "centralized") clears
 * through esm_clear, which runs the document's periods slot by slot, and through sessions
 * (below); its fields (tradeCostA, storage lyapunovV / socShiftKWh, options priceFloor /
 * priceCeiling / lyapunovTheta / unsafeParameters / hardSocBounds) are in README's contract
 * section. p2p_reconfiguration is validated and answers "unsupported". power_flow has no
 * market: the exact AC power flow of given injections (bus loads, prosumers' loadKW - pvKW at
 * their bus, bus shunts pShuntKW / qCapKVAr), per period (docs/mechanisms.md).
 *
 * Ownership: input strings stay the caller's (they are copied). Every string that esmarket returns
 * through a `char **` out-parameter is allocated by esmarket and must be released with
 * esm_string_free(). The strings returned by esm_version() and esm_schema() are static: do not free
 * them.
 *
 * Threads: the library has no global mutable state. Concurrent calls from several threads on
 * different inputs are safe.
 *
 * Errors never abort the host process. A call that cannot produce a result returns an error code
 * and, when the out-parameter is not NULL, an error document:
 *   {"schema": "esmarket/1", "status": "error",
 *    "error": {"code": "invalid_input", "path": "prosumers[17].flex.maxKW",
 *              "message": "maxKW (2) is below minKW (3)"}}
 */
#ifndef ESMARKET_H
#define ESMARKET_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Return codes (call status; the market's own status is the result's "status" field) ---- */

/** The call produced a result document. Read its "status" ("solved", "infeasible", ...). */
#define ESM_OK 0
/** The input is not JSON: syntax error, truncation, NaN/Infinity tokens, comments, invalid UTF-8,
 *  nesting deeper than 512 levels, or a NULL input pointer. The error's "path" is null and its
 *  message gives the byte offset. */
#define ESM_ERR_INVALID_JSON 1
/** Valid JSON that breaks the contract: the error's "path" names the offending field. */
#define ESM_ERR_INVALID_INPUT 2
/** A valid document that asks for something not implemented (yet); "path" names it. */
#define ESM_ERR_UNSUPPORTED 3
/** A failure inside esmarket (a bug): please report the input that caused it. */
#define ESM_ERR_INTERNAL 4
/** The out-parameter (result_json / problem_json) is NULL, so no document can be returned. */
#define ESM_ERR_NULL_OUTPUT 5

/** Library version, "MAJOR.MINOR.PATCH". Static string: do not free. */
const char *esm_version(void);

/** Schema name of the documents this library reads and writes, "esmarket/1". Static string. */
const char *esm_schema(void);

/**
 * Clears a market.
 *
 * problem_json  the problem document (UTF-8, NUL-terminated). NULL gives ESM_ERR_INVALID_JSON.
 * result_json   out: the result document on ESM_OK, an error document otherwise. Release it with
 *               esm_string_free(). Must not be NULL (else ESM_ERR_NULL_OUTPUT, nothing allocated).
 * returns       ESM_OK or one of the ESM_ERR_* codes above.
 */
int esm_clear(const char *problem_json, char **result_json);

/**
 * Progress observer for esm_clear_with_progress: called with a small JSON event
 * ({"event": "start"|"iteration"|"done", "mechanism": ..., "iteration": k, ...}) and the caller's
 * user pointer. Returning non-zero asks the solve to stop: the result then has status
 * "interrupted". The event string is only valid during the call.
 */
typedef int (*esm_progress_fn)(const char *event_json, void *user);

/** Same as esm_clear, reporting progress to fn (which may be NULL). */
int esm_clear_with_progress(const char *problem_json, esm_progress_fn fn, void *user,
                            char **result_json);

/**
 * Generates a complete problem document from a case specification, e.g.
 *   {"mechanism": "energy_sharing", "prosumers": 12300, "seed": 7}
 *   {"mechanism": "two_layer_voltage", "feeder": "ieee123", "prosumers": 12300,
 *    "communities": 123, "seed": 7}
 * The same specification gives byte-identical output on every machine.
 *
 * spec_json     the case specification (see README, "Case generator").
 * problem_json  out: the problem document on ESM_OK, an error document otherwise; release it with
 *               esm_string_free(). Must not be NULL.
 * returns       ESM_OK or an ESM_ERR_* code.
 */
int esm_generate_case(const char *spec_json, char **problem_json);

/** Releases a string returned by esmarket. NULL is ignored. */
void esm_string_free(char *s);

/* ---- Sessions: a problem kept in the library between calls ----
 *
 * Market mechanisms (every mechanism but p2p_online): esm_session_new takes a full problem
 * document and keeps it decoded; each esm_session_step takes an update document with the new
 * values of what changed ({"prosumers": columns or rows by id, "grid": {...}, "options": {...}},
 * README "Sessions") and returns the result of clearing the updated market, bit-identical to
 * esm_clear of the equivalent full document, which esm_session_state returns.
 *
 * p2p_online: a session holds the configuration (network, prosumers, batteries and their Lyapunov
 * parameters) and the state between slots (state of charge, hence the virtual queues, and the
 * next slot's index). Each step clears one slot with that slot's measurements only.
 *
 * Ownership: esm_session_new returns a session owned by the caller, released by
 * esm_session_free (exactly once). The config and period strings stay the caller's (copied).
 * Strings returned through char ** are released with esm_string_free.
 *
 * Threads: sessions share nothing: different sessions may be used from different threads at the
 * same time. One session must not be used by two threads at once (steps mutate it); the caller
 * serializes calls on the same session.
 */

typedef struct esm_session esm_session;

/**
 * Starts a session from a problem document of any mechanism (for p2p_online: the configuration,
 * whose per-period series are the defaults of the steps) or from a document returned by
 * esm_session_state (the session resumes where that one was: the same steps give bit-identical
 * results). Returns NULL
 * and an error document in *error_json (when error_json is not NULL) on failure; on success
 * *error_json is set to NULL. Unsafe Lyapunov parameters are rejected here with their path.
 */
esm_session *esm_session_new(const char *config_json, char **error_json);

/**
 * Market mechanisms: applies the update document and clears; an update that does not validate
 * returns its error code and an error document naming the path in the update (e.g.
 * "prosumers.loadKW[17]") and leaves the session unchanged.
 *
 * p2p_online: clears the session's next slot. period_json: {"pvKW": [...], "loadKW": [...], "buyPrice": x,
 * "sellPrice": y}, arrays with one value per prosumer in the configuration's order; every key is
 * optional (default: the configuration's value at this slot, its last period past its horizon).
 * Returns ESM_OK with a p2p_online result document for the one slot (plus "slot"); the state
 * advances only when the slot is solved. Bad input returns an error code and an error document
 * naming the JSON path (e.g. "pvKW[2]") and leaves the session unchanged; so does a slot the
 * solver cannot solve (ESM_OK, status "infeasible" or the solver's status, diagnosis "period").
 */
int esm_session_step(esm_session *s, const char *period_json, char **result_json);

/**
 * Market mechanisms: the equivalent full problem document after the steps so far.
 * p2p_online: the session's state as a JSON document {"schema", "session": "p2p_online", "slot", "socKWh",
 * "queueKWh", "config"} (config: the configuration's text), to checkpoint and later pass to
 * esm_session_new. Returns ESM_OK, or an error code for a NULL session / output.
 */
int esm_session_state(esm_session *s, char **state_json);

/** Releases a session. NULL is ignored. */
void esm_session_free(esm_session *s);

#ifdef __cplusplus
}
#endif

#endif /* ESMARKET_H */
