#include "aead.h"

#include <string.h>

#include "aes.h"
#include "secure_zero.h"

static const aead_params PARAMS[] = {
    {3, 32, 12, 16},
    {10, 16, 13, 8},
    {24, 32, 12, 16},
    {30, 16, 13, 16},
};

const aead_params *aead_find(int64_t alg)
{
    size_t i;
    for (i = 0; i < sizeof(PARAMS) / sizeof(PARAMS[0]); i++) {
        if (PARAMS[i].alg == alg) {
            return &PARAMS[i];
        }
    }
    return NULL;
}

static int tags_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint8_t diff = 0;
    size_t i;
    for (i = 0; i < len; i++) {
        diff |= (uint8_t)(a[i] ^ b[i]);
    }
    return diff == 0;
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* --- GCM ---------------------------------------------------------------------------------- */

/* x = x * h in GF(2^128) with GCM's bit order; no secret-dependent branches or lookups. */
static void gf128_mul(uint8_t x[16], const uint8_t h[16])
{
    uint64_t vh = load_be64(h), vl = load_be64(h + 8);
    uint64_t zh = 0, zl = 0;
    int i;

    for (i = 0; i < 128; i++) {
        uint64_t bit = (uint64_t)((x[i >> 3] >> (7 - (i & 7))) & 1u);
        uint64_t mask = (uint64_t)0 - bit;
        uint64_t carry = (uint64_t)0 - (vl & 1u);
        zh ^= vh & mask;
        zl ^= vl & mask;
        vl = (vl >> 1) | (vh << 63);
        vh = (vh >> 1) ^ (0xE100000000000000ull & carry);
    }
    store_be64(x, zh);
    store_be64(x + 8, zl);
}

static void ghash_update(uint8_t y[16], const uint8_t h[16], const uint8_t *data, size_t len)
{
    size_t i;
    while (len > 0) {
        size_t n = len < 16 ? len : 16;
        for (i = 0; i < n; i++) {
            y[i] ^= data[i];
        }
        gf128_mul(y, h);
        data += n;
        len -= n;
    }
}

/* Encrypt or decrypt in place from counter block J0 + 1 (inc32), and return E(K, J0) in ek0. */
static void gcm_ctr(const aes256ctx *ctx, const uint8_t *nonce, uint8_t *data, size_t len,
                    uint8_t ek0[16])
{
    uint8_t counter[16], stream[16];
    uint32_t c = 1;
    size_t i;

    memcpy(counter, nonce, 12);
    counter[12] = 0;
    counter[13] = 0;
    counter[14] = 0;
    counter[15] = 1;
    aes256_ecb(ek0, counter, 1, ctx);
    while (len > 0) {
        size_t n = len < 16 ? len : 16;
        c++;
        counter[12] = (uint8_t)(c >> 24);
        counter[13] = (uint8_t)(c >> 16);
        counter[14] = (uint8_t)(c >> 8);
        counter[15] = (uint8_t)c;
        aes256_ecb(stream, counter, 1, ctx);
        for (i = 0; i < n; i++) {
            data[i] ^= stream[i];
        }
        data += n;
        len -= n;
    }
}

static void gcm_tag(const aes256ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                    size_t ct_len, const uint8_t ek0[16], uint8_t tag[16])
{
    static const uint8_t zero[16];
    uint8_t h[16], y[16] = {0}, lengths[16];
    size_t i;

    aes256_ecb(h, zero, 1, ctx);
    ghash_update(y, h, aad, aad_len);
    ghash_update(y, h, ct, ct_len);
    store_be64(lengths, (uint64_t)aad_len * 8u);
    store_be64(lengths + 8, (uint64_t)ct_len * 8u);
    ghash_update(y, h, lengths, 16);
    for (i = 0; i < 16; i++) {
        tag[i] = y[i] ^ ek0[i];
    }
}

/* --- CCM ---------------------------------------------------------------------------------- */

#define CCM_L 2u /* 15 - 13-byte nonce */

static void ccm_block(uint8_t block[16], uint8_t flags, const uint8_t *nonce, size_t value)
{
    block[0] = flags;
    memcpy(block + 1, nonce, 13);
    block[14] = (uint8_t)(value >> 8);
    block[15] = (uint8_t)value;
}

static void cbc_mac_absorb(const aes128ctx *ctx, uint8_t x[16], const uint8_t *data, size_t len)
{
    size_t i;
    while (len > 0) {
        size_t n = len < 16 ? len : 16;
        for (i = 0; i < n; i++) {
            x[i] ^= data[i];
        }
        aes128_ecb(x, x, 1, ctx);
        data += n;
        len -= n;
    }
}

