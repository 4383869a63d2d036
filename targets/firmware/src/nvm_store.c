/* A/B record copies with sequence numbers and CRC-32 (see nvm_store.h for why). Layout:
 *   [0, 32)                format header: magic "PQST", version, records, caps, CRC-32
 *   then, record by record, copy A and copy B of each record r:
 *                          magic "PQSR", seq, len (u16), record (u16), payload[cap(r)], CRC-32
 * Integers are little-endian. The CRC covers everything before it in the header or copy. */
#include "nvm_store.h"

#include <stdint.h>
#include <string.h>

#include "crc32.h"
#include "nvm.h"

#define HEADER_MAGIC 0x54535150u /* "PQST" */
#define COPY_MAGIC 0x52535150u   /* "PQSR" */
#define STORE_VERSION 1u
#define HEADER_SIZE 32u
#define HEADER_USED 20u
#define COPY_HEAD 12u
#define COPY_SIZE(cap) (COPY_HEAD + (cap) + 4u)

typedef char store_fits[(HEADER_SIZE + 2u * STORE_SESSION_RECORDS * COPY_SIZE(STORE_SESSION_CAP) +
                                 2u * COPY_SIZE(STORE_PUBSUB_CAP) <=
                             NVM_SIZE) ? 1 : -1];

typedef struct {
    uint32_t seq;    /* of the newest valid copy */
    uint8_t newest;  /* 0 = A, 1 = B */
    uint8_t empty;   /* the newest copy holds no payload */
    uint16_t len;
} record_state;

static record_state records[STORE_RECORDS];
static int opened;
static store_state state;
static const char *problem = "";
static uint8_t copy[COPY_SIZE(STORE_PUBSUB_CAP)]; /* one copy being read or written */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static size_t cap_of(size_t record)
{
    return record == STORE_RECORD_PUBSUB ? STORE_PUBSUB_CAP : STORE_SESSION_CAP;
}

static size_t copy_size(size_t record)
{
    return COPY_SIZE(cap_of(record));
}

static size_t copy_offset(size_t record, unsigned which)
{
    return HEADER_SIZE + 2u * record * COPY_SIZE(STORE_SESSION_CAP) + which * copy_size(record);
}

static int all_erased(const uint8_t *p, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (p[i] != 0xFF) {
            return 0;
        }
    }
    return 1;
}

static void header_image(uint8_t *h)
{
    memset(h, 0xFF, HEADER_SIZE);
    put32(h, HEADER_MAGIC);
    put32(h + 4, STORE_VERSION);
    put32(h + 8, STORE_RECORDS);
    put32(h + 12, (uint32_t)STORE_SESSION_CAP | ((uint32_t)STORE_PUBSUB_CAP << 16));
    put32(h + 16, crc32_iso_hdlc(h, 16));
}

/* Build copy `copy` of `record`; len 0 = empty. */
static void copy_image(size_t record, uint32_t seq, const void *data, size_t len)
{
    size_t cap = cap_of(record);

    memset(copy, 0, copy_size(record));
    put32(copy, COPY_MAGIC);
    put32(copy + 4, seq);
    copy[8] = (uint8_t)len;
    copy[9] = (uint8_t)(len >> 8);
    copy[10] = (uint8_t)record;
    copy[11] = (uint8_t)(record >> 8);
    if (len > 0) {
        memcpy(copy + COPY_HEAD, data, len);
    }
    put32(copy + COPY_HEAD + cap, crc32_iso_hdlc(copy, COPY_HEAD + cap));
}

/* 1 if `copy` holds a valid copy of `record` (seq and len filled in). */
static int copy_valid(size_t record, uint32_t *seq, uint16_t *len)
{
    size_t cap = cap_of(record);

    *seq = get32(copy + 4);
    *len = (uint16_t)(copy[8] | (copy[9] << 8));
    return get32(copy) == COPY_MAGIC && (size_t)(copy[10] | (copy[11] << 8)) == record &&
           *len <= cap && get32(copy + COPY_HEAD + cap) == crc32_iso_hdlc(copy, COPY_HEAD + cap);
}

static store_state unusable(const char *why)
{
    state = STORE_UNUSABLE;
    problem = why;
    return state;
}

