#include "tap.h"
#include "tap_internal.h"

#include <string.h>

#include "aead.h"
#include "audit.h"
#include "cbor.h"
#include "config.h"
#include "edhoc.h"
#include "hkdf.h"
#include "link.h"
#include "ctx_pool.h"
#include "measure.h"
#include "nvm_store.h"
#include "platform.h"
#include "prims.h"
#include "records.h"

#ifndef PQIOT_FIRMWARE_VERSION
#define PQIOT_FIRMWARE_VERSION "dev"
#endif

enum {
    CMD_IDENTIFY = 0,
    CMD_RESET = 1,
    CMD_ECHO = 2,
    CMD_MLKEM_KEYGEN = 16,
    CMD_MLKEM_ENCAPS = 17,
    CMD_MLKEM_DECAPS = 18,
    CMD_SIG_KEYGEN = 32,
    CMD_SIG_SIGN = 33,
    CMD_SIG_VERIFY = 34,
    CMD_AEAD_SEAL = 48,
    CMD_AEAD_OPEN = 49,
    CMD_HKDF = 56,
    CMD_HASH = 58,
    CMD_ACCUMULATED = 64,
    CMD_CRED_LOAD = 80,
    CMD_SESSION_START = 81,
    CMD_SESSION_DELIVER = 82,
    CMD_APP_SEND = 83,
    CMD_APP_RECEIVE = 84,
    CMD_EXPORT = 85,
    CMD_KEY_UPDATE = 86,
    CMD_APP_POLL = 87,
    CMD_SESSION_INFO = 88,
    CMD_SESSION_CLOSE = 89,
    CMD_SUBSCRIBE_DELIVER = 91,
    CMD_MEASURE = 96,
    CMD_AUDIT_READ = 97,
};

static const uint8_t IMPLEMENTED[] = {
    CMD_IDENTIFY,   CMD_RESET,      CMD_ECHO,       CMD_MLKEM_KEYGEN, CMD_MLKEM_ENCAPS,
    CMD_MLKEM_DECAPS, CMD_SIG_KEYGEN, CMD_SIG_SIGN,   CMD_SIG_VERIFY,   CMD_AEAD_SEAL,
    CMD_AEAD_OPEN,  CMD_HKDF,       CMD_HASH,
    CMD_ACCUMULATED, CMD_CRED_LOAD,  CMD_SESSION_START, CMD_SESSION_DELIVER, CMD_APP_SEND,
    CMD_APP_RECEIVE, CMD_EXPORT,    CMD_KEY_UPDATE, CMD_APP_POLL,   CMD_SESSION_INFO,
    CMD_SESSION_CLOSE, CMD_SUBSCRIBE_DELIVER,
    CMD_MEASURE,    CMD_AUDIT_READ,
};

static const char *const PRIMITIVES[] = {
    "ml-kem-512", "ml-kem-768", "ml-kem-1024", "ml-dsa-44",  "ml-dsa-65",
    "falcon-512", "falcon-1024",
    "a256gcm",    "aes-ccm-16-64-128", "aes-ccm-16-128-128", "chacha20-poly1305",
    "sha256",     "sha384",     "hkdf-sha256", "hkdf-sha384",
    "sha512",     "sha3-256",   "sha3-512",    "shake128",   "shake256",
};

/* One buffer holds the response, the result map and the outputs of the measured interval, so
 * a command costs no RAM beyond max_tap_response (the RAM budget of the firmware README). The
 * result map is encoded at TAP_RESULT_AT and moved to the front once the envelope's length is
 * known; outputs (a signature, a handshake message, a record) are written at TAP_OUT_AT during
 * the measured interval and moved down into the map by tap_put_output. The map's keys and
 * small values before an output take less than the TAP_OUT_AT - TAP_RESULT_AT bytes between. */
#define TAP_RESULT_AT 16u
#define TAP_OUT_AT (TAP_RESULT_AT + 128u)

static uint8_t response[TAP_MAX_RESPONSE];
static uint8_t *const out_buf = response + TAP_OUT_AT;
#define OUT_CAP (TAP_MAX_RESPONSE - TAP_OUT_AT)

uint8_t *tap_response_buffer(size_t *cap)
{
    *cap = sizeof(response);
    return response;
}

uint8_t *tap_out_buffer(size_t *cap)
{
    *cap = OUT_CAP;
    return out_buf;
}

void tap_put_output(cbor_writer *w, const uint8_t *data, size_t len)
{
    uintptr_t dst, src = (uintptr_t)data, lo = (uintptr_t)w->buf;

    cbor_put_head(w, CBOR_BSTR, len);
    if (w->overflow || w->cap - w->pos < len) {
        w->overflow = 1;
        return;
    }
    dst = lo + w->pos;
    if (len > 0 && src >= lo && src < lo + w->cap && dst > src) {
        /* the map has grown into the output before it was moved: never send corrupt bytes */
        w->overflow = 1;
        return;
    }
    if (len > 0) {
        memmove(w->buf + w->pos, data, len);
    }
    w->pos += len;
}

enum { ARG_OK = 0, ARG_MISSING = 1, ARG_WRONG_TYPE = 2 };

