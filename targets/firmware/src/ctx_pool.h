/* Fixed-slot storage for PQClean's hash contexts. PQClean's common fips202.c and sha2.c
 * allocate their state with malloc; the firmware has no heap, so those files are compiled
 * with -Dmalloc=pqiot_ctx_alloc -Dfree=pqiot_ctx_free and served from static slots. */
#ifndef PQIOT_CTX_POOL_H
#define PQIOT_CTX_POOL_H

#include <stddef.h>
#include <stdint.h>

void *pqiot_ctx_alloc(size_t size);
void pqiot_ctx_free(void *ptr);
/* Slots in use (must be 0 between commands) and the high-water mark. */
unsigned ctx_pool_in_use(void);
unsigned ctx_pool_peak(void);
/* Release every slot (after a command that failed midway). */
void ctx_pool_reset(void);

#endif