int store_format(void)
{
    static const uint8_t erased_header[HEADER_SIZE] = {
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    uint8_t header[HEADER_SIZE];
    size_t r;

    opened = 1;
    /* Header first: a reset during the format leaves an unformatted NVM, formatted again. */
    if (nvm_write(0, erased_header, sizeof(erased_header)) != 0) {
        return unusable("NVM write failed while formatting"), -1;
    }
    for (r = 0; r < STORE_RECORDS; r++) {
        copy_image(r, 1, NULL, 0);
        if (nvm_write(copy_offset(r, 0), copy, copy_size(r)) != 0) {
            return unusable("NVM write failed while formatting"), -1;
        }
        /* copy B must not outrank copy A: erase it unless it already is (a blank NVM) */
        if (nvm_read(copy_offset(r, 1), copy, copy_size(r)) != 0 ||
            !all_erased(copy, copy_size(r))) {
            memset(copy, 0xFF, copy_size(r));
            if (nvm_write(copy_offset(r, 1), copy, copy_size(r)) != 0) {
                return unusable("NVM write failed while formatting"), -1;
            }
        }
        records[r].seq = 1;
        records[r].newest = 0;
        records[r].empty = 1;
        records[r].len = 0;
    }
    header_image(header);
    if (nvm_write(0, header, sizeof(header)) != 0) {
        return unusable("NVM write failed while formatting"), -1;
    }
    state = STORE_USABLE;
    problem = "";
    return 0;
}

store_state store_open(void)
{
    uint8_t header[HEADER_SIZE], expected[HEADER_SIZE];
    uint32_t seq[2];
    uint16_t len[2];
    int valid[2];
    unsigned c;
    size_t r;

    if (opened) {
        return state;
    }
    opened = 1;
    if (nvm_read(0, header, sizeof(header)) != 0) {
        return unusable("the NVM cannot be read (wrong size or I/O error)");
    }
    if (all_erased(header, sizeof(header))) {
        return store_format() == 0 ? STORE_USABLE : state; /* factory-blank, or a torn format */
    }
    header_image(expected);
    if (memcmp(header, expected, HEADER_USED) != 0) {
        return unusable("the NVM format header fails its integrity check");
    }
    for (r = 0; r < STORE_RECORDS; r++) {
        for (c = 0; c < 2; c++) {
            if (nvm_read(copy_offset(r, c), copy, copy_size(r)) != 0) {
                return unusable("the NVM cannot be read (I/O error)");
            }
            valid[c] = copy_valid(r, &seq[c], &len[c]);
        }
        if (!valid[0] && !valid[1]) {
            return unusable("an NVM record has no copy that passes its integrity check");
        }
        c = !valid[0] ? 1u : !valid[1] ? 0u : (int32_t)(seq[1] - seq[0]) > 0 ? 1u : 0u;
        records[r].newest = (uint8_t)c;
        records[r].seq = seq[c];
        records[r].len = len[c];
        records[r].empty = len[c] == 0;
    }
    memset(copy, 0, sizeof(copy));
    state = STORE_USABLE;
    return state;
}

const char *store_problem(void)
{
    return state == STORE_USABLE ? "" : problem;
}

void store_damaged(const char *why)
{
    unusable(why);
}

int store_load(size_t record, void *data, size_t len)
{
    record_state *rs = &records[record];
    uint32_t seq;
    uint16_t stored;

    if (store_open() != STORE_USABLE || record >= STORE_RECORDS) {
        return -1;
    }
    if (rs->empty) {
        return 1;
    }
    if (rs->len != len ||
        nvm_read(copy_offset(record, rs->newest), copy, copy_size(record)) != 0 ||
        !copy_valid(record, &seq, &stored) || seq != rs->seq) {
        return -1;
    }
    memcpy(data, copy + COPY_HEAD, len);
    memset(copy, 0, sizeof(copy));
    return 0;
}

int store_save(size_t record, const void *data, size_t len)
{
    record_state *rs = &records[record];
    unsigned target;
    int rc;

    if (store_open() != STORE_USABLE || record >= STORE_RECORDS || len > cap_of(record)) {
        return -1;
    }
    if (len == 0 && rs->empty) {
        return 0; /* already empty: nothing to make durable */
    }
    target = rs->newest ^ 1u; /* never overwrite the newest valid copy (REQ-KS-009) */
    copy_image(record, rs->seq + 1u, data, len);
    rc = nvm_write(copy_offset(record, target), copy, copy_size(record));
    memset(copy, 0, sizeof(copy));
    if (rc != 0) {
        return -1;
    }
    rs->newest = (uint8_t)target;
    rs->seq++;
    rs->len = (uint16_t)len;
    rs->empty = len == 0;
    return 0;
}
