/* NVM of the MPS2 build under QEMU: a host file reached through ARM semihosting, so that the
 * persisted session contexts and subscriber windows survive a power cycle (QEMU exiting and
 * starting again), as flash does on a board. The file is named on QEMU's command line:
 * `-semihosting-config enable=on,target=native -append nvm=PATH` (targets/qemu-m4.toml puts it
 * in the run's working directory); the firmware reads it with SYS_GET_CMDLINE.
 *
 * Writes go to the file in place, like programming a flash page: a reset can tear one, which is
 * why the store above keeps A/B copies with sequence numbers and CRCs (nvm_store.c, REQ-KS-009).
 * A file of the wrong size is never replaced by a blank one: reads fail and sessions are refused
 * (REQ-KS-010) until RESET "factory" re-formats it.
 *
 * Without semihosting (QEMU started without it) or without `nvm=` there is no NVM: reads see an
 * erased array and writes are dropped, which is what a RAM region lost at power-off would give,
 * since the store reads the NVM back only at boot (no RAM spent on it). A semihosting call
 * then returns -1 through Bkpt_Fault_Handler (entropy_semihost.c) instead of faulting. A real
 * board maps nvm_read and nvm_write to two flash pages per record instead. */
#include <stdint.h>
#include <string.h>

#include "nvm.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_SEEK 0x0A
#define SYS_FLEN 0x0C
#define SYS_GET_CMDLINE 0x15
#define OPEN_MODE_RPLUS_B 3 /* fopen "r+b" */
#define OPEN_MODE_WPLUS_B 7 /* fopen "w+b" */
#define CMDLINE_MAX 512

typedef char nvm_size_is_whole_chunks[(NVM_SIZE % 64u == 0) ? 1 : -1];

enum { NVM_UNSET = 0, NVM_FILE, NVM_NONE, NVM_DAMAGED };

static const uint8_t erased[64] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
static int mode;
static int handle = -1;
static const char *file_path;
static char cmdline[CMDLINE_MAX];

static int semihost(int op, void *args)
{
    register int r0 __asm("r0") = op;
    register void *r1 __asm("r1") = args;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* The value of the `nvm=` word of QEMU's semihosting command line, NUL-terminated, or NULL. */
static const char *nvm_path(void)
{
    uint32_t args[2];
    char *word, *end;

    args[0] = (uint32_t)cmdline;
    args[1] = sizeof(cmdline) - 1;
    if (semihost(SYS_GET_CMDLINE, args) != 0) {
        return NULL;
    }
    cmdline[sizeof(cmdline) - 1] = '\0';
    for (word = cmdline; *word != '\0'; word = end) {
        while (*word == ' ') {
            word++;
        }
        for (end = word; *end != '\0' && *end != ' '; end++) {
        }
        if (end - word > 4 && memcmp(word, "nvm=", 4) == 0) {
            if (*end != '\0') {
                *end++ = '\0';
            }
            return word + 4;
        }
    }
    return NULL;
}

static int open_file(const char *path, int open_mode)
{
    uint32_t args[3];
    args[0] = (uint32_t)path;
    args[1] = (uint32_t)open_mode;
    args[2] = (uint32_t)strlen(path);
    return semihost(SYS_OPEN, args);
}

static int at(size_t offset)
{
    uint32_t args[2];
    args[0] = (uint32_t)handle;
    args[1] = (uint32_t)offset;
    return semihost(SYS_SEEK, args) == 0 ? 0 : -1;
}

static int file_write(size_t offset, const uint8_t *buf, size_t len)
{
    uint32_t args[3];
    if (at(offset) != 0) {
        return -1;
    }
    args[0] = (uint32_t)handle;
    args[1] = (uint32_t)buf;
    args[2] = (uint32_t)len;
    return semihost(SYS_WRITE, args) == 0 ? 0 : -1; /* the number of bytes NOT written */
}

/* A new (or re-made) file: NVM_SIZE erased bytes. */
static int blank_file(const char *path)
{
    size_t offset;
    handle = open_file(path, OPEN_MODE_WPLUS_B);
    if (handle == -1) {
        return -1;
    }
    for (offset = 0; offset < NVM_SIZE; offset += sizeof(erased)) {
        if (file_write(offset, erased, sizeof(erased)) != 0) {
            return -1;
        }
    }
    return 0;
}

static void setup(void)
{
    const char *path;
    uint32_t args[1];

    if (mode != NVM_UNSET) {
        return;
    }
    mode = NVM_NONE;
    path = nvm_path();
    if (path == NULL) {
        return;
    }
    file_path = path;
    handle = open_file(path, OPEN_MODE_RPLUS_B);
    if (handle == -1) {
        mode = blank_file(path) == 0 ? NVM_FILE : NVM_DAMAGED; /* no file yet: a blank NVM */
        return;
    }
    args[0] = (uint32_t)handle;
    mode = semihost(SYS_FLEN, args) == (int)NVM_SIZE ? NVM_FILE : NVM_DAMAGED;
}

static int in_range(size_t offset, size_t len)
{
    return offset <= NVM_SIZE && len <= NVM_SIZE - offset;
}

int nvm_read(size_t offset, uint8_t *buf, size_t len)
{
    uint32_t args[3];

    setup();
    if (!in_range(offset, len) || mode == NVM_DAMAGED) {
        return -1;
    }
    if (mode == NVM_NONE) {
        memset(buf, 0xFF, len);
        return 0;
    }
    if (at(offset) != 0) {
        return -1;
    }
    args[0] = (uint32_t)handle;
    args[1] = (uint32_t)buf;
    args[2] = (uint32_t)len;
    return semihost(SYS_READ, args) == 0 ? 0 : -1; /* the number of bytes NOT read */
}

int nvm_write(size_t offset, const uint8_t *buf, size_t len)
{
    setup();
    if (!in_range(offset, len)) {
        return -1;
    }
    if (mode == NVM_NONE) {
        (void)buf;
        return 0;
    }
    if (mode == NVM_DAMAGED) {
        /* only RESET "factory" writes to a damaged store: it starts from a blank file */
        uint32_t args[1];
        if (handle != -1) {
            args[0] = (uint32_t)handle;
            semihost(SYS_CLOSE, args);
        }
        if (blank_file(file_path) != 0) {
            return -1;
        }
        mode = NVM_FILE;
    }
    return file_write(offset, buf, len);
}
