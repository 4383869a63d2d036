/* Serial channel 0 (spec §12.1): the protocol's own link beside the Test Agent's channel 1.
 * agent.c owns the line (framing, msg_ids, receive buffers); tap_proto.c owns the session that
 * SESSION_START with transport "link" puts on it. The two never see each other's traffic
 * (REQ-SER-009). */
#ifndef PQIOT_LINK_H
#define PQIOT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "frames.h"

#define LINK_KIND_HANDSHAKE 0x00u
#define LINK_KIND_RECORD 0x01u
/* The record's binding_context on the serial link (REQ-SER-006). */
#define LINK_BINDING_CONTEXT 0x00u
/* REQ-SER-007: first retransmission timeout, doubled after each, at most this many. */
#define LINK_RTO_MS 2000u
#define LINK_MAX_RETRANSMISSIONS 2u

/* Non-zero when this build runs the serial framing (so channel 0 exists). */
int link_available(void);
/* Send kind || body as one channel-0 message with a fresh msg_id (REQ-SER-001, -010). */
void link_send(uint8_t kind, const uint8_t *body, size_t len);
/* Link errors seen so far (REQ-SER-011). */
const fr_counters *link_counters(void);

/* tap_proto.c: one reassembled channel-0 message; the retransmission timer. */
void tap_link_receive(const uint8_t *msg, size_t len, uint32_t now_ms);
void tap_link_poll(uint32_t now_ms);

#endif
