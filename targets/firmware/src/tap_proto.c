/* TAP protocol-role commands (spec §13.3, §13.5): they feed the same EDHOC code as production
 * traffic (REQ-TAP-013); messages travel in `out` and SESSION_DELIVER (transport "tap"). */
#include <stddef.h>
#include <string.h>

#include "crc32.h"
#include "edhoc.h"
#include "measure.h"
#include "nvm.h"
#include "prims.h"
#include "pubsub.h"
#include "records.h"
#include "tap.h"
#include "tap_internal.h"
#include "work.h"

enum {
    CMD_CRED_LOAD = 80,
    CMD_SESSION_START = 81,
    CMD_SESSION_DELIVER = 82,
    CMD_APP_SEND = 83,
    CMD_APP_RECEIVE = 84,
    CMD_EXPORT = 85,
    CMD_KEY_UPDATE = 86,
    CMD_SESSION_INFO = 88,
    CMD_SESSION_CLOSE = 89,
    CMD_SUBSCRIBE_DELIVER = 91,
};

#ifndef EDHOC_MAX_SESSIONS
#define EDHOC_MAX_SESSIONS 2u
#endif

typedef struct {
    uint64_t id; /* 0: free */
    edhoc_session hs;
    rec_layer rec;
} session_slot;

static session_slot sessions[EDHOC_MAX_SESSIONS];
static uint64_t next_session_id = 1;

/* --- persistence of established sessions (spec §7.7): one NVM slot per session slot --------- */

#define NVM_MAGIC 0x50514E56u /* "PQNV" */
#define NVM_VERSION 1u

typedef struct {
    uint32_t magic, version;
    uint64_t id;
    rec_blob blob;
    uint32_t crc;
} nvm_slot;

typedef char nvm_slots_fit[(sizeof(nvm_slot) * EDHOC_MAX_SESSIONS <= NVM_SIZE) ? 1 : -1];

static int persist(size_t index)
{
    static nvm_slot image;
    session_slot *slot = &sessions[index];

    memset(&image, 0, sizeof(image));
    image.magic = NVM_MAGIC;
    image.version = NVM_VERSION;
    image.id = slot->id;
    rec_to_blob(&slot->rec, slot->hs.initiator, slot->hs.suite->id, &image.blob);
    image.crc = crc32_iso_hdlc((const uint8_t *)&image, offsetof(nvm_slot, crc));
    if (nvm_write(index * sizeof(nvm_slot), (const uint8_t *)&image, sizeof(image)) != 0) {
        return -1;
    }
    slot->rec.dirty = 0;
    memset(&image, 0, sizeof(image));
    return 0;
}

static void forget(size_t index)
{
    static const uint8_t erased[sizeof(uint32_t)] = {0xFF, 0xFF, 0xFF, 0xFF};
    nvm_write(index * sizeof(nvm_slot), erased, sizeof(erased));
}

/* Restore persisted sessions once, at the first TAP request after boot. */
void tap_proto_restore(void)
{
    static int restored;
    static nvm_slot image;
    session_slot *slot;
    size_t i;

    if (restored) {
        return;
    }
    restored = 1;
    for (i = 0; i < EDHOC_MAX_SESSIONS; i++) {
        slot = &sessions[i];
        if (nvm_read(i * sizeof(nvm_slot), (uint8_t *)&image, sizeof(image)) != 0 ||
            image.magic != NVM_MAGIC || image.version != NVM_VERSION ||
            image.crc != crc32_iso_hdlc((const uint8_t *)&image, offsetof(nvm_slot, crc)) ||
            image.id == 0 || rec_from_blob(&slot->rec, &image.blob) != 0) {
            continue;
        }
        memset(&slot->hs, 0, sizeof(slot->hs));
        slot->hs.initiator = image.blob.initiator;
        slot->hs.suite = edhoc_find_suite(image.blob.suite_id);
        slot->hs.state = EDHOC_DONE;
        /* Initiator: Sender ID = C_R, Recipient ID = C_I; the Responder the other way. */
        if (slot->hs.initiator) {
            memcpy(slot->hs.c_r, slot->rec.sender_id, slot->rec.sender_id_len);
            slot->hs.c_r_len = slot->rec.sender_id_len;
            memcpy(slot->hs.c_i, slot->rec.recipient_id, slot->rec.recipient_id_len);
            slot->hs.c_i_len = slot->rec.recipient_id_len;
        } else {
            memcpy(slot->hs.c_i, slot->rec.sender_id, slot->rec.sender_id_len);
            slot->hs.c_i_len = slot->rec.sender_id_len;
            memcpy(slot->hs.c_r, slot->rec.recipient_id, slot->rec.recipient_id_len);
            slot->hs.c_r_len = slot->rec.recipient_id_len;
        }
        slot->id = image.id;
        if (image.id >= next_session_id) {
            next_session_id = image.id + 1;
        }
    }
    memset(&image, 0, sizeof(image));
}