static const tap_arg *find_arg(const tap_args *args, const char *key)
{
    size_t len = strlen(key);
    size_t i;
    for (i = 0; i < args->count; i++) {
        if (args->args[i].key_len == len && memcmp(args->args[i].key, key, len) == 0) {
            return &args->args[i];
        }
    }
    return NULL;
}

static int arg_head(const tap_args *args, const char *key, int want_major, uint64_t *value,
                    cbor_reader *r)
{
    const tap_arg *arg = find_arg(args, key);
    int major;

    if (arg == NULL) {
        return ARG_MISSING;
    }
    r->data = args->req;
    r->len = args->req_len;
    r->pos = arg->value_pos;
    if (cbor_read_head(r, &major, value) != 0 || major != want_major) {
        return ARG_WRONG_TYPE;
    }
    return ARG_OK;
}

/* Failure helpers: record status and message once; handlers return after calling them. */
int tap_fail(tap_ctx *t, int status, const char *error)
{
    t->status = status;
    t->error = error;
    return -1;
}

static int arg_fail(tap_ctx *t, int rc, const char *missing, const char *wrong)
{
    return tap_fail(t, TAP_MALFORMED, rc == ARG_MISSING ? missing : wrong);
}

int tap_get_bytes(tap_ctx *t, const char *key, const uint8_t **data, size_t *len, size_t max,
                     int optional)
{
    cbor_reader r;
    uint64_t n;
    int rc = arg_head(t->args, key, CBOR_BSTR, &n, &r);

    if (rc == ARG_MISSING && optional) {
        *data = (const uint8_t *)"";
        *len = 0;
        return 0;
    }
    if (rc != ARG_OK) {
        return arg_fail(t, rc, "a required byte-string argument is missing",
                        "a byte-string argument has the wrong type");
    }
    if (n > max) {
        return tap_fail(t, TAP_TOO_LARGE, "a byte-string argument is above its limit (REQ-TAP-007)");
    }
    *data = r.data + r.pos;
    *len = (size_t)n;
    return 0;
}

/* A byte argument of exactly `want` bytes; a wrong length is invalid_input. */
int tap_get_fixed(tap_ctx *t, const char *key, const uint8_t **data, size_t want)
{
    size_t len;
    if (tap_get_bytes(t, key, data, &len, TAP_MAX_ARG + 4096u, 0) != 0) {
        return -1;
    }
    if (len != want) {
        return tap_fail(t, TAP_INVALID_INPUT, "a key, seed or ciphertext has the wrong length");
    }
    return 0;
}

int tap_get_uint(tap_ctx *t, const char *key, uint64_t *value)
{
    cbor_reader r;
    int rc = arg_head(t->args, key, CBOR_UINT, value, &r);
    if (rc != ARG_OK) {
        return arg_fail(t, rc, "a required integer argument is missing",
                        "an integer argument has the wrong type");
    }
    return 0;
}

int tap_get_int(tap_ctx *t, const char *key, int64_t *value)
{
    const tap_arg *arg = find_arg(t->args, key);
    cbor_reader r;
    int major;
    uint64_t v;

    if (arg == NULL) {
        return tap_fail(t, TAP_MALFORMED, "a required integer argument is missing");
    }
    r.data = t->args->req;
    r.len = t->args->req_len;
    r.pos = arg->value_pos;
    if (cbor_read_head(&r, &major, &v) != 0 || (major != CBOR_UINT && major != CBOR_NINT)) {
        return tap_fail(t, TAP_MALFORMED, "an integer argument has the wrong type");
    }
    if (v > (uint64_t)INT64_MAX) {
        return tap_fail(t, TAP_UNSUPPORTED, "integer argument out of range");
    }
    *value = major == CBOR_UINT ? (int64_t)v : -1 - (int64_t)v;
    return 0;
}

int tap_get_text(tap_ctx *t, const char *key, const char **text, size_t *len, int optional)
{
    cbor_reader r;
    uint64_t n;
    int rc = arg_head(t->args, key, CBOR_TSTR, &n, &r);

    if (rc == ARG_MISSING && optional) {
        *text = NULL;
        *len = 0;
        return 0;
    }
    if (rc != ARG_OK) {
        return arg_fail(t, rc, "a required text argument is missing",
                        "a text argument has the wrong type");
    }
    *text = (const char *)(r.data + r.pos);
    *len = (size_t)n;
    return 0;
}

static int prim_fail(tap_ctx *t, int rc)
{
    switch (rc) {
    case PRIM_UNSUPPORTED:
        return tap_fail(t, TAP_UNSUPPORTED, "parameter set or algorithm not implemented");
    case PRIM_INVALID_INPUT:
        return tap_fail(t, TAP_INVALID_INPUT, "input rejected by the primitive's checks");
    default:
        return tap_fail(t, TAP_INTERNAL, "primitive self-check failed");
    }
}

int tap_get_raw(tap_ctx *t, const char *key, cbor_reader *r)
{
    const tap_arg *arg = find_arg(t->args, key);
    if (arg == NULL) {
        return -1;
    }
    r->data = t->args->req;
    r->len = t->args->req_len;
    r->pos = arg->value_pos;
    return 0;
}

