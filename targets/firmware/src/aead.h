/* AEADs of the PQC-IIoT suites (issue 4): AES-256-GCM with 96-bit nonces (NIST SP 800-38D)
 * and AES-128-CCM with 13-byte nonces (RFC 3610) over PQClean's constant-time AES core, and
 * ChaCha20-Poly1305 (RFC 8439). COSE identifiers: 3 = A256GCM, 10 = AES-CCM-16-64-128,
 * 24 = ChaCha20/Poly1305, 30 = AES-CCM-16-128-128. */
#ifndef PQIOT_AEAD_H
#define PQIOT_AEAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t alg;
    size_t key_len, nonce_len, tag_len;
} aead_params;

/* The parameters of a COSE algorithm, or NULL if this build does not implement it. */
const aead_params *aead_find(int64_t alg);

/* out = ciphertext || tag (len + tag_len bytes). Lengths must match aead_find(). */
void aead_seal(const aead_params *p, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
               size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out);

/* Returns 1 and writes ct_len - tag_len bytes of plaintext if the tag verifies, else 0 (and the
 * output is wiped). */
int aead_open(const aead_params *p, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
              size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *out);

#endif