void tap_proto_reset(int scope_all)
{
    size_t i;
    memset(sessions, 0, sizeof(sessions));
    for (i = 0; i < EDHOC_MAX_SESSIONS; i++) {
        forget(i);
    }
    if (scope_all) {
        cred_reset();
        pubsub_reset(); /* the (kid, topic) windows belong to the publishers' credentials */
    }
}

static int text_eq(const char *text, size_t len, const char *want)
{
    return text != NULL && len == strlen(want) && memcmp(text, want, len) == 0;
}

/* An optional bool argument (default false); 1 if true. */
static int get_flag(tap_ctx *t, const char *key, int *value)
{
    cbor_reader r;
    int major;
    uint64_t v;
    *value = 0;
    if (tap_get_raw(t, key, &r) != 0) {
        return 0;
    }
    if (cbor_read_head(&r, &major, &v) != 0 || major != CBOR_SIMPLE ||
        (v != CBOR_TRUE && v != CBOR_FALSE)) {
        return tap_fail(t, TAP_MALFORMED, "a flag argument must be a bool");
    }
    *value = v == CBOR_TRUE;
    return 0;
}

int tap_cmd_cred_load(tap_ctx *t)
{
    const char *slot, *trust;
    size_t slot_len, trust_len, ccs_len, sk_len = 0, cap;
    const uint8_t *ccs, *sk = NULL, *kid;
    credential *target;
    mldsa_sizes sz;
    size_t falcon_pk, falcon_sig;
    int persist, own, rc;

    if (tap_get_text(t, "slot", &slot, &slot_len, 0) != 0 || get_flag(t, "persist", &persist) != 0) {
        return -1;
    }
    own = text_eq(slot, slot_len, "own");
    if (!own && !text_eq(slot, slot_len, "peer")) {
        return tap_fail(t, TAP_UNSUPPORTED, "only the own and peer slots are implemented");
    }
    if (persist) {
        return tap_fail(t, TAP_UNSUPPORTED, "this build has no persistent KeyStore");
    }
    if (tap_get_bytes(t, "ccs", &ccs, &ccs_len, TAP_MAX_ARG, 0) != 0) {
        return -1;
    }
    if (own) {
        if (tap_get_bytes(t, "sk", &sk, &sk_len, TAP_MAX_ARG + 4096u, 0) != 0) {
            return -1;
        }
        target = cred_own();
    } else {
        if (tap_get_text(t, "trust", &trust, &trust_len, 1) != 0) {
            return -1;
        }
        if (trust != NULL && !text_eq(trust, trust_len, "allow-list")) {
            return tap_fail(t, TAP_UNSUPPORTED, "only allow-list trust is implemented");
        }
        target = cred_free_peer_slot();
        if (target == NULL) {
            return tap_fail(t, TAP_BUSY, "peer credential slots are full (RESET all)");
        }
    }
    rc = cred_parse(ccs, ccs_len, target);
    if (rc != 0) {
        return tap_fail(t, rc == -2 ? TAP_TOO_LARGE : TAP_INVALID_INPUT,
                        "ccs is not a CCS with an AKP key and a bstr kid");
    }
    if (!own && prim_falcon_sizes(target->alg, &falcon_pk, &falcon_sig) == 0 &&
        target->pub_len == falcon_pk && falcon_pk <= CRED_MAX_PUBLIC_KEY) {
        /* a Falcon-512 publisher: usable for signed pub/sub, never in a handshake */
        cbor_put_head(t->w, CBOR_MAP, 1);
        tap_put_key(t->w, "kid");
        cbor_put_bytes(t->w, target->kid, target->kid_len);
        cred_drop_other_peers(target);
        return 0;
    }
    if (prim_mldsa_sizes(target->alg, &sz) != 0 || target->pub_len != sz.pk ||
        sz.pk > CRED_MAX_PUBLIC_KEY) {
        target->loaded = 0;
        return tap_fail(t, TAP_UNSUPPORTED,
                        "credential algorithm not enabled (ML-DSA-44; Falcon-512 for peers)");
    }
    if (!own) {
        cred_drop_other_peers(target); /* reloading a kid replaces its old credential */
    } else {
        if (sz.sk > CRED_MAX_SECRET_KEY || (sk_len != sz.sk && sk_len != 32)) {
            target->loaded = 0;
            return tap_fail(t, TAP_INVALID_INPUT,
                            "sk must be the ML-DSA seed (32 bytes) or the expanded secret key");
        }
        if (sk_len == 32) {
            /* A seed (FIPS 204 KeyGen_internal(xi)): expand it and check it matches the CCS. */
            uint8_t *pk = tap_out_buffer(&cap);
            if (prim_mldsa_keygen(target->alg, sk, pk, cred_own_secret()) != 0 ||
                memcmp(pk, target->ccs + target->pub_pos, sz.pk) != 0) {
                memset(cred_own_secret(), 0, CRED_MAX_SECRET_KEY);
                target->loaded = 0;
                return tap_fail(t, TAP_INVALID_INPUT, "sk does not belong to the credential's key");
            }
        } else {
            memcpy(cred_own_secret(), sk, sk_len);
        }
        *cred_own_secret_len() = sz.sk;
    }
    kid = target->kid;
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "kid");
    cbor_put_bytes(t->w, kid, target->kid_len);
    return 0;
}

