#include "creds.h"

#include <string.h>

#include "cbor.h"

#define CLAIM_SUBJECT 2u
#define CLAIM_CNF 8u
#define CNF_COSE_KEY 1u
#define KTY_AKP 7u

/* The KeyStore (REQ-KS-007: the own credential with its secret key, >= 8 peers) is ~16 KB, which
 * belongs in NVM, not in RAM. The MPS2 build places it in the code memory (SSRAM1, which QEMU
 * lets the firmware write; flash on a board, where a port writes it through its flash driver,
 * page by page, as nvm_write does for the session contexts). The footprint report counts it as
 * flash ("keystore"). The host build keeps it in ordinary memory. */
#if defined(PQIOT_QEMU)
#define KEYSTORE __attribute__((section(".rodata_keystore")))
#else
#define KEYSTORE
#endif

/* The own credential's private key is not here: it lives in the SecurityProvider (sp.c). */
static credential own KEYSTORE;
static credential peers[CRED_MAX_PEERS] KEYSTORE;

/* Read an int map label (uint or nint) into *label. */
static int read_label(cbor_reader *r, int64_t *label)
{
    int major;
    uint64_t v;
    if (cbor_read_head(r, &major, &v) != 0 || v > (uint64_t)INT64_MAX) {
        return -1;
    }
    if (major == CBOR_UINT) {
        *label = (int64_t)v;
    } else if (major == CBOR_NINT) {
        *label = -1 - (int64_t)v;
    } else {
        return -1;
    }
    return 0;
}

/* What parsing finds in a CCS: positions relative to its first byte. */
typedef struct {
    size_t kid_pos, kid_len, pub_pos, pub_len, sub_pos, sub_len;
    int64_t alg;
    int has_sub;
} ccs_fields;

static int parse_cose_key(cbor_reader *r, ccs_fields *out)
{
    int major;
    uint64_t count, i, v;
    int64_t label;
    int have_kty = 0, have_alg = 0, have_pub = 0;

    if (cbor_read_head(r, &major, &count) != 0 || major != CBOR_MAP) {
        return -1;
    }
    for (i = 0; i < count; i++) {
        if (read_label(r, &label) != 0) {
            return -1;
        }
        if (label == 1) { /* kty */
            if (cbor_read_head(r, &major, &v) != 0 || major != CBOR_UINT || v != KTY_AKP) {
                return -1;
            }
            have_kty = 1;
        } else if (label == 2) { /* kid */
            if (cbor_read_head(r, &major, &v) != 0 || major != CBOR_BSTR || v > CRED_MAX_KID) {
                return -1;
            }
            out->kid_pos = r->pos;
            out->kid_len = (size_t)v;
            r->pos += (size_t)v;
        } else if (label == 3) { /* alg */
            if (read_label(r, &out->alg) != 0) {
                return -1;
            }
            have_alg = 1;
        } else if (label == -1) { /* pub */
            if (cbor_read_head(r, &major, &v) != 0 || major != CBOR_BSTR) {
                return -1;
            }
            out->pub_pos = r->pos;
            out->pub_len = (size_t)v;
            r->pos += (size_t)v;
            have_pub = 1;
        } else if (cbor_skip(r) != 0) {
            return -1;
        }
    }
    return have_kty && have_alg && have_pub ? 0 : -1;
}

