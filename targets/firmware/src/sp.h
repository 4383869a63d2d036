/* The SecurityProvider (spec chapter 11): the only code that holds long-term private keys.
 * Protocol code names a key by reference (slot + the COSE algorithm it wants the key for) and
 * asks the provider to sign or for the public key; no operation returns private-key bytes
 * (REQ-SP-009). Keys enter only through sp_import (the test build's CRED_LOAD "own"; a product
 * provisions its slot at manufacture). The firmware never generates long-term keys (REQ-SP-011:
 * key generation, when a product adds it, belongs here, with its key_generated audit event).
 * Every failure is a negative result that the caller turns into internal_error (REQ-SP-004). */
#ifndef PQIOT_SP_H
#define PQIOT_SP_H

#include <stddef.h>
#include <stdint.h>

/* Results besides SP_OK; the protocol maps every one of them to internal_error. */
#define SP_OK 0
#define SP_ERR_NO_KEY (-1)    /* empty slot, or a slot that does not exist */
#define SP_ERR_ALG (-2)       /* the key is bound to another algorithm (REQ-SP-003) */
#define SP_ERR_INVALID (-3)   /* key material that does not decode or is inconsistent */
#define SP_ERR_CLOSED (-4)    /* sp_close() was called (REQ-SP-007) */
#define SP_ERR_FAILED (-5)    /* the primitive failed, or an output buffer is too small */
#define SP_ERR_UNSUPPORTED (-6)

/* Slots. The test build has one: the own credential's signature key. */
#define SP_SLOT_OWN 0u
#define SP_SLOTS 1u

/* The largest private key a slot holds (ML-DSA-44 expanded: 2560 bytes; Falcon-512: 1281). */
#define SP_MAX_SECRET_KEY 2560u
/* The largest public key sp_public_key writes (ML-DSA-44). */
#define SP_MAX_PUBLIC_KEY 1312u

/* A key reference: which slot, for which COSE algorithm (REQ-SP-003: bound to one alg). */
typedef struct {
    unsigned slot;
    int64_t alg;
} sp_key_ref;

/* The algorithms a slot can hold: ML-DSA-44 (-48), Falcon-512 (-65601). */
int sp_supports(int64_t alg);

/* Import a private key into a slot, replacing (and zeroising) what it held. ML-DSA-44: the
 * 32-byte seed xi (expanded inside) or the 2560-byte expanded key, whose internal hash of the
 * public key (tr) must match; Falcon-512: the 1281-byte PQClean encoding. On success *ref is
 * bound to alg. The input buffer stays the caller's to erase. */
int sp_import(unsigned slot, int64_t alg, const uint8_t *sk, size_t sk_len, sp_key_ref *ref);
/* Sign exactly msg[0..len) (no pre-hash, REQ-SP-002) with rnd (ML-DSA hedging; 32 zero bytes:
 * the deterministic variant). */
int sp_sign(sp_key_ref key, const uint8_t *msg, size_t len, const uint8_t rnd[32], uint8_t *sig,
            size_t cap, size_t *sig_len);
/* The public key that belongs to the private key, recomputed from it (REQ-SP-012). */
int sp_public_key(sp_key_ref key, uint8_t *pk, size_t cap, size_t *pk_len);
/* Zeroise and free a slot (REQ-SP-007). */
void sp_remove(unsigned slot);
/* Zeroise every slot and refuse every later operation with SP_ERR_CLOSED (REQ-SP-007). */
void sp_close(void);

#endif