/* CBC-MAC of B0, the length-prefixed AAD and the plaintext (RFC 3610 §2.2). */
static void ccm_mac(const aes128ctx *ctx, size_t tag_len, const uint8_t *nonce,
                    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                    uint8_t x[16])
{
    uint8_t flags = (uint8_t)((aad_len > 0 ? 0x40 : 0) | (((tag_len - 2) / 2) << 3) | (CCM_L - 1));
    uint8_t first[16];
    size_t head;

    ccm_block(x, flags, nonce, pt_len);
    aes128_ecb(x, x, 1, ctx);
    if (aad_len > 0) {
        /* 0 < l(a) < 2^16 - 2^8: two length bytes (REQ-TAP-007 keeps aad at most 4096). */
        memset(first, 0, sizeof(first));
        first[0] = (uint8_t)(aad_len >> 8);
        first[1] = (uint8_t)aad_len;
        head = aad_len < 14 ? aad_len : 14;
        memcpy(first + 2, aad, head);
        cbc_mac_absorb(ctx, x, first, 16);
        cbc_mac_absorb(ctx, x, aad + head, aad_len - head);
    }
    cbc_mac_absorb(ctx, x, pt, pt_len);
}

static void ccm_ctr(const aes128ctx *ctx, const uint8_t *nonce, uint8_t *data, size_t len,
                    uint8_t s0[16])
{
    uint8_t a[16], stream[16];
    size_t counter = 1;
    size_t i;

    ccm_block(a, CCM_L - 1, nonce, 0);
    aes128_ecb(s0, a, 1, ctx);
    while (len > 0) {
        size_t n = len < 16 ? len : 16;
        ccm_block(a, CCM_L - 1, nonce, counter++);
        aes128_ecb(stream, a, 1, ctx);
        for (i = 0; i < n; i++) {
            data[i] ^= stream[i];
        }
        data += n;
        len -= n;
    }
}

/* --- ChaCha20-Poly1305 (RFC 8439) ------------------------------------------------------------ */

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

#define ROTL32(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QUARTER(a, b, c, d)                                                                       \
    a += b; d ^= a; d = ROTL32(d, 16);                                                            \
    c += d; b ^= c; b = ROTL32(b, 12);                                                            \
    a += b; d ^= a; d = ROTL32(d, 8);                                                             \
    c += d; b ^= c; b = ROTL32(b, 7)

/* One 64-byte keystream block for (key, counter, nonce), RFC 8439 §2.3. */
static void chacha20_block(const uint8_t key[32], uint32_t counter, const uint8_t nonce[12],
                           uint8_t out[64])
{
    uint32_t in[16], x[16];
    int i;

    in[0] = 0x61707865u;
    in[1] = 0x3320646eu;
    in[2] = 0x79622d32u;
    in[3] = 0x6b206574u;
    for (i = 0; i < 8; i++) {
        in[4 + i] = load_le32(key + 4 * i);
    }
    in[12] = counter;
    for (i = 0; i < 3; i++) {
        in[13 + i] = load_le32(nonce + 4 * i);
    }
    memcpy(x, in, sizeof(x));
    for (i = 0; i < 10; i++) {
        QUARTER(x[0], x[4], x[8], x[12]);
        QUARTER(x[1], x[5], x[9], x[13]);
        QUARTER(x[2], x[6], x[10], x[14]);
        QUARTER(x[3], x[7], x[11], x[15]);
        QUARTER(x[0], x[5], x[10], x[15]);
        QUARTER(x[1], x[6], x[11], x[12]);
        QUARTER(x[2], x[7], x[8], x[13]);
        QUARTER(x[3], x[4], x[9], x[14]);
    }
    for (i = 0; i < 16; i++) {
        store_le32(out + 4 * i, x[i] + in[i]);
    }
    secure_zero(in, sizeof(in)); /* the key's words */
    secure_zero(x, sizeof(x));
}

static void chacha20_xor(const uint8_t key[32], const uint8_t nonce[12], uint8_t *data, size_t len)
{
    uint8_t stream[64];
    uint32_t counter = 1;
    size_t i;

    while (len > 0) {
        size_t n = len < 64 ? len : 64;
        chacha20_block(key, counter++, nonce, stream);
        for (i = 0; i < n; i++) {
            data[i] ^= stream[i];
        }
        data += n;
        len -= n;
    }
}

/* Poly1305 with five 26-bit limbs (RFC 8439 §2.5). */
typedef struct {
    uint32_t r[5], h[5], pad[4];
} poly1305;

