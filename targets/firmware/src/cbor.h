/* A deliberately small, strict CBOR subset (RFC 8949) for TAP messages: integers, byte and
 * text strings, arrays, maps, false/true/null. Shortest-form heads only; no indefinite
 * lengths, tags or floats. The reader never copies: strings point into the input. */
#ifndef PQIOT_CBOR_H
#define PQIOT_CBOR_H

#include <stddef.h>
#include <stdint.h>

enum { CBOR_UINT = 0, CBOR_NINT = 1, CBOR_BSTR = 2, CBOR_TSTR = 3, CBOR_ARRAY = 4, CBOR_MAP = 5,
       CBOR_SIMPLE = 7 };
enum { CBOR_FALSE = 20, CBOR_TRUE = 21, CBOR_NULL = 22 };

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
} cbor_reader;

/* Read one head; returns 0, or -1 on truncation or a form outside the subset (a text
 * string's bytes must also be valid UTF-8, REQ-ENC-006). */
int cbor_read_head(cbor_reader *r, int *major, uint64_t *value);
/* A byte string: *data points into the reader (no copy). 0 on success, -1 otherwise. */
int cbor_read_bstr(cbor_reader *r, const uint8_t **data, size_t *len);
/* Skip one complete data item, checking it as a decode of its own: at most 16 levels below
 * it and 4096 items (REQ-ENC-008), map keys int or text in deterministic order without
 * repeats (REQ-ENC-005). Returns 0 or -1. */
int cbor_skip(cbor_reader *r);
/* Check a whole CBOR sequence (a handshake message, a TAP request) as one decode: every item
 * is level 0 and the 4096-item bound covers them together. Returns 0 and, if count is not
 * NULL, the number of top-level items; -1 if anything is malformed. */
int cbor_check_sequence(const uint8_t *data, size_t len, size_t *count);

typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t pos;
    int overflow; /* set once anything did not fit; the output is then unusable */
} cbor_writer;

void cbor_put_head(cbor_writer *w, int major, uint64_t value);
void cbor_put_uint(cbor_writer *w, uint64_t value);
void cbor_put_int(cbor_writer *w, int64_t value);
void cbor_put_bytes(cbor_writer *w, const uint8_t *data, size_t len);
void cbor_put_text(cbor_writer *w, const char *text);
void cbor_put_bool(cbor_writer *w, int value);
void cbor_put_null(cbor_writer *w);

#endif
