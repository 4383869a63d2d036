/* Audit events of spec chapter 9, buffered for TAP AUDIT_READ (§13.9, REQ-TAP-021).
 *
 * Why compact entries: an event is a few codes, the identifiers it names and one integer
 * (about 70 bytes); the JSON line of §9.1 is rendered only when AUDIT_READ asks, into a work
 * buffer that is free between commands. The ring keeps its oldest events when full and counts
 * the drop; the next event stored carries the count as detail.lost_events (REQ-AUDIT-009). */
#ifndef PQIOT_AUDIT_H
#define PQIOT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "edhoc.h"
#include "tap_internal.h"

#ifndef AUDIT_CAPACITY
#define AUDIT_CAPACITY 16u /* §13.9: at least 16 events */
#endif

typedef enum {
    AUDIT_PEER_AUTHENTICATED = 1,
    AUDIT_AUTH_FAILED,
    AUDIT_REPLAY_DROPPED,
    AUDIT_DECRYPT_FAILED,
    AUDIT_REKEY,
    AUDIT_LIMIT_EXCEEDED,
    AUDIT_HANDSHAKE_FAILED,
    AUDIT_HANDSHAKE_COMPLETED,
} audit_event;

/* origin of an alert */
enum { AUDIT_ORIGIN_NONE = 0, AUDIT_ORIGIN_LOCAL, AUDIT_ORIGIN_PEER };

/* `code`, by event: auth_failed stage, decrypt_failed reason, rekey initiated_by, limit. */
enum {
    AUDIT_STAGE_MESSAGE_2 = 0,
    AUDIT_STAGE_MESSAGE_3,
    AUDIT_STAGE_PUBSUB,         /* auth_failed of a pub/sub message (spec §8.3 steps 4-6) */
    AUDIT_REASON_NONE = 0,      /* decrypt_failed context handshake */
    AUDIT_REASON_NO_CONTEXT,    /* decrypt_failed context record */
    AUDIT_REASON_AUTH_FAILED,   /* decrypt_failed context record */
    AUDIT_REASON_TIMEOUT,       /* handshake_failed of the state timer */
    AUDIT_BY_LOCAL = 0,
    AUDIT_BY_PEER,
    AUDIT_LIMIT_Q = 0,
    AUDIT_LIMIT_V,
    AUDIT_LIMIT_PUBSUB_WINDOWS, /* REQ-PUBSUB-011: no replay window left for a (kid, topic) */
};

/* replay_dropped of a pub/sub message (`pubsub` set): detail.reason, by `code`. */
enum { AUDIT_PUBSUB_WINDOW = 0, AUDIT_PUBSUB_STALE };

/* Topic bytes an entry keeps; a longer topic is logged as its SHA-256 fingerprint. */
#define AUDIT_TOPIC_MAX 64u

typedef struct {
    uint32_t ts_ms;       /* plat_millis() when emitted (filled by audit_emit) */
    uint32_t lost_events; /* filled by audit_emit */
    int64_t value;        /* err_code, piv, count_v, epoch, value or duration_ms */
    int32_t suite;
    const credential *cred; /* peer_authenticated: the credential whose `sub` is logged */
    uint8_t event, alert, origin, state, initiator, code;
    uint8_t has_suite, has_value; /* has_value: err_code present (alert events) */
    uint8_t peer_len, c_i_len, c_r_len;
    uint8_t peer[CRED_MAX_KID];
    uint8_t c_i[EDHOC_MAX_CID], c_r[EDHOC_MAX_CID];
    /* pub/sub replay_dropped: context "pubsub", `value` = seq, and the topic (or, when
     * topic_hashed, the SHA-256 of a topic longer than AUDIT_TOPIC_MAX in topic[0..31]) */
    uint8_t pubsub, topic_hashed;
    uint16_t topic_len;
    uint8_t topic[AUDIT_TOPIC_MAX];
} audit_entry;

/* Store one event (never fails: a full buffer counts it as lost). */
void audit_emit(const audit_entry *e);
/* RESET "all" / "factory": the buffer and the lost count are emptied. */
void audit_clear(void);
/* TAP AUDIT_READ (97). */
int tap_cmd_audit_read(tap_ctx *t);
/* One event's JSON line (no LF) into buf, NUL-terminated; its length, or 0 if it did not fit. */
size_t audit_render(const audit_entry *e, char *buf, size_t cap);

#endif