void tap_put_key(cbor_writer *w, const char *key)
{
    cbor_put_text(w, key);
}

/* --- handlers: decode arguments, run the measured operation, encode the result ---------- */

static int cmd_identify(tap_ctx *t)
{
    cbor_writer *w = t->w;
    size_t i, suite_count;
    const edhoc_suite *suites;

    /* Keys in deterministic order (length first, then bytewise), RFC 8949 §4.2.1. */
    cbor_put_head(w, CBOR_MAP, 22);
    tap_put_key(w, "tap");
    cbor_put_uint(w, 1);
    tap_put_key(w, "spec");
    cbor_put_text(w, "1.0.0-draft");
    tap_put_key(w, "build");
    cbor_put_text(w, "test");
    tap_put_key(w, "roles");
    cbor_put_head(w, CBOR_ARRAY, 3);
    cbor_put_text(w, "initiator");
    cbor_put_text(w, "responder");
    cbor_put_text(w, "subscriber");
    tap_put_key(w, "suites");
    suites = edhoc_suites(&suite_count);
    cbor_put_head(w, CBOR_ARRAY, suite_count);
    for (i = 0; i < suite_count; i++) {
        cbor_put_int(w, suites[i].id);
    }
    tap_put_key(w, "vendor");
    cbor_put_text(w, "pqiot");
    tap_put_key(w, "measure");
    cbor_put_head(w, CBOR_MAP, 3);
    tap_put_key(w, "stack");
    cbor_put_text(w, plat_has_stack_paint() ? "paint" : "none");
    tap_put_key(w, "cycles");
    cbor_put_text(w, plat_cycle_source());
    tap_put_key(w, "clock_hz");
    cbor_put_uint(w, plat_clock_hz());
    tap_put_key(w, "methods");
    cbor_put_head(w, CBOR_ARRAY, 1);
    cbor_put_uint(w, 0);
    tap_put_key(w, "product");
    cbor_put_text(w, plat_product());
    tap_put_key(w, "bindings");
    /* serial only where the line runs the serial framing (channel 0 exists, REQ-TAP-008) */
    cbor_put_head(w, CBOR_ARRAY, link_available() ? 1 : 0);
    if (link_available()) {
        cbor_put_text(w, "serial");
    }
    tap_put_key(w, "commands");
    cbor_put_head(w, CBOR_ARRAY, sizeof(IMPLEMENTED));
    for (i = 0; i < sizeof(IMPLEMENTED); i++) {
        cbor_put_uint(w, IMPLEMENTED[i]);
    }
    tap_put_key(w, "features");
    cbor_put_head(w, CBOR_ARRAY, 3);
    cbor_put_text(w, "key-update");
    cbor_put_text(w, "persistent-contexts");
    cbor_put_text(w, "no-clock");
    tap_put_key(w, "firmware");
    cbor_put_text(w, PQIOT_FIRMWARE_VERSION);
    tap_put_key(w, "protocol");
    cbor_put_uint(w, 1);
    tap_put_key(w, "persist_k");
    cbor_put_uint(w, REC_PERSIST_K);
    tap_put_key(w, "primitives");
    cbor_put_head(w, CBOR_ARRAY, sizeof(PRIMITIVES) / sizeof(PRIMITIVES[0]));
    for (i = 0; i < sizeof(PRIMITIVES) / sizeof(PRIMITIVES[0]); i++) {
        cbor_put_text(w, PRIMITIVES[i]);
    }
    tap_put_key(w, "serial_mtu");
    cbor_put_uint(w, link_available() ? SERIAL_MTU : 0);
    tap_put_key(w, "replay_window");
    cbor_put_uint(w, REC_WINDOW);
    tap_put_key(w, "max_hs_message");
    cbor_put_uint(w, EDHOC_MAX_ACCEPTED);
    tap_put_key(w, "max_tap_request");
    cbor_put_uint(w, TAP_MAX_REQUEST);
    tap_put_key(w, "max_tap_response");
    cbor_put_uint(w, TAP_MAX_RESPONSE);
    tap_put_key(w, "max_record_plaintext");
    cbor_put_uint(w, REC_MAX_PLAINTEXT);
    return 0;
}

static int cmd_reset(tap_ctx *t)
{
    const char *scope;
    size_t len;

    if (tap_get_text(t, "scope", &scope, &len, 1) != 0) {
        return -1;
    }
    if (scope != NULL && !(len == 8 && memcmp(scope, "sessions", 8) == 0) &&
        !(len == 3 && memcmp(scope, "all", 3) == 0) &&
        !(len == 7 && memcmp(scope, "factory", 7) == 0)) {
        return tap_fail(t, TAP_UNSUPPORTED, "scope must be sessions, all or factory");
    }
    /* "all" and "factory" also drop credentials and the last measurement (REQ-TAP-016), so
     * they leave none of their own; "sessions" is measured like any other command
     * (REQ-TAP-017). "factory" also erases the NVM store (sessions, subscriber windows). */
    if (scope != NULL && len == 8) {
        measure_begin();
        tap_proto_reset(0);
        measure_end(CMD_RESET);
    } else {
        tap_proto_reset(1);
        measure_clear();
        audit_clear(); /* §13.9: "all" and "factory" empty the audit buffer and its lost count */
        if (scope != NULL && len == 7 && store_format() != 0) {
            /* "factory" erases the persistent store, which also clears a damaged one */
            return tap_fail(t, TAP_INTERNAL, "the NVM could not be re-formatted");
        }
    }
    cbor_put_head(t->w, CBOR_MAP, 0);
    return 0;
}

