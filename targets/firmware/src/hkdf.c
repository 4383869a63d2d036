#include "hkdf.h"

#include <string.h>

#include "secure_zero.h"

static size_t block_size(int64_t alg)
{
    return alg == HASH_SHA384 ? 128u : 64u;
}

size_t hash_length(int64_t alg)
{
    if (alg == HASH_SHA256) {
        return 32;
    }
    if (alg == HASH_SHA384) {
        return 48;
    }
    return 0;
}

int hash_init(hash_stream *h, int64_t alg)
{
    h->alg = alg;
    h->fill = 0;
    if (alg == HASH_SHA256) {
        sha256_inc_init(&h->s256);
    } else if (alg == HASH_SHA384) {
        sha384_inc_init(&h->s384);
    } else {
        return -1;
    }
    return 0;
}

static void blocks(hash_stream *h, const uint8_t *data, size_t count)
{
    if (h->alg == HASH_SHA256) {
        sha256_inc_blocks(&h->s256, data, count);
    } else {
        sha384_inc_blocks(&h->s384, data, count);
    }
}

void hash_update(hash_stream *h, const uint8_t *data, size_t len)
{
    size_t bs = block_size(h->alg);
    size_t take;

    if (len == 0) {
        return;
    }
    if (h->fill > 0) {
        take = bs - h->fill < len ? bs - h->fill : len;
        memcpy(h->buf + h->fill, data, take);
        h->fill += take;
        data += take;
        len -= take;
        if (h->fill < bs) {
            return;
        }
        blocks(h, h->buf, 1);
        h->fill = 0;
    }
    if (len >= bs) {
        blocks(h, data, len / bs);
        data += len - len % bs;
        len %= bs;
    }
    if (len > 0) {
        memcpy(h->buf, data, len);
        h->fill = len;
    }
}

void hash_final(hash_stream *h, uint8_t *out)
{
    if (h->alg == HASH_SHA256) {
        sha256_inc_finalize(out, &h->s256, h->buf, h->fill);
    } else {
        sha384_inc_finalize(out, &h->s384, h->buf, h->fill);
    }
    memset(h->buf, 0, sizeof(h->buf));
    h->fill = 0;
}

void hmac(int64_t alg, const uint8_t *key, size_t key_len, const span *parts, size_t count,
          uint8_t *out)
{
    uint8_t pad[HASH_MAX_BLOCK];
    uint8_t inner[HASH_MAX_LEN];
    size_t bs = block_size(alg), hl = hash_length(alg);
    hash_stream h;
    size_t i;

    memset(pad, 0, sizeof(pad));
    if (key_len > bs) {
        hash_init(&h, alg);
        hash_update(&h, key, key_len);
        hash_final(&h, pad);
    } else if (key_len > 0) {
        memcpy(pad, key, key_len);
    }
    for (i = 0; i < bs; i++) {
        pad[i] ^= 0x36;
    }
    hash_init(&h, alg);
    hash_update(&h, pad, bs);
    for (i = 0; i < count; i++) {
        if (parts[i].len > 0) {
            hash_update(&h, parts[i].data, parts[i].len);
        }
    }
    hash_final(&h, inner);
    for (i = 0; i < bs; i++) {
        pad[i] ^= 0x36 ^ 0x5c;
    }
    hash_init(&h, alg);
    hash_update(&h, pad, bs);
    hash_update(&h, inner, hl);
    hash_final(&h, out);
    /* the key-derived pads and the hash state keyed with them are as secret as the key */
    secure_zero(pad, sizeof(pad));
    secure_zero(inner, sizeof(inner));
    secure_zero(&h, sizeof(h));
}

void hkdf_extract(int64_t alg, const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                  size_t ikm_len, uint8_t *prk)
{
    uint8_t zeros[HASH_MAX_LEN];
    span part;

    part.data = ikm;
    part.len = ikm_len;
    if (salt_len == 0) {
        /* RFC 5869 §2.2: an absent salt is HashLen zero bytes (same HMAC key as empty). */
        memset(zeros, 0, sizeof(zeros));
        hmac(alg, zeros, hash_length(alg), &part, 1, prk);
    } else {
        hmac(alg, salt, salt_len, &part, 1, prk);
    }
}

#define HKDF_MAX_INFO_PARTS 8u

void hkdf_expand(int64_t alg, const uint8_t *prk, size_t prk_len, const span *info,
                 size_t info_count, uint8_t *out, size_t len)
{
    uint8_t t[HASH_MAX_LEN];
    uint8_t counter = 0;
    size_t hl = hash_length(alg);
    span parts[HKDF_MAX_INFO_PARTS + 2];
    size_t i, n, done = 0;

    if (info_count > HKDF_MAX_INFO_PARTS) {
        info_count = HKDF_MAX_INFO_PARTS;
    }
    while (done < len) {
        n = 0;
        parts[n].data = t;
        parts[n].len = counter == 0 ? 0 : hl;
        n++;
        for (i = 0; i < info_count; i++) {
            parts[n++] = info[i];
        }
        counter++;
        parts[n].data = &counter;
        parts[n].len = 1;
        n++;
        hmac(alg, prk, prk_len, parts, n, t);
        i = len - done < hl ? len - done : hl;
        memcpy(out + done, t, i);
        done += i;
    }
    secure_zero(t, sizeof(t));
}
