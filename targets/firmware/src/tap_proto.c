/* TAP protocol-role commands (spec §13.3, §13.5): they feed the same EDHOC code as production
 * traffic (REQ-TAP-013); messages travel in `out` and SESSION_DELIVER (transport "tap"). */
#include <stddef.h>
#include <string.h>

#include "audit.h"
#include "edhoc.h"
#include "link.h"
#include "measure.h"
#include "nvm_store.h"
#include "platform.h"
#include "prims.h"
#include "pubsub.h"
#include "records.h"
#include "rng.h"
#include "secure_zero.h"
#include "sp.h"
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
    CMD_APP_POLL = 87,
    CMD_SESSION_INFO = 88,
    CMD_SESSION_CLOSE = 89,
    CMD_SUBSCRIBE_DELIVER = 91,
};

/* The session table: the WAIT_M3 bound (REQ-HS-036) plus room for the message_1 it refuses
 * and one established session, so the protocol's busy answer, not TAP status 8, is what a
 * further Initiator meets. */
#ifndef EDHOC_MAX_SESSIONS
#define EDHOC_MAX_SESSIONS (HS_MAX_WAIT_M3 + 2u)
#endif
typedef char wait_m3_bound_fits_the_table[
    (HS_MAX_WAIT_M3 >= 1u && HS_MAX_WAIT_M3 < EDHOC_MAX_SESSIONS) ? 1 : -1];

/* The close record a timer produced: option (<= 14) + content type + "key_update_failed" + tag. */
#define EXPIRY_OUT 64u

typedef struct {
    uint64_t id; /* 0: free */
    int link;    /* transport "link": messages and records travel on serial channel 0 */
    int echo;    /* the test application echoes received application_data (link only) */
    edhoc_session hs;
    rec_layer rec;
    /* Timers (spec §13.5 "Timers"): the WAIT state the state timer runs for (REQ-HS-037) and
     * since when; since when our key update is outstanding (REQ-KU-006). */
    edhoc_state timed_state;
    uint32_t state_since;
    int ku_timed;
    uint32_t ku_since;
    /* A timer closed the session: the next command that uses it answers with this alert and the
     * close record (once); later ones see a closed session. */
    edhoc_alert expired;
    int expiry_reported;
    uint8_t expiry_out[EXPIRY_OUT];
    size_t expiry_len;
    /* Audit (chapter 9): when SESSION_START ran (duration_ms) and whether the peer proved its
     * credential (the peer kid outlives the keys in later events). */
    uint32_t started_ms;
    int authenticated;
} session_slot;

static session_slot sessions[EDHOC_MAX_SESSIONS];
static uint64_t next_session_id = 1;

static int answered_expiry(tap_ctx *t);

/* --- audit events (chapter 9, §10.2 "audit"), field for field as the reference writes them -- */

static void audit_base(const session_slot *slot, audit_entry *e, audit_event event,
                       int with_suite)
{
    const edhoc_session *s = &slot->hs;
    memset(e, 0, sizeof(*e));
    e->event = (uint8_t)event;
    e->initiator = (uint8_t)(s->initiator != 0);
    if (slot->authenticated && s->peer != NULL) {
        memcpy(e->peer, s->peer->kid, s->peer->kid_len);
        e->peer_len = (uint8_t)s->peer->kid_len;
    }
    /* `suite` is the completed session's; null before DONE and once the keys are discarded */
    if (with_suite && s->suite != NULL && s->state == EDHOC_DONE) {
        e->has_suite = 1;
        e->suite = s->suite->id;
    }
}

/* The event of an alert raised (local) or received (peer) in `state` (REQ-ERR-006). */
static void audit_alert(const session_slot *slot, edhoc_alert alert, int origin,
                        edhoc_state state, int64_t err_code, int with_suite)
{
    audit_entry e;
    if (alert == ALERT_UNKNOWN_CREDENTIAL || alert == ALERT_AUTHENTICATION_FAILED ||
        alert == ALERT_TOFU_DISABLED) {
        audit_base(slot, &e, AUDIT_AUTH_FAILED, with_suite);
        /* stage: the message whose credential or proof was refused */
        if (origin == AUDIT_ORIGIN_PEER) {
            e.code = slot->hs.initiator ? AUDIT_STAGE_MESSAGE_3 : AUDIT_STAGE_MESSAGE_2;
        } else if (state == EDHOC_WAIT_M2 || state == EDHOC_WAIT_M3) {
            e.code = state == EDHOC_WAIT_M2 ? AUDIT_STAGE_MESSAGE_2 : AUDIT_STAGE_MESSAGE_3;
        } else {
            e.code = slot->hs.initiator ? AUDIT_STAGE_MESSAGE_2 : AUDIT_STAGE_MESSAGE_3;
        }
    } else if (alert == ALERT_DECRYPT_FAILED) {
        audit_base(slot, &e, AUDIT_DECRYPT_FAILED, with_suite);
        e.code = AUDIT_REASON_NONE; /* context handshake */
    } else {
        audit_base(slot, &e, AUDIT_HANDSHAKE_FAILED, with_suite);
    }
    e.alert = (uint8_t)alert;
    e.origin = (uint8_t)origin;
    e.state = (uint8_t)state;
    if (err_code != 0) {
        e.has_value = 1;
        e.value = err_code;
    }
    audit_emit(&e);
}

/* After edhoc_deliver: peer_authenticated + handshake_completed, or the alert's event. */
static void audit_handshake(session_slot *slot, edhoc_state before, const edhoc_out *out, int rc)
{
    audit_entry e;
    const edhoc_session *s = &slot->hs;

    if (out->retransmission) {
        return; /* REQ-HS-038: nothing was processed */
    }
    if (rc != 0) {
        /* after an error in DONE the keys are gone: no suite, as for a failed handshake */
        audit_alert(slot, out->alert, out->err_code != 0 ? AUDIT_ORIGIN_PEER : AUDIT_ORIGIN_LOCAL,
                    before, out->err_code, 0);
        return;
    }
    if (s->state != EDHOC_DONE || before == EDHOC_DONE) {
        return;
    }
    slot->authenticated = 1;
    audit_base(slot, &e, AUDIT_PEER_AUTHENTICATED, 1);
    e.cred = s->peer;
    audit_emit(&e);
    audit_base(slot, &e, AUDIT_HANDSHAKE_COMPLETED, 1);
    memcpy(e.c_i, s->c_i, s->c_i_len);
    e.c_i_len = (uint8_t)s->c_i_len;
    memcpy(e.c_r, s->c_r, s->c_r_len);
    e.c_r_len = (uint8_t)s->c_r_len;
    e.value = (int64_t)(uint32_t)(plat_millis() - slot->started_ms);
    audit_emit(&e);
}

static void audit_limit(const session_slot *slot, int limit)
{
    audit_entry e;
    audit_base(slot, &e, AUDIT_LIMIT_EXCEEDED, 1);
    e.code = (uint8_t)limit;
    e.value = (int64_t)(limit == AUDIT_LIMIT_V ? rec_limit_v(&slot->rec) : rec_limit_q(&slot->rec));
    audit_emit(&e);
}