static int cmd_echo(tap_ctx *t)
{
    const uint8_t *data;
    size_t len;

    if (tap_get_bytes(t, "data", &data, &len, TAP_MAX_REQUEST, 0) != 0) {
        return -1;
    }
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "data");
    tap_put_output(t->w, data, len);
    return 0;
}

static int kem_set(tap_ctx *t, unsigned *set, mlkem_sizes *sizes)
{
    uint64_t v;
    if (tap_get_uint(t, "set", &v) != 0) {
        return -1;
    }
    if (v > 0xFFFF || prim_mlkem_sizes((unsigned)v, sizes) != 0) {
        return tap_fail(t, TAP_UNSUPPORTED, "ML-KEM parameter set must be 512, 768 or 1024");
    }
    *set = (unsigned)v;
    return 0;
}

static int cmd_mlkem_keygen(tap_ctx *t)
{
    unsigned set;
    mlkem_sizes sz;
    const uint8_t *d, *z;
    uint8_t *dk = out_buf, *ek; /* in the order the map puts them (tap_put_output) */
    int rc;

    if (kem_set(t, &set, &sz) != 0 || tap_get_fixed(t, "d", &d, 32) != 0 ||
        tap_get_fixed(t, "z", &z, 32) != 0) {
        return -1;
    }
    ek = dk + sz.dk;
    measure_begin();
    rc = prim_mlkem_keygen(set, d, z, ek, dk);
    measure_end(CMD_MLKEM_KEYGEN);
    if (rc != 0) {
        return prim_fail(t, rc);
    }
    cbor_put_head(t->w, CBOR_MAP, 2);
    tap_put_key(t->w, "dk");
    tap_put_output(t->w, dk, sz.dk);
    tap_put_key(t->w, "ek");
    tap_put_output(t->w, ek, sz.ek);
    return 0;
}

static int cmd_mlkem_encaps(tap_ctx *t)
{
    unsigned set;
    mlkem_sizes sz;
    const uint8_t *ek, *m;
    uint8_t *c = out_buf, *k;
    int rc;

    if (kem_set(t, &set, &sz) != 0 || tap_get_fixed(t, "ek", &ek, sz.ek) != 0 ||
        tap_get_fixed(t, "m", &m, 32) != 0) {
        return -1;
    }
    k = c + sz.ct;
    measure_begin();
    rc = prim_mlkem_encaps(set, ek, m, c, k);
    measure_end(CMD_MLKEM_ENCAPS);
    if (rc != 0) {
        return prim_fail(t, rc);
    }
    cbor_put_head(t->w, CBOR_MAP, 2);
    tap_put_key(t->w, "c");
    tap_put_output(t->w, c, sz.ct);
    tap_put_key(t->w, "k");
    tap_put_output(t->w, k, 32);
    return 0;
}

static int cmd_mlkem_decaps(tap_ctx *t)
{
    unsigned set;
    mlkem_sizes sz;
    const uint8_t *dk, *c;
    int rc;

    if (kem_set(t, &set, &sz) != 0 || tap_get_fixed(t, "dk", &dk, sz.dk) != 0 ||
        tap_get_fixed(t, "c", &c, sz.ct) != 0) {
        return -1;
    }
    measure_begin();
    rc = prim_mlkem_decaps(set, dk, c, out_buf);
    measure_end(CMD_MLKEM_DECAPS);
    if (rc != 0) {
        return prim_fail(t, rc);
    }
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "k");
    tap_put_output(t->w, out_buf, 32);
    return 0;
}

static int sig_alg(tap_ctx *t, int64_t *alg, mldsa_sizes *sizes)
{
    if (tap_get_int(t, "alg", alg) != 0) {
        return -1;
    }
    if (prim_sig_sizes(*alg, sizes) != 0) {
        return tap_fail(t, TAP_UNSUPPORTED, "signature algorithm not implemented (ML-DSA-44 -48, "
                                        "ML-DSA-65 -49, Falcon-512 -65601)");
    }
    return 0;
}

static int cmd_sig_keygen(tap_ctx *t)
{
    int64_t alg;
    mldsa_sizes sz;
    const uint8_t *seed;
    uint8_t *pk = out_buf, *sk;
    int rc;

    if (sig_alg(t, &alg, &sz) != 0 || tap_get_fixed(t, "seed", &seed, 32) != 0) {
        return -1;
    }
    sk = pk + sz.pk;
    measure_begin();
    rc = prim_sig_keygen(alg, seed, pk, sk);
    measure_end(CMD_SIG_KEYGEN);
    if (rc != 0) {
        return prim_fail(t, rc);
    }
    cbor_put_head(t->w, CBOR_MAP, 2);
    tap_put_key(t->w, "pk");
    tap_put_output(t->w, pk, sz.pk);
    tap_put_key(t->w, "sk");
    tap_put_output(t->w, sk, sz.sk);
    return 0;
}

