/* Primitive entry points of the Test Agent (spec §13.3, §13.7) over PQClean's portable C.
 * Every function takes explicit randomness and writes into caller-provided buffers. */
#ifndef PQIOT_PRIMS_H
#define PQIOT_PRIMS_H

#include <stddef.h>
#include <stdint.h>

/* Results besides 0 = ok. */
#define PRIM_UNSUPPORTED (-1)   /* parameter set / algorithm not in this build */
#define PRIM_INVALID_INPUT (-2) /* FIPS input checks, lengths */
#define PRIM_INTERNAL (-3)      /* self-check failed (ACCUMULATED mismatch, RNG misuse) */

typedef struct {
    size_t ek, dk, ct;
} mlkem_sizes;

int prim_mlkem_sizes(unsigned set, mlkem_sizes *sizes);
int prim_mlkem_keygen(unsigned set, const uint8_t d[32], const uint8_t z[32], uint8_t *ek,
                      uint8_t *dk);
/* FIPS 203 §7.2 modulus check included. */
int prim_mlkem_encaps(unsigned set, const uint8_t *ek, const uint8_t m[32], uint8_t *c,
                      uint8_t k[32]);
/* FIPS 203 §7.3 hash check included; an invalid c yields the implicit-rejection key. */
int prim_mlkem_decaps(unsigned set, const uint8_t *dk, const uint8_t *c, uint8_t k[32]);

typedef struct {
    size_t pk, sk, sig;
} mldsa_sizes;

/* alg is the COSE identifier: -48 ML-DSA-44, -49 ML-DSA-65. */
int prim_mldsa_sizes(int64_t alg, mldsa_sizes *sizes);
int prim_mldsa_keygen(int64_t alg, const uint8_t xi[32], uint8_t *pk, uint8_t *sk);
int prim_mldsa_sign(int64_t alg, const uint8_t *sk, const uint8_t *msg, size_t msg_len,
                    const uint8_t *ctx, size_t ctx_len, const uint8_t rnd[32], uint8_t *sig,
                    size_t *sig_len);
/* Sets *valid to 1 or 0. */
int prim_mldsa_verify(int64_t alg, const uint8_t *pk, const uint8_t *msg, size_t msg_len,
                      const uint8_t *ctx, size_t ctx_len, const uint8_t *sig, size_t sig_len,
                      int *valid);

/* Falcon (round 3, padded signatures; COSE -65601 Falcon-512, -65602 Falcon-1024). Public key
 * and signature sizes, or PRIM_UNSUPPORTED for another alg. */
int prim_falcon_sizes(int64_t alg, size_t *pk_len, size_t *sig_len);
/* Sets *valid to 1 or 0 (a signature of the wrong length is simply invalid). */
int prim_falcon_verify(int64_t alg, const uint8_t *pk, const uint8_t *msg, size_t msg_len,
                       const uint8_t *sig, size_t sig_len, int *valid);

/* Falcon-512 key generation and signing (PQClean falcon-padded-512, floating point emulated in
 * integer code). Round-3 Falcon has no seeded interface, so the seeding is this firmware's own
 * (spec §13.3 lets a DUT define it): PQClean's randombytes() returns, through fixed_rng,
 *   keygen: SHAKE256(FALCON_KEYGEN_LABEL || seed)[0:48]   (the keygen PRNG seed)
 *   sign:   SHAKE256(FALCON_SIGN_LABEL || rnd)[0:88]      (40-byte nonce, then 48-byte PRNG seed)
 * with the labels' ASCII bytes and no terminator. The same seed gives the same key pair and the
 * same (sk, msg, rnd) the same signature, but only on this firmware. -1024: PRIM_UNSUPPORTED. */
#define FALCON_KEYGEN_LABEL "pqiot falcon-512 keygen"
#define FALCON_SIGN_LABEL "pqiot falcon-512 sign"
int prim_falcon_keygen(int64_t alg, const uint8_t seed[32], uint8_t *pk, uint8_t *sk);
/* PRIM_INVALID_INPUT if sk does not decode (header, coefficient ranges). */
int prim_falcon_sign(int64_t alg, const uint8_t *sk, const uint8_t *msg, size_t msg_len,
                     const uint8_t rnd[32], uint8_t *sig, size_t *sig_len);

/* Every algorithm SIG_KEYGEN / SIG_SIGN can serve: ML-DSA-44/65 and Falcon-512 (sizes->sig is
 * the padded Falcon length). prim_sig_sign refuses a non-empty ctx for Falcon
 * (PRIM_INVALID_INPUT). Verification stays per family (Falcon-1024 verifies but cannot sign). */
int prim_sig_sizes(int64_t alg, mldsa_sizes *sizes);
int prim_sig_keygen(int64_t alg, const uint8_t seed[32], uint8_t *pk, uint8_t *sk);
int prim_sig_sign(int64_t alg, const uint8_t *sk, const uint8_t *msg, size_t msg_len,
                  const uint8_t *ctx, size_t ctx_len, const uint8_t rnd[32], uint8_t *sig,
                  size_t *sig_len);

/* name: sha256, sha384, sha512, sha3-256, sha3-512, shake128, shake256 (xof_len for XOFs). */
int prim_hash(const char *name, size_t name_len, const uint8_t *data, size_t len, size_t xof_len,
              uint8_t *out, size_t *out_len);
/* 1 if `name` is an XOF that needs a `len`. */
int prim_hash_is_xof(const char *name, size_t name_len);

/* §13.7: prim = ml-kem-512/768/1024, ml-dsa-44/65. On PRIM_INTERNAL *failed_at is set. */
int prim_accumulated(const char *prim, size_t prim_len, uint32_t n, uint8_t digest[32],
                     uint32_t *failed_at);

#endif
