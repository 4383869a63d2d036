#include "cbor.h"

#include <string.h>

/* REQ-ENC-008: the outermost item is level 0; nothing deeper than level 16, and at most
 * 4096 data items (every head counts, map keys too) in one decode. */
#define CBOR_MAX_LEVEL 16
#define CBOR_MAX_ITEMS 4096u

/* REQ-ENC-006: well-formed UTF-8 (RFC 3629): shortest forms only, no surrogates, at most
 * U+10FFFF. */
static int valid_utf8(const uint8_t *p, size_t len)
{
    size_t i = 0, extra, k;
    uint32_t cp, min;

    while (i < len) {
        uint8_t b = p[i++];
        if (b < 0x80) {
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) {
            extra = 1;
            cp = b & 0x1Fu;
            min = 0x80;
        } else if (b >= 0xE0 && b <= 0xEF) {
            extra = 2;
            cp = b & 0x0Fu;
            min = 0x800;
        } else if (b >= 0xF0 && b <= 0xF4) {
            extra = 3;
            cp = b & 0x07u;
            min = 0x10000;
        } else {
            return 0; /* continuation byte, C0/C1 (overlong) or F5..FF */
        }
        if (len - i < extra) {
            return 0;
        }
        for (k = 0; k < extra; k++) {
            if ((p[i] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (p[i++] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFFu || (cp >= 0xD800u && cp <= 0xDFFFu)) {
            return 0;
        }
    }
    return 1;
}

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
    if (*major == CBOR_TSTR && !valid_utf8(r->data + r->pos, (size_t)*value)) {
        return -1;
    }
    return 0;
}

/* Bytewise lexicographic order of two encoded keys (RFC 8949 §4.2.1): <0, 0 or >0. */
static int key_order(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = memcmp(a, b, n);
    if (c != 0) {
        return c;
    }
    return a_len < b_len ? -1 : (a_len > b_len ? 1 : 0);
}

static int skip_item(cbor_reader *r, int level, size_t *items)
{
    int major;
    uint64_t value;
    uint64_t i;
    size_t key_start, prev_start = 0, prev_len = 0;

    if (level > CBOR_MAX_LEVEL || ++*items > CBOR_MAX_ITEMS ||
        cbor_read_head(r, &major, &value) != 0) {
        return -1;
    }
    switch (major) {
    case CBOR_BSTR:
    case CBOR_TSTR:
        r->pos += (size_t)value;
        return 0;
    case CBOR_ARRAY:
        /* Each item takes at least one byte: reject counts the input cannot hold. */
        if (value > r->len - r->pos) {
            return -1;
        }
        for (i = 0; i < value; i++) {
            if (skip_item(r, level + 1, items) != 0) {
                return -1;
            }
        }
        return 0;
    case CBOR_MAP:
        if (value > r->len - r->pos) {
            return -1;
        }
        for (i = 0; i < value; i++) {
            /* REQ-ENC-005: int or text keys, strictly increasing (so no repeats). */
            key_start = r->pos;
            if (r->pos >= r->len || (r->data[r->pos] >> 5) > CBOR_TSTR ||
                (r->data[r->pos] >> 5) == CBOR_BSTR || skip_item(r, level + 1, items) != 0) {
                return -1;
            }
            if (i > 0 && key_order(r->data + prev_start, prev_len, r->data + key_start,
                                   r->pos - key_start) >= 0) {
                return -1;
            }
            prev_start = key_start;
            prev_len = r->pos - key_start;
            if (skip_item(r, level + 1, items) != 0) {
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
    size_t items = 0;
    return skip_item(r, 0, &items);
}

int cbor_check_sequence(const uint8_t *data, size_t len, size_t *count)
{
    cbor_reader r;
    size_t items = 0, n = 0;

    r.data = data;
    r.len = len;
    r.pos = 0;
    while (r.pos < r.len) {
        if (skip_item(&r, 0, &items) != 0) {
            return -1;
        }
        n++;
    }
    if (count != NULL) {
        *count = n;
    }
    return 0;
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

int cbor_read_bstr(cbor_reader *r, const uint8_t **data, size_t *len)
{
    int major;
    uint64_t v;
    if (cbor_read_head(r, &major, &v) != 0 || major != CBOR_BSTR) {
        return -1;
    }
    *data = r->data + r->pos;
    *len = (size_t)v;
    r->pos += (size_t)v;
    return 0;
}
