/* Host harness for tests/targets/test_drbg.py: runs the firmware's HMAC_DRBG (src/drbg.c) and its
 * start-up self-test (src/rng.c) outside the agent, so that NIST CAVP vectors can be fed to the
 * very C source the images are built from.
 *
 *   drbg_kat kat ENTROPY NONCE PERS RESEED_ENTROPY NBYTES   (hex; "-" for an absent input)
 *       instantiate, [reseed], generate NBYTES, generate NBYTES; prints the second output
 *   drbg_kat selftest                                      prints rng_selftest()'s result
 *   drbg_kat interval                                      prints the generate result after
 *       DRBG_RESEED_INTERVAL generates (1: reseed required) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drbg.h"
#include "platform.h"
#include "rng.h"

/* rng.c seeds from the platform; the harness has no platform. */
int plat_entropy(uint8_t *out, size_t len)
{
    (void)out;
    (void)len;
    return -1;
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2, i;
    unsigned byte;
    if (strcmp(hex, "-") == 0) {
        return 0;
    }
    if (n > cap) {
        fprintf(stderr, "input too long\n");
        exit(2);
    }
    for (i = 0; i < n; i++) {
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
            fprintf(stderr, "bad hex\n");
            exit(2);
        }
        out[i] = (uint8_t)byte;
    }
    return n;
}

int main(int argc, char **argv)
{
    static uint8_t entropy[256], nonce[256], pers[256], reseed[256], out[4096];
    size_t el, nl, pl, rl, n, i;
    drbg_state d;

    if (argc == 2 && strcmp(argv[1], "selftest") == 0) {
        printf("%d\n", rng_selftest());
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "interval") == 0) {
        memset(entropy, 0x5a, 32);
        drbg_instantiate(&d, entropy, 32, entropy, 16, NULL, 0);
        for (i = 0; i < DRBG_RESEED_INTERVAL; i++) {
            if (drbg_generate(&d, out, 32, NULL, 0) != 0) {
                printf("early %zu\n", i);
                return 0;
            }
        }
        printf("%d\n", drbg_generate(&d, out, 32, NULL, 0));
        return 0;
    }
    if (argc != 7 || strcmp(argv[1], "kat") != 0) {
        fprintf(stderr, "usage: drbg_kat kat ENTROPY NONCE PERS RESEED NBYTES | selftest\n");
        return 2;
    }
    el = unhex(argv[2], entropy, sizeof(entropy));
    nl = unhex(argv[3], nonce, sizeof(nonce));
    pl = unhex(argv[4], pers, sizeof(pers));
    rl = unhex(argv[5], reseed, sizeof(reseed));
    n = (size_t)strtoul(argv[6], NULL, 10);
    if (n > sizeof(out)) {
        return 2;
    }
    drbg_instantiate(&d, entropy, el, nonce, nl, pers, pl);
    if (strcmp(argv[5], "-") != 0) {
        drbg_reseed(&d, reseed, rl, NULL, 0);
    }
    if (drbg_generate(&d, out, n, NULL, 0) != 0 || drbg_generate(&d, out, n, NULL, 0) != 0) {
        return 3;
    }
    for (i = 0; i < n; i++) {
        printf("%02x", out[i]);
    }
    printf("\n");
    return 0;
}
