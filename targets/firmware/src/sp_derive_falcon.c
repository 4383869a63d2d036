#include "sp_derive.h"

#include "crypto_sign/falcon-padded-512/clean/inner.h"
#include "secure_zero.h"

#define LOGN 9u
#define N (1u << LOGN)
#define SK_HEADER (0x50u + LOGN)
#define PK_HEADER (0x00u + LOGN)

int sp_falcon512_public(const uint8_t sk[SP_FALCON512_SK], uint8_t pk[SP_FALCON512_PK])
{
    int8_t f[N], g[N];
    uint16_t h[N];
    union {
        uint8_t b[2u * N];
        uint16_t align;
    } tmp;
    size_t u = 1, v;
    int rc = -1;

    if (sk[0] != SK_HEADER) {
        return -1;
    }
    v = PQCLEAN_FALCONPADDED512_CLEAN_trim_i8_decode(
        f, LOGN, PQCLEAN_FALCONPADDED512_CLEAN_max_fg_bits[LOGN], sk + u, SP_FALCON512_SK - u);
    u += v;
    if (v != 0) {
        v = PQCLEAN_FALCONPADDED512_CLEAN_trim_i8_decode(
            g, LOGN, PQCLEAN_FALCONPADDED512_CLEAN_max_fg_bits[LOGN], sk + u,
            SP_FALCON512_SK - u);
    }
    if (v != 0 && PQCLEAN_FALCONPADDED512_CLEAN_compute_public(h, f, g, LOGN, tmp.b)) {
        pk[0] = PK_HEADER;
        if (PQCLEAN_FALCONPADDED512_CLEAN_modq_encode(pk + 1, SP_FALCON512_PK - 1, h, LOGN) ==
            SP_FALCON512_PK - 1) {
            rc = 0;
        }
    }
    secure_zero(f, sizeof(f));
    secure_zero(g, sizeof(g));
    secure_zero(&tmp, sizeof(tmp));
    return rc;
}
