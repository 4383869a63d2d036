/* NVM of the MPS2 build: a RAM region. It keeps its contents for as long as the emulated board
 * runs, which is what QEMU can offer; a real board maps nvm_write to a flash page. */
#include <string.h>

#include "nvm.h"

static uint8_t region[NVM_SIZE];
static int initialised;

int nvm_read(size_t offset, uint8_t *buf, size_t len)
{
    if (!initialised) {
        memset(region, 0xFF, sizeof(region));
        initialised = 1;
    }
    if (offset > NVM_SIZE || len > NVM_SIZE - offset) {
        return -1;
    }
    memcpy(buf, region + offset, len);
    return 0;
}

int nvm_write(size_t offset, const uint8_t *buf, size_t len)
{
    if (!initialised) {
        memset(region, 0xFF, sizeof(region));
        initialised = 1;
    }
    if (offset > NVM_SIZE || len > NVM_SIZE - offset) {
        return -1;
    }
    memcpy(region + offset, buf, len);
    return 0;
}