/* c_id: bstr, or int -24..23 (its one-byte encoding). */
static int get_c_id(tap_ctx *t, edhoc_session *s)
{
    cbor_reader r;
    int major;
    uint64_t v;
    size_t start;

    s->own_cid_len = 0;
    if (tap_get_raw(t, "c_id", &r) != 0) {
        return 0;
    }
    start = r.pos;
    if (cbor_read_head(&r, &major, &v) != 0) {
        return tap_fail(t, TAP_MALFORMED, "c_id must be a byte string or integer");
    }
    if (major == CBOR_UINT || major == CBOR_NINT) {
        if (v > 23) {
            return tap_fail(t, TAP_INVALID_INPUT, "an integer c_id must be in -24..23");
        }
        s->own_cid[0] = r.data[start];
        s->own_cid_len = 1;
        return 0;
    }
    if (major != CBOR_BSTR) {
        return tap_fail(t, TAP_MALFORMED, "c_id must be a byte string or integer");
    }
    if (v > EDHOC_MAX_CID) {
        return tap_fail(t, TAP_INVALID_INPUT, "c_id is at most 6 bytes (REQ-HS-003)");
    }
    memcpy(s->own_cid, r.data + r.pos, (size_t)v);
    s->own_cid_len = (size_t)v;
    return 0;
}

static int get_suites(tap_ctx *t, edhoc_session *s)
{
    cbor_reader r;
    int major;
    uint64_t count, i, v;

    if (tap_get_raw(t, "suites", &r) != 0) {
        return tap_fail(t, TAP_MALFORMED, "suites is missing");
    }
    if (cbor_read_head(&r, &major, &count) != 0 || major != CBOR_ARRAY || count == 0) {
        return tap_fail(t, TAP_MALFORMED, "suites must be a non-empty array of ints");
    }
    if (count > EDHOC_MAX_SUITES) {
        return tap_fail(t, TAP_TOO_LARGE, "at most 8 suites");
    }
    for (i = 0; i < count; i++) {
        if (cbor_read_head(&r, &major, &v) != 0 || (major != CBOR_UINT && major != CBOR_NINT) ||
            v > 0x7FFFFFFF) {
            return tap_fail(t, TAP_MALFORMED, "suites must be a non-empty array of ints");
        }
        s->suites[i] = major == CBOR_UINT ? (int32_t)v : -1 - (int32_t)v;
        if (edhoc_find_suite(s->suites[i]) == NULL) {
            return tap_fail(t, TAP_UNSUPPORTED, "suite not implemented (-101, -102, -105 are)");
        }
    }
    s->suite_count = (size_t)count;
    return 0;
}

