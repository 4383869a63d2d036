#include "fixed_rng.h"

#include <string.h>

#include "randombytes.h"

static const uint8_t *pending;
static size_t pending_len;
static int underflow;

void fixed_rng_set(const uint8_t *bytes, size_t len)
{
    pending = bytes;
    pending_len = len;
    underflow = 0;
}

int fixed_rng_underflow(void)
{
    return underflow;
}

size_t fixed_rng_left(void)
{
    return pending_len;
}

int randombytes(uint8_t *output, size_t n)
{
    if (n > pending_len) {
        memset(output, 0, n);
        underflow = 1;
        pending_len = 0;
        return -1;
    }
    memcpy(output, pending, n);
    pending += n;
    pending_len -= n;
    return 0;
}
