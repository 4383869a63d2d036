/* The EDHOC handshake of PQC-IIoT (spec chapters 5 and 6; RFC 9528 with ML-KEM in G_X/G_Y),
 * method 0 (signatures), both roles, kid-referenced CCS credentials. Sans-I/O: each step takes
 * one received message and writes the message to send into a caller buffer. Randomness is
 * explicit (the ML-KEM seed d || z, the encapsulation m, ML-DSA rnd): a test build gets it
 * from TAP, a product from its TRNG. */
#ifndef PQIOT_EDHOC_H
#define PQIOT_EDHOC_H

#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "hkdf.h"

#define EDHOC_MAX_MESSAGE 16384u /* REQ-HS-025 */
/* Largest message this build accepts (declared as max_hs_message): message_2 with G_Y of
 * ML-KEM-768 and a 4 KB PLAINTEXT_2 (ML-DSA-44 signature, kid, EAD padding). */
#define EDHOC_MAX_ACCEPTED 5120u
/* REQ-HS-003: an OSCORE ID has at most nonce_length - 6 bytes: 7 for AES-CCM (13-byte nonce),
 * 6 for A256GCM and ChaCha20/Poly1305; edhoc_max_cid() gives a suite's own limit. */
#define EDHOC_MAX_CID 7u
#define EDHOC_MAX_SUITES 8u
#define EDHOC_MLKEM_MAX_DK 2400u /* ML-KEM-768, the largest KEM of the enabled suites */
/* The last message a session sent, kept for REQ-HS-038 and serial retransmission (REQ-SER-007):
 * message_2 of suite -102 with ML-DSA-44 and a 16-byte kid is 3,533 bytes. One buffer for the
 * whole device (see edhoc_last_sent). */
#define EDHOC_REPLY_CACHE (14u * 256u)

typedef struct {
    int32_t id;
    unsigned kem_set;  /* ML-KEM parameter set */
    int64_t sig_alg;   /* COSE alg of the signature */
    int64_t aead;      /* EDHOC AEAD = application AEAD */
    int64_t hash;      /* EDHOC hash = application hash */
} edhoc_suite;

/* The suites this build implements, and their count. */
const edhoc_suite *edhoc_suites(size_t *count);
const edhoc_suite *edhoc_find_suite(int64_t id);
/* Longest connection identifier (byte form) the suite's application AEAD allows. */
size_t edhoc_max_cid(const edhoc_suite *suite);

/* Alerts (spec chapter 10); names for ERR_INFO and the TAP result. */
typedef enum {
    ALERT_NONE = 0,
    ALERT_UNSPECIFIED,
    ALERT_DECODE_ERROR,
    ALERT_UNEXPECTED_MESSAGE,
    ALERT_WRONG_SELECTED_CIPHER_SUITE,
    ALERT_UNKNOWN_CREDENTIAL,
    ALERT_AUTHENTICATION_FAILED,
    ALERT_DECRYPT_FAILED,
    ALERT_MESSAGE_TOO_LARGE,
    ALERT_UNSUPPORTED_METHOD,
    ALERT_TOFU_DISABLED,
    ALERT_REPLAY_DETECTED,
    ALERT_USAGE_LIMIT_REACHED,
    ALERT_KEY_UPDATE_FAILED,
    ALERT_INTERNAL_ERROR,
} edhoc_alert;

const char *edhoc_alert_name(edhoc_alert alert);
/* The alert a text names (ERR_INFO, a close body): the text up to ':' if it is one of the
 * fourteen, else unspecified_error (REQ-ERR-002). */
edhoc_alert edhoc_alert_named(const uint8_t *text, size_t len);

typedef enum {
    EDHOC_START = 0,
    EDHOC_WAIT_M2,
    EDHOC_WAIT_M3,
    EDHOC_DONE,
    EDHOC_FAILED,
} edhoc_state;

const char *edhoc_state_name(edhoc_state state);

