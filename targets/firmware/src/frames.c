#include "frames.h"

#include <string.h>

#include "crc32.h"

void fr_rx_init(fr_rx *rx)
{
    memset(rx, 0, sizeof(*rx));
}

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static fr_event accept_frame(fr_rx *rx, size_t raw_len, uint32_t now_ms)
{
    uint8_t channel, msg_id, index, count;
    size_t frag_len, cap;
    fr_partial *p;
    uint8_t *buf;

    if (raw_len < FRAME_HEADER + FRAME_CRC || raw_len > FRAME_RAW_MAX ||
        crc32_iso_hdlc(rx->raw, raw_len - FRAME_CRC) != load_le32(rx->raw + raw_len - FRAME_CRC)) {
        rx->counters.bad_frames++;
        return FR_NONE;
    }
    channel = rx->raw[0];
    msg_id = rx->raw[1];
    index = rx->raw[2];
    count = rx->raw[3];
    frag_len = raw_len - FRAME_HEADER - FRAME_CRC;
    if (channel > CHANNEL_TAP || count == 0 || index >= count) {
        rx->counters.bad_frames++;
        return FR_NONE;
    }
    /* REQ-SER-009: each channel has its own reassembly and its own buffer. */
    if (channel == CHANNEL_PROTOCOL) {
        p = &rx->proto;
        buf = rx->protocol;
        cap = sizeof(rx->protocol);
    } else {
        p = &rx->tap;
        buf = rx->message;
        cap = sizeof(rx->message);
    }
    if (p->active && now_ms - p->last_ms > SERIAL_REASSEMBLY_TIMEOUT_MS) {
        p->active = 0; /* REQ-SER-005: stale partial message */
        rx->counters.broken++;
    }
    if (index == 0) {
        if (p->active) {
            rx->counters.broken++;
        }
        p->active = 0;
        if ((size_t)count * SERIAL_MTU > cap) {
            rx->counters.too_large++;
            return channel == CHANNEL_TAP ? FR_TOO_LARGE : FR_NONE;
        }
        p->active = 1;
        p->msg_id = msg_id;
        p->frag_count = count;
        p->next_index = 0;
        p->length = 0;
    } else if (!p->active || msg_id != p->msg_id || count != p->frag_count ||
               index != p->next_index) {
        if (p->active) {
            rx->counters.broken++;
        }
        p->active = 0; /* REQ-SER-004: out of order */
        return FR_NONE;
    }
    /* Every fragment but the last carries exactly MTU bytes (REQ-SER-001). */
    if ((index + 1u < count && frag_len != SERIAL_MTU) || p->length + frag_len > cap) {
        p->active = 0;
        rx->counters.broken++;
        return FR_NONE;
    }
    memcpy(buf + p->length, rx->raw + FRAME_HEADER, frag_len);
    p->length += frag_len;
    p->next_index++;
    p->last_ms = now_ms;
    if (p->next_index != count) {
        return FR_NONE;
    }
    p->active = 0;
    if (channel == CHANNEL_PROTOCOL) {
        rx->protocol_len = p->length;
        return FR_PROTOCOL;
    }
    return FR_MESSAGE;
}

fr_event fr_rx_byte(fr_rx *rx, uint8_t byte, uint32_t now_ms)
{
    size_t raw_len;

    if (byte != 0) {
        if (rx->discarding) {
            return FR_NONE;
        }
        if (rx->line_len == sizeof(rx->line)) {
            rx->discarding = 1; /* REQ-SER-003: no delimiter within a maximal frame */
            rx->line_len = 0;
            rx->counters.overruns++;
            return FR_NONE;
        }
        rx->line[rx->line_len++] = byte;
        return FR_NONE;
    }
    if (rx->discarding) {
        rx->discarding = 0;
        return FR_NONE;
    }
    if (rx->line_len == 0) {
        return FR_NONE; /* idle delimiters are allowed between frames */
    }
    if (cobs_decode(rx->line, rx->line_len, rx->raw, sizeof(rx->raw), &raw_len) != 0) {
        rx->line_len = 0;
        rx->counters.bad_frames++;
        return FR_NONE;
    }
    rx->line_len = 0;
    return accept_frame(rx, raw_len, now_ms);
}

/* Frame head || msg as one message: fragment i holds bytes [i x MTU, (i + 1) x MTU) of it. */
static int fr_send_parts(uint8_t channel, uint8_t msg_id, const uint8_t *head, size_t head_len,
                         const uint8_t *msg, size_t msg_len, fr_write_fn write, void *ctx)
{
    static uint8_t raw[FRAME_RAW_MAX];
    static uint8_t encoded[FRAME_ENCODED_MAX + 1];
    size_t len = head_len + msg_len;
    size_t count = len == 0 ? 1 : (len + SERIAL_MTU - 1) / SERIAL_MTU;
    size_t index, j;

    if (count > 255) {
        return -1;
    }
    for (index = 0; index < count; index++) {
        size_t offset = index * SERIAL_MTU;
        size_t frag = len - offset < SERIAL_MTU ? len - offset : SERIAL_MTU;
        size_t raw_len = FRAME_HEADER + frag;
        size_t enc_len;
        uint32_t crc;

        raw[0] = channel;
        raw[1] = msg_id;
        raw[2] = (uint8_t)index;
        raw[3] = (uint8_t)count;
        for (j = 0; j < frag; j++) {
            size_t at = offset + j;
            raw[FRAME_HEADER + j] = at < head_len ? head[at] : msg[at - head_len];
        }
        crc = crc32_iso_hdlc(raw, raw_len);
        raw[raw_len++] = (uint8_t)crc;
        raw[raw_len++] = (uint8_t)(crc >> 8);
        raw[raw_len++] = (uint8_t)(crc >> 16);
        raw[raw_len++] = (uint8_t)(crc >> 24);
        enc_len = cobs_encode(raw, raw_len, encoded);
        encoded[enc_len++] = 0;
        write(encoded, enc_len, ctx);
    }
    return 0;
}

int fr_send(uint8_t channel, uint8_t msg_id, const uint8_t *msg, size_t len, fr_write_fn write,
            void *ctx)
{
    return fr_send_parts(channel, msg_id, NULL, 0, msg, len, write, ctx);
}

int fr_send_kind(uint8_t channel, uint8_t msg_id, uint8_t kind, const uint8_t *body, size_t len,
                 fr_write_fn write, void *ctx)
{
    return fr_send_parts(channel, msg_id, &kind, 1, body, len, write, ctx);
}
