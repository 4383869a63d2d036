/* Power-loss-safe records on top of the raw NVM of nvm.h (spec §4.5, REQ-KS-009, REQ-KS-010).
 *
 * Why two copies per record: flash (and a semihosted file on QEMU) is written in place, and a
 * reset can tear any write. Every record therefore has copies A and B, each with a sequence
 * number and a CRC-32; a save goes to the copy that does NOT hold the newest valid content, so a
 * torn save leaves the previous copy intact, and the loader takes the valid copy with the newer
 * sequence number. The host build adds file-level atomicity below this (nvm_host.c).
 *
 * Why a format header: a blank NVM (all 0xFF) is a legitimate factory state, a damaged one is
 * not. The header is written last when a blank NVM is formatted (every record starts as a valid
 * empty copy); once it exists, a record without any valid copy, or a header that does not
 * verify, makes the whole store unusable and nothing is silently replaced (REQ-KS-010). */
#ifndef PQIOT_NVM_STORE_H
#define PQIOT_NVM_STORE_H

#include <stddef.h>

/* Records: one per session slot (tap_proto.c checks that every slot has one), then the pub/sub
 * windows; the largest payload of each. */
#ifndef STORE_SESSION_RECORDS
#define STORE_SESSION_RECORDS 12u
#endif
#define STORE_RECORDS (STORE_SESSION_RECORDS + 1u)
#define STORE_RECORD_PUBSUB STORE_SESSION_RECORDS
#define STORE_SESSION_CAP 320u
#define STORE_PUBSUB_CAP 3200u

typedef enum {
    STORE_USABLE = 0,
    STORE_UNUSABLE = -1, /* damaged at start-up: sessions are refused (REQ-KS-010) */
} store_state;

/* Read and check the NVM once (later calls return the first result); formats a blank NVM. */
store_state store_open(void);
/* Why the store is unusable ("" when it is usable). */
const char *store_problem(void);
/* 0: `len` bytes loaded; 1: the record is empty; -1: unusable store, or the record holds
 * another length (the caller then declares the store damaged with store_damaged). */
int store_load(size_t record, void *data, size_t len);
/* Durably replace a record (len 0: make it empty); 0, or -1 if the write failed. */
int store_save(size_t record, const void *data, size_t len);
/* A record that verified but does not parse: the store becomes unusable (REQ-KS-010). */
void store_damaged(const char *why);
/* RESET "factory": erase and re-format everything, which also clears a damaged store. */
int store_format(void);

#endif
