#include "prims.h"

#include <string.h>

#include "common/fips202.h"
#include "common/sha2.h"
#include "crypto_kem/ml-kem-1024/clean/api.h"
#include "crypto_kem/ml-kem-512/clean/api.h"
#include "crypto_kem/ml-kem-768/clean/api.h"
#include "crypto_sign/ml-dsa-44/clean/api.h"
#include "crypto_sign/ml-dsa-65/clean/api.h"
#include "crypto_sign/falcon-padded-1024/clean/api.h"
#include "crypto_sign/falcon-padded-512/clean/api.h"
#include "fixed_rng.h"

/* The derandomised ML-KEM entry points live in each scheme's kem.h, which cannot be included
 * side by side (every scheme has its own params.h macros); their prototypes are repeated here. */
#define MLKEM_DERAND(NS)                                                                          \
    int PQCLEAN_##NS##_CLEAN_crypto_kem_keypair_derand(uint8_t *pk, uint8_t *sk,                 \
                                                       const uint8_t *coins);                     \
    int PQCLEAN_##NS##_CLEAN_crypto_kem_enc_derand(uint8_t *ct, uint8_t *ss, const uint8_t *pk,  \
                                                   const uint8_t *coins);
MLKEM_DERAND(MLKEM512)
MLKEM_DERAND(MLKEM768)
MLKEM_DERAND(MLKEM1024)

#define MLKEM_Q 3329u
#define MLKEM_MAX_EK 1568u
#define MLKEM_MAX_DK 3168u
#define MLKEM_MAX_CT 1568u
#define MLDSA_MAX_PK 1952u
#define MLDSA_MAX_SK 4032u
#define MLDSA_MAX_SIG 3309u

typedef struct {
    unsigned set;
    unsigned k;
    mlkem_sizes sizes;
    int (*keypair)(uint8_t *, uint8_t *, const uint8_t *);
    int (*enc)(uint8_t *, uint8_t *, const uint8_t *, const uint8_t *);
    int (*dec)(uint8_t *, const uint8_t *, const uint8_t *);
} mlkem_impl;

static const mlkem_impl MLKEM[] = {
    {512, 2, {800, 1632, 768}, PQCLEAN_MLKEM512_CLEAN_crypto_kem_keypair_derand,
     PQCLEAN_MLKEM512_CLEAN_crypto_kem_enc_derand, PQCLEAN_MLKEM512_CLEAN_crypto_kem_dec},
    {768, 3, {1184, 2400, 1088}, PQCLEAN_MLKEM768_CLEAN_crypto_kem_keypair_derand,
     PQCLEAN_MLKEM768_CLEAN_crypto_kem_enc_derand, PQCLEAN_MLKEM768_CLEAN_crypto_kem_dec},
    {1024, 4, {1568, 3168, 1568}, PQCLEAN_MLKEM1024_CLEAN_crypto_kem_keypair_derand,
     PQCLEAN_MLKEM1024_CLEAN_crypto_kem_enc_derand, PQCLEAN_MLKEM1024_CLEAN_crypto_kem_dec},
};

static const mlkem_impl *mlkem_find(unsigned set)
{
    size_t i;
    for (i = 0; i < sizeof(MLKEM) / sizeof(MLKEM[0]); i++) {
        if (MLKEM[i].set == set) {
            return &MLKEM[i];
        }
    }
    return NULL;
}

int prim_mlkem_sizes(unsigned set, mlkem_sizes *sizes)
{
    const mlkem_impl *impl = mlkem_find(set);
    if (impl == NULL) {
        return PRIM_UNSUPPORTED;
    }
    *sizes = impl->sizes;
    return 0;
}

int prim_mlkem_keygen(unsigned set, const uint8_t d[32], const uint8_t z[32], uint8_t *ek,
                      uint8_t *dk)
{
    const mlkem_impl *impl = mlkem_find(set);
    uint8_t coins[64];

    if (impl == NULL) {
        return PRIM_UNSUPPORTED;
    }
    memcpy(coins, d, 32);
    memcpy(coins + 32, z, 32);
    impl->keypair(ek, dk, coins);
    return 0;
}

