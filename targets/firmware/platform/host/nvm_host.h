/* Host NVM backing file (see nvm_host.c). */
#ifndef PQIOT_NVM_HOST_H
#define PQIOT_NVM_HOST_H

/* Use `path` (created with NVM_SIZE erased bytes if missing); returns 0 or -1. */
int nvm_host_open(const char *path);

#endif