/* A send (APP_SEND, KEY_UPDATE) refused: count_q reached limit_q (REQ-KU-011). */
static void audit_send(const session_slot *slot, edhoc_alert alert)
{
    if (alert == ALERT_USAGE_LIMIT_REACHED) {
        audit_limit(slot, AUDIT_LIMIT_Q);
    }
}

/* rec_receive with its audit events: replay_dropped, decrypt_failed, limit_exceeded, rekey,
 * and the alert of a close record (ours or the peer's). */
static edhoc_alert receive_record(session_slot *slot, const uint8_t *record, size_t len,
                                  uint8_t *plain, uint8_t *content_type, const uint8_t **body,
                                  size_t *body_len, rec_out *out, const char **detail)
{
    rec_layer *l = &slot->rec;
    int was_pending = l->pending, was_closed = l->closed;
    uint8_t epoch = l->send_epoch, nonce[REC_NONCE_LEN];
    uint64_t count_v[2], pn = 0;
    audit_entry e;
    edhoc_alert alert;
    size_t i;

    memcpy(nonce, l->pending_nonce, sizeof(nonce));
    count_v[0] = l->recv[0].count_v;
    count_v[1] = l->recv[1].count_v;
    *content_type = 0;
    alert = rec_receive(l, record, len, plain, content_type, body, body_len, out, detail);
    switch (alert) {
    case ALERT_REPLAY_DETECTED:
        /* the header was read before the replay check: option_len, flags, PIV */
        for (i = 0; i < (size_t)(record[1] & 0x07u); i++) {
            pn = (pn << 8) | record[2 + i];
        }
        audit_base(slot, &e, AUDIT_REPLAY_DROPPED, 1);
        e.value = (int64_t)pn;
        audit_emit(&e);
        return alert;
    case ALERT_DECRYPT_FAILED:
    case ALERT_USAGE_LIMIT_REACHED:
        if (alert == ALERT_USAGE_LIMIT_REACHED && l->closed == was_closed) {
            break;
        }
        audit_base(slot, &e, AUDIT_DECRYPT_FAILED, 1);
        if (*detail != NULL && strcmp(*detail, "no context") == 0) {
            e.code = AUDIT_REASON_NO_CONTEXT;
        } else {
            e.code = AUDIT_REASON_AUTH_FAILED;
            e.value = (int64_t)(alert == ALERT_USAGE_LIMIT_REACHED ? rec_limit_v(l) : 0);
            for (i = 0; i < 2; i++) {
                if (l->recv[i].count_v != count_v[i]) {
                    e.value = (int64_t)l->recv[i].count_v;
                }
            }
        }
        audit_emit(&e);
        if (alert == ALERT_USAGE_LIMIT_REACHED) {
            audit_limit(slot, AUDIT_LIMIT_V); /* REQ-KU-012 */
        }
        return alert;
    default:
        break;
    }
    if (alert != ALERT_NONE) {
        if (l->closed && !was_closed) {
            audit_alert(slot, alert, AUDIT_ORIGIN_LOCAL, EDHOC_DONE, 0, 1); /* our close record */
        }
        return alert;
    }
    if (*content_type == CT_CLOSE && *body_len > 0 && (*body)[0] != 0xf6) {
        /* the peer closed with an alert: a tstr naming it (REQ-REC-006 checked its shape) */
        cbor_reader r;
        int major;
        uint64_t n;
        r.data = *body;
        r.len = *body_len;
        r.pos = 0;
        if (cbor_read_head(&r, &major, &n) == 0 && major == CBOR_TSTR) {
            audit_alert(slot, edhoc_alert_named(r.data + r.pos, (size_t)n), AUDIT_ORIGIN_PEER,
                        EDHOC_DONE, 0, 1);
        }
        return alert;
    }
    if (*content_type == CT_KEY_UPDATE && (l->send_epoch != epoch || (was_pending && !l->pending))) {
        /* the peer's key update adopted (or ours, when both sent the same nonce) */
        audit_base(slot, &e, AUDIT_REKEY, 1);
        e.value = l->send_epoch;
        e.code = was_pending && memcmp(*body, nonce, REC_NONCE_LEN) == 0 ? AUDIT_BY_LOCAL
                                                                          : AUDIT_BY_PEER;
        audit_emit(&e);
    } else if (was_pending && !l->pending && !l->closed) {
        /* the first record of our new epoch completed our key update (REQ-KU-004) */
        audit_base(slot, &e, AUDIT_REKEY, 1);
        e.value = l->send_epoch;
        e.code = AUDIT_BY_LOCAL;
        audit_emit(&e);
    }
    memset(nonce, 0, sizeof(nonce));
    return alert;
}

/* --- the serial link (transport "link", spec §12.1) ------------------------------------------
 * At most one established session on channel 0 (REQ-SER-008): `link_est`. A new link session
 * runs its handshake as `link_hs` beside it and replaces it when it reaches DONE. */

/* Application data the echo-less test application received, for APP_POLL: (len16, bytes)*. */
#define LINK_INBOX (REC_MAX_PLAINTEXT + 2u) /* one largest record, or several small ones */

static session_slot *link_hs;
static session_slot *link_est;
static int rto_armed;
static uint32_t rto_deadline, rto_ms;
static unsigned resends_left;
static uint32_t link_kind_drops; /* REQ-SER-006 / -011: reserved kinds and unroutable input */
static uint8_t inbox[LINK_INBOX];
static size_t inbox_used;

static void unlink_slot(const session_slot *slot)
{
    if (link_hs == slot) {
        link_hs = NULL;
        rto_armed = 0;
    }
    if (link_est == slot) {
        link_est = NULL;
        inbox_used = 0;
    }
}

/* --- persistence of established sessions (spec §7.7): one store record per session slot ------ */

/* Payload format of a session record; 4: A/B store records (nvm_store.c) carry magic and CRC. */
#define SESSION_RECORD_VERSION 4u

typedef struct {
    uint32_t version;
    uint64_t id;
    rec_blob blob;
} session_record;

typedef char session_records_fit[(EDHOC_MAX_SESSIONS <= STORE_SESSION_RECORDS &&
                                  sizeof(session_record) <= STORE_SESSION_CAP &&
                                  sizeof(pubsub_blob) <= STORE_PUBSUB_CAP) ? 1 : -1];

static int persist(size_t index)
{
    static session_record image;
    session_slot *slot = &sessions[index];
    int rc;

    memset(&image, 0, sizeof(image));
    image.version = SESSION_RECORD_VERSION;
    image.id = slot->id;
    rec_to_blob(&slot->rec, slot->hs.initiator, slot->hs.suite->id, &image.blob);
    rc = store_save(index, &image, sizeof(image));
    secure_zero(&image, sizeof(image));
    if (rc != 0) {
        return -1;
    }
    slot->rec.dirty = 0;
    return 0;
}

static void forget(size_t index)
{
    store_save(index, NULL, 0);
}

/* The persisted form of the subscriber windows (one buffer for saving and restoring). */
static pubsub_blob windows_image;

/* The subscriber windows, after SUBSCRIBE_DELIVER changed a bound (REQ-PUBSUB-010). */
static int persist_windows(void)
{
    int rc;

    if (!pubsub_dirty()) {
        return 0;
    }
    pubsub_to_blob(&windows_image);
    rc = store_save(STORE_RECORD_PUBSUB, &windows_image, sizeof(windows_image));
    if (rc == 0) {
        pubsub_saved();
    }
    return rc;
}

