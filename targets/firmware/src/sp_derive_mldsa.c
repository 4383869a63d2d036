#include "sp_derive.h"

#include <string.h>

#include "common/fips202.h"
#include "crypto_sign/ml-dsa-44/clean/packing.h"
#include "crypto_sign/ml-dsa-44/clean/polyvec.h"
#include "secure_zero.h"

int sp_mldsa44_public(const uint8_t sk[SP_MLDSA44_SK], uint8_t pk[SP_MLDSA44_PK])
{
    uint8_t rho[SEEDBYTES], tr[TRBYTES], key[SEEDBYTES], check[TRBYTES];
    polyvecl mat[K];
    polyvecl s1;
    polyveck s2, t, t0;
    int rc;

    PQCLEAN_MLDSA44_CLEAN_unpack_sk(rho, tr, key, &t0, &s1, &s2, sk);
    PQCLEAN_MLDSA44_CLEAN_polyvec_matrix_expand(mat, rho);
    PQCLEAN_MLDSA44_CLEAN_polyvecl_ntt(&s1);
    PQCLEAN_MLDSA44_CLEAN_polyvec_matrix_pointwise_montgomery(&t, mat, &s1);
    PQCLEAN_MLDSA44_CLEAN_polyveck_reduce(&t);
    PQCLEAN_MLDSA44_CLEAN_polyveck_invntt_tomont(&t);
    PQCLEAN_MLDSA44_CLEAN_polyveck_add(&t, &t, &s2);
    PQCLEAN_MLDSA44_CLEAN_polyveck_caddq(&t);
    PQCLEAN_MLDSA44_CLEAN_polyveck_power2round(&t, &t0, &t);
    PQCLEAN_MLDSA44_CLEAN_pack_pk(pk, rho, &t);
    shake256(check, sizeof(check), pk, SP_MLDSA44_PK);
    rc = memcmp(check, tr, sizeof(tr)) == 0 ? 0 : -1;
    secure_zero(key, sizeof(key));
    secure_zero(&s1, sizeof(s1));
    secure_zero(&s2, sizeof(s2));
    secure_zero(&t0, sizeof(t0));
    return rc;
}
