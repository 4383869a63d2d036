#include "drbg.h"

#include <string.h>

#include "hkdf.h"
#include "secure_zero.h"

/* HMAC_DRBG_Update (§10.1.2.2) with provided_data = the concatenation of `parts`. */
static void update(drbg_state *d, const span *parts, size_t count)
{
    static const uint8_t zero = 0x00, one = 0x01;
    span in[5];
    size_t i, provided = 0;

    for (i = 0; i < count; i++) {
        provided += parts[i].len;
    }
    in[0].data = d->v;
    in[0].len = DRBG_OUTLEN;
    in[1].data = &zero;
    in[1].len = 1;
    for (i = 0; i < count; i++) {
        in[2 + i] = parts[i];
    }
    /* K = HMAC(K, V || 0x00 || provided_data); V = HMAC(K, V) */
    hmac(HASH_SHA256, d->k, DRBG_OUTLEN, in, 2 + count, d->k);
    hmac(HASH_SHA256, d->k, DRBG_OUTLEN, in, 1, d->v);
    if (provided == 0) {
        return;
    }
    /* K = HMAC(K, V || 0x01 || provided_data); V = HMAC(K, V) */
    in[1].data = &one;
    hmac(HASH_SHA256, d->k, DRBG_OUTLEN, in, 2 + count, d->k);
    hmac(HASH_SHA256, d->k, DRBG_OUTLEN, in, 1, d->v);
}

void drbg_instantiate(drbg_state *d, const uint8_t *entropy, size_t entropy_len,
                      const uint8_t *nonce, size_t nonce_len, const uint8_t *pers,
                      size_t pers_len)
{
    span seed[3];

    seed[0].data = entropy;
    seed[0].len = entropy_len;
    seed[1].data = nonce;
    seed[1].len = nonce_len;
    seed[2].data = pers;
    seed[2].len = pers_len;
    memset(d->k, 0x00, DRBG_OUTLEN);
    memset(d->v, 0x01, DRBG_OUTLEN);
    update(d, seed, 3);
    d->reseed_counter = 1;
    d->instantiated = 1;
}

void drbg_reseed(drbg_state *d, const uint8_t *entropy, size_t entropy_len,
                 const uint8_t *additional, size_t additional_len)
{
    span seed[2];

    seed[0].data = entropy;
    seed[0].len = entropy_len;
    seed[1].data = additional;
    seed[1].len = additional_len;
    update(d, seed, 2);
    d->reseed_counter = 1;
}

int drbg_generate(drbg_state *d, uint8_t *out, size_t len, const uint8_t *additional,
                  size_t additional_len)
{
    span add;
    size_t n;

    if (!d->instantiated || len > DRBG_MAX_REQUEST) {
        memset(out, 0, len);
        return -1;
    }
    if (d->reseed_counter > DRBG_RESEED_INTERVAL) {
        return 1;
    }
    add.data = additional;
    add.len = additional_len;
    if (additional_len > 0) {
        update(d, &add, 1);
    }
    /* temp = V_1 || V_2 || ... with V_i = HMAC(K, V_{i-1}); the leftmost len bytes */
    while (len > 0) {
        span v;
        v.data = d->v;
        v.len = DRBG_OUTLEN;
        hmac(HASH_SHA256, d->k, DRBG_OUTLEN, &v, 1, d->v);
        n = len < DRBG_OUTLEN ? len : DRBG_OUTLEN;
        memcpy(out, d->v, n);
        out += n;
        len -= n;
    }
    update(d, &add, 1);
    d->reseed_counter++;
    return 0;
}

void drbg_wipe(drbg_state *d)
{
    secure_zero(d, sizeof(*d));
}
