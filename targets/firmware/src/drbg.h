/* HMAC_DRBG with SHA-256 (NIST SP 800-90A Rev. 1 §10.1.2), without prediction resistance.
 * Deterministic: its output depends only on the inputs given here. rng.c seeds it from the
 * platform entropy source (platform.h plat_entropy) and is the only source of the firmware's
 * own randomness (REQ-SP-008). Security strength 256 bits: entropy input >= 32 bytes, nonce
 * >= 16 bytes (SP 800-90A §8.6.7, §10.1 Table 2). */
#ifndef PQIOT_DRBG_H
#define PQIOT_DRBG_H

#include <stddef.h>
#include <stdint.h>

#define DRBG_OUTLEN 32u            /* SHA-256 output: the size of K and V */
#define DRBG_MIN_ENTROPY 32u       /* 256-bit security strength */
#define DRBG_MAX_REQUEST 65536u    /* bytes per generate: 2^19 bits (Table 2) */
/* Generate requests between reseeds. SP 800-90A allows 2^48; rng.c reseeds much earlier
 * because fresh entropy is cheap on every platform this firmware runs on. */
#define DRBG_RESEED_INTERVAL 1024u

typedef struct {
    uint8_t k[DRBG_OUTLEN];
    uint8_t v[DRBG_OUTLEN];
    uint32_t reseed_counter;
    int instantiated;
} drbg_state;

/* §10.1.2.3: seed_material = entropy || nonce || personalization. */
void drbg_instantiate(drbg_state *d, const uint8_t *entropy, size_t entropy_len,
                      const uint8_t *nonce, size_t nonce_len, const uint8_t *pers,
                      size_t pers_len);
/* §10.1.2.4: seed_material = entropy || additional_input. */
void drbg_reseed(drbg_state *d, const uint8_t *entropy, size_t entropy_len,
                 const uint8_t *additional, size_t additional_len);
/* §10.1.2.5. Returns 0; 1 when a reseed is required first (reseed_counter above the interval);
 * -1 when not instantiated or len > DRBG_MAX_REQUEST (out is then zeroed). */
int drbg_generate(drbg_state *d, uint8_t *out, size_t len, const uint8_t *additional,
                  size_t additional_len);
/* §9.4 uninstantiate: the working state is overwritten with zeros. */
void drbg_wipe(drbg_state *d);

#endif
