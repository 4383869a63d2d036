/* Subscriber side of signed pub/sub (spec chapter 8, plaintext topics): verify a COSE_Sign1
 * [<<{1: alg, 4: kid}>>, {}, <<[seq, timestamp_ms, content]>>, signature] received on a topic
 * against the allow-list, keep a 64-entry replay window per (kid, topic), check the clock skew
 * when the caller knows the time. Group-encrypted topics are not implemented. */
#ifndef PQIOT_PUBSUB_H
#define PQIOT_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "edhoc.h"

#define PUBSUB_MAX_WINDOWS 8u /* (kid, topic) pairs tracked (REQ-PUBSUB-011 allows dropping) */
#define PUBSUB_SKEW_MS 300000u

typedef struct {
    const uint8_t *kid, *content;
    size_t kid_len, content_len;
    uint64_t seq, timestamp_ms;
} pubsub_message;

/* Steps 1-9 and 11 of §8.3. now_ms = NULL: no trustworthy clock, the skew check is skipped. */
edhoc_alert pubsub_verify(const uint8_t *topic, size_t topic_len, const uint8_t *msg,
                          size_t msg_len, const uint64_t *now_ms, pubsub_message *out,
                          const char **detail);
void pubsub_reset(void);

#endif
