#include "creds.h"

#include <string.h>

#include "cbor.h"

#define CLAIM_SUBJECT 2u
#define CLAIM_CNF 8u
#define CNF_COSE_KEY 1u
#define KTY_AKP 7u

static credential own;
static uint8_t own_secret[CRED_MAX_SECRET_KEY];
static size_t own_secret_len;
static credential peers[CRED_MAX_PEERS];

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

static int parse_cose_key(cbor_reader *r, credential *out)
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
            memcpy(out->kid, r->data + r->pos, (size_t)v);
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

int cred_parse(const uint8_t *ccs, size_t len, credential *out)
{
    cbor_reader r;
    int major;
    uint64_t count, i, inner, j;
    int64_t label;
    int have_key = 0;

    if (len > CRED_MAX_CCS) {
        return -2;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->ccs, ccs, len);
    out->ccs_len = len;
    r.data = out->ccs;
    r.len = len;
    r.pos = 0;
    if (cbor_read_head(&r, &major, &count) != 0 || major != CBOR_MAP) {
        return -1;
    }
    for (i = 0; i < count; i++) {
        if (read_label(&r, &label) != 0) {
            return -1;
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
    if (!have_key || r.pos != r.len || out->kid_len == 0) {
        return -1;
    }
    out->loaded = 1;
    return 0;
}

credential *cred_own(void)
{
    return &own;
}

uint8_t *cred_own_secret(void)
{
    return own_secret;
}

size_t *cred_own_secret_len(void)
{
    return &own_secret_len;
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

void cred_drop_other_peers(const credential *kept)
{
    size_t i;
    for (i = 0; i < CRED_MAX_PEERS; i++) {
        if (&peers[i] != kept && peers[i].loaded && peers[i].kid_len == kept->kid_len &&
            memcmp(peers[i].kid, kept->kid, kept->kid_len) == 0) {
            memset(&peers[i], 0, sizeof(peers[i]));
        }
    }
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
    memset(own_secret, 0, sizeof(own_secret));
    own_secret_len = 0;
    memset(peers, 0, sizeof(peers));
}
