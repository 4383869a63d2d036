#include "sp.h"

#include <string.h>

#include "prims.h"
#include "secure_zero.h"
#include "sp_derive.h"

#define ALG_MLDSA44 (-48)
#define ALG_FALCON512 (-65601)

/* Provider memory. Like the KeyStore (creds.c), the MPS2 build keeps it in the code memory
 * (flash on a board); the host build in ordinary memory. Only this file can reach it. */
#if defined(PQIOT_QEMU)
#define PROVIDER_MEMORY __attribute__((section(".rodata_keystore")))
#else
#define PROVIDER_MEMORY
#endif

typedef struct {
    int used;
    int64_t alg;
    size_t sk_len;
    uint8_t sk[SP_MAX_SECRET_KEY];
} sp_slot;

static sp_slot slots[SP_SLOTS] PROVIDER_MEMORY;
static int closed;

int sp_supports(int64_t alg)
{
    return alg == ALG_MLDSA44 || alg == ALG_FALCON512;
}

/* The slot a reference names, or an error: it must hold a key bound to the reference's alg. */
static int lookup(sp_key_ref key, sp_slot **out)
{
    if (closed) {
        return SP_ERR_CLOSED;
    }
    if (key.slot >= SP_SLOTS || !slots[key.slot].used) {
        return SP_ERR_NO_KEY;
    }
    if (slots[key.slot].alg != key.alg) {
        return SP_ERR_ALG; /* REQ-SP-003: e.g. an ML-DSA-44 key asked for a Falcon signature */
    }
    *out = &slots[key.slot];
    return SP_OK;
}

void sp_remove(unsigned slot)
{
    if (slot < SP_SLOTS) {
        secure_zero(&slots[slot], sizeof(slots[slot]));
    }
}

void sp_close(void)
{
    unsigned i;
    for (i = 0; i < SP_SLOTS; i++) {
        sp_remove(i);
    }
    closed = 1;
}

int sp_import(unsigned slot, int64_t alg, const uint8_t *sk, size_t sk_len, sp_key_ref *ref)
{
    /* The public key a check recomputes; its content is public, but it is wiped like the rest
     * of the provider's working memory. */
    uint8_t pk[SP_MAX_PUBLIC_KEY];
    sp_slot *s;
    int rc = SP_OK;

    if (closed) {
        return SP_ERR_CLOSED;
    }
    if (slot >= SP_SLOTS) {
        return SP_ERR_NO_KEY;
    }
    if (!sp_supports(alg)) {
        return SP_ERR_UNSUPPORTED;
    }
    sp_remove(slot); /* the old key goes first, whatever happens to the new one */
    s = &slots[slot];
    if (alg == ALG_MLDSA44 && sk_len == 32u) {
        /* FIPS 204 KeyGen_internal(xi): the expanded key never leaves the provider */
        if (prim_mldsa_keygen(alg, sk, pk, s->sk) != 0) {
            rc = SP_ERR_FAILED;
        }
        s->sk_len = SP_MLDSA44_SK;
    } else if (alg == ALG_MLDSA44 && sk_len == SP_MLDSA44_SK) {
        memcpy(s->sk, sk, sk_len);
        s->sk_len = sk_len;
        if (sp_mldsa44_public(s->sk, pk) != 0) {
            rc = SP_ERR_INVALID;
        }
    } else if (alg == ALG_FALCON512 && sk_len == SP_FALCON512_SK) {
        memcpy(s->sk, sk, sk_len);
        s->sk_len = sk_len;
        if (sp_falcon512_public(s->sk, pk) != 0) {
            rc = SP_ERR_INVALID;
        }
    } else {
        rc = SP_ERR_INVALID;
    }
    secure_zero(pk, sizeof(pk));
    secure_stack_burn(SECURE_SIGN_STACK); /* key generation's / the check's unpacked key */
    if (rc != SP_OK) {
        sp_remove(slot);
        return rc;
    }
    s->alg = alg;
    s->used = 1;
    ref->slot = slot;
    ref->alg = alg;
    return SP_OK;
}

int sp_sign(sp_key_ref key, const uint8_t *msg, size_t len, const uint8_t rnd[32], uint8_t *sig,
            size_t cap, size_t *sig_len)
{
    mldsa_sizes sz;
    sp_slot *s;
    int rc = lookup(key, &s);

    if (rc != SP_OK) {
        return rc;
    }
    if (prim_sig_sizes(s->alg, &sz) != 0 || cap < sz.sig) {
        return SP_ERR_FAILED;
    }
    /* The message as given, empty context: pure ML-DSA / Falcon, no pre-hash (REQ-SP-002). */
    rc = prim_sig_sign(s->alg, s->sk, msg, len, (const uint8_t *)"", 0, rnd, sig, sig_len);
    /* PQClean leaves the unpacked key (s1, s2, t0 / f, g, F, G) in its frames (REQ-SP-007) */
    secure_stack_burn(SECURE_SIGN_STACK);
    return rc == 0 ? SP_OK : SP_ERR_FAILED;
}

int sp_public_key(sp_key_ref key, uint8_t *pk, size_t cap, size_t *pk_len)
{
    sp_slot *s;
    int rc = lookup(key, &s);

    if (rc != SP_OK) {
        return rc;
    }
    if (s->alg == ALG_MLDSA44) {
        rc = cap < SP_MLDSA44_PK ? -1 : sp_mldsa44_public(s->sk, pk);
        *pk_len = SP_MLDSA44_PK;
    } else {
        rc = cap < SP_FALCON512_PK ? -1 : sp_falcon512_public(s->sk, pk);
        *pk_len = SP_FALCON512_PK;
    }
    secure_stack_burn(SECURE_SIGN_STACK); /* PQClean's unpacked key polynomials */
    return rc == 0 ? SP_OK : SP_ERR_FAILED;
}
