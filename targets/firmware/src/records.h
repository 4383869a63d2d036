/* The record layer of spec chapter 7: OSCORE-style compressed COSE_Encrypt0 records keyed by the
 * exporter of chapter 6 §6.6, a 64-entry sliding replay window, "K ahead" persistence bounds
 * and EDHOC_KeyUpdate driven by key_update / key_update_ack records. One rec_layer per session;
 * the caller persists rec_layer_blob() whenever `dirty` is set, before releasing any output. */
#ifndef PQIOT_RECORDS_H
#define PQIOT_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "edhoc.h"
#include "hkdf.h"

#define REC_WINDOW 64u
#define REC_PERSIST_K 32u
#define REC_NONCE_LEN 16u
#define REC_MAX_KEY 32u
#define REC_MAX_IV 13u
/* Largest application plaintext this build protects or accepts (declared in IDENTIFY). */
#define REC_MAX_PLAINTEXT 4096u
/* option_len + option (flags, PIV 5, s, epoch, kid 6) + content type + tag. */
#define REC_OVERHEAD (1u + 14u + 1u + 16u)

enum { CT_APPLICATION_DATA = 1, CT_KEY_UPDATE = 2, CT_KEY_UPDATE_ACK = 3, CT_CLOSE = 4 };

typedef struct {
    uint8_t valid, epoch, has_top, has_bound;
    uint8_t prk_out[HASH_MAX_LEN]; /* the epoch's PRK_out: keys are re-derived from it */
    uint8_t key[REC_MAX_KEY];
    uint8_t iv[REC_MAX_IV];
    uint64_t top, bitmap;          /* bit i = PIV top - i accepted */
    uint64_t bound;                /* P_r */
    uint64_t count_v;              /* failed decryptions (§7.9) */
    uint64_t count_v_bound;        /* the persisted count_v: K ahead (REQ-KU-013) */
} rec_recipient;

typedef struct {
    int active, closed;
    int64_t aead, hash;            /* application AEAD and HKDF hash */
    int64_t edhoc_hash;            /* for EDHOC_KDF of the key update */
    uint8_t sender_id[EDHOC_MAX_CID], recipient_id[EDHOC_MAX_CID];
    size_t sender_id_len, recipient_id_len;
    uint8_t committed_prk_out[HASH_MAX_LEN]; /* the exporter's epoch (REQ-TAP-015) */
    uint8_t send_epoch;
    uint8_t send_prk_out[HASH_MAX_LEN];
    uint8_t send_key[REC_MAX_KEY];
    uint8_t send_iv[REC_MAX_IV];
    uint64_t ssn, bound_s;         /* next SSN and P_s */
    rec_recipient recv[2];
    int pending;                   /* our key_update is outstanding */
    uint8_t pending_nonce[REC_NONCE_LEN];
    int ack_expected;
    uint8_t ack_epoch;
    int dirty;                     /* persisted state changed */
    size_t binding_context_len;    /* 0 (TAP transport, TCP) or 1 (serial: h'00', REQ-SER-006) */
    uint8_t binding_context;
    /* Locally lowered usage limits (REQ-KU-015), 0: the §7.9 table. rec_init keeps them. */
    uint64_t limit_q, limit_v;
} rec_layer;

/* Build the epoch-0 contexts from a completed handshake (chapter 6 §6.6). */
void rec_init(rec_layer *l, const edhoc_session *s);
/* Lower limit_q / limit_v for this layer (REQ-KU-015); 0 keeps the table value, and a value
 * above the table value is capped to it (never raised). -1 if q is below REC_MIN_LIMIT_Q. */
#define REC_MIN_LIMIT_Q 20u /* q - floor(q/10) must leave room for the key_update record */
int rec_set_limits(rec_layer *l, uint64_t q, uint64_t v);
/* REQ-KU-010: count_q of the sender key reached the threshold q - floor(q/10) while no key update
 * is outstanding: the caller starts one with a fresh nonce from its RNG. */
int rec_key_update_due(const rec_layer *l);

/* Results besides 0: the alert that dropped or closed. *closed tells the caller the session
 * ended (a close record may be in out). */
typedef struct {
    uint8_t *buf;
    size_t cap, len;
} rec_out;

edhoc_alert rec_send(rec_layer *l, uint8_t content_type, const uint8_t *body, size_t len,
                     rec_out *out);
/* Verify one record; body points into `plain` (REC_MAX_PLAINTEXT + 1). A key_update leaves
 * the key_update_ack in out. */
edhoc_alert rec_receive(rec_layer *l, const uint8_t *record, size_t len, uint8_t *plain,
                        uint8_t *content_type, const uint8_t **body, size_t *body_len,
                        rec_out *out, const char **detail);
/* Close the session with `alert` (a close record in out while the sender key can encrypt). */
edhoc_alert rec_close(rec_layer *l, edhoc_alert alert, rec_out *out);
edhoc_alert rec_start_key_update(rec_layer *l, const uint8_t nonce[REC_NONCE_LEN], rec_out *out);

/* EDHOC_Exporter of the committed epoch. */
void rec_exporter(const rec_layer *l, uint64_t label, const uint8_t *context, size_t context_len,
                  uint8_t *out, size_t len);

/* The layer's limit_q and limit_v (§7.9, lowered by REQ-KU-015; for limit_exceeded, §9.2). */
uint64_t rec_limit_q(const rec_layer *l);
uint64_t rec_limit_v(const rec_layer *l);

/* The persisted form: PRK_outs, epochs and bounds; keys are re-derived on restore. */
typedef struct {
    uint8_t initiator, send_epoch, sender_id_len, recipient_id_len;
    int32_t suite_id;
    uint8_t sender_id[EDHOC_MAX_CID], recipient_id[EDHOC_MAX_CID];
    uint8_t committed_prk_out[HASH_MAX_LEN];
    uint8_t send_prk_out[HASH_MAX_LEN];
    uint64_t bound_s;
    uint64_t limit_q, limit_v; /* lowered limits (REQ-KU-015): they bind after a restart too */
    struct {
        uint8_t valid, epoch, has_bound, reserved;
        uint8_t prk_out[HASH_MAX_LEN];
        uint64_t bound;
        uint64_t count_v;
    } recv[2];
} rec_blob;

void rec_to_blob(const rec_layer *l, int initiator, int32_t suite_id, rec_blob *b);
/* Restore after a restart: SSN = P_s (REQ-REPLAY-007), window = every PIV <= P_r (-009). */
int rec_from_blob(rec_layer *l, const rec_blob *b);

#endif
