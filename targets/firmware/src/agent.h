/* The Test Agent on a serial link (spec §13.1): bytes in, framed channel-1 responses out. */
#ifndef PQIOT_AGENT_H
#define PQIOT_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "frames.h"

void agent_serial_init(fr_write_fn write, void *ctx);
/* Feed one received byte; answers any request it completes before returning. */
void agent_serial_byte(uint8_t byte, uint32_t now_ms);
/* Call when the line is idle (at least every ~100 ms): runs the channel-0 retransmission
 * timer of an Initiator session on the link (REQ-SER-007). */
void agent_serial_poll(uint32_t now_ms);

/* One request/response for stream transports that frame messages themselves (host TCP). */
size_t agent_handle(const uint8_t *req, size_t len, const uint8_t **resp);
size_t agent_too_large(const uint8_t **resp);

#endif
