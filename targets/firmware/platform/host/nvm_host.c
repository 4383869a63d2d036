/* NVM of the host build: a file of NVM_SIZE bytes when one is configured (main.c calls
 * nvm_host_open for `--nvm PATH` or $PQIOT_FW_NVM), else process memory. Writes are
 * pwrite + fsync, so a record leaves the device only after its bound is on disk. */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvm.h"
#include "nvm_host.h"

static uint8_t memory[NVM_SIZE];
static int memory_ready;
static int fd = -1;

int nvm_host_open(const char *path)
{
    struct stat st;
    uint8_t ff[NVM_SIZE];

    fd = open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0 || fstat(fd, &st) != 0) {
        return -1;
    }
    if (st.st_size < (off_t)NVM_SIZE) {
        memset(ff, 0xFF, sizeof(ff));
        if (pwrite(fd, ff, sizeof(ff), 0) != (ssize_t)sizeof(ff) || fsync(fd) != 0) {
            return -1;
        }
    }
    return 0;
}

static int in_range(size_t offset, size_t len)
{
    return offset <= NVM_SIZE && len <= NVM_SIZE - offset;
}

int nvm_read(size_t offset, uint8_t *buf, size_t len)
{
    if (!in_range(offset, len)) {
        return -1;
    }
    if (fd >= 0) {
        return pread(fd, buf, len, (off_t)offset) == (ssize_t)len ? 0 : -1;
    }
    if (!memory_ready) {
        memset(memory, 0xFF, sizeof(memory));
        memory_ready = 1;
    }
    memcpy(buf, memory + offset, len);
    return 0;
}

int nvm_write(size_t offset, const uint8_t *buf, size_t len)
{
    if (!in_range(offset, len)) {
        return -1;
    }
    if (fd >= 0) {
        return pwrite(fd, buf, len, (off_t)offset) == (ssize_t)len && fsync(fd) == 0 ? 0 : -1;
    }
    if (!memory_ready) {
        memset(memory, 0xFF, sizeof(memory));
        memory_ready = 1;
    }
    memcpy(memory + offset, buf, len);
    return 0;
}