static int cmd_sig_sign(tap_ctx *t)
{
    int64_t alg;
    mldsa_sizes sz;
    const uint8_t *sk, *msg, *ctx, *rnd;
    size_t msg_len, ctx_len, sig_len = 0;
    int rc;

    if (sig_alg(t, &alg, &sz) != 0 || tap_get_fixed(t, "sk", &sk, sz.sk) != 0 ||
        tap_get_bytes(t, "msg", &msg, &msg_len, TAP_MAX_ARG, 0) != 0 ||
        tap_get_bytes(t, "ctx", &ctx, &ctx_len, TAP_MAX_ARG, 1) != 0 ||
        tap_get_fixed(t, "rnd", &rnd, 32) != 0) {
        return -1;
    }
    if (ctx_len > 255) {
        return tap_fail(t, TAP_INVALID_INPUT, "ML-DSA context is at most 255 bytes");
    }
    measure_begin();
    rc = prim_sig_sign(alg, sk, msg, msg_len, ctx, ctx_len, rnd, out_buf, &sig_len);
    measure_end(CMD_SIG_SIGN);
    if (rc != 0) {
        return prim_fail(t, rc);
    }
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "sig");
    tap_put_output(t->w, out_buf, sig_len);
    return 0;
}

static int cmd_sig_verify(tap_ctx *t)
{
    int64_t alg;
    mldsa_sizes sz;
    const uint8_t *pk, *msg, *sig, *ctx;
    size_t msg_len, sig_len, ctx_len;
    int valid = 0;
    int rc;

    size_t falcon_pk, falcon_sig;

    if (tap_get_int(t, "alg", &alg) != 0) {
        return -1;
    }
    if (prim_falcon_sizes(alg, &falcon_pk, &falcon_sig) == 0) {
        /* Falcon: verification only, no context (spec §13.3 notes) */
        if (tap_get_fixed(t, "pk", &pk, falcon_pk) != 0 ||
            tap_get_bytes(t, "msg", &msg, &msg_len, TAP_MAX_ARG, 0) != 0 ||
            tap_get_bytes(t, "sig", &sig, &sig_len, TAP_MAX_ARG, 0) != 0 ||
            tap_get_bytes(t, "ctx", &ctx, &ctx_len, TAP_MAX_ARG, 1) != 0) {
            return -1;
        }
        if (ctx_len != 0) {
            return tap_fail(t, TAP_INVALID_INPUT, "Falcon has no context string; ctx must be empty");
        }
        measure_begin();
        rc = prim_falcon_verify(alg, pk, msg, msg_len, sig, sig_len, &valid);
        measure_end(CMD_SIG_VERIFY);
        if (rc != 0) {
            return prim_fail(t, rc);
        }
        cbor_put_head(t->w, CBOR_MAP, 1);
        tap_put_key(t->w, "valid");
        cbor_put_bool(t->w, valid);
        return 0;
    }
    if (sig_alg(t, &alg, &sz) != 0 || tap_get_fixed(t, "pk", &pk, sz.pk) != 0 ||
        tap_get_bytes(t, "msg", &msg, &msg_len, TAP_MAX_ARG, 0) != 0 ||
        tap_get_bytes(t, "sig", &sig, &sig_len, TAP_MAX_ARG, 0) != 0 ||
        tap_get_bytes(t, "ctx", &ctx, &ctx_len, TAP_MAX_ARG, 1) != 0) {
        return -1;
    }
    measure_begin();
    rc = prim_mldsa_verify(alg, pk, msg, msg_len, ctx, ctx_len, sig, sig_len, &valid);
    measure_end(CMD_SIG_VERIFY);
    if (rc != 0) {
        return prim_fail(t, rc);
    }
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "valid");
    cbor_put_bool(t->w, valid);
    return 0;
}

static int aead_args(tap_ctx *t, const aead_params **p, const uint8_t **key,
                     const uint8_t **nonce, const uint8_t **aad, size_t *aad_len,
                     const char *data_key, const uint8_t **data, size_t *data_len)
{
    int64_t alg;
    size_t key_len, nonce_len;

    if (tap_get_int(t, "alg", &alg) != 0) {
        return -1;
    }
    *p = aead_find(alg);
    if (*p == NULL) {
        return tap_fail(t, TAP_UNSUPPORTED, "AEAD algorithm not implemented (3, 10, 24 and 30 are)");
    }
    if (tap_get_bytes(t, "key", key, &key_len, TAP_MAX_ARG, 0) != 0 ||
        tap_get_bytes(t, "nonce", nonce, &nonce_len, TAP_MAX_ARG, 0) != 0 ||
        tap_get_bytes(t, "aad", aad, aad_len, TAP_MAX_ARG, 1) != 0 ||
        /* ct may carry the tag on top of a 4096-byte plaintext (a DUT MAY accept more) */
        tap_get_bytes(t, data_key, data, data_len, TAP_MAX_ARG + 16u, 0) != 0) {
        return -1;
    }
    if (key_len != (*p)->key_len || nonce_len != (*p)->nonce_len) {
        return tap_fail(t, TAP_INVALID_INPUT, "wrong key or nonce length for the AEAD algorithm");
    }
    return 0;
}

