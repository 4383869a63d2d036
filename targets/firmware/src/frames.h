/* Serial frames, spec §12.1: channel | msg_id | frag_index | frag_count | fragment | crc32 (LE),
 * COBS-encoded and terminated by 00. The receiver works one byte at a time on static buffers. */
#ifndef PQIOT_FRAMES_H
#define PQIOT_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "cobs.h"
#include "config.h"

#define FRAME_HEADER 4u
#define FRAME_CRC 4u
#define FRAME_RAW_MAX (FRAME_HEADER + SERIAL_MTU + FRAME_CRC)
#define FRAME_ENCODED_MAX COBS_MAX_ENCODED(FRAME_RAW_MAX)

#define CHANNEL_PROTOCOL 0u
#define CHANNEL_TAP 1u

typedef enum {
    FR_NONE = 0,
    FR_MESSAGE,   /* a complete TAP message is in rx->message[0..length) */
    FR_TOO_LARGE, /* a TAP message announced more than TAP_MAX_REQUEST bytes */
    FR_PROTOCOL,  /* a complete channel-0 message is in rx->protocol[0..protocol_len) */
} fr_event;

/* Link errors (REQ-SER-011), counted per category; none of them produces output. */
typedef struct {
    uint32_t bad_frames; /* COBS, length, CRC, channel or header errors */
    uint32_t overruns;   /* bytes discarded for want of a delimiter */
    uint32_t broken;     /* partial messages discarded (order, timeout) */
    uint32_t too_large;  /* messages above the channel's limit */
} fr_counters;

/* Reassembly of one channel (REQ-SER-004: one message at a time, in order). */
typedef struct {
    int active;
    uint8_t msg_id;
    uint8_t next_index;
    uint8_t frag_count;
    uint32_t last_ms;
    size_t length;
} fr_partial;

typedef struct {
    uint8_t line[FRAME_ENCODED_MAX];
    size_t line_len;
    int discarding; /* skipping to the next delimiter after an overrun */
    uint8_t raw[FRAME_RAW_MAX];
    fr_partial tap, proto;
    size_t protocol_len;
    uint8_t message[TAP_MAX_REQUEST];
    uint8_t protocol[SERIAL_MAX_PROTOCOL];
    fr_counters counters;
} fr_rx;

void fr_rx_init(fr_rx *rx);

/* Feed one received byte; returns the event it completes (if any). */
fr_event fr_rx_byte(fr_rx *rx, uint8_t byte, uint32_t now_ms);

typedef void (*fr_write_fn)(const uint8_t *data, size_t len, void *ctx);

/* Frame and send one message (REQ-SER-001); len may be 0. Returns -1 if it needs > 255 fragments. */
int fr_send(uint8_t channel, uint8_t msg_id, const uint8_t *msg, size_t len, fr_write_fn write,
            void *ctx);
/* The same for the message kind || body (channel 0, §12.1.1) without copying body. */
int fr_send_kind(uint8_t channel, uint8_t msg_id, uint8_t kind, const uint8_t *body, size_t len,
                 fr_write_fn write, void *ctx);

#endif