/* FIPS 203 §7.2 modulus check: every 12-bit coefficient of the encoded t-hat is below q. */
static int coefficients_reduced(const uint8_t *encoded, size_t len)
{
    size_t i;
    for (i = 0; i + 3 <= len; i += 3) {
        unsigned a = encoded[i] | ((unsigned)(encoded[i + 1] & 0x0F) << 8);
        unsigned b = (encoded[i + 1] >> 4) | ((unsigned)encoded[i + 2] << 4);
        if (a >= MLKEM_Q || b >= MLKEM_Q) {
            return 0;
        }
    }
    return 1;
}

int prim_mlkem_encaps(unsigned set, const uint8_t *ek, const uint8_t m[32], uint8_t *c,
                      uint8_t k[32])
{
    const mlkem_impl *impl = mlkem_find(set);

    if (impl == NULL) {
        return PRIM_UNSUPPORTED;
    }
    if (!coefficients_reduced(ek, 384u * impl->k)) {
        return PRIM_INVALID_INPUT;
    }
    impl->enc(c, k, ek, m);
    return 0;
}

int prim_mlkem_decaps(unsigned set, const uint8_t *dk, const uint8_t *c, uint8_t k[32])
{
    const mlkem_impl *impl = mlkem_find(set);
    uint8_t h[32];

    if (impl == NULL) {
        return PRIM_UNSUPPORTED;
    }
    /* FIPS 203 §7.3 hash check: dk = dk_pke || ek || H(ek) || z. */
    sha3_256(h, dk + 384u * impl->k, 384u * impl->k + 32u);
    if (memcmp(h, dk + 768u * impl->k + 32u, 32) != 0) {
        return PRIM_INVALID_INPUT;
    }
    impl->dec(k, c, dk);
    return 0;
}

typedef struct {
    int64_t alg;
    mldsa_sizes sizes;
    int (*keypair)(uint8_t *, uint8_t *);
    int (*sign)(uint8_t *, size_t *, const uint8_t *, size_t, const uint8_t *, size_t,
                const uint8_t *);
    int (*verify)(const uint8_t *, size_t, const uint8_t *, size_t, const uint8_t *, size_t,
                  const uint8_t *);
} mldsa_impl;

static const mldsa_impl MLDSA[] = {
    {-48, {1312, 2560, 2420}, PQCLEAN_MLDSA44_CLEAN_crypto_sign_keypair,
     PQCLEAN_MLDSA44_CLEAN_crypto_sign_signature_ctx, PQCLEAN_MLDSA44_CLEAN_crypto_sign_verify_ctx},
    {-49, {1952, 4032, 3309}, PQCLEAN_MLDSA65_CLEAN_crypto_sign_keypair,
     PQCLEAN_MLDSA65_CLEAN_crypto_sign_signature_ctx, PQCLEAN_MLDSA65_CLEAN_crypto_sign_verify_ctx},
};

static const mldsa_impl *mldsa_find(int64_t alg)
{
    size_t i;
    for (i = 0; i < sizeof(MLDSA) / sizeof(MLDSA[0]); i++) {
        if (MLDSA[i].alg == alg) {
            return &MLDSA[i];
        }
    }
    return NULL;
}

int prim_mldsa_sizes(int64_t alg, mldsa_sizes *sizes)
{
    const mldsa_impl *impl = mldsa_find(alg);
    if (impl == NULL) {
        return PRIM_UNSUPPORTED;
    }
    *sizes = impl->sizes;
    return 0;
}

int prim_mldsa_keygen(int64_t alg, const uint8_t xi[32], uint8_t *pk, uint8_t *sk)
{
    const mldsa_impl *impl = mldsa_find(alg);

    if (impl == NULL) {
        return PRIM_UNSUPPORTED;
    }
    /* PQClean draws ξ with one randombytes(32) call: KeyGen_internal(ξ). */
    fixed_rng_set(xi, 32);
    impl->keypair(pk, sk);
    return fixed_rng_underflow() ? PRIM_INTERNAL : 0;
}