/* One session record into `slot`: 1 restored, 0 empty, -1 it does not parse. */
static int restore_session(size_t index, session_record *image)
{
    session_slot *slot = &sessions[index];
    int rc = store_load(index, image, sizeof(*image));

    if (rc != 0) {
        return rc == 1 ? 0 : -1;
    }
    if (image->version != SESSION_RECORD_VERSION || image->id == 0 ||
        rec_from_blob(&slot->rec, &image->blob) != 0) {
        return -1;
    }
    memset(&slot->hs, 0, sizeof(slot->hs));
    slot->hs.initiator = image->blob.initiator;
    slot->hs.suite = edhoc_find_suite(image->blob.suite_id);
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
    slot->id = image->id;
    if (image->id >= next_session_id) {
        next_session_id = image->id + 1;
    }
    return 1;
}

/* Restore persisted sessions and subscriber windows once, at the first TAP request after boot.
 * A record that fails its integrity check or does not parse makes the store unusable: nothing
 * is restored and nothing is replaced by an empty state (REQ-KS-010). */
void tap_proto_restore(void)
{
    static int restored;
    static session_record image;
    size_t i;
    int rc = 0;

    if (restored) {
        return;
    }
    restored = 1;
    if (store_open() != STORE_USABLE) {
        return;
    }
    for (i = 0; i < EDHOC_MAX_SESSIONS && rc >= 0; i++) {
        rc = restore_session(i, &image);
    }
    if (rc >= 0) {
        rc = store_load(STORE_RECORD_PUBSUB, &windows_image, sizeof(windows_image));
        if (rc == 0) {
            rc = pubsub_from_blob(&windows_image);
        } else if (rc == 1) {
            rc = 0;
        }
    }
    if (rc < 0) {
        store_damaged("a persisted record does not parse");
        for (i = 0; i < EDHOC_MAX_SESSIONS; i++) {
            memset(&sessions[i], 0, sizeof(sessions[i]));
        }
        pubsub_reset();
    }
    secure_zero(&image, sizeof(image));
}

void tap_proto_reset(int scope_all)
{
    size_t i;
    for (i = 0; i < EDHOC_MAX_SESSIONS; i++) {
        unlink_slot(&sessions[i]);
        edhoc_release(&sessions[i].hs);
        forget(i);
    }
    memset(sessions, 0, sizeof(sessions));
    if (scope_all) {
        cred_reset();
        sp_remove(SP_SLOT_OWN); /* the own key, zeroised in the provider (REQ-SP-007) */
        pubsub_reset(); /* the (kid, topic) windows belong to the publishers' credentials */
        store_save(STORE_RECORD_PUBSUB, NULL, 0); /* ... and do not come back at the next boot */
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

/* REQ-KS-004: a kid already stored is never re-pinned. Reloading the same bytes is a no-op
 * (the new copy is dropped, the stored one kept); different bytes fail and keep the stored. */
static int keep_stored_peer(tap_ctx *t, credential *loaded, const credential **kept)
{
    const credential *stored = cred_find_other_peer(loaded);
    int same;

    *kept = loaded;
    if (stored == NULL) {
        return 0;
    }
    *kept = stored;
    same = stored->ccs_len == loaded->ccs_len &&
           memcmp(stored->ccs, loaded->ccs, loaded->ccs_len) == 0;
    memset(loaded, 0, sizeof(*loaded));
    if (!same) {
        return tap_fail(t, TAP_INVALID_INPUT,
                        "a peer credential with this kid is stored with different bytes "
                        "(REQ-KS-004); RESET all before provisioning another key under it");
    }
    return 0;
}

/* CRED_LOAD "own": the private key goes into the SecurityProvider (REQ-SP-001) and the
 * credential is kept only when its public key is the provider's public_key(key_ref), checked
 * here, before any use (REQ-SP-012): a mismatch is refused with internal_error (status 7). */
static void put_out(cbor_writer *w, const edhoc_out *out)
{
    tap_put_key(w, "out");
    cbor_put_head(w, CBOR_ARRAY, out->len > 0 ? 1 : 0);
    if (out->len > 0) {
        tap_put_output(w, out->buf, out->len);
    }
}

/* Status 7 with {"out", "alert", "state", "detail"} (REQ-TAP-013); `out` NULL: nothing sent. */
static int alert_result(tap_ctx *t, const edhoc_out *out, edhoc_alert alert, const char *state,
                        const char *detail)
{
    t->status = TAP_PROTOCOL_ALERT;
    cbor_put_head(t->w, CBOR_MAP, 4);
    if (out != NULL) {
        put_out(t->w, out);
    } else {
        tap_put_key(t->w, "out");
        cbor_put_head(t->w, CBOR_ARRAY, 0);
    }
    tap_put_key(t->w, "alert");
    cbor_put_text(t->w, edhoc_alert_name(alert));
    tap_put_key(t->w, "state");
    cbor_put_text(t->w, state);
    tap_put_key(t->w, "detail");
    cbor_put_text(t->w, detail != NULL ? detail : "");
    return 0;
}

static int load_own(tap_ctx *t, credential *own, const uint8_t *sk, size_t sk_len)
{
    sp_key_ref key;
    size_t cap, pk_len = 0;
    uint8_t *pk = tap_out_buffer(&cap);
    int rc;

    sp_remove(SP_SLOT_OWN); /* the previous own key is zeroised whatever happens (REQ-SP-007) */
    if (!sp_supports(own->alg)) {
        secure_zero((void *)(uintptr_t)sk, sk_len);
        own->loaded = 0;
        return tap_fail(t, TAP_UNSUPPORTED,
                        "own key algorithm not enabled (ML-DSA-44, Falcon-512)");
    }
    rc = sp_import(SP_SLOT_OWN, own->alg, sk, sk_len, &key);
    /* the provider holds the key now: the import argument in the request buffer goes */
    secure_zero((void *)(uintptr_t)sk, sk_len);
    if (rc == SP_ERR_INVALID) {
        own->loaded = 0;
        return tap_fail(t, TAP_INVALID_INPUT,
                        "sk is not a key of the credential's algorithm (ML-DSA-44: 32-byte seed "
                        "or 2560-byte expanded key; Falcon-512: 1281 bytes)");
    }
    if (rc == SP_OK) {
        rc = sp_public_key(key, pk, cap, &pk_len);
    }
    if (rc != SP_OK || pk_len != own->pub_len ||
        memcmp(pk, own->ccs + own->pub_pos, pk_len) != 0) {
        sp_remove(SP_SLOT_OWN);
        own->loaded = 0;
        return alert_result(t, NULL, ALERT_INTERNAL_ERROR, edhoc_state_name(EDHOC_FAILED),
                            rc != SP_OK ? "SecurityProvider failed"
                                        : "the credential's public key is not the one of sk "
                                          "(REQ-SP-012)");
    }
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "kid");
    tap_put_output(t->w, own->kid, own->kid_len);
    return 0;
}

int tap_cmd_cred_load(tap_ctx *t)
{
    const char *slot, *trust;
    size_t slot_len, trust_len, ccs_len, sk_len = 0;
    const uint8_t *ccs, *sk = NULL, *kid;
    credential *target;
    const credential *kept;
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
        if (own) {
            secure_zero((void *)(uintptr_t)sk, sk_len); /* an import that never happens */
        }
        return tap_fail(t, rc == -2 ? TAP_TOO_LARGE : TAP_INVALID_INPUT,
                        "ccs is not a CCS with an AKP key and a bstr kid");
    }
    if (own) {
        return load_own(t, target, sk, sk_len);
    }
    kept = target;
    if (prim_falcon_sizes(target->alg, &falcon_pk, &falcon_sig) == 0 &&
        target->pub_len == falcon_pk && falcon_pk <= CRED_MAX_PUBLIC_KEY) {
        /* a Falcon-512 publisher: usable for signed pub/sub, never in a handshake */
        if (keep_stored_peer(t, target, &kept) != 0) {
            return -1;
        }
        cbor_put_head(t->w, CBOR_MAP, 1);
        tap_put_key(t->w, "kid");
        tap_put_output(t->w, kept->kid, kept->kid_len);
        return 0;
    }
    if (prim_mldsa_sizes(target->alg, &sz) != 0 || target->pub_len != sz.pk ||
        sz.pk > CRED_MAX_PUBLIC_KEY) {
        target->loaded = 0;
        return tap_fail(t, TAP_UNSUPPORTED,
                        "credential algorithm not enabled (ML-DSA-44; Falcon-512 for peers)");
    }
    if (keep_stored_peer(t, target, &kept) != 0) {
        return -1;
    }
    kid = kept->kid;
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "kid");
    tap_put_output(t->w, kid, kept->kid_len);
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
        return tap_fail(t, TAP_INVALID_INPUT,
                        "c_id is at most 7 bytes (6 for GCM and ChaCha suites, REQ-HS-003)");
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
        /* §13.5: no suites means the default policy of REQ-SUITE-003, -102 alone. */
        s->suites[0] = -102;
        s->suite_count = 1;
        return 0;
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

