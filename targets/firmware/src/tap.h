/* Test Agent Protocol dispatcher (spec chapter 13): one request in, one response out. */
#ifndef PQIOT_TAP_H
#define PQIOT_TAP_H

#include <stddef.h>
#include <stdint.h>

enum {
    TAP_OK = 0,
    TAP_UNKNOWN_COMMAND = 1,
    TAP_MALFORMED = 2,
    TAP_UNSUPPORTED = 3,
    TAP_TOO_LARGE = 4,
    TAP_INVALID_STATE = 5,
    TAP_INVALID_INPUT = 6,
    TAP_PROTOCOL_ALERT = 7,
    TAP_BUSY = 8,
    TAP_INTERNAL = 9,
};

/* The device's one response buffer (TAP_MAX_RESPONSE bytes): pass it to tap_handle. The result
 * map and the command's outputs are built inside it, so no second copy of a result exists. */
uint8_t *tap_response_buffer(size_t *cap);
/* Set the handshake state timer (REQ-HS-037) and the key-update timeout (REQ-KU-006) in ms;
 * 0 keeps a value (default: config.h). -1, and nothing changed, outside 1000..300000. */
int tap_set_timers(uint32_t state_timer_ms, uint32_t key_update_timeout_ms);
/* Handle one request; writes the response into `resp` and returns its length. */
size_t tap_handle(const uint8_t *req, size_t req_len, uint8_t *resp, size_t resp_cap);
/* The answer to a request above TAP_MAX_REQUEST, which is never parsed (REQ-TAP-006). */
size_t tap_too_large(uint8_t *resp, size_t resp_cap);

#endif
