/* Erasing secrets so that the compiler cannot drop the stores (REQ-HS-034, REQ-HS-035,
 * REQ-KEYS-010, REQ-SP-007). A plain memset() of a buffer that is never read again is a dead
 * store that -O2 may remove; secure_zero() is not. */
#ifndef PQIOT_SECURE_ZERO_H
#define PQIOT_SECURE_ZERO_H

#include <stddef.h>

/* Overwrite len bytes at p with zeros; never optimised away. */
void secure_zero(void *p, size_t len);

/* Zero len bytes of stack right below the caller's frame, where the frames of the functions it
 * has just called lay. PQClean's ML-KEM keeps m, (K, r) = G(m || H(ek)), i.e. G_XY, and its
 * noise polynomials in locals that it never wipes; the handshake burns them after each KEM
 * operation. */
#define SECURE_KEM_STACK 16384u
/* The same after signing, whose PQClean frames hold the unpacked private key: ML-DSA-44 signing
 * measured 51,788 B of stack on the M4 and Falcon-512 44,400 B (targets/firmware/README.md). */
#define SECURE_SIGN_STACK 53248u
void secure_stack_burn(size_t len);

#endif