static session_slot *find_session(tap_ctx *t)
{
    uint64_t id;
    size_t i;
    if (tap_get_uint(t, "session", &id) != 0) {
        return NULL;
    }
    for (i = 0; i < EDHOC_MAX_SESSIONS; i++) {
        if (sessions[i].id != 0 && sessions[i].id == id) {
            return &sessions[i];
        }
    }
    tap_fail(t, TAP_INVALID_STATE, "unknown session");
    return NULL;
}

static void put_out(cbor_writer *w, const edhoc_out *out)
{
    tap_put_key(w, "out");
    cbor_put_head(w, CBOR_ARRAY, out->len > 0 ? 1 : 0);
    if (out->len > 0) {
        cbor_put_bytes(w, out->buf, out->len);
    }
}

/* Status 7 with {"alert", "detail", "out", "state"} (REQ-TAP-013). */
static int protocol_alert(tap_ctx *t, const edhoc_session *s, const edhoc_out *out)
{
    t->status = TAP_PROTOCOL_ALERT;
    cbor_put_head(t->w, CBOR_MAP, 4);
    put_out(t->w, out);
    tap_put_key(t->w, "alert");
    cbor_put_text(t->w, edhoc_alert_name(out->alert));
    tap_put_key(t->w, "state");
    cbor_put_text(t->w, edhoc_state_name(s->state));
    tap_put_key(t->w, "detail");
    cbor_put_text(t->w, out->detail != NULL ? out->detail : "");
    return 0;
}