static int cmd_aead_seal(tap_ctx *t)
{
    const aead_params *p;
    const uint8_t *key, *nonce, *aad, *pt;
    size_t aad_len, pt_len;

    if (aead_args(t, &p, &key, &nonce, &aad, &aad_len, "pt", &pt, &pt_len) != 0) {
        return -1;
    }
    measure_begin();
    aead_seal(p, key, nonce, aad, aad_len, pt, pt_len, out_buf);
    measure_end(CMD_AEAD_SEAL);
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "ct");
    tap_put_output(t->w, out_buf, pt_len + p->tag_len);
    return 0;
}

static int cmd_aead_open(tap_ctx *t)
{
    const aead_params *p;
    const uint8_t *key, *nonce, *aad, *ct;
    size_t aad_len, ct_len;
    int valid;

    if (aead_args(t, &p, &key, &nonce, &aad, &aad_len, "ct", &ct, &ct_len) != 0) {
        return -1;
    }
    measure_begin();
    valid = aead_open(p, key, nonce, aad, aad_len, ct, ct_len, out_buf);
    measure_end(CMD_AEAD_OPEN);
    /* REQ-TAP-011: a failed tag check is status 0 with valid = false and no pt. */
    cbor_put_head(t->w, CBOR_MAP, valid ? 2 : 1);
    if (valid) {
        tap_put_key(t->w, "pt");
        tap_put_output(t->w, out_buf, ct_len - p->tag_len);
    }
    tap_put_key(t->w, "valid");
    cbor_put_bool(t->w, valid);
    return 0;
}

static int text_is(const char *text, size_t len, const char *want)
{
    return text != NULL && len == strlen(want) && memcmp(text, want, len) == 0;
}

static int cmd_hkdf(tap_ctx *t)
{
    int64_t alg;
    const char *mode;
    size_t mode_len, hl, salt_len = 0, ikm_len = 0, info_len = 0, prk_len = 0, out_len;
    const uint8_t *salt = NULL, *ikm = NULL, *info = NULL, *prk = NULL;
    uint64_t len = 0;
    int extract, expand;
    span info_span;
    uint8_t prk_buf[HASH_MAX_LEN];
    /* map head, "okm" and a 3-byte bstr head precede it: up to 8168 bytes fit the response */
    uint8_t *okm = response + TAP_RESULT_AT + 8u;

    if (tap_get_int(t, "hash", &alg) != 0 || tap_get_text(t, "mode", &mode, &mode_len, 1) != 0) {
        return -1;
    }
    hl = hash_length(alg);
    if (hl == 0) {
        return tap_fail(t, TAP_UNSUPPORTED, "HKDF hash must be -16 (SHA-256) or -43 (SHA-384)");
    }
    extract = mode == NULL || text_is(mode, mode_len, "full") || text_is(mode, mode_len, "extract");
    expand = mode == NULL || text_is(mode, mode_len, "full") || text_is(mode, mode_len, "expand");
    if (!extract && !expand) {
        return tap_fail(t, TAP_UNSUPPORTED, "mode must be full, extract or expand");
    }
    if (extract && (tap_get_bytes(t, "salt", &salt, &salt_len, TAP_MAX_ARG, 0) != 0 ||
                    tap_get_bytes(t, "ikm", &ikm, &ikm_len, TAP_MAX_ARG, 0) != 0)) {
        return -1;
    }
    if (expand) {
        if (tap_get_bytes(t, "info", &info, &info_len, TAP_MAX_ARG, 0) != 0 ||
            tap_get_uint(t, "len", &len) != 0) {
            return -1;
        }
        if (len == 0 || len > 255u * hl) {
            return tap_fail(t, TAP_INVALID_INPUT, "len must be 1..255 x hash length (REQ-TAP-007)");
        }
        if (len + TAP_RESULT_AT + 8u > TAP_MAX_RESPONSE) {
            return tap_fail(t, TAP_TOO_LARGE, "result would exceed max_tap_response");
        }
    }
    if (!extract && tap_get_bytes(t, "prk", &prk, &prk_len, TAP_MAX_ARG, 0) != 0) {
        return -1;
    }
    measure_begin();
    if (extract) {
        hkdf_extract(alg, salt, salt_len, ikm, ikm_len, expand ? prk_buf : okm);
        prk = prk_buf;
        prk_len = hl;
    }
    if (expand) {
        info_span.data = info;
        info_span.len = info_len;
        hkdf_expand(alg, prk, prk_len, &info_span, 1, okm, (size_t)len);
    }
    measure_end(CMD_HKDF);
    memset(prk_buf, 0, sizeof(prk_buf));
    out_len = expand ? (size_t)len : hl;
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "okm");
    tap_put_output(t->w, okm, out_len);
    return 0;
}

