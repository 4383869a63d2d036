/* NVM of the host build: a file of NVM_SIZE bytes when one is configured (main.c calls
 * nvm_host_open for `--nvm PATH` or $PQIOT_FW_NVM), else process memory.
 *
 * Every nvm_write replaces the whole file atomically (REQ-KS-009 on a POSIX file system): the
 * new image goes to "PATH.tmp" in the same directory, is fsync'ed, renamed over PATH, and the
 * directory is fsync'ed, so a power loss at any instant leaves the complete old or the complete
 * new file. nvm_write returns only after that, so a record leaves the device only after its
 * bound is on disk (REQ-KS-008). A file of the wrong size is never replaced by a blank one:
 * reads fail, the store above refuses sessions (REQ-KS-010) until RESET "factory". */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvm.h"
#include "nvm_host.h"

#define PATH_MAX_LEN 4096

static uint8_t memory[NVM_SIZE]; /* the NVM contents (the file's mirror when there is one) */
static int memory_ready;
static int damaged;              /* the file exists but is not an NVM image: reads fail */
static char path[PATH_MAX_LEN];
static char temp_path[PATH_MAX_LEN + 8];
static char dir_path[PATH_MAX_LEN];

static void ensure_memory(void)
{
    if (!memory_ready) {
        memset(memory, 0xFF, sizeof(memory)); /* erased flash */
        memory_ready = 1;
    }
}

int nvm_host_open(const char *file)
{
    struct stat st;
    const char *slash;
    ssize_t got;
    int fd;

    if (strlen(file) + 1 > sizeof(path)) {
        fprintf(stderr, "NVM file path too long (at most %d bytes)\n", PATH_MAX_LEN - 1);
        return -1;
    }
    strcpy(path, file);
    snprintf(temp_path, sizeof(temp_path), "%s.tmp", path);
    slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(dir_path, ".");
    } else if (slash == path) {
        strcpy(dir_path, "/");
    } else {
        memcpy(dir_path, path, (size_t)(slash - path));
        dir_path[slash - path] = '\0';
    }
    ensure_memory();
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        return errno == ENOENT ? 0 : -1; /* no file yet: blank NVM, created on the first write */
    }
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    got = st.st_size == (off_t)NVM_SIZE ? read(fd, memory, sizeof(memory)) : -1;
    close(fd);
    if (got != (ssize_t)NVM_SIZE) {
        damaged = 1;
        fprintf(stderr,
                "NVM file %s is not a %u-byte NVM image: protocol sessions will be refused "
                "(REQ-KS-010); remove the file or send RESET \"factory\" to start empty\n",
                path, NVM_SIZE);
    }
    return 0;
}

static int in_range(size_t offset, size_t len)
{
    return offset <= NVM_SIZE && len <= NVM_SIZE - offset;
}

int nvm_read(size_t offset, uint8_t *buf, size_t len)
{
    if (!in_range(offset, len) || damaged) {
        return -1;
    }
    ensure_memory();
    memcpy(buf, memory + offset, len);
    return 0;
}

/* Write the whole image to the temporary file, fsync, rename over the file, fsync the dir. */
static int replace_file(void)
{
    int fd = open(temp_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int ok;

    if (fd < 0) {
        return -1;
    }
    ok = write(fd, memory, sizeof(memory)) == (ssize_t)sizeof(memory) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(temp_path, path) != 0) {
        unlink(temp_path);
        return -1;
    }
    fd = open(dir_path, O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    ok = fsync(fd) == 0;
    close(fd);
    return ok ? 0 : -1;
}

int nvm_write(size_t offset, const uint8_t *buf, size_t len)
{
    static uint8_t previous[NVM_SIZE];

    if (!in_range(offset, len)) {
        return -1;
    }
    ensure_memory();
    if (path[0] == '\0') {
        memcpy(memory + offset, buf, len);
        return 0;
    }
    memcpy(previous, memory, sizeof(previous));
    memcpy(memory + offset, buf, len);
    if (replace_file() != 0) {
        memcpy(memory, previous, sizeof(memory)); /* the file still holds the old image */
        return -1;
    }
    damaged = 0; /* the file now holds a complete image (RESET "factory" re-formats) */
    return 0;
}
