/* Public keys recomputed from private keys, for the SecurityProvider (sp.c, REQ-SP-012).
 * Each lives in its own file because PQClean's per-scheme headers cannot share a translation
 * unit (every scheme defines its own K, L, N, ... macros). */
#ifndef PQIOT_SP_DERIVE_H
#define PQIOT_SP_DERIVE_H

#include <stdint.h>

#define SP_MLDSA44_PK 1312u
#define SP_MLDSA44_SK 2560u
#define SP_FALCON512_PK 897u
#define SP_FALCON512_SK 1281u

/* pk = rho || Power2Round(A s1 + s2).t1 from an expanded ML-DSA-44 key (FIPS 204 Algorithm 6,
 * lines 5-8). -1 when the key's tr is not H(pk): the key is not one consistent key pair. */
int sp_mldsa44_public(const uint8_t sk[SP_MLDSA44_SK], uint8_t pk[SP_MLDSA44_PK]);
/* h = g / f mod q from a Falcon-512 private key (PQClean encoding); -1 when it does not decode
 * or f is not invertible. */
int sp_falcon512_public(const uint8_t sk[SP_FALCON512_SK], uint8_t pk[SP_FALCON512_PK]);

#endif
