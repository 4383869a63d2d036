/* PQClean's randombytes() for a test build: it returns exactly the bytes the caller set, never
 * fresh entropy: ML-DSA ξ and rnd as the TAP request supplied them, Falcon-512's keygen and
 * signing randomness expanded from the request's seed / rnd (prims.h). Any other request for
 * randomness is a bug in the caller and is reported as an internal error. */
#ifndef PQIOT_FIXED_RNG_H
#define PQIOT_FIXED_RNG_H

#include <stddef.h>
#include <stdint.h>

void fixed_rng_set(const uint8_t *bytes, size_t len);
/* Non-zero if randombytes() was asked for more than was supplied since the last set. */
int fixed_rng_underflow(void);
/* Bytes set but not yet drawn: a caller that knows how much its primitive draws checks for 0. */
size_t fixed_rng_left(void);

#endif