int tap_cmd_session_start(tap_ctx *t)
{
    edhoc_session *s;
    const char *role, *opt;
    size_t role_len, opt_len, kid_len, peer_len, cap, i;
    const uint8_t *kid, *peer, *seed = NULL, *m = NULL, *rnd = NULL;
    session_slot *slot = NULL;
    const credential *own = cred_own();
    uint64_t method;
    int flag, initiator, rc;
    edhoc_out out;

    for (i = 0; i < EDHOC_MAX_SESSIONS && slot == NULL; i++) {
        if (sessions[i].id == 0) {
            slot = &sessions[i];
        }
    }
    if (slot == NULL) {
        return tap_fail(t, TAP_BUSY, "session slots are full (RESET sessions)");
    }
    /* The slot stays free (id 0) unless the start succeeds. */
    s = &slot->hs;
    memset(s, 0, sizeof(*s));
    if (tap_get_text(t, "role", &role, &role_len, 0) != 0 || tap_get_uint(t, "method", &method) != 0 ||
        get_suites(t, s) != 0 || tap_get_bytes(t, "cred", &kid, &kid_len, TAP_MAX_ARG, 0) != 0 ||
        tap_get_bytes(t, "peer", &peer, &peer_len, TAP_MAX_ARG, 1) != 0 || get_c_id(t, s) != 0) {
        return -1;
    }
    if (!text_eq(role, role_len, "initiator") && !text_eq(role, role_len, "responder")) {
        return tap_fail(t, TAP_INVALID_INPUT, "role must be initiator or responder");
    }
    initiator = role[0] == 'i';
    if (method != 0) {
        return tap_fail(t, TAP_UNSUPPORTED, "only method 0 is implemented");
    }
    if (tap_get_text(t, "transport", &opt, &opt_len, 1) != 0) {
        return -1;
    }
    if (opt != NULL && !text_eq(opt, opt_len, "tap")) {
        return tap_fail(t, TAP_UNSUPPORTED, "only transport tap is implemented");
    }
    if (tap_get_text(t, "id_cred", &opt, &opt_len, 1) != 0) {
        return -1;
    }
    if (opt != NULL && !text_eq(opt, opt_len, "kid")) {
        return tap_fail(t, TAP_UNSUPPORTED, "only id_cred kid is implemented");
    }
    for (i = 0; i < 3; i++) {
        static const char *const options[] = {"msg4", "tofu", "echo"};
        if (get_flag(t, options[i], &flag) != 0) {
            return -1;
        }
        if (flag) {
            return tap_fail(t, TAP_UNSUPPORTED, "msg4, tofu and echo are not implemented");
        }
    }
    if (tap_get_raw(t, "psk", &(cbor_reader){0}) == 0 ||
        tap_get_raw(t, "x25519_eph", &(cbor_reader){0}) == 0) {
        return tap_fail(t, TAP_UNSUPPORTED, "psk and x25519_eph are not implemented");
    }
    if (!own->loaded || kid_len != own->kid_len || memcmp(kid, own->kid, kid_len) != 0) {
        return tap_fail(t, TAP_INVALID_STATE, "no own credential with that kid (CRED_LOAD)");
    }
    if (peer_len > CRED_MAX_KID) {
        return tap_fail(t, TAP_INVALID_INPUT, "peer kid too long");
    }
    memcpy(s->expected_peer, peer, peer_len);
    s->expected_peer_len = peer_len;
    /* This build has no entropy source: the ephemeral randomness must be given (§13.5). */
    if (initiator) {
        if (tap_get_raw(t, "kem_seed", &(cbor_reader){0}) != 0) {
            return tap_fail(t, TAP_UNSUPPORTED, "no entropy source in this build: pass kem_seed");
        }
        if (tap_get_fixed(t, "kem_seed", &seed, 64) != 0) {
            return -1;
        }
    } else {
        if (tap_get_raw(t, "kem_m", &(cbor_reader){0}) != 0) {
            return tap_fail(t, TAP_UNSUPPORTED, "no entropy source in this build: pass kem_m");
        }
        if (tap_get_fixed(t, "kem_m", &m, 32) != 0) {
            return -1;
        }
        memcpy(s->kem_m, m, 32);
    }
    /* Without sig_rnd ML-DSA signs in its deterministic variant (rnd = 0^32, FIPS 204 §3.4). */
    if (tap_get_raw(t, "sig_rnd", &(cbor_reader){0}) == 0) {
        if (tap_get_fixed(t, "sig_rnd", &rnd, 32) != 0) {
            return -1;
        }
        memcpy(s->sig_rnd, rnd, 32);
    }
    if (s->own_cid_len == 0) {
        /* Default identifier: a one-byte int; a responder avoids C_I when message_1 comes. */
        s->own_cid[0] = initiator ? 0x37 : 0x00;
        s->own_cid_len = 1;
    }
    out.buf = tap_out_buffer(&cap);
    out.cap = cap;
    out.len = 0;
    measure_begin();
    if (initiator) {
        rc = edhoc_initiator_start(s, seed, &out);
    } else {
        edhoc_responder_start(s);
        rc = 0;
    }
    measure_end(CMD_SESSION_START);
    if (rc != 0) {
        return tap_fail(t, TAP_INTERNAL, "could not build message_1");
    }
    slot->id = next_session_id++;
    cbor_put_head(t->w, CBOR_MAP, 2);
    put_out(t->w, &out);
    tap_put_key(t->w, "session");
    cbor_put_uint(t->w, slot->id);
    return 0;
}

int tap_cmd_session_deliver(tap_ctx *t)
{
    session_slot *slot = find_session(t);
    const uint8_t *msg;
    size_t len, cap;
    edhoc_out out;
    int rc;

    if (slot == NULL || tap_get_bytes(t, "msg", &msg, &len, EDHOC_MAX_MESSAGE, 0) != 0) {
        return -1;
    }
    if (slot->hs.state == EDHOC_DONE || slot->hs.state == EDHOC_FAILED) {
        return tap_fail(t, TAP_INVALID_STATE, "the handshake of this session has ended");
    }
    if (!slot->hs.initiator && slot->hs.state == EDHOC_START && slot->hs.own_cid_len == 1 &&
        len > 0) {
        /* a default C_R must differ from C_I (REQ-HS-005); C_I is the message's last item
         * when there is no EAD_1, which is the only case the default needs to cover */
        if (msg[len - 1] == slot->hs.own_cid[0]) {
            slot->hs.own_cid[0] = (uint8_t)(slot->hs.own_cid[0] + 1);
        }
    }
    out.buf = tap_out_buffer(&cap);
    out.cap = cap;
    measure_begin();
    rc = edhoc_deliver(&slot->hs, msg, len, &out);
    measure_end(CMD_SESSION_DELIVER);
    if (rc != 0) {
        return protocol_alert(t, &slot->hs, &out);
    }
    if (slot->hs.state == EDHOC_DONE) {
        rec_init(&slot->rec, &slot->hs);
        if (persist((size_t)(slot - sessions)) != 0) {
            return tap_fail(t, TAP_INTERNAL, "could not persist the session context");
        }
    }
    cbor_put_head(t->w, CBOR_MAP, 2);
    put_out(t->w, &out);
    tap_put_key(t->w, "state");
    cbor_put_text(t->w, edhoc_state_name(slot->hs.state));
    return 0;
}

