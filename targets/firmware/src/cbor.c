#include "cbor.h"

#include <string.h>

#define CBOR_MAX_DEPTH 8

int cbor_read_head(cbor_reader *r, int *major, uint64_t *value)
{
    uint8_t initial;
    uint8_t info;
    size_t extra;
    uint64_t v = 0;
    size_t i;

    if (r->pos >= r->len) {
        return -1;
    }
    initial = r->data[r->pos++];
    *major = initial >> 5;
    info = initial & 0x1F;
    if (info < 24) {
        *value = info;
    } else if (info <= 27) {
        extra = (size_t)1 << (info - 24);
        if (r->len - r->pos < extra) {
            return -1;
        }
        for (i = 0; i < extra; i++) {
            v = (v << 8) | r->data[r->pos++];
        }
        /* Deterministic encoding: the shortest head that holds the value. */
        if ((info == 24 && v < 24) || (info == 25 && v <= 0xFF) || (info == 26 && v <= 0xFFFF) ||
            (info == 27 && v <= 0xFFFFFFFFu)) {
            return -1;
        }
        *value = v;
    } else {
        return -1; /* reserved or indefinite length */
    }
    if (*major == 6) {
        return -1; /* tags are outside the subset */
    }
    if (*major == CBOR_SIMPLE && (info >= 24 || *value < CBOR_FALSE || *value > CBOR_NULL)) {
        return -1; /* only false, true, null */
    }
    if ((*major == CBOR_BSTR || *major == CBOR_TSTR) && *value > r->len - r->pos) {
        return -1;
    }
    return 0;
}

static int skip_item(cbor_reader *r, int depth)
{
    int major;
    uint64_t value;
    uint64_t i;

    if (depth > CBOR_MAX_DEPTH || cbor_read_head(r, &major, &value) != 0) {
        return -1;
    }
    switch (major) {
    case CBOR_BSTR:
    case CBOR_TSTR:
        r->pos += (size_t)value;
        return 0;
    case CBOR_ARRAY:
    case CBOR_MAP:
        /* Each item takes at least one byte: reject counts the input cannot hold. */
        if (value > r->len - r->pos) {
            return -1;
        }
        for (i = 0; i < (major == CBOR_MAP ? 2 * value : value); i++) {
            if (skip_item(r, depth + 1) != 0) {
                return -1;
            }
        }
        return 0;
    default:
        return 0;
    }
}

int cbor_skip(cbor_reader *r)
{
    return skip_item(r, 0);
}

static void put_raw(cbor_writer *w, const uint8_t *data, size_t len)
{
    if (w->overflow || w->cap - w->pos < len) {
        w->overflow = 1;
        return;
    }
    if (len > 0) {
        memcpy(w->buf + w->pos, data, len);
    }
    w->pos += len;
}

void cbor_put_head(cbor_writer *w, int major, uint64_t value)
{
    uint8_t head[9];
    size_t n;
    size_t i;
    uint8_t info;

    if (value < 24) {
        head[0] = (uint8_t)((major << 5) | (int)value);
        put_raw(w, head, 1);
        return;
    }
    if (value <= 0xFF) {
        n = 1;
        info = 24;
    } else if (value <= 0xFFFF) {
        n = 2;
        info = 25;
    } else if (value <= 0xFFFFFFFFu) {
        n = 4;
        info = 26;
    } else {
        n = 8;
        info = 27;
    }
    head[0] = (uint8_t)((major << 5) | info);
    for (i = 0; i < n; i++) {
        head[n - i] = (uint8_t)(value >> (8 * i));
    }
    put_raw(w, head, n + 1);
}

void cbor_put_uint(cbor_writer *w, uint64_t value)
{
    cbor_put_head(w, CBOR_UINT, value);
}

void cbor_put_int(cbor_writer *w, int64_t value)
{
    if (value >= 0) {
        cbor_put_head(w, CBOR_UINT, (uint64_t)value);
    } else {
        cbor_put_head(w, CBOR_NINT, (uint64_t)(-(value + 1)));
    }
}

void cbor_put_bytes(cbor_writer *w, const uint8_t *data, size_t len)
{
    cbor_put_head(w, CBOR_BSTR, len);
    put_raw(w, data, len);
}

void cbor_put_text(cbor_writer *w, const char *text)
{
    size_t len = strlen(text);
    cbor_put_head(w, CBOR_TSTR, len);
    put_raw(w, (const uint8_t *)text, len);
}

void cbor_put_bool(cbor_writer *w, int value)
{
    cbor_put_head(w, CBOR_SIMPLE, value ? CBOR_TRUE : CBOR_FALSE);
}

void cbor_put_null(cbor_writer *w)
{
    cbor_put_head(w, CBOR_SIMPLE, CBOR_NULL);
}
