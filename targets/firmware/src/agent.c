#include "agent.h"

#include "config.h"
#include "link.h"
#include "tap.h"

static fr_rx rx;
static uint8_t tx_msg_id;
static uint8_t link_msg_id;
static fr_write_fn tx_write;
static void *tx_ctx;

void agent_serial_init(fr_write_fn write, void *ctx)
{
    fr_rx_init(&rx);
    tx_write = write;
    tx_ctx = ctx;
    tx_msg_id = 0;
    link_msg_id = 0;
}

int link_available(void)
{
    return tx_write != NULL;
}

void link_send(uint8_t kind, const uint8_t *body, size_t len)
{
    if (tx_write != NULL) {
        fr_send_kind(CHANNEL_PROTOCOL, link_msg_id++, kind, body, len, tx_write, tx_ctx);
    }
}

const fr_counters *link_counters(void)
{
    return &rx.counters;
}

static void send_response(size_t len)
{
    size_t cap;
    const uint8_t *response = tap_response_buffer(&cap);

    if (len == 0) {
        return; /* cannot happen with the static limits; never send a truncated message */
    }
    fr_send(CHANNEL_TAP, tx_msg_id++, response, len, tx_write, tx_ctx);
}

void agent_serial_byte(uint8_t byte, uint32_t now_ms)
{
    size_t cap;
    uint8_t *resp = tap_response_buffer(&cap);

    switch (fr_rx_byte(&rx, byte, now_ms)) {
    case FR_MESSAGE:
        send_response(tap_handle(rx.message, rx.tap.length, resp, cap));
        break;
    case FR_TOO_LARGE:
        send_response(tap_too_large(resp, cap));
        break;
    case FR_PROTOCOL:
        tap_link_receive(rx.protocol, rx.protocol_len, now_ms);
        break;
    default:
        break;
    }
}

void agent_serial_poll(uint32_t now_ms)
{
    tap_link_poll(now_ms);
}

size_t agent_handle(const uint8_t *req, size_t len, const uint8_t **resp)
{
    size_t cap;
    uint8_t *response = tap_response_buffer(&cap);
    *resp = response;
    return tap_handle(req, len, response, cap);
}

size_t agent_too_large(const uint8_t **resp)
{
    size_t cap;
    uint8_t *response = tap_response_buffer(&cap);
    *resp = response;
    return tap_too_large(response, cap);
}
