/* Subscriber side of signed pub/sub (spec chapter 8, plaintext topics): verify a COSE_Sign1
 * [<<{1: alg, 4: kid}>>, {}, <<[seq, timestamp_ms, content]>>, signature] received on a topic
 * against the allow-list, keep a 64-entry replay window per (kid, topic), check the clock skew
 * when the caller knows the time, and audit every failure as §8.3 states (auth_failed,
 * replay_dropped, limit_exceeded). Group-encrypted topics are not implemented. */
#ifndef PQIOT_PUBSUB_H
#define PQIOT_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "edhoc.h"

#ifndef PUBSUB_MAX_WINDOWS
#define PUBSUB_MAX_WINDOWS 64u /* (kid, topic) pairs tracked: the default of REQ-PUBSUB-011 */
#endif
#define PUBSUB_SKEW_MS 300000u

typedef struct {
    const uint8_t *kid, *content;
    size_t kid_len, content_len;
    uint64_t seq, timestamp_ms;
} pubsub_message;

/* Steps 1-9 and 11 of §8.3. now_ms = NULL: no trustworthy clock, the skew check is skipped
 * (feature no-clock); given, it is the time the skew check uses. */
edhoc_alert pubsub_verify(const uint8_t *topic, size_t topic_len, const uint8_t *msg,
                          size_t msg_len, const uint64_t *now_ms, pubsub_message *out,
                          const char **detail);
void pubsub_reset(void);

/* Persistence of the windows (REQ-PUBSUB-010, the recipient rule of §7.7): the caller stores the
 * blob durably whenever pubsub_dirty() says a bound was raised, before the message is reported
 * as accepted; after a restart every window starts with top = bound and every bit set. */
#define PUBSUB_KID_MAX 16u
typedef struct {
    struct {
        uint8_t used, kid_len, reserved[6];
        uint8_t kid[PUBSUB_KID_MAX];
        uint8_t topic_hash[16];
        uint64_t bound;
    } window[PUBSUB_MAX_WINDOWS];
} pubsub_blob;

int pubsub_dirty(void);
void pubsub_saved(void);
void pubsub_to_blob(pubsub_blob *b);
/* 0, or -1 if the blob does not parse. */
int pubsub_from_blob(const pubsub_blob *b);

#endif
