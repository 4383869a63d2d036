#include "agent.h"

#include "config.h"
#include "tap.h"

static fr_rx rx;
static uint8_t response[TAP_MAX_RESPONSE];
static uint8_t tx_msg_id;
static fr_write_fn tx_write;
static void *tx_ctx;

void agent_serial_init(fr_write_fn write, void *ctx)
{
    fr_rx_init(&rx);
    tx_write = write;
    tx_ctx = ctx;
    tx_msg_id = 0;
}

static void send_response(size_t len)
{
    if (len == 0) {
        return; /* cannot happen with the static limits; never send a truncated message */
    }
    fr_send(CHANNEL_TAP, tx_msg_id++, response, len, tx_write, tx_ctx);
}

void agent_serial_byte(uint8_t byte, uint32_t now_ms)
{
    switch (fr_rx_byte(&rx, byte, now_ms)) {
    case FR_MESSAGE:
        send_response(tap_handle(rx.message, rx.length, response, sizeof(response)));
        break;
    case FR_TOO_LARGE:
        send_response(tap_too_large(response, sizeof(response)));
        break;
    default:
        break;
    }
}

size_t agent_handle(const uint8_t *req, size_t len, const uint8_t **resp)
{
    *resp = response;
    return tap_handle(req, len, response, sizeof(response));
}

size_t agent_too_large(const uint8_t **resp)
{
    *resp = response;
    return tap_too_large(response, sizeof(response));
}
