/* Non-volatile storage the firmware persists session contexts and subscriber windows in
 * (spec §7.7, REQ-KS-008): a byte array that survives restarts, organised into power-loss-safe
 * records by nvm_store.c. The host build backs it with a file (`--nvm PATH` or PQIOT_FW_NVM,
 * replaced atomically on every write), the MPS2 build with a host file through semihosting
 * (QEMU `-append nvm=PATH`), else a RAM region. nvm_write returns only once the bytes are
 * durable. */
#ifndef PQIOT_NVM_H
#define PQIOT_NVM_H

#include <stddef.h>
#include <stdint.h>

#define NVM_SIZE 16384u

/* Returns 0, or -1 (out of range, I/O error). Unwritten bytes read as 0xFF (erased flash). */
int nvm_read(size_t offset, uint8_t *buf, size_t len);
int nvm_write(size_t offset, const uint8_t *buf, size_t len);

#endif