static int cmd_hash(tap_ctx *t)
{
    const char *alg;
    size_t alg_len, data_len, out_len = 0;
    const uint8_t *data;
    uint64_t xof_len = 0;
    int rc;

    if (tap_get_text(t, "alg", &alg, &alg_len, 0) != 0 ||
        tap_get_bytes(t, "data", &data, &data_len, TAP_MAX_ARG, 0) != 0) {
        return -1;
    }
    if (prim_hash_is_xof(alg, alg_len)) {
        if (tap_get_uint(t, "len", &xof_len) != 0) {
            return -1;
        }
        if (xof_len == 0 || xof_len > TAP_MAX_XOF_LEN) {
            return tap_fail(t, TAP_INVALID_INPUT, "len must be 1..1024 (REQ-TAP-007)");
        }
    }
    measure_begin();
    rc = prim_hash(alg, alg_len, data, data_len, (size_t)xof_len, out_buf, &out_len);
    measure_end(CMD_HASH);
    if (rc != 0) {
        return prim_fail(t, rc);
    }
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "digest");
    tap_put_output(t->w, out_buf, out_len);
    return 0;
}

static int cmd_accumulated(tap_ctx *t)
{
    const char *prim;
    size_t prim_len;
    uint64_t n;
    uint32_t failed_at = 0;
    int rc;

    if (tap_get_text(t, "prim", &prim, &prim_len, 0) != 0 || tap_get_uint(t, "n", &n) != 0) {
        return -1;
    }
    if (n > TAP_MAX_ACCUMULATED) {
        return tap_fail(t, TAP_INVALID_INPUT, "n is at most 1000000 (REQ-TAP-007)");
    }
    measure_begin();
    rc = prim_accumulated(prim, prim_len, (uint32_t)n, out_buf, &failed_at);
    measure_end(CMD_ACCUMULATED);
    if (rc == PRIM_INTERNAL) {
        t->status = TAP_INTERNAL;
        cbor_put_head(t->w, CBOR_MAP, 1);
        tap_put_key(t->w, "iteration");
        cbor_put_uint(t->w, failed_at);
        return 0;
    }
    if (rc != 0) {
        return prim_fail(t, rc);
    }
    cbor_put_head(t->w, CBOR_MAP, 2);
    tap_put_key(t->w, "n");
    cbor_put_uint(t->w, n);
    tap_put_key(t->w, "digest");
    tap_put_output(t->w, out_buf, 32);
    return 0;
}

static int cmd_measure(tap_ctx *t)
{
    const measurement *m = measure_last();
    cbor_writer *w = t->w;

    if (!m->valid) {
        return tap_fail(t, TAP_INVALID_STATE, "no command has been measured yet");
    }
    cbor_put_head(w, CBOR_MAP, 6);
    tap_put_key(w, "cmd");
    cbor_put_uint(w, m->cmd);
    tap_put_key(w, "cycles");
    cbor_put_uint(w, m->cycles);
    tap_put_key(w, "clock_hz");
    cbor_put_uint(w, plat_clock_hz());
    tap_put_key(w, "stack_bytes");
    if (m->has_stack) {
        cbor_put_uint(w, m->stack_bytes);
    } else {
        cbor_put_null(w);
    }
    tap_put_key(w, "cycle_source");
    cbor_put_text(w, plat_cycle_source());
    tap_put_key(w, "cycles_overflow");
    cbor_put_bool(w, m->overflow);
    return 0;
}

/* --- request parsing and the response envelope -------------------------------------------- */

static int parse_args(cbor_reader *r, tap_args *args)
{
    int major;
    uint64_t count;
    uint64_t i;
    size_t j;

    if (cbor_read_head(r, &major, &count) != 0 || major != CBOR_MAP || count > r->len - r->pos) {
        return -1;
    }
    args->count = 0;
    for (i = 0; i < count; i++) {
        uint64_t key_len;
        const uint8_t *key;
        if (cbor_read_head(r, &major, &key_len) != 0 || major != CBOR_TSTR) {
            return -1;
        }
        key = r->data + r->pos;
        r->pos += (size_t)key_len;
        for (j = 0; j < args->count; j++) {
            if (args->args[j].key_len == key_len && memcmp(args->args[j].key, key, key_len) == 0) {
                return -1; /* duplicate key */
            }
        }
        if (args->count < TAP_MAX_ARGS) {
            args->args[args->count].key = key;
            args->args[args->count].key_len = (size_t)key_len;
            args->args[args->count].value_pos = r->pos;
            args->count++;
        }
        if (cbor_skip(r) != 0) {
            return -1;
        }
    }
    return 0;
}

static size_t envelope(uint8_t *resp, size_t cap, int has_id, uint64_t id, int status,
                       const uint8_t *result, size_t result_len, const char *error)
{
    cbor_writer w = {resp, cap, 0, 0};

    cbor_put_head(&w, CBOR_ARRAY, 3);
    if (has_id) {
        cbor_put_uint(&w, id);
    } else {
        cbor_put_null(&w);
    }
    cbor_put_uint(&w, (uint64_t)status);
    if (error != NULL) {
        cbor_put_head(&w, CBOR_MAP, 1);
        cbor_put_text(&w, "error");
        cbor_put_text(&w, error);
    } else {
        /* The result map was encoded separately (after the measured interval): copy it whole. */
        if (w.overflow || w.cap - w.pos < result_len) {
            w.overflow = 1;
        } else {
            memmove(w.buf + w.pos, result, result_len);
            w.pos += result_len;
        }
    }
    return w.overflow ? 0 : w.pos;
}

