/* Credentials of the protocol roles (spec chapter 4): CCS (RFC 8392) with an AKP COSE_Key
 * {1: 7, 2: kid, 3: alg, -1: pub}. The exact CCS bytes are kept because they enter the EDHOC
 * transcript as CRED_x. One own credential (its signature key is in sp.c) and a few peers
 * (allow-list); kids are byte strings. */
#ifndef PQIOT_CREDS_H
#define PQIOT_CREDS_H

#include <stddef.h>
#include <stdint.h>

/* Largest signature public key a peer credential may carry: ML-DSA-65 (1952 bytes), the
 * largest ML-DSA the build verifies. No enabled suite signs with it, but a peer that presents
 * such a key must meet the suite's algorithm check (REQ-CRED-002, authentication_failed) rather
 * than a size limit of the store. */
#ifndef CRED_MAX_PUBLIC_KEY
#define CRED_MAX_PUBLIC_KEY 1952u
#endif
#define CRED_MAX_KID 16u
/* CCS = key + kid + subject + a few dozen bytes of CBOR structure. */
#define CRED_MAX_CCS (CRED_MAX_PUBLIC_KEY + CRED_MAX_KID + 96u)
/* REQ-KS-007: at least 8 peer credentials besides the own one. */
#define CRED_MAX_PEERS 8u

typedef struct {
    int loaded;
    uint8_t ccs[CRED_MAX_CCS];
    size_t ccs_len;
    uint8_t kid[CRED_MAX_KID];
    size_t kid_len;
    int64_t alg;
    size_t pub_pos, pub_len; /* the public key inside ccs */
    int has_sub;
    size_t sub_pos, sub_len; /* the `sub` claim's text inside ccs (REQ-CRED-007) */
} credential;

/* Parse a CCS into `out` (copied). Returns 0, -1 if malformed / unsupported, -2 if too large. */
int cred_parse(const uint8_t *ccs, size_t len, credential *out);

/* What a CCS received by value says, read in place (nothing copied). */
typedef struct {
    const uint8_t *kid;
    size_t kid_len;
    int64_t alg;
    size_t pub_len;
    int has_sub;
} cred_view;

/* 0, or -1 when ccs is not a CCS with a cnf COSE_Key (AKP, kid, alg, pub). */
int cred_view_of(const uint8_t *ccs, size_t len, cred_view *view);
/* True when both credentials carry the same `sub` (both without one counts as the same). */
int cred_same_subject(const credential *a, const credential *b);

/* The own credential (its private key is in the SecurityProvider, sp.h); the peer allow-list. */
credential *cred_own(void);
/* A free peer slot, or NULL when full. */
credential *cred_free_peer_slot(void);
/* Another loaded peer with the kid of `c`, or NULL (REQ-KS-004: a stored kid is never
 * re-pinned to different bytes). */
const credential *cred_find_other_peer(const credential *c);
/* The peer with this kid, or NULL. */
const credential *cred_find_peer(const uint8_t *kid, size_t kid_len);
/* Forget everything (RESET "all"). */
void cred_reset(void);

#endif