static void poly1305_init(poly1305 *st, const uint8_t key[32])
{
    st->r[0] = load_le32(key + 0) & 0x3ffffffu;
    st->r[1] = (load_le32(key + 3) >> 2) & 0x3ffff03u;
    st->r[2] = (load_le32(key + 6) >> 4) & 0x3ffc0ffu;
    st->r[3] = (load_le32(key + 9) >> 6) & 0x3f03fffu;
    st->r[4] = (load_le32(key + 12) >> 8) & 0x00fffffu;
    memset(st->h, 0, sizeof(st->h));
    st->pad[0] = load_le32(key + 16);
    st->pad[1] = load_le32(key + 20);
    st->pad[2] = load_le32(key + 24);
    st->pad[3] = load_le32(key + 28);
}

/* Absorb `len` bytes as 16-byte blocks, the last one zero-padded: exactly the pad16() of the
 * AEAD construction, so every block carries the 2^128 bit. */
static void poly1305_blocks(poly1305 *st, const uint8_t *data, size_t len)
{
    const uint32_t mask = 0x3ffffffu;
    uint32_t r0 = st->r[0], r1 = st->r[1], r2 = st->r[2], r3 = st->r[3], r4 = st->r[4];
    uint32_t s1 = r1 * 5, s2 = r2 * 5, s3 = r3 * 5, s4 = r4 * 5;
    uint32_t h0 = st->h[0], h1 = st->h[1], h2 = st->h[2], h3 = st->h[3], h4 = st->h[4];
    uint8_t block[16];

    while (len > 0) {
        size_t n = len < 16 ? len : 16;
        uint64_t d0, d1, d2, d3, d4;
        uint32_t c;

        memset(block, 0, sizeof(block));
        memcpy(block, data, n);
        h0 += load_le32(block + 0) & mask;
        h1 += (load_le32(block + 3) >> 2) & mask;
        h2 += (load_le32(block + 6) >> 4) & mask;
        h3 += (load_le32(block + 9) >> 6) & mask;
        h4 += (load_le32(block + 12) >> 8) | (1u << 24);

        d0 = (uint64_t)h0 * r0 + (uint64_t)h1 * s4 + (uint64_t)h2 * s3 + (uint64_t)h3 * s2 +
             (uint64_t)h4 * s1;
        d1 = (uint64_t)h0 * r1 + (uint64_t)h1 * r0 + (uint64_t)h2 * s4 + (uint64_t)h3 * s3 +
             (uint64_t)h4 * s2;
        d2 = (uint64_t)h0 * r2 + (uint64_t)h1 * r1 + (uint64_t)h2 * r0 + (uint64_t)h3 * s4 +
             (uint64_t)h4 * s3;
        d3 = (uint64_t)h0 * r3 + (uint64_t)h1 * r2 + (uint64_t)h2 * r1 + (uint64_t)h3 * r0 +
             (uint64_t)h4 * s4;
        d4 = (uint64_t)h0 * r4 + (uint64_t)h1 * r3 + (uint64_t)h2 * r2 + (uint64_t)h3 * r1 +
             (uint64_t)h4 * r0;

        c = (uint32_t)(d0 >> 26); h0 = (uint32_t)d0 & mask;
        d1 += c; c = (uint32_t)(d1 >> 26); h1 = (uint32_t)d1 & mask;
        d2 += c; c = (uint32_t)(d2 >> 26); h2 = (uint32_t)d2 & mask;
        d3 += c; c = (uint32_t)(d3 >> 26); h3 = (uint32_t)d3 & mask;
        d4 += c; c = (uint32_t)(d4 >> 26); h4 = (uint32_t)d4 & mask;
        h0 += c * 5; c = h0 >> 26; h0 &= mask;
        h1 += c;

        data += n;
        len -= n;
    }
    st->h[0] = h0;
    st->h[1] = h1;
    st->h[2] = h2;
    st->h[3] = h3;
    st->h[4] = h4;
}