size_t tap_too_large(uint8_t *resp, size_t cap)
{
    return envelope(resp, cap, 0, 0, TAP_TOO_LARGE, NULL, 0,
                    "request above max_tap_request (REQ-TAP-006)");
}

size_t tap_handle(const uint8_t *req, size_t req_len, uint8_t *resp, size_t resp_cap)
{
    cbor_reader r = {req, req_len, 0};
    cbor_writer w = {resp + TAP_RESULT_AT, resp_cap - TAP_RESULT_AT, 0, 0};
    tap_args args;
    tap_ctx t = {&w, &args, TAP_OK, NULL};
    int major;
    uint64_t n, command, id;
    int has_id = 0;
    int rc;

    args.req = req;
    args.req_len = req_len;
    if (cbor_read_head(&r, &major, &n) != 0 || major != CBOR_ARRAY || n != 3 ||
        cbor_read_head(&r, &major, &command) != 0 || major != CBOR_UINT) {
        return envelope(resp, resp_cap, 0, 0, TAP_MALFORMED, NULL, 0,
                        "request must be [command: uint, request_id: uint, args: map]");
    }
    if (cbor_read_head(&r, &major, &id) != 0 || major != CBOR_UINT) {
        return envelope(resp, resp_cap, 0, 0, TAP_MALFORMED, NULL, 0,
                        "request_id must be an unsigned integer");
    }
    has_id = 1;
    /* The whole request as one decode: depth, item count, map key order and UTF-8 text
     * (REQ-ENC-005/006/008, REQ-TAP-003). */
    if (parse_args(&r, &args) != 0 || r.pos != r.len ||
        cbor_check_sequence(req, req_len, NULL) != 0) {
        return envelope(resp, resp_cap, has_id, id, TAP_MALFORMED, NULL, 0,
                        "args must be one well-formed map with unique text keys, and nothing may "
                        "follow the request");
    }
    tap_proto_restore();
    tap_proto_tick(plat_millis()); /* timers expire between commands too (§13.5) */
    switch (command) {
    case CMD_IDENTIFY: rc = cmd_identify(&t); break;
    case CMD_RESET: rc = cmd_reset(&t); break;
    case CMD_ECHO: rc = cmd_echo(&t); break;
    case CMD_MLKEM_KEYGEN: rc = cmd_mlkem_keygen(&t); break;
    case CMD_MLKEM_ENCAPS: rc = cmd_mlkem_encaps(&t); break;
    case CMD_MLKEM_DECAPS: rc = cmd_mlkem_decaps(&t); break;
    case CMD_SIG_KEYGEN: rc = cmd_sig_keygen(&t); break;
    case CMD_SIG_SIGN: rc = cmd_sig_sign(&t); break;
    case CMD_SIG_VERIFY: rc = cmd_sig_verify(&t); break;
    case CMD_AEAD_SEAL: rc = cmd_aead_seal(&t); break;
    case CMD_AEAD_OPEN: rc = cmd_aead_open(&t); break;
    case CMD_HKDF: rc = cmd_hkdf(&t); break;
    case CMD_HASH: rc = cmd_hash(&t); break;
    case CMD_ACCUMULATED: rc = cmd_accumulated(&t); break;
    case CMD_CRED_LOAD: rc = tap_cmd_cred_load(&t); break;
    case CMD_SESSION_START: rc = tap_cmd_session_start(&t); break;
    case CMD_SESSION_DELIVER: rc = tap_cmd_session_deliver(&t); break;
    case CMD_APP_SEND: rc = tap_cmd_app_send(&t); break;
    case CMD_APP_RECEIVE: rc = tap_cmd_app_receive(&t); break;
    case CMD_EXPORT: rc = tap_cmd_export(&t); break;
    case CMD_KEY_UPDATE: rc = tap_cmd_key_update(&t); break;
    case CMD_APP_POLL: rc = tap_cmd_app_poll(&t); break;
    case CMD_SESSION_INFO: rc = tap_cmd_session_info(&t); break;
    case CMD_SESSION_CLOSE: rc = tap_cmd_session_close(&t); break;
    case CMD_SUBSCRIBE_DELIVER: rc = tap_cmd_subscribe_deliver(&t); break;
    case CMD_MEASURE: rc = cmd_measure(&t); break;
    case CMD_AUDIT_READ: rc = tap_cmd_audit_read(&t); break;
    default: rc = tap_fail(&t, TAP_UNKNOWN_COMMAND, "command code not implemented"); break;
    }
    /* A failed primitive must not leak hash-context slots into the next command. */
    ctx_pool_reset();
    tap_proto_tick(plat_millis()); /* the timers of states this command entered start now */
    if (rc != 0) {
        return envelope(resp, resp_cap, has_id, id, t.status, NULL, 0, t.error);
    }
    if (w.overflow || w.pos + 16 > resp_cap) {
        return envelope(resp, resp_cap, has_id, id, TAP_TOO_LARGE, NULL, 0,
                        "result would exceed max_tap_response");
    }
    return envelope(resp, resp_cap, has_id, id, t.status, resp + TAP_RESULT_AT, w.pos, NULL);
}