int prim_mldsa_sign(int64_t alg, const uint8_t *sk, const uint8_t *msg, size_t msg_len,
                    const uint8_t *ctx, size_t ctx_len, const uint8_t rnd[32], uint8_t *sig,
                    size_t *sig_len)
{
    const mldsa_impl *impl = mldsa_find(alg);

    if (impl == NULL) {
        return PRIM_UNSUPPORTED;
    }
    if (ctx_len > 255) {
        return PRIM_INVALID_INPUT;
    }
    /* ... and rnd with one randombytes(32) call per signature. */
    fixed_rng_set(rnd, 32);
    if (impl->sign(sig, sig_len, msg, msg_len, ctx, ctx_len, sk) != 0) {
        return PRIM_INVALID_INPUT;
    }
    return fixed_rng_underflow() ? PRIM_INTERNAL : 0;
}

int prim_mldsa_verify(int64_t alg, const uint8_t *pk, const uint8_t *msg, size_t msg_len,
                      const uint8_t *ctx, size_t ctx_len, const uint8_t *sig, size_t sig_len,
                      int *valid)
{
    const mldsa_impl *impl = mldsa_find(alg);

    if (impl == NULL) {
        return PRIM_UNSUPPORTED;
    }
    *valid = ctx_len <= 255 && impl->verify(sig, sig_len, msg, msg_len, ctx, ctx_len, pk) == 0;
    return 0;
}

static int name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(name, want, len) == 0;
}

int prim_hash_is_xof(const char *name, size_t name_len)
{
    return name_is(name, name_len, "shake128") || name_is(name, name_len, "shake256");
}

int prim_hash(const char *name, size_t name_len, const uint8_t *data, size_t len, size_t xof_len,
              uint8_t *out, size_t *out_len)
{
    if (name_is(name, name_len, "sha256")) {
        sha256(out, data, len);
        *out_len = 32;
    } else if (name_is(name, name_len, "sha384")) {
        sha384(out, data, len);
        *out_len = 48;
    } else if (name_is(name, name_len, "sha512")) {
        sha512(out, data, len);
        *out_len = 64;
    } else if (name_is(name, name_len, "sha3-256")) {
        sha3_256(out, data, len);
        *out_len = 32;
    } else if (name_is(name, name_len, "sha3-512")) {
        sha3_512(out, data, len);
        *out_len = 64;
    } else if (name_is(name, name_len, "shake128")) {
        shake128(out, xof_len, data, len);
        *out_len = xof_len;
    } else if (name_is(name, name_len, "shake256")) {
        shake256(out, xof_len, data, len);
        *out_len = xof_len;
    } else {
        return PRIM_UNSUPPORTED;
    }
    return 0;
}

/* Working memory of ACCUMULATED: one KEM or one signature iteration at a time. */
static union {
    struct {
        uint8_t ek[MLKEM_MAX_EK], dk[MLKEM_MAX_DK], c[MLKEM_MAX_CT], c1[MLKEM_MAX_CT];
    } kem;
    struct {
        uint8_t pk[MLDSA_MAX_PK], sk[MLDSA_MAX_SK], sig[MLDSA_MAX_SIG];
    } sig;
} acc;

static int accumulate_mlkem(const mlkem_impl *impl, uint32_t n, shake128incctx *s,
                            shake128incctx *o, uint32_t *failed_at)
{
    uint8_t seed[64], m[32], k[32], k2[32];
    uint32_t i;

    for (i = 0; i < n; i++) {
        shake128_inc_squeeze(seed, 64, s);
        impl->keypair(acc.kem.ek, acc.kem.dk, seed);
        shake128_inc_absorb(o, acc.kem.ek, impl->sizes.ek);
        shake128_inc_squeeze(m, 32, s);
        impl->enc(acc.kem.c, k, acc.kem.ek, m);
        shake128_inc_absorb(o, acc.kem.c, impl->sizes.ct);
        shake128_inc_absorb(o, k, 32);
        impl->dec(k2, acc.kem.c, acc.kem.dk);
        if (memcmp(k, k2, 32) != 0) {
            *failed_at = i;
            return PRIM_INTERNAL;
        }
        shake128_inc_squeeze(acc.kem.c1, impl->sizes.ct, s);
        impl->dec(k2, acc.kem.c1, acc.kem.dk);
        shake128_inc_absorb(o, k2, 32);
    }
    return 0;
}

