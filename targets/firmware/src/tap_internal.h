/* What the TAP command handlers share: the decoded request, argument accessors and the failure
 * helper. Handlers outside tap.c (the protocol roles, tap_proto.c) use the same ones. */
#ifndef PQIOT_TAP_INTERNAL_H
#define PQIOT_TAP_INTERNAL_H

/* The Test Agent takes keys, seeds and all ephemeral randomness from its requests: an injectable
 * deterministic RNG, which REQ-SP-008 and REQ-TAP-002 allow in test builds only. The Makefile
 * defines PQIOT_TEST_BUILD for every image it builds (all are DUT test builds); a product build
 * leaves src/tap*.c out and cannot compile them by accident. */
#ifndef PQIOT_TEST_BUILD
#error "src/tap*.c belong to test builds only (REQ-SP-008, REQ-TAP-002): define PQIOT_TEST_BUILD for a DUT test build, or build a product without src/tap*.c"
#endif

#include <stddef.h>
#include <stdint.h>

#include "cbor.h"
#include "config.h"

/* One argument of the request map: its key and the span of its value. */
typedef struct {
    const uint8_t *key;
    size_t key_len;
    size_t value_pos;
} tap_arg;

typedef struct {
    const uint8_t *req;
    size_t req_len;
    tap_arg args[TAP_MAX_ARGS];
    size_t count;
} tap_args;

/* Everything a handler needs to answer. */
typedef struct {
    cbor_writer *w;
    const tap_args *args;
    int status;
    const char *error;
} tap_ctx;

/* Each records the failure (status, message) in t and returns -1; 0 on success. */
int tap_fail(tap_ctx *t, int status, const char *error);
int tap_get_bytes(tap_ctx *t, const char *key, const uint8_t **data, size_t *len, size_t max,
                  int optional);
int tap_get_fixed(tap_ctx *t, const char *key, const uint8_t **data, size_t want);
int tap_get_uint(tap_ctx *t, const char *key, uint64_t *value);
int tap_get_int(tap_ctx *t, const char *key, int64_t *value);
int tap_get_text(tap_ctx *t, const char *key, const char **text, size_t *len, int optional);
void tap_put_key(cbor_writer *w, const char *key);
/* Where outputs are written during the measured interval (primitive results, handshake
 * messages, records): the tail of the response buffer, see tap.c. Free between commands, so the
 * serial link's handshake and record steps use it too. */
uint8_t *tap_out_buffer(size_t *cap);
/* Put an output as a bstr; unlike cbor_put_bytes it may move bytes from the out buffer down into
 * the same response buffer (and fails the result rather than corrupt it). */
void tap_put_output(cbor_writer *w, const uint8_t *data, size_t len);
/* Protocol-role commands (tap_proto.c): CRED_LOAD, SESSION_START, SESSION_DELIVER, EXPORT. */
int tap_cmd_cred_load(tap_ctx *t);
int tap_cmd_session_start(tap_ctx *t);
int tap_cmd_session_deliver(tap_ctx *t);
int tap_cmd_export(tap_ctx *t);
int tap_cmd_app_send(tap_ctx *t);
int tap_cmd_app_receive(tap_ctx *t);
int tap_cmd_key_update(tap_ctx *t);
int tap_cmd_subscribe_deliver(tap_ctx *t);
int tap_cmd_session_info(tap_ctx *t);
int tap_cmd_app_poll(tap_ctx *t);
int tap_cmd_session_close(tap_ctx *t);
/* Restore persisted sessions (once, before the first request is handled). */
void tap_proto_restore(void);
/* Run the state timer and key-update timeout of every session (before and after each command). */
void tap_proto_tick(uint32_t now_ms);
/* RESET: scope_all also drops credentials. */
void tap_proto_reset(int scope_all);
/* The raw value of an argument (for arrays and bstr/int unions), or NULL if absent. */
int tap_get_raw(tap_ctx *t, const char *key, cbor_reader *r);

#endif