/* Parse a CCS in place; the fields point into `ccs`. */
static int parse_ccs(const uint8_t *ccs, size_t len, ccs_fields *out)
{
    cbor_reader r;
    int major;
    uint64_t count, i, inner, j, v;
    int64_t label;
    int have_key = 0;
    size_t items = 0;

    memset(out, 0, sizeof(*out));
    r.data = ccs;
    r.len = len;
    r.pos = 0;
    /* One well-formed item: deterministic maps, UTF-8 text, bounds (REQ-ENC-005/006/008). */
    if (cbor_check_sequence(ccs, len, &items) != 0 || items != 1) {
        return -1;
    }
    if (cbor_read_head(&r, &major, &count) != 0 || major != CBOR_MAP) {
        return -1;
    }
    for (i = 0; i < count; i++) {
        if (read_label(&r, &label) != 0) {
            return -1;
        }
        if (label == (int64_t)CLAIM_SUBJECT) {
            if (cbor_read_head(&r, &major, &v) != 0 || major != CBOR_TSTR || v > len - r.pos) {
                return -1;
            }
            out->has_sub = 1;
            out->sub_pos = r.pos;
            out->sub_len = (size_t)v;
            r.pos += (size_t)v;
            continue;
        }
        if (label != (int64_t)CLAIM_CNF) {
            if (cbor_skip(&r) != 0) {
                return -1;
            }
            continue;
        }
        if (cbor_read_head(&r, &major, &inner) != 0 || major != CBOR_MAP) {
            return -1;
        }
        for (j = 0; j < inner; j++) {
            if (read_label(&r, &label) != 0) {
                return -1;
            }
            if (label == (int64_t)CNF_COSE_KEY) {
                if (parse_cose_key(&r, out) != 0) {
                    return -1;
                }
                have_key = 1;
            } else if (cbor_skip(&r) != 0) {
                return -1;
            }
        }
    }
    return have_key && r.pos == r.len && out->kid_len > 0 ? 0 : -1;
}

int cred_parse(const uint8_t *ccs, size_t len, credential *out)
{
    ccs_fields f;

    if (len > CRED_MAX_CCS) {
        return -2;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->ccs, ccs, len);
    out->ccs_len = len;
    if (parse_ccs(out->ccs, len, &f) != 0) {
        return -1;
    }
    memcpy(out->kid, out->ccs + f.kid_pos, f.kid_len);
    out->kid_len = f.kid_len;
    out->alg = f.alg;
    out->pub_pos = f.pub_pos;
    out->pub_len = f.pub_len;
    out->has_sub = f.has_sub;
    out->sub_pos = f.sub_pos;
    out->sub_len = f.sub_len;
    out->loaded = 1;
    return 0;
}

int cred_view_of(const uint8_t *ccs, size_t len, cred_view *view)
{
    ccs_fields f;
    if (parse_ccs(ccs, len, &f) != 0) {
        return -1;
    }
    view->kid = ccs + f.kid_pos;
    view->kid_len = f.kid_len;
    view->alg = f.alg;
    view->pub_len = f.pub_len;
    view->has_sub = f.has_sub;
    return 0;
}

int cred_same_subject(const credential *a, const credential *b)
{
    if (a->has_sub != b->has_sub) {
        return 0;
    }
    return !a->has_sub || (a->sub_len == b->sub_len &&
                           memcmp(a->ccs + a->sub_pos, b->ccs + b->sub_pos, a->sub_len) == 0);
}

credential *cred_own(void)
{
    return &own;
}

credential *cred_free_peer_slot(void)
{
    size_t i;
    for (i = 0; i < CRED_MAX_PEERS; i++) {
        if (!peers[i].loaded) {
            return &peers[i];
        }
    }
    return NULL;
}

const credential *cred_find_other_peer(const credential *c)
{
    size_t i;
    for (i = 0; i < CRED_MAX_PEERS; i++) {
        if (&peers[i] != c && peers[i].loaded && peers[i].kid_len == c->kid_len &&
            memcmp(peers[i].kid, c->kid, c->kid_len) == 0) {
            return &peers[i];
        }
    }
    return NULL;
}

const credential *cred_find_peer(const uint8_t *kid, size_t kid_len)
{
    size_t i;
    for (i = 0; i < CRED_MAX_PEERS; i++) {
        if (peers[i].loaded && peers[i].kid_len == kid_len &&
            memcmp(peers[i].kid, kid, kid_len) == 0) {
            return &peers[i];
        }
    }
    return NULL;
}

void cred_reset(void)
{
    memset(&own, 0, sizeof(own));
    memset(peers, 0, sizeof(peers));
}
