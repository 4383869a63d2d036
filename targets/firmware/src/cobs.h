/* COBS byte stuffing (Cheshire & Baker) for the serial binding, spec §12.1.1. */
#ifndef PQIOT_COBS_H
#define PQIOT_COBS_H

#include <stddef.h>
#include <stdint.h>

/* Worst-case encoded size of `n` input bytes (without the 00 delimiter). */
#define COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)

/* Encode `len` bytes into `out` (at least COBS_MAX_ENCODED(len) bytes); returns the encoded length. */
size_t cobs_encode(const uint8_t *in, size_t len, uint8_t *out);

/* Decode; returns 0 and sets *out_len, or -1 on a malformed block or if `out_cap` is too small. */
int cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len);

#endif