static int accumulate_mldsa(const mldsa_impl *impl, uint32_t n, shake128incctx *s,
                            shake128incctx *o, uint32_t *failed_at)
{
    static const uint8_t zero_rnd[32];
    uint8_t xi[32], msg[32];
    size_t sig_len;
    uint32_t i;

    for (i = 0; i < n; i++) {
        shake128_inc_squeeze(xi, 32, s);
        fixed_rng_set(xi, 32);
        impl->keypair(acc.sig.pk, acc.sig.sk);
        shake128_inc_absorb(o, acc.sig.pk, impl->sizes.pk);
        shake128_inc_squeeze(msg, 32, s);
        fixed_rng_set(zero_rnd, 32);
        impl->sign(acc.sig.sig, &sig_len, msg, 32, NULL, 0, acc.sig.sk);
        if (fixed_rng_underflow()) {
            *failed_at = i;
            return PRIM_INTERNAL;
        }
        shake128_inc_absorb(o, acc.sig.sig, sig_len);
        if (impl->verify(acc.sig.sig, sig_len, msg, 32, NULL, 0, acc.sig.pk) != 0) {
            *failed_at = i;
            return PRIM_INTERNAL;
        }
    }
    return 0;
}

int prim_accumulated(const char *prim, size_t prim_len, uint32_t n, uint8_t digest[32],
                     uint32_t *failed_at)
{
    shake128incctx s, o;
    const mlkem_impl *kem = NULL;
    const mldsa_impl *sig = NULL;
    int rc;

    if (name_is(prim, prim_len, "ml-kem-512")) {
        kem = mlkem_find(512);
    } else if (name_is(prim, prim_len, "ml-kem-768")) {
        kem = mlkem_find(768);
    } else if (name_is(prim, prim_len, "ml-kem-1024")) {
        kem = mlkem_find(1024);
    } else if (name_is(prim, prim_len, "ml-dsa-44")) {
        sig = mldsa_find(-48);
    } else if (name_is(prim, prim_len, "ml-dsa-65")) {
        sig = mldsa_find(-49);
    } else {
        return PRIM_UNSUPPORTED;
    }
    shake128_inc_init(&s);
    shake128_inc_finalize(&s); /* SHAKE128 of the empty string, read as a stream */
    shake128_inc_init(&o);
    rc = kem != NULL ? accumulate_mlkem(kem, n, &s, &o, failed_at)
                     : accumulate_mldsa(sig, n, &s, &o, failed_at);
    shake128_inc_finalize(&o);
    shake128_inc_squeeze(digest, 32, &o);
    shake128_inc_ctx_release(&o);
    shake128_inc_ctx_release(&s);
    return rc;
}

#define COSE_FALCON_512 (-65601)
#define COSE_FALCON_1024 (-65602)
#define FALCON_KEYGEN_RANDOM 48u            /* pqclean.c keygen: one randombytes(48), the seed */
#define FALCON_SIGN_RANDOM (40u + 48u)      /* do_sign: the nonce (40), then the PRNG seed (48) */

int prim_falcon_sizes(int64_t alg, size_t *pk_len, size_t *sig_len)
{
    if (alg == COSE_FALCON_512) {
        *pk_len = PQCLEAN_FALCONPADDED512_CLEAN_CRYPTO_PUBLICKEYBYTES;
        *sig_len = PQCLEAN_FALCONPADDED512_CLEAN_CRYPTO_BYTES;
        return 0;
    }
    if (alg == COSE_FALCON_1024) {
        *pk_len = PQCLEAN_FALCONPADDED1024_CLEAN_CRYPTO_PUBLICKEYBYTES;
        *sig_len = PQCLEAN_FALCONPADDED1024_CLEAN_CRYPTO_BYTES;
        return 0;
    }
    return PRIM_UNSUPPORTED;
}

int prim_falcon_verify(int64_t alg, const uint8_t *pk, const uint8_t *msg, size_t msg_len,
                       const uint8_t *sig, size_t sig_len, int *valid)
{
    size_t pk_len, want;
    int rc;

    if (prim_falcon_sizes(alg, &pk_len, &want) != 0) {
        return PRIM_UNSUPPORTED;
    }
    *valid = 0;
    if (sig_len != want) {
        return 0; /* padded encoding: every signature has exactly this length */
    }
    if (alg == COSE_FALCON_512) {
        rc = PQCLEAN_FALCONPADDED512_CLEAN_crypto_sign_verify(sig, sig_len, msg, msg_len, pk);
    } else {
        rc = PQCLEAN_FALCONPADDED1024_CLEAN_crypto_sign_verify(sig, sig_len, msg, msg_len, pk);
    }
    *valid = rc == 0;
    return 0;
}