typedef struct {
    int initiator;
    edhoc_state state;
    int32_t suites[EDHOC_MAX_SUITES]; /* preference order */
    size_t suite_count;
    const edhoc_suite *suite;         /* selected */
    uint8_t c_i[EDHOC_MAX_CID], c_r[EDHOC_MAX_CID];
    size_t c_i_len, c_r_len;
    uint8_t own_cid[EDHOC_MAX_CID];
    size_t own_cid_len;
    uint8_t expected_peer[CRED_MAX_KID];
    size_t expected_peer_len;         /* 0: any allow-listed peer */
    const credential *peer;
    uint8_t kem_m[32];
    uint8_t sig_rnd[32];
    uint8_t dk[EDHOC_MLKEM_MAX_DK];   /* initiator ephemeral, erased after decapsulation */
    uint8_t h_message_1[HASH_MAX_LEN];
    uint8_t th[HASH_MAX_LEN];         /* TH_2, then TH_3 */
    uint8_t prk[HASH_MAX_LEN];        /* PRK_2e = PRK_3e2m = PRK_4e3m in method 0 */
    uint8_t prk_out[HASH_MAX_LEN];
    uint8_t prk_exporter[HASH_MAX_LEN];
    int keys_handed_over;             /* PRK_out went to the record layer (edhoc_hand_over) */
    /* REQ-HS-036: set by the endpoint before a message reaches a Responder in START when it
     * already holds its bound of sessions in WAIT_M3; message_1 is then answered busy. */
    int busy;
    /* REQ-HS-038: SHA-256 of the last message accepted, to recognise a retransmission */
    int has_last_in;
    size_t last_in_len;
    uint8_t last_in_hash[32];
} edhoc_session;

/* Output of one step: message to send (if any) and the alert that ended the session. */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    edhoc_alert alert;
    const char *detail;
    int retransmission; /* the input repeated the last accepted message: out is the old reply */
    int64_t err_code;   /* the ERR_CODE of a well-formed error message received (alert from the
                         * peer, §9.2 handshake_failed err_code); 0 when the alert is our own */
} edhoc_out;

/* Initiator: build message_1 with the first preferred suite. kem_seed = d || z. */
int edhoc_initiator_start(edhoc_session *s, const uint8_t kem_seed[64], edhoc_out *out);
/* Responder: arm the session (nothing is sent). */
void edhoc_responder_start(edhoc_session *s);
/* Process one received message in the session's state. Returns 0 (out->len may be 0) or -1
 * with out->alert set and out holding the error message to send, if any. */
int edhoc_deliver(edhoc_session *s, const uint8_t *msg, size_t len, edhoc_out *out);
/* True when msg is byte-identical to the last message s accepted (REQ-HS-038); such a message
 * is answered by edhoc_deliver with the previous reply and changes nothing. */
int edhoc_is_retransmission(const edhoc_session *s, const uint8_t *msg, size_t len);
/* The last message s sent (message_1, message_2 or message_3), or NULL when the device-wide
 * reply buffer has since been taken by another session or the message did not fit. */
const uint8_t *edhoc_last_sent(const edhoc_session *s, size_t *len);
/* The session's memory is about to be reused: drop its claim on the reply buffer. */
void edhoc_release(const edhoc_session *s);
/* End the session in FAILED from outside a step (the state timer, REQ-HS-037), erasing its
 * ephemeral key, m and every PRK as a failed step does (REQ-HS-034). Returns -1. */
int edhoc_abort(edhoc_session *s);
/* The record layer has taken PRK_out (rec_init): erase the session's PRK_out and PRK_exporter
 * so that they live only where chapter 7 keeps them and no key update leaves epoch 0's behind
 * (REQ-KEYS-010). edhoc_exporter fails afterwards; the record layer's exporter serves EXPORT. */
void edhoc_hand_over(edhoc_session *s);
/* EDHOC_Exporter(label, context, len) in state DONE (REQ-KEYS-007). */
int edhoc_exporter(const edhoc_session *s, uint64_t label, const uint8_t *context,
                   size_t context_len, uint8_t *out, size_t len);
/* EDHOC_KDF(PRK, label, context, length) with info = (label, context, length) (§6.1). */
void edhoc_kdf(int64_t hash, const uint8_t *prk, int64_t label, const span *context,
               size_t context_count, uint8_t *out, size_t len);

#endif