/* SESSION_START `limits` (§13.5, REQ-KU-015): {"q": uint, "v": uint}, both keys optional; the
 * record layer caps each at the §7.9 value of the AEAD the handshake selects (never raised). */
static int get_limits(tap_ctx *t, uint64_t *q, uint64_t *v)
{
    static const char *const malformed = "limits must be a map {\"q\": uint, \"v\": uint}";
    cbor_reader r;
    int major;
    uint64_t count, i, len, value;

    *q = 0;
    *v = 0;
    if (tap_get_raw(t, "limits", &r) != 0) {
        return 0;
    }
    if (cbor_read_head(&r, &major, &count) != 0 || major != CBOR_MAP || count > 2) {
        return tap_fail(t, TAP_MALFORMED, malformed);
    }
    for (i = 0; i < count; i++) {
        uint8_t key;
        if (cbor_read_head(&r, &major, &len) != 0 || major != CBOR_TSTR || len != 1 ||
            r.pos >= r.len) {
            return tap_fail(t, TAP_MALFORMED, malformed);
        }
        key = r.data[r.pos++];
        if (cbor_read_head(&r, &major, &value) != 0 || major != CBOR_UINT ||
            (key != 'q' && key != 'v')) {
            return tap_fail(t, TAP_MALFORMED, malformed);
        }
        if (value == 0) {
            return tap_fail(t, TAP_INVALID_INPUT, "limits q and v must be at least 1");
        }
        *(key == 'q' ? q : v) = value;
    }
    if (*q != 0 && *q < REC_MIN_LIMIT_Q) {
        return tap_fail(t, TAP_INVALID_INPUT,
                        "limits q must be at least 20: q - floor(q/10) leaves room for the "
                        "key_update record (REQ-KU-015)");
    }
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

/* Status 7 with {"alert", "detail", "out", "state"} (REQ-TAP-013). */
static int protocol_alert(tap_ctx *t, const edhoc_session *s, const edhoc_out *out)
{
    return alert_result(t, out, out->alert, edhoc_state_name(s->state), out->detail);
}

/* A default C_R must differ from C_I (REQ-HS-005); C_I is message_1's last item when there is
 * no EAD_1, which is the only case the default needs to cover. */
static void avoid_c_i(session_slot *slot, const uint8_t *msg, size_t len)
{
    if (!slot->hs.initiator && slot->hs.state == EDHOC_START && slot->hs.own_cid_len == 1 &&
        len > 0 && msg[len - 1] == slot->hs.own_cid[0]) {
        slot->hs.own_cid[0] = (uint8_t)(slot->hs.own_cid[0] + 1);
    }
}

/* REQ-HS-036: a Responder that has not seen message_1 yet is busy while HS_MAX_WAIT_M3 other
 * Responder sessions wait for message_3 (edhoc.c answers message_1 then with busy). */
static void mark_busy(session_slot *slot)
{
    size_t i, waiting = 0;

    slot->hs.busy = 0;
    if (slot->hs.initiator || slot->hs.state != EDHOC_START) {
        return;
    }
    for (i = 0; i < EDHOC_MAX_SESSIONS; i++) {
        if (sessions[i].id != 0 && !sessions[i].hs.initiator &&
            sessions[i].hs.state == EDHOC_WAIT_M3) {
            waiting++;
        }
    }
    slot->hs.busy = waiting >= HS_MAX_WAIT_M3;
}

/* --- sessions on the serial link ------------------------------------------------------------ */

/* Persist a record-state change before anything leaves the device (REQ-REPLAY-006/008); a
 * closed session is forgotten. -1 if the NVM write failed (then nothing may be sent). */
static int save(session_slot *slot)
{
    size_t index = (size_t)(slot - sessions);
    if (slot->rec.closed) {
        forget(index);
        return 0;
    }
    return slot->rec.dirty ? persist(index) : 0;
}

static void arm_retransmission(uint32_t now_ms)
{
    rto_ms = LINK_RTO_MS;
    resends_left = LINK_MAX_RETRANSMISSIONS;
    rto_deadline = now_ms + rto_ms;
    rto_armed = 1;
}

/* SESSION_START put `slot` on the link: an older link handshake is abandoned (its slot freed),
 * an Initiator's message_1 goes out on channel 0 and `out` stays empty (§13.3 notes). */
static void link_adopt(session_slot *slot, edhoc_out *out)
{
    if (link_hs != NULL && link_hs != slot) {
        session_slot *old = link_hs;
        unlink_slot(old);
        edhoc_release(&old->hs);
        memset(old, 0, sizeof(*old));
    }
    link_hs = slot;
    rto_armed = 0;
    if (out->len > 0) {
        link_send(LINK_KIND_HANDSHAKE, out->buf, out->len);
        out->len = 0;
        if (slot->hs.initiator) {
            arm_retransmission(plat_millis());
        }
    }
}

/* Records a link session produced go out on channel 0 instead of in `out`. */
static void emit_records(const session_slot *slot, rec_out *out)
{
    if (slot->link && out->len > 0) {
        link_send(LINK_KIND_RECORD, out->buf, out->len);
        out->len = 0;
    }
}

/* The handshake of the link session completed: records start, the old session goes. */
static void link_established(session_slot *slot)
{
    rec_init(&slot->rec, &slot->hs);
    edhoc_hand_over(&slot->hs); /* REQ-KEYS-010 */
    slot->rec.binding_context = LINK_BINDING_CONTEXT;
    slot->rec.binding_context_len = 1;
    if (link_est != NULL && link_est != slot) {
        /* REQ-SER-008: the established session is replaced only now */
        session_slot *old = link_est;
        forget((size_t)(old - sessions));
        unlink_slot(old);
        edhoc_release(&old->hs);
        memset(old, 0, sizeof(*old));
    }
    link_hs = NULL;
    link_est = slot;
    inbox_used = 0;
}

static void link_handshake(const uint8_t *msg, size_t len)
{
    session_slot *slot = link_hs;
    int handshaking = slot != NULL;
    edhoc_out out;
    edhoc_state before;
    size_t cap;
    int rc;

    rto_armed = 0; /* REQ-SER-010: any handshake message stops the timer */
    if (slot == NULL) {
        /* the established session: a retransmission of what completed it (REQ-HS-038: the
         * last reply again) or an EDHOC error, which aborts it (REQ-HS-022); anything else is
         * dropped by the handshake in DONE */
        slot = link_est;
    }
    if (slot == NULL) {
        link_kind_drops++;
        return;
    }
    avoid_c_i(slot, msg, len);
    mark_busy(slot);
    out.buf = tap_out_buffer(&cap);
    out.cap = cap;
    before = slot->hs.state;
    rc = edhoc_deliver(&slot->hs, msg, len, &out);
    audit_handshake(slot, before, &out, rc);
    if (handshaking && rc == 0 && slot->hs.state == EDHOC_DONE && !out.retransmission) {
        link_established(slot);
        if (persist((size_t)(slot - sessions)) != 0) {
            return; /* nothing leaves the device without its persisted context */
        }
    }
    if (rc != 0) {
        if (link_hs == slot) {
            link_hs = NULL; /* FAILED: stays visible to SESSION_INFO, off the link */
        }
        if (before == EDHOC_DONE) {
            /* REQ-HS-022: an error in DONE discards the record keys too */
            memset(&slot->rec, 0, sizeof(slot->rec));
            forget((size_t)(slot - sessions));
            if (link_est == slot) {
                link_est = NULL;
                inbox_used = 0;
            }
        }
    } else if (!handshaking && !out.retransmission) {
        link_kind_drops++; /* not for the established session: dropped (REQ-SER-011) */
    }
    if (out.len > 0) {
        link_send(LINK_KIND_HANDSHAKE, out.buf, out.len);
    }
}

static void inbox_put(const uint8_t *data, size_t len)
{
    if (inbox_used + 2 + len > sizeof(inbox)) {
        return; /* APP_POLL has not drained it: the test application drops the data */
    }
    inbox[inbox_used] = (uint8_t)(len >> 8);
    inbox[inbox_used + 1] = (uint8_t)len;
    memcpy(inbox + inbox_used + 2, data, len);
    inbox_used += 2 + len;
}

static void auto_key_update(session_slot *slot, const rec_out *first, rec_out *ku);

static void link_record(const uint8_t *record, size_t len)
{
    session_slot *slot = link_est;
    uint8_t *plain = work_buffer(0);
    const uint8_t *body = NULL;
    size_t body_len = 0;
    uint8_t content_type = 0;
    const char *detail = NULL;
    rec_out out;
    edhoc_alert alert;

    if (slot == NULL || !slot->rec.active || slot->rec.closed) {
        link_kind_drops++;
        return;
    }
    out.buf = tap_out_buffer(&out.cap);
    out.len = 0;
    alert = receive_record(slot, record, len, plain, &content_type, &body, &body_len, &out,
                           &detail);
    if (save(slot) != 0) {
        return;
    }
    emit_records(slot, &out); /* key_update_ack, or a close record */
    if (alert == ALERT_NONE && content_type == CT_APPLICATION_DATA) {
        if (slot->echo) {
            rec_out ku;
            out.buf = tap_out_buffer(&out.cap);
            out.len = 0;
            if (rec_send(&slot->rec, CT_APPLICATION_DATA, body, body_len, &out) == ALERT_NONE) {
                auto_key_update(slot, &out, &ku); /* REQ-KU-010 */
                if (save(slot) == 0) {
                    emit_records(slot, &out);
                    emit_records(slot, &ku);
                }
            }
        } else {
            inbox_put(body, body_len);
        }
    }
    memset(plain, 0, WORK_SIZE);
}

void tap_link_receive(const uint8_t *msg, size_t len, uint32_t now_ms)
{
    tap_proto_restore();
    if (len == 0 || (msg[0] != LINK_KIND_HANDSHAKE && msg[0] != LINK_KIND_RECORD)) {
        link_kind_drops++; /* REQ-SER-006: reserved kind, dropped without output */
        return;
    }
    tap_proto_tick(now_ms);
    if (msg[0] == LINK_KIND_HANDSHAKE) {
        link_handshake(msg + 1, len - 1);
    } else {
        link_record(msg + 1, len - 1);
    }
    tap_proto_tick(now_ms); /* timers of the states the message entered start now */
}

void tap_link_poll(uint32_t now_ms)
{
    const uint8_t *last;
    size_t len = 0;

    tap_proto_tick(now_ms);
    if (!rto_armed || (int32_t)(now_ms - rto_deadline) < 0) {
        return;
    }
    if (link_hs == NULL || link_hs->hs.state != EDHOC_WAIT_M2 || resends_left == 0) {
        rto_armed = 0; /* the state timer (REQ-HS-037) is the host's to observe */
        return;
    }
    last = edhoc_last_sent(&link_hs->hs, &len);
    if (last == NULL) {
        rto_armed = 0;
        return;
    }
    /* REQ-SER-007/010: the same message_1 bytes with a new msg_id; timeout doubled. */
    link_send(LINK_KIND_HANDSHAKE, last, len);
    resends_left--;
    rto_ms *= 2u;
    rto_deadline = now_ms + rto_ms;
}

/* --- timers (REQ-HS-037, REQ-KU-006), run on every TAP command and in the serial poll ------- */

static uint32_t state_timer_ms = HS_STATE_TIMER_MS;
static uint32_t key_update_timeout_ms = KEY_UPDATE_TIMEOUT_MS;

int tap_set_timers(uint32_t state_ms, uint32_t key_update_ms)
{
    if ((state_ms != 0 && (state_ms < 1000u || state_ms > 300000u)) ||
        (key_update_ms != 0 && (key_update_ms < 1000u || key_update_ms > 300000u))) {
        return -1;
    }
    if (state_ms != 0) {
        state_timer_ms = state_ms;
    }
    if (key_update_ms != 0) {
        key_update_timeout_ms = key_update_ms;
    }
    return 0;
}

static void expire_key_update(session_slot *slot)
{
    rec_out out;

    out.buf = slot->expiry_out;
    out.cap = sizeof(slot->expiry_out);
    out.len = 0;
    rec_close(&slot->rec, ALERT_KEY_UPDATE_FAILED, &out); /* never a second key_update */
    audit_alert(slot, ALERT_KEY_UPDATE_FAILED, AUDIT_ORIGIN_LOCAL, EDHOC_DONE, 0, 1);
    save(slot);                                           /* closed: forgotten in NVM */
    slot->expired = ALERT_KEY_UPDATE_FAILED;
    slot->expiry_len = out.len;
    if (slot->link) {
        emit_records(slot, &out); /* on the link the close goes out now */
        slot->expiry_len = 0;
    }
}

void tap_proto_tick(uint32_t now_ms)
{
    size_t i;

    for (i = 0; i < EDHOC_MAX_SESSIONS; i++) {
        session_slot *slot = &sessions[i];
        edhoc_state state = slot->hs.state;
        if (slot->id == 0) {
            continue;
        }
        if (state != EDHOC_WAIT_M2 && state != EDHOC_WAIT_M3) {
            slot->timed_state = state;
        } else if (slot->timed_state != state) {
            slot->timed_state = state; /* entered (or first seen) in the command just run */
            slot->state_since = now_ms;
        } else if ((uint32_t)(now_ms - slot->state_since) >= state_timer_ms) {
            /* REQ-HS-037: FAILED without sending anything; audited as unspecified_error with
             * reason timeout (§5.11, §10.2), and the next command on the session is answered
             * with that alert (§13.5 "Timers") */
            audit_entry e;
            audit_base(slot, &e, AUDIT_HANDSHAKE_FAILED, 0);
            e.alert = ALERT_UNSPECIFIED;
            e.origin = AUDIT_ORIGIN_LOCAL;
            e.state = (uint8_t)state;
            e.code = AUDIT_REASON_TIMEOUT;
            audit_emit(&e);
            edhoc_abort(&slot->hs); /* FAILED, its secrets erased (REQ-HS-034) */
            slot->timed_state = EDHOC_FAILED;
            slot->expired = ALERT_UNSPECIFIED;
            slot->expiry_len = 0;
            if (link_hs == slot) {
                link_hs = NULL;
                rto_armed = 0;
            }
        }
        if (!slot->rec.active || slot->rec.closed || !slot->rec.pending) {
            slot->ku_timed = 0;
        } else if (!slot->ku_timed) {
            slot->ku_timed = 1;
            slot->ku_since = now_ms;
        } else if ((uint32_t)(now_ms - slot->ku_since) >= key_update_timeout_ms) {
            expire_key_update(slot);
        }
    }
}

int tap_cmd_app_poll(tap_ctx *t)
{
    session_slot *slot = find_session(t);
    size_t pos = 0, count = 0, len;

    if (slot == NULL) {
        return -1;
    }
    measure_begin();
    measure_end(CMD_APP_POLL);
    if (slot != link_est) {
        cbor_put_head(t->w, CBOR_MAP, 1);
        tap_put_key(t->w, "data");
        cbor_put_head(t->w, CBOR_ARRAY, 0);
        return 0;
    }
    while (pos < inbox_used) {
        len = ((size_t)inbox[pos] << 8) | inbox[pos + 1];
        pos += 2 + len;
        count++;
    }
    cbor_put_head(t->w, CBOR_MAP, 1);
    tap_put_key(t->w, "data");
    cbor_put_head(t->w, CBOR_ARRAY, count);
    for (pos = 0; pos < inbox_used; pos += 2 + len) {
        len = ((size_t)inbox[pos] << 8) | inbox[pos + 1];
        tap_put_output(t->w, inbox + pos + 2, len);
    }
    inbox_used = 0;
    return 0;
}

/* The store failed its start-up check (REQ-KS-010): the command that would start a session or
 * accept a pub/sub message is refused with internal_error and audited as an error. */
static int store_refusal(tap_ctx *t, const session_slot *slot)
{
    edhoc_out out;

    memset(&out, 0, sizeof(out));
    out.alert = ALERT_INTERNAL_ERROR;
    out.detail = store_problem();
    audit_alert(slot, ALERT_INTERNAL_ERROR, AUDIT_ORIGIN_LOCAL, EDHOC_START, 0, 0);
    return protocol_alert(t, &slot->hs, &out);
}

int tap_cmd_session_start(tap_ctx *t)
{
    edhoc_session *s;
    const char *role, *opt;
    size_t role_len, opt_len, kid_len, peer_len, cap, i;
    const uint8_t *kid, *peer, *seed = NULL, *m = NULL, *rnd = NULL;
    uint8_t fresh_seed[64];
    session_slot *slot = NULL;
    const credential *own = cred_own();
    uint64_t method, limit_q, limit_v;
    int flag, initiator, rc, link, echo;
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
    edhoc_release(s);
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
    if (initiator && s->own_cid_len > edhoc_max_cid(edhoc_find_suite(s->suites[0]))) {
        /* REQ-HS-003: C_I must fit the suite the Initiator selects (its first preference) */
        return tap_fail(t, TAP_INVALID_INPUT,
                        "c_id is longer than the selected suite allows (REQ-HS-003: 7 bytes for "
                        "AES-CCM suites, 6 for GCM and ChaCha20-Poly1305)");
    }
    if (method != 0) {
        return tap_fail(t, TAP_UNSUPPORTED, "only method 0 is implemented");
    }
    if (tap_get_text(t, "transport", &opt, &opt_len, 1) != 0) {
        return -1;
    }
    link = opt != NULL && text_eq(opt, opt_len, "link");
    if (opt != NULL && !link && !text_eq(opt, opt_len, "tap")) {
        return tap_fail(t, TAP_UNSUPPORTED, "transport must be tap or link");
    }
    if (link && !link_available()) {
        return tap_fail(t, TAP_UNSUPPORTED,
                        "transport link needs the serial framing (the UART, stdio, or "
                        "--framing serial on TCP)");
    }
    if (get_flag(t, "echo", &echo) != 0) {
        return -1;
    }
    if (echo && !link) {
        return tap_fail(t, TAP_UNSUPPORTED, "echo needs transport link");
    }
    if (tap_get_text(t, "id_cred", &opt, &opt_len, 1) != 0) {
        return -1;
    }
    if (opt != NULL && !text_eq(opt, opt_len, "kid")) {
        return tap_fail(t, TAP_UNSUPPORTED, "only id_cred kid is implemented");
    }
    for (i = 0; i < 2; i++) {
        static const char *const options[] = {"msg4", "tofu"};
        if (get_flag(t, options[i], &flag) != 0) {
            return -1;
        }
        if (flag) {
            return tap_fail(t, TAP_UNSUPPORTED, "msg4 and tofu are not implemented");
        }
    }
    if (tap_get_raw(t, "psk", &(cbor_reader){0}) == 0 ||
        tap_get_raw(t, "x25519_eph", &(cbor_reader){0}) == 0) {
        return tap_fail(t, TAP_UNSUPPORTED, "psk and x25519_eph are not implemented");
    }
    if (get_limits(t, &limit_q, &limit_v) != 0) {
        return -1;
    }
    if (!own->loaded || kid_len != own->kid_len || memcmp(kid, own->kid, kid_len) != 0) {
        return tap_fail(t, TAP_INVALID_STATE, "no own credential with that kid (CRED_LOAD)");
    }
    if (peer_len > CRED_MAX_KID) {
        return tap_fail(t, TAP_INVALID_INPUT, "peer kid too long");
    }
    memcpy(s->expected_peer, peer, peer_len);
    s->expected_peer_len = peer_len;
    /* Ephemeral randomness (§13.5; REQ-SP-006, REQ-SP-008): the request's bytes only when the
     * test supplies them (this file exists in test builds only), otherwise the DRBG (rng.c). */
    if (initiator) {
        if (tap_get_raw(t, "kem_seed", &(cbor_reader){0}) == 0) {
            if (tap_get_fixed(t, "kem_seed", &seed, 64) != 0) {
                return -1;
            }
        } else if (rng_bytes(fresh_seed, sizeof(fresh_seed)) == 0) {
            seed = fresh_seed;
        } else {
            return tap_fail(t, TAP_UNSUPPORTED,
                            "no entropy source on this platform (QEMU needs -semihosting-config "
                            "enable=on,target=native): pass kem_seed");
        }
    } else {
        if (tap_get_raw(t, "kem_m", &(cbor_reader){0}) == 0) {
            if (tap_get_fixed(t, "kem_m", &m, 32) != 0) {
                return -1;
            }
            memcpy(s->kem_m, m, 32);
        } else if (rng_bytes(s->kem_m, 32) != 0) {
            return tap_fail(t, TAP_UNSUPPORTED,
                            "no entropy source on this platform (QEMU needs -semihosting-config "
                            "enable=on,target=native): pass kem_m");
        }
    }
    /* ML-DSA signs hedged with rnd from the DRBG unless the test fixes sig_rnd; a platform
     * without entropy falls back to the deterministic variant (rnd = 0^32, FIPS 204 §3.4). */
    if (tap_get_raw(t, "sig_rnd", &(cbor_reader){0}) == 0) {
        if (tap_get_fixed(t, "sig_rnd", &rnd, 32) != 0) {
            return -1;
        }
        memcpy(s->sig_rnd, rnd, 32);
    } else if (rng_bytes(s->sig_rnd, 32) != 0) {
        memset(s->sig_rnd, 0, 32);
    }
    if (s->own_cid_len == 0) {
        /* Default identifier: a one-byte int; a responder avoids C_I when message_1 comes. */
        s->own_cid[0] = initiator ? 0x37 : 0x00;
        s->own_cid_len = 1;
    }
    if (store_open() != STORE_USABLE) {
        return store_refusal(t, slot); /* REQ-KS-010: no session on a damaged store */
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
    secure_zero(fresh_seed, sizeof(fresh_seed));
    if (rc != 0) {
        return tap_fail(t, TAP_INTERNAL, "could not build message_1");
    }
    slot->rec.limit_q = 0; /* a free slot may hold an older session's limits */
    slot->rec.limit_v = 0;
    rec_set_limits(&slot->rec, limit_q, limit_v); /* kept by rec_init at DONE (REQ-KU-015) */
    slot->id = next_session_id++;
    slot->started_ms = plat_millis();
    slot->authenticated = 0;
    slot->expired = ALERT_NONE;
    slot->expiry_reported = 0;
    slot->link = link;
    slot->echo = echo;
    if (link) {
        link_adopt(slot, &out);
    }
    cbor_put_head(t->w, CBOR_MAP, 2);
    put_out(t->w, &out);
    tap_put_key(t->w, "session");
    cbor_put_uint(t->w, slot->id);
    return 0;
}

int tap_cmd_session_deliver(tap_ctx *t)
{
    session_slot *slot;
    const uint8_t *msg;
    size_t len, cap;
    edhoc_out out;
    edhoc_state before;
    int rc;

    if (answered_expiry(t)) {
        return 0;
    }
    slot = find_session(t);
    /* REQ-TAP-007: msg at most the declared max_hs_message */
    if (slot == NULL || tap_get_bytes(t, "msg", &msg, &len, EDHOC_MAX_ACCEPTED, 0) != 0) {
        return -1;
    }
    if (slot->link) {
        return tap_fail(t, TAP_INVALID_STATE,
                        "this session's handshake runs on the serial link (channel 0)");
    }
    /* §13.5: SESSION_DELIVER is valid in every state until the session is closed, so that
     * retransmissions, error messages (REQ-HS-022) and stray messages reach it. */
    if (slot->rec.active && slot->rec.closed) {
        return tap_fail(t, TAP_INVALID_STATE, "the session is closed");
    }
    avoid_c_i(slot, msg, len);
    mark_busy(slot);
    out.buf = tap_out_buffer(&cap);
    out.cap = cap;
    before = slot->hs.state;
    measure_begin();
    rc = edhoc_deliver(&slot->hs, msg, len, &out);
    measure_end(CMD_SESSION_DELIVER);
    audit_handshake(slot, before, &out, rc);
    if (rc != 0) {
        if (before == EDHOC_DONE) {
            /* REQ-HS-022: an error in DONE discards the session's record keys too. */
            memset(&slot->rec, 0, sizeof(slot->rec));
            forget((size_t)(slot - sessions));
        }
        return protocol_alert(t, &slot->hs, &out);
    }
    if (slot->hs.state == EDHOC_DONE && before != EDHOC_DONE) {
        rec_init(&slot->rec, &slot->hs);
        edhoc_hand_over(&slot->hs); /* REQ-KEYS-010 */
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
    if (slot->hs.state != EDHOC_DONE || (slot->rec.active && slot->rec.closed)) {
        /* REQ-TAP-015: a closed session has discarded its contexts (REQ-REC-007/008) */
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
    tap_put_output(t->w, buf, (size_t)len);
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
    return alert_result(t, &eo, alert, session_state(slot), detail);
}

static void put_records(cbor_writer *w, const rec_out *out)
{
    tap_put_key(w, "out");
    cbor_put_head(w, CBOR_ARRAY, out->len > 0 ? 1 : 0);
    if (out->len > 0) {
        tap_put_output(w, out->buf, out->len);
    }
}

/* REQ-KU-010: once a record brought count_q to the key-update threshold, start the update with
 * a fresh nonce from the DRBG. Its key_update record goes into `ku`, the out buffer after
 * `first`. Without an RNG nothing starts and the key runs into limit_q (REQ-KU-011). */
static void auto_key_update(session_slot *slot, const rec_out *first, rec_out *ku)
{
    uint8_t nonce[REC_NONCE_LEN];

    ku->buf = first->buf + first->len;
    ku->cap = first->cap - first->len;
    ku->len = 0;
    if (!rec_key_update_due(&slot->rec) || rng_bytes(nonce, sizeof(nonce)) != 0) {
        return;
    }
    if (rec_start_key_update(&slot->rec, nonce, ku) != ALERT_NONE) {
        ku->len = 0;
    }
    secure_zero(nonce, sizeof(nonce));
}

/* `out` with the record of the command and, if it started one, the key_update record. */
static void put_two_records(cbor_writer *w, const rec_out *out, const rec_out *ku)
{
    tap_put_key(w, "out");
    cbor_put_head(w, CBOR_ARRAY, (out->len > 0 ? 1u : 0u) + (ku->len > 0 ? 1u : 0u));
    if (out->len > 0) {
        tap_put_output(w, out->buf, out->len);
    }
    if (ku->len > 0) {
        tap_put_output(w, ku->buf, ku->len);
    }
}

/* A timer ended the session since the last command on it: status 7 with the expiry's alert and
 * what it put on the wire (spec §13.5 "Timers"). 1 when answered. */
static int answered_expiry(tap_ctx *t)
{
    uint64_t id;
    size_t i;
    session_slot *slot = NULL;
    rec_out out;

    if (tap_get_uint(t, "session", &id) != 0) {
        t->status = TAP_OK; /* the handler reports the missing argument itself */
        t->error = NULL;
        return 0;
    }
    for (i = 0; i < EDHOC_MAX_SESSIONS; i++) {
        if (sessions[i].id != 0 && sessions[i].id == id) {
            slot = &sessions[i];
        }
    }
    if (slot == NULL || slot->expired == ALERT_NONE || slot->expiry_reported) {
        return 0;
    }
    slot->expiry_reported = 1;
    out.buf = slot->expiry_out;
    out.cap = sizeof(slot->expiry_out);
    out.len = slot->expiry_len;
    record_alert(t, slot, slot->expired,
                 slot->expired == ALERT_KEY_UPDATE_FAILED ? "key-update timeout (REQ-KU-006)"
                                                          : "state timer expired (REQ-HS-037)",
                 &out);
    return 1;
}

int tap_cmd_app_send(tap_ctx *t)
{
    session_slot *slot;

    if (answered_expiry(t)) {
        return 0;
    }
    slot = established(t);
    const uint8_t *data;
    size_t len;
    rec_out out, ku;
    edhoc_alert alert;

    if (slot == NULL || tap_get_bytes(t, "data", &data, &len, REC_MAX_PLAINTEXT, 0) != 0) {
        return -1;
    }
    out.buf = tap_out_buffer(&out.cap);
    measure_begin();
    alert = rec_send(&slot->rec, CT_APPLICATION_DATA, data, len, &out);
    measure_end(CMD_APP_SEND);
    audit_send(slot, alert);
    ku.len = 0;
    if (alert == ALERT_NONE) {
        auto_key_update(slot, &out, &ku); /* REQ-KU-010 */
    }
    if (commit(t, slot) != 0) {
        return -1;
    }
    if (alert != ALERT_NONE) {
        /* out holds the close record when the sender key reached limit_q (REQ-KU-011) */
        emit_records(slot, &out);
        return record_alert(t, slot, alert, "cannot send", &out);
    }
    emit_records(slot, &out);
    emit_records(slot, &ku);
    cbor_put_head(t->w, CBOR_MAP, 1);
    put_two_records(t->w, &out, &ku);
    return 0;
}

int tap_cmd_app_receive(tap_ctx *t)
{
    uint8_t *plain = work_buffer(0);
    session_slot *slot;
    const uint8_t *record, *body = NULL;
    size_t len, body_len = 0;
    uint8_t content_type = 0;
    const char *detail = NULL;
    rec_out out;
    edhoc_alert alert;

    if (answered_expiry(t)) {
        return 0;
    }
    slot = established(t);
    if (slot == NULL ||
        tap_get_bytes(t, "record", &record, &len, REC_MAX_PLAINTEXT + REC_OVERHEAD, 0) != 0) {
        return -1;
    }
    out.buf = tap_out_buffer(&out.cap);
    measure_begin();
    alert = receive_record(slot, record, len, plain, &content_type, &body, &body_len, &out,
                           &detail);
    measure_end(CMD_APP_RECEIVE);
    if (commit(t, slot) != 0) {
        return -1;
    }
    emit_records(slot, &out);
    if (alert != ALERT_NONE) {
        return record_alert(t, slot, alert, detail, &out);
    }
    cbor_put_head(t->w, CBOR_MAP, 3);
    put_records(t->w, &out);
    tap_put_key(t->w, "data");
    tap_put_output(t->w, content_type == CT_APPLICATION_DATA ? body : NULL,
                   content_type == CT_APPLICATION_DATA ? body_len : 0);
    tap_put_key(t->w, "content_type");
    cbor_put_uint(t->w, content_type);
    memset(plain, 0, WORK_SIZE);
    return 0;
}

int tap_cmd_key_update(tap_ctx *t)
{
    session_slot *slot;
    const uint8_t *nonce;
    uint8_t fresh[REC_NONCE_LEN];
    rec_out out;
    edhoc_alert alert;

    if (answered_expiry(t)) {
        return 0;
    }
    slot = established(t);
    if (slot == NULL) {
        return -1;
    }
    /* REQ-KU-001, REQ-SP-008: the nonce comes from the DRBG unless the test supplies it. */
    if (tap_get_raw(t, "nonce", &(cbor_reader){0}) != 0) {
        if (rng_bytes(fresh, sizeof(fresh)) != 0) {
            return tap_fail(t, TAP_UNSUPPORTED,
                            "no entropy source on this platform (QEMU needs -semihosting-config "
                            "enable=on,target=native): pass nonce");
        }
        nonce = fresh;
    } else if (tap_get_fixed(t, "nonce", &nonce, REC_NONCE_LEN) != 0) {
        return -1;
    }
    out.buf = tap_out_buffer(&out.cap);
    measure_begin();
    alert = rec_start_key_update(&slot->rec, nonce, &out);
    measure_end(CMD_KEY_UPDATE);
    audit_send(slot, alert);
    if (commit(t, slot) != 0) {
        return -1;
    }
    if (alert != ALERT_NONE) {
        emit_records(slot, &out); /* a close record only if limit_q was reached */
        return record_alert(t, slot, alert, "cannot start a key update", &out);
    }
    emit_records(slot, &out);
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
    if (store_open() != STORE_USABLE) {
        /* REQ-KS-010: the persisted windows are unknown, so no message can be checked */
        alert = ALERT_INTERNAL_ERROR;
        detail = store_problem();
    } else {
        measure_begin();
        alert = pubsub_verify((const uint8_t *)topic, topic_len, msg, msg_len,
                              has_now ? &now_ms : NULL, &m, &detail);
        measure_end(CMD_SUBSCRIBE_DELIVER);
    }
    if (alert == ALERT_NONE && persist_windows() != 0) {
        /* REQ-PUBSUB-010: a message is accepted only after its window bound is durable */
        alert = ALERT_INTERNAL_ERROR;
        detail = "could not persist the replay window";
    }
    if (alert != ALERT_NONE) {
        return alert_result(t, NULL, alert, "subscriber", detail);
    }
    cbor_put_head(t->w, CBOR_MAP, 4);
    tap_put_key(t->w, "kid");
    tap_put_output(t->w, m.kid, m.kid_len);
    tap_put_key(t->w, "seq");
    cbor_put_uint(t->w, m.seq);
    tap_put_key(t->w, "content");
    tap_put_output(t->w, m.content, m.content_len);
    tap_put_key(t->w, "timestamp_ms");
    cbor_put_uint(t->w, m.timestamp_ms);
    return 0;
}

/* --- SESSION_INFO and SESSION_CLOSE ------------------------------------------------------------ */

static void put_optional_bytes(cbor_writer *w, const uint8_t *data, size_t len, int present)
{
    if (present) {
        tap_put_output(w, data, len);
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
    emit_records(slot, &out);
    forget(index); /* REQ-REC-008: the contexts are discarded */
    unlink_slot(slot);
    edhoc_release(&slot->hs);
    memset(slot, 0, sizeof(*slot));
    cbor_put_head(t->w, CBOR_MAP, 1);
    put_records(t->w, &out);
    return 0;
}