/* The implementation-defined seeding of spec §13.3 (round-3 Falcon has no seeded interface):
 * the randomness PQClean draws is SHAKE256(label || 32-byte input), handed out by fixed_rng. */
static void falcon_randomness(const char *label, const uint8_t in[32], uint8_t *out, size_t len)
{
    uint8_t buf[32 + 32];
    size_t label_len = strlen(label);

    memcpy(buf, label, label_len);
    memcpy(buf + label_len, in, 32);
    shake256(out, len, buf, label_len + 32);
}

int prim_falcon_keygen(int64_t alg, const uint8_t seed[32], uint8_t *pk, uint8_t *sk)
{
    uint8_t coins[FALCON_KEYGEN_RANDOM];

    if (alg != COSE_FALCON_512) {
        return PRIM_UNSUPPORTED;
    }
    falcon_randomness(FALCON_KEYGEN_LABEL, seed, coins, sizeof(coins));
    fixed_rng_set(coins, sizeof(coins));
    if (PQCLEAN_FALCONPADDED512_CLEAN_crypto_sign_keypair(pk, sk) != 0) {
        return PRIM_INTERNAL;
    }
    return fixed_rng_underflow() || fixed_rng_left() != 0 ? PRIM_INTERNAL : 0;
}

int prim_falcon_sign(int64_t alg, const uint8_t *sk, const uint8_t *msg, size_t msg_len,
                     const uint8_t rnd[32], uint8_t *sig, size_t *sig_len)
{
    uint8_t coins[FALCON_SIGN_RANDOM];

    if (alg != COSE_FALCON_512) {
        return PRIM_UNSUPPORTED;
    }
    falcon_randomness(FALCON_SIGN_LABEL, rnd, coins, sizeof(coins));
    fixed_rng_set(coins, sizeof(coins));
    /* PQClean decodes sk strictly (header 0x59, f/g/F ranges, exact length): -1 = bad key */
    if (PQCLEAN_FALCONPADDED512_CLEAN_crypto_sign_signature(sig, sig_len, msg, msg_len, sk) != 0) {
        return PRIM_INVALID_INPUT;
    }
    return fixed_rng_underflow() || fixed_rng_left() != 0 ? PRIM_INTERNAL : 0;
}

int prim_sig_sizes(int64_t alg, mldsa_sizes *sizes)
{
    if (alg == COSE_FALCON_512) {
        sizes->pk = PQCLEAN_FALCONPADDED512_CLEAN_CRYPTO_PUBLICKEYBYTES;
        sizes->sk = PQCLEAN_FALCONPADDED512_CLEAN_CRYPTO_SECRETKEYBYTES;
        sizes->sig = PQCLEAN_FALCONPADDED512_CLEAN_CRYPTO_BYTES;
        return 0;
    }
    return prim_mldsa_sizes(alg, sizes);
}

int prim_sig_keygen(int64_t alg, const uint8_t seed[32], uint8_t *pk, uint8_t *sk)
{
    if (alg == COSE_FALCON_512) {
        return prim_falcon_keygen(alg, seed, pk, sk);
    }
    return prim_mldsa_keygen(alg, seed, pk, sk);
}

int prim_sig_sign(int64_t alg, const uint8_t *sk, const uint8_t *msg, size_t msg_len,
                  const uint8_t *ctx, size_t ctx_len, const uint8_t rnd[32], uint8_t *sig,
                  size_t *sig_len)
{
    if (alg == COSE_FALCON_512) {
        if (ctx_len != 0) {
            return PRIM_INVALID_INPUT; /* Falcon has no context string */
        }
        return prim_falcon_sign(alg, sk, msg, msg_len, rnd, sig, sig_len);
    }
    return prim_mldsa_sign(alg, sk, msg, msg_len, ctx, ctx_len, rnd, sig, sig_len);
}
