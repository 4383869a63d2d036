#include "ctx_pool.h"

#include "secure_zero.h"

/* Two slot sizes: Keccak/SHA-2 states (the incremental Keccak state is 26 x uint64_t =
 * 208 bytes) and AES round-key states (AES-256: 120 x uint64_t = 960 bytes). */
#define SMALL_BYTES 208u
#define SMALL_COUNT 8u
#define LARGE_BYTES 960u
#define LARGE_COUNT 2u
#define SLOT_COUNT (SMALL_COUNT + LARGE_COUNT)

static uint64_t small_slots[SMALL_COUNT][SMALL_BYTES / sizeof(uint64_t)];
static uint64_t large_slots[LARGE_COUNT][LARGE_BYTES / sizeof(uint64_t)];
static uint8_t used[SLOT_COUNT];
static unsigned in_use;
static unsigned peak;

static void *slot(unsigned i)
{
    return i < SMALL_COUNT ? (void *)small_slots[i] : (void *)large_slots[i - SMALL_COUNT];
}

void *pqiot_ctx_alloc(size_t size)
{
    unsigned i;

    if (size > LARGE_BYTES) {
        return NULL;
    }
    for (i = size <= SMALL_BYTES ? 0 : SMALL_COUNT; i < SLOT_COUNT; i++) {
        if (!used[i]) {
            used[i] = 1;
            in_use++;
            if (in_use > peak) {
                peak = in_use;
            }
            return slot(i);
        }
    }
    return NULL;
}

void pqiot_ctx_free(void *ptr)
{
    unsigned i;

    for (i = 0; i < SLOT_COUNT; i++) {
        if (ptr == slot(i) && used[i]) {
            /* AES key schedules and keyed hash states live here: erase them on release */
            secure_zero(ptr, i < SMALL_COUNT ? SMALL_BYTES : LARGE_BYTES);
            used[i] = 0;
            in_use--;
            return;
        }
    }
}

unsigned ctx_pool_in_use(void)
{
    return in_use;
}

unsigned ctx_pool_peak(void)
{
    return peak;
}

void ctx_pool_reset(void)
{
    unsigned i;

    for (i = 0; i < SLOT_COUNT; i++) {
        used[i] = 0;
    }
    in_use = 0;
}
