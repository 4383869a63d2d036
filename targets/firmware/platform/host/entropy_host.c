/* Entropy for the DRBG on the host build: the kernel CSPRNG through getrandom(2). */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/random.h>

#include "platform.h"

int plat_entropy(uint8_t *out, size_t len)
{
    while (len > 0) {
        ssize_t n = getrandom(out, len, 0); /* blocks only until the pool is first seeded */
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        out += n;
        len -= (size_t)n;
    }
    return 0;
}
