/* The firmware's random number generator (spec REQ-SP-008): HMAC_DRBG-SHA-256 (drbg.h) seeded and
 * reseeded from the platform entropy source (platform.h plat_entropy: getrandom(2) on the host,
 * ARM semihosting reading the host's /dev/urandom under QEMU, the TRNG on a real board).
 * Before the first instantiation the DRBG passes two NIST CAVP known-answer tests (SP 800-90A
 * §11.3 health testing); if they fail or the platform has no entropy, rng_bytes() fails for
 * good and every caller reports it instead of using predictable bytes. */
#ifndef PQIOT_RNG_H
#define PQIOT_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Fill out with n random bytes. 0, or -1 (no entropy source, or the self-test failed). */
int rng_bytes(uint8_t *out, size_t n);
/* The CAVP known-answer tests of drbg.c: 0 when both pass. */
int rng_selftest(void);
/* Non-zero while rng_bytes() can deliver (runs the self-test and seeds on first call). */
int rng_available(void);

#endif