static void poly1305_finish(poly1305 *st, uint8_t tag[16])
{
    const uint32_t mask = 0x3ffffffu;
    uint32_t h0 = st->h[0], h1 = st->h[1], h2 = st->h[2], h3 = st->h[3], h4 = st->h[4];
    uint32_t g0, g1, g2, g3, g4, c, select;
    uint64_t f;

    c = h1 >> 26; h1 &= mask;
    h2 += c; c = h2 >> 26; h2 &= mask;
    h3 += c; c = h3 >> 26; h3 &= mask;
    h4 += c; c = h4 >> 26; h4 &= mask;
    h0 += c * 5; c = h0 >> 26; h0 &= mask;
    h1 += c;

    /* g = h + 5 - 2^130; keep g if it did not go negative (h >= p), else h */
    g0 = h0 + 5; c = g0 >> 26; g0 &= mask;
    g1 = h1 + c; c = g1 >> 26; g1 &= mask;
    g2 = h2 + c; c = g2 >> 26; g2 &= mask;
    g3 = h3 + c; c = g3 >> 26; g3 &= mask;
    g4 = h4 + c - (1u << 26);
    select = (g4 >> 31) - 1u; /* all ones when g4 >= 0 */
    h0 = (h0 & ~select) | (g0 & select);
    h1 = (h1 & ~select) | (g1 & select);
    h2 = (h2 & ~select) | (g2 & select);
    h3 = (h3 & ~select) | (g3 & select);
    h4 = (h4 & ~select) | (g4 & select);

    /* h mod 2^128, plus the pad */
    h0 = h0 | (h1 << 26);
    h1 = (h1 >> 6) | (h2 << 20);
    h2 = (h2 >> 12) | (h3 << 14);
    h3 = (h3 >> 18) | (h4 << 8);
    f = (uint64_t)h0 + st->pad[0]; store_le32(tag + 0, (uint32_t)f);
    f = (uint64_t)h1 + st->pad[1] + (f >> 32); store_le32(tag + 4, (uint32_t)f);
    f = (uint64_t)h2 + st->pad[2] + (f >> 32); store_le32(tag + 8, (uint32_t)f);
    f = (uint64_t)h3 + st->pad[3] + (f >> 32); store_le32(tag + 12, (uint32_t)f);
}

static void chachapoly_tag(const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                           size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t tag[16])
{
    uint8_t otk[64], lengths[16];
    poly1305 st;

    chacha20_block(key, 0, nonce, otk);
    poly1305_init(&st, otk);
    poly1305_blocks(&st, aad, aad_len);
    poly1305_blocks(&st, ct, ct_len);
    store_le32(lengths + 0, (uint32_t)aad_len);
    store_le32(lengths + 4, 0);
    store_le32(lengths + 8, (uint32_t)ct_len);
    store_le32(lengths + 12, 0);
    poly1305_blocks(&st, lengths, 16);
    poly1305_finish(&st, tag);
    memset(otk, 0, sizeof(otk));
}

/* --- entry points ------------------------------------------------------------------------- */

void aead_seal(const aead_params *p, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
               size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
    uint8_t block[16], mac[16];
    size_t i;

    if (pt_len > 0) {
        memmove(out, pt, pt_len);
    }
    if (p->alg == 24) {
        chacha20_xor(key, nonce, out, pt_len);
        chachapoly_tag(key, nonce, aad, aad_len, out, pt_len, out + pt_len);
    } else if (p->alg == 3) {
        aes256ctx ctx;
        aes256_ecb_keyexp(&ctx, key);
        gcm_ctr(&ctx, nonce, out, pt_len, block);
        gcm_tag(&ctx, aad, aad_len, out, pt_len, block, out + pt_len);
        aes256_ctx_release(&ctx);
    } else {
        aes128ctx ctx;
        aes128_ecb_keyexp(&ctx, key);
        ccm_mac(&ctx, p->tag_len, nonce, aad, aad_len, out, pt_len, mac);
        ccm_ctr(&ctx, nonce, out, pt_len, block);
        for (i = 0; i < p->tag_len; i++) {
            out[pt_len + i] = mac[i] ^ block[i];
        }
        aes128_ctx_release(&ctx);
    }
}

/* `out` must not overlap `ct`: the tag is computed over the ciphertext after decryption. */
int aead_open(const aead_params *p, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
              size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out)
{
    uint8_t block[16], expected[16];
    size_t len, i;
    int ok;

    if (ct_len < p->tag_len) {
        return 0;
    }
    len = ct_len - p->tag_len;
    if (len > 0) {
        memmove(out, ct, len);
    }
    if (p->alg == 24) {
        chachapoly_tag(key, nonce, aad, aad_len, ct, len, expected);
        chacha20_xor(key, nonce, out, len);
    } else if (p->alg == 3) {
        aes256ctx ctx;
        aes256_ecb_keyexp(&ctx, key);
        gcm_ctr(&ctx, nonce, out, len, block); /* decrypts and yields E(K, J0) */
        gcm_tag(&ctx, aad, aad_len, ct, len, block, expected);
        aes256_ctx_release(&ctx);
    } else {
        aes128ctx ctx;
        aes128_ecb_keyexp(&ctx, key);
        ccm_ctr(&ctx, nonce, out, len, block);
        ccm_mac(&ctx, p->tag_len, nonce, aad, aad_len, out, len, expected);
        for (i = 0; i < p->tag_len; i++) {
            expected[i] ^= block[i];
        }
        aes128_ctx_release(&ctx);
    }
    ok = tags_equal(expected, ct + len, p->tag_len);
    if (!ok && len > 0) {
        memset(out, 0, len);
    }
    return ok;
}