int tap_cmd_export(tap_ctx *t)
{
    session_slot *slot = find_session(t);
    uint64_t label, len;
    const uint8_t *context;
    size_t context_len, cap;
    uint8_t *buf = tap_out_buffer(&cap);

    if (slot == NULL || tap_get_uint(t, "label", &label) != 0 ||
        tap_get_bytes(t, "context", &context, &context_len, TAP_MAX_ARG, 1) != 0 ||
        tap_get_uint(t, "len", &len) != 0) {
        return -1;
    }
    if (slot->hs.state != EDHOC_DONE) {
        return tap_fail(t, TAP_INVALID_STATE, "EXPORT needs a session in state DONE");
    }
    if (len == 0 || len > 255u * hash_length(slot->hs.suite->hash) || len + 16u > cap) {
        return tap_fail(t, TAP_INVALID_INPUT, "len must be 1..255 x hash length");
    }
    measure_begin();
    if (slot->rec.active) {
        rec_exporter(&slot->rec, label, context, context_len, buf, (size_t)len);
    } else {
        edhoc_exporter(&slot->hs, label, context, context_len, buf, (size_t)len);
    }
    measure_end(CMD_EXPORT);
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "okm");
    cbor_put_bytes(t->w, buf, (size_t)len);
    return 0;
}

/* --- records (spec chapter 7) --------------------------------------------------------------- */

static const char *session_state(const session_slot *slot)
{
    return slot->rec.active && slot->rec.closed ? "CLOSED" : edhoc_state_name(slot->hs.state);
}

static session_slot *established(tap_ctx *t)
{
    session_slot *slot = find_session(t);
    if (slot == NULL) {
        return NULL;
    }
    if (slot->hs.state != EDHOC_DONE || !slot->rec.active || slot->rec.closed) {
        tap_fail(t, TAP_INVALID_STATE, "records need a session in state DONE");
        return NULL;
    }
    return slot;
}

/* Persist before anything leaves the device (REQ-REPLAY-006/008); a closed session is
 * forgotten. Returns -1 (and the failure) if the NVM write failed. */
static int commit(tap_ctx *t, session_slot *slot)
{
    size_t index = (size_t)(slot - sessions);
    if (slot->rec.closed) {
        forget(index);
        return 0;
    }
    if (slot->rec.dirty && persist(index) != 0) {
        return tap_fail(t, TAP_INTERNAL, "could not persist the record state; nothing was sent");
    }
    return 0;
}

static int record_alert(tap_ctx *t, session_slot *slot, edhoc_alert alert, const char *detail,
                        const rec_out *out)
{
    edhoc_out eo;
    eo.buf = out->buf;
    eo.cap = out->cap;
    eo.len = out->len;
    eo.alert = alert;
    eo.detail = detail;
    t->status = TAP_PROTOCOL_ALERT;
    cbor_put_head(t->w, CBOR_MAP, 4);
    put_out(t->w, &eo);
    tap_put_key(t->w, "alert");
    cbor_put_text(t->w, edhoc_alert_name(alert));
    tap_put_key(t->w, "state");
    cbor_put_text(t->w, session_state(slot));
    tap_put_key(t->w, "detail");
    cbor_put_text(t->w, detail != NULL ? detail : "");
    return 0;
}

static void put_records(cbor_writer *w, const rec_out *out)
{
    tap_put_key(w, "out");
    cbor_put_head(w, CBOR_ARRAY, out->len > 0 ? 1 : 0);
    if (out->len > 0) {
        cbor_put_bytes(w, out->buf, out->len);
    }
}

