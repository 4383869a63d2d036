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
    size_t frag_len;

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
    if (channel == CHANNEL_PROTOCOL) {
        rx->counters.protocol_drops++;
        return FR_NONE;
    }
    if (rx->active && now_ms - rx->last_ms > SERIAL_REASSEMBLY_TIMEOUT_MS) {
        rx->active = 0; /* REQ-SER-005: stale partial message */
        rx->counters.broken++;
    }
    if (index == 0) {
        if (rx->active) {
            rx->counters.broken++;
        }
        rx->active = 0;
        if ((size_t)count * SERIAL_MTU > TAP_MAX_REQUEST) {
            rx->counters.too_large++;
            return FR_TOO_LARGE;
        }
        rx->active = 1;
        rx->msg_id = msg_id;
        rx->frag_count = count;
        rx->next_index = 0;
        rx->length = 0;
    } else if (!rx->active || msg_id != rx->msg_id || count != rx->frag_count ||
               index != rx->next_index) {
        if (rx->active) {
            rx->counters.broken++;
        }
        rx->active = 0; /* REQ-SER-004: out of order */
        return FR_NONE;
    }
    /* Every fragment but the last carries exactly MTU bytes (REQ-SER-001). */
    if ((index + 1u < count && frag_len != SERIAL_MTU) || rx->length + frag_len > TAP_MAX_REQUEST) {
        rx->active = 0;
        rx->counters.broken++;
        return FR_NONE;
    }
    memcpy(rx->message + rx->length, rx->raw + FRAME_HEADER, frag_len);
    rx->length += frag_len;
    rx->next_index++;
    rx->last_ms = now_ms;
    if (rx->next_index == count) {
        rx->active = 0;
        return FR_MESSAGE;
    }
    return FR_NONE;
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

int fr_send(uint8_t channel, uint8_t msg_id, const uint8_t *msg, size_t len, fr_write_fn write,
            void *ctx)
{
    static uint8_t raw[FRAME_RAW_MAX];
    static uint8_t encoded[FRAME_ENCODED_MAX + 1];
    size_t count = len == 0 ? 1 : (len + SERIAL_MTU - 1) / SERIAL_MTU;
    size_t index;

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
        if (frag > 0) {
            memcpy(raw + FRAME_HEADER, msg + offset, frag);
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
