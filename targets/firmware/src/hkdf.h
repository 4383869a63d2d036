/* SHA-2 streaming, HMAC and HKDF (RFC 2104, RFC 5869) for the EDHOC key schedule and the TAP
 * HKDF command. Inputs may come in pieces so that large contexts (CRED_x, PLAINTEXT_2) are
 * never copied into one buffer. Hash identifiers are COSE's: -16 SHA-256, -43 SHA-384. */
#ifndef PQIOT_HKDF_H
#define PQIOT_HKDF_H

#include <stddef.h>
#include <stdint.h>

#include "common/sha2.h"

#define HASH_SHA256 (-16)
#define HASH_SHA384 (-43)
#define HASH_MAX_LEN 48u
#define HASH_MAX_BLOCK 128u

/* Incremental SHA-256/384 over PQClean's block functions (which take whole blocks only). */
typedef struct {
    int64_t alg;
    sha256ctx s256;
    sha384ctx s384;
    uint8_t buf[HASH_MAX_BLOCK];
    size_t fill;
} hash_stream;

/* Output length of a hash (0 if unsupported). */
size_t hash_length(int64_t alg);
/* Returns 0, or -1 for an unsupported algorithm. */
int hash_init(hash_stream *h, int64_t alg);
void hash_update(hash_stream *h, const uint8_t *data, size_t len);
void hash_final(hash_stream *h, uint8_t *out);

/* One span of input. */
typedef struct {
    const uint8_t *data;
    size_t len;
} span;

/* HMAC(key, parts[0] || parts[1] || ...). */
void hmac(int64_t alg, const uint8_t *key, size_t key_len, const span *parts, size_t count,
          uint8_t *out);
void hkdf_extract(int64_t alg, const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                  size_t ikm_len, uint8_t *prk);
/* info = the concatenation of the parts; len <= 255 * hash_length (caller checks). */
void hkdf_expand(int64_t alg, const uint8_t *prk, size_t prk_len, const span *info,
                 size_t info_count, uint8_t *out, size_t len);

#endif