int tap_cmd_app_send(tap_ctx *t)
{
    session_slot *slot = established(t);
    const uint8_t *data;
    size_t len;
    rec_out out;
    edhoc_alert alert;

    if (slot == NULL || tap_get_bytes(t, "data", &data, &len, REC_MAX_PLAINTEXT, 0) != 0) {
        return -1;
    }
    out.buf = tap_out_buffer(&out.cap);
    measure_begin();
    alert = rec_send(&slot->rec, CT_APPLICATION_DATA, data, len, &out);
    measure_end(CMD_APP_SEND);
    if (alert != ALERT_NONE) {
        out.len = 0;
        return record_alert(t, slot, alert, "cannot send", &out);
    }
    if (commit(t, slot) != 0) {
        return -1;
    }
    cbor_put_head(t->w, CBOR_MAP, 1);
    put_records(t->w, &out);
    return 0;
}

int tap_cmd_app_receive(tap_ctx *t)
{
    uint8_t *plain = work_buffer(0);
    session_slot *slot = established(t);
    const uint8_t *record, *body = NULL;
    size_t len, body_len = 0;
    uint8_t content_type = 0;
    const char *detail = NULL;
    rec_out out;
    edhoc_alert alert;

    if (slot == NULL ||
        tap_get_bytes(t, "record", &record, &len, REC_MAX_PLAINTEXT + REC_OVERHEAD, 0) != 0) {
        return -1;
    }
    out.buf = tap_out_buffer(&out.cap);
    measure_begin();
    alert = rec_receive(&slot->rec, record, len, plain, &content_type, &body, &body_len, &out,
                        &detail);
    measure_end(CMD_APP_RECEIVE);
    if (commit(t, slot) != 0) {
        return -1;
    }
    if (alert != ALERT_NONE) {
        return record_alert(t, slot, alert, detail, &out);
    }
    cbor_put_head(t->w, CBOR_MAP, 3);
    put_records(t->w, &out);
    tap_put_key(t->w, "data");
    cbor_put_bytes(t->w, content_type == CT_APPLICATION_DATA ? body : NULL,
                   content_type == CT_APPLICATION_DATA ? body_len : 0);
    tap_put_key(t->w, "content_type");
    cbor_put_uint(t->w, content_type);
    memset(plain, 0, WORK_SIZE);
    return 0;
}

int tap_cmd_key_update(tap_ctx *t)
{
    session_slot *slot = established(t);
    const uint8_t *nonce;
    rec_out out;
    edhoc_alert alert;

    if (slot == NULL) {
        return -1;
    }
    if (tap_get_raw(t, "nonce", &(cbor_reader){0}) != 0) {
        return tap_fail(t, TAP_UNSUPPORTED, "no entropy source in this build: pass nonce");
    }
    if (tap_get_fixed(t, "nonce", &nonce, REC_NONCE_LEN) != 0) {
        return -1;
    }
    out.buf = tap_out_buffer(&out.cap);
    measure_begin();
    alert = rec_start_key_update(&slot->rec, nonce, &out);
    measure_end(CMD_KEY_UPDATE);
    if (alert != ALERT_NONE) {
        out.len = 0;
        return record_alert(t, slot, alert, "cannot start a key update", &out);
    }
    if (commit(t, slot) != 0) {
        return -1;
    }
    cbor_put_head(t->w, CBOR_MAP, 1);
    put_records(t->w, &out);
    return 0;
}

/* --- signed pub/sub, subscriber side (spec chapter 8) ---------------------------------------- */

int tap_cmd_subscribe_deliver(tap_ctx *t)
{
    const char *topic;
    size_t topic_len, msg_len;
    const uint8_t *msg;
    uint64_t now_ms;
    int has_now = tap_get_raw(t, "now_ms", &(cbor_reader){0}) == 0;
    const char *detail = NULL;
    pubsub_message m;
    edhoc_alert alert;

    if (tap_get_text(t, "topic", &topic, &topic_len, 0) != 0 ||
        tap_get_bytes(t, "msg", &msg, &msg_len, TAP_MAX_REQUEST, 0) != 0 ||
        (has_now && tap_get_uint(t, "now_ms", &now_ms) != 0)) {
        return -1;
    }
    measure_begin();
    alert = pubsub_verify((const uint8_t *)topic, topic_len, msg, msg_len,
                          has_now ? &now_ms : NULL, &m, &detail);
    measure_end(CMD_SUBSCRIBE_DELIVER);
    if (alert != ALERT_NONE) {
        t->status = TAP_PROTOCOL_ALERT;
        cbor_put_head(t->w, CBOR_MAP, 4);
        tap_put_key(t->w, "out");
        cbor_put_head(t->w, CBOR_ARRAY, 0);
        tap_put_key(t->w, "alert");
        cbor_put_text(t->w, edhoc_alert_name(alert));
        tap_put_key(t->w, "state");
        cbor_put_text(t->w, "subscriber");
        tap_put_key(t->w, "detail");
        cbor_put_text(t->w, detail != NULL ? detail : "");
        return 0;
    }
    cbor_put_head(t->w, CBOR_MAP, 4);
    tap_put_key(t->w, "kid");
    cbor_put_bytes(t->w, m.kid, m.kid_len);
    tap_put_key(t->w, "seq");
    cbor_put_uint(t->w, m.seq);
    tap_put_key(t->w, "content");
    cbor_put_bytes(t->w, m.content, m.content_len);
    tap_put_key(t->w, "timestamp_ms");
    cbor_put_uint(t->w, m.timestamp_ms);
    return 0;
}

