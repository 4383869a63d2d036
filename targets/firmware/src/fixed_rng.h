/* PQClean's randombytes() for a test build: it returns exactly the bytes the TAP request
 * supplied (ML-DSA ξ and rnd), never fresh entropy. Any other request for randomness is a
 * bug in the caller and is reported as an internal error. */
#ifndef PQIOT_FIXED_RNG_H
#define PQIOT_FIXED_RNG_H

#include <stddef.h>
#include <stdint.h>

void fixed_rng_set(const uint8_t *bytes, size_t len);
/* Non-zero if randombytes() was asked for more than was supplied since the last set. */
int fixed_rng_underflow(void);

#endif