/* --- SESSION_INFO and SESSION_CLOSE ------------------------------------------------------------ */

static void put_optional_bytes(cbor_writer *w, const uint8_t *data, size_t len, int present)
{
    if (present) {
        cbor_put_bytes(w, data, len);
    } else {
        cbor_put_null(w);
    }
}

int tap_cmd_session_info(tap_ctx *t)
{
    session_slot *slot = find_session(t);
    const edhoc_session *s;
    int known_ids;

    if (slot == NULL) {
        return -1;
    }
    s = &slot->hs;
    known_ids = s->state == EDHOC_DONE || (s->state == EDHOC_WAIT_M3);
    measure_begin();
    measure_end(CMD_SESSION_INFO);
    /* keys in deterministic order: length first, then bytewise (RFC 8949 §4.2.1) */
    cbor_put_head(t->w, CBOR_MAP, 9);
    tap_put_key(t->w, "c_i");
    put_optional_bytes(t->w, s->c_i, s->c_i_len, known_ids || (s->initiator && s->suite != NULL));
    tap_put_key(t->w, "c_r");
    put_optional_bytes(t->w, s->c_r, s->c_r_len, known_ids);
    tap_put_key(t->w, "ssn");
    cbor_put_uint(t->w, slot->rec.active ? slot->rec.ssn : 0);
    tap_put_key(t->w, "role");
    cbor_put_text(t->w, s->initiator ? "initiator" : "responder");
    tap_put_key(t->w, "epoch");
    cbor_put_uint(t->w, slot->rec.active ? slot->rec.send_epoch : 0);
    tap_put_key(t->w, "state");
    cbor_put_text(t->w, session_state(slot));
    tap_put_key(t->w, "suite");
    if (s->suite != NULL) {
        cbor_put_int(t->w, s->suite->id);
    } else {
        cbor_put_null(t->w);
    }
    tap_put_key(t->w, "method");
    cbor_put_uint(t->w, 0);
    tap_put_key(t->w, "peer_kid");
    put_optional_bytes(t->w, s->peer != NULL ? s->peer->kid : NULL,
                       s->peer != NULL ? s->peer->kid_len : 0, s->peer != NULL);
    return 0;
}

int tap_cmd_session_close(tap_ctx *t)
{
    static const uint8_t orderly[] = {0xf6}; /* close body: CBOR null (§7.3) */
    session_slot *slot = find_session(t);
    rec_out out;
    size_t index;

    if (slot == NULL) {
        return -1;
    }
    if (tap_get_raw(t, "alert", &(cbor_reader){0}) == 0) {
        return tap_fail(t, TAP_UNSUPPORTED, "closing with an alert is not implemented");
    }
    index = (size_t)(slot - sessions);
    out.buf = tap_out_buffer(&out.cap);
    out.len = 0;
    measure_begin();
    if (slot->hs.state == EDHOC_DONE && slot->rec.active && !slot->rec.closed) {
        rec_send(&slot->rec, CT_CLOSE, orderly, sizeof(orderly), &out);
    }
    measure_end(CMD_SESSION_CLOSE);
    forget(index); /* REQ-REC-008: the contexts are discarded */
    memset(slot, 0, sizeof(*slot));
    cbor_put_head(t->w, CBOR_MAP, 1);
    put_records(t->w, &out);
    return 0;
}
