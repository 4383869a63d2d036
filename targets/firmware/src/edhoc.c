#include "edhoc.h"

#include <string.h>

#include "aead.h"
#include "cbor.h"
#include "prims.h"
#include "work.h"

/* Suites of chapter 3 this build implements: ML-KEM + ML-DSA-44 with a SHA-256 schedule. */
static const edhoc_suite SUITES[] = {
    {-102, 768, -48, 3, HASH_SHA256},  /* MLKEM768-MLDSA44-A256GCM-SHA256 (default) */
    {-101, 512, -48, 10, HASH_SHA256}, /* MLKEM512-MLDSA44-CCM8-SHA256 */
    {-105, 768, -48, 24, HASH_SHA256}, /* MLKEM768-MLDSA44-CHACHAPOLY-SHA256 */
};

#define METHOD_SIGNATURE 0u
#define HEADER_KID 4u
#define HEADER_KCCS 14u
#define ERR_CODE_ONE 1u
#define ERR_CODE_WRONG_SUITE 2u
#define ERR_CODE_UNKNOWN_CREDENTIAL 3u
/* Room for a received or built PLAINTEXT_2 / PLAINTEXT_3: ML-DSA-44 signature, C_R, kid and
 * EAD padding. The same size serves as scratch for KEYSTREAM_2 and the COSE Sig_structure. */
#define EDHOC_PLAINTEXT_MAX 4096u

/* PLAINTEXT_2/3 in work buffer 0, KEYSTREAM_2 and the Sig_structure in work buffer 1. */
#define plaintext (work_buffer(0))
#define scratch (work_buffer(1))

const edhoc_suite *edhoc_suites(size_t *count)
{
    *count = sizeof(SUITES) / sizeof(SUITES[0]);
    return SUITES;
}

const edhoc_suite *edhoc_find_suite(int64_t id)
{
    size_t i;
    for (i = 0; i < sizeof(SUITES) / sizeof(SUITES[0]); i++) {
        if (SUITES[i].id == id) {
            return &SUITES[i];
        }
    }
    return NULL;
}

const char *edhoc_alert_name(edhoc_alert alert)
{
    switch (alert) {
    case ALERT_DECODE_ERROR: return "decode_error";
    case ALERT_UNEXPECTED_MESSAGE: return "unexpected_message";
    case ALERT_WRONG_SELECTED_CIPHER_SUITE: return "wrong_selected_cipher_suite";
    case ALERT_UNKNOWN_CREDENTIAL: return "unknown_credential";
    case ALERT_AUTHENTICATION_FAILED: return "authentication_failed";
    case ALERT_DECRYPT_FAILED: return "decrypt_failed";
    case ALERT_MESSAGE_TOO_LARGE: return "message_too_large";
    case ALERT_UNSUPPORTED_METHOD: return "unsupported_method";
    case ALERT_TOFU_DISABLED: return "tofu_disabled";
    case ALERT_REPLAY_DETECTED: return "replay_detected";
    case ALERT_USAGE_LIMIT_REACHED: return "usage_limit_reached";
    case ALERT_KEY_UPDATE_FAILED: return "key_update_failed";
    case ALERT_INTERNAL_ERROR: return "internal_error";
    default: return "unspecified_error";
    }
}

const char *edhoc_state_name(edhoc_state state)
{
    switch (state) {
    case EDHOC_START: return "START";
    case EDHOC_WAIT_M2: return "WAIT_M2";
    case EDHOC_WAIT_M3: return "WAIT_M3";
    case EDHOC_DONE: return "DONE";
    default: return "FAILED";
    }
}

/* --- small encoders ------------------------------------------------------------------------ */

/* CBOR head of `major` with `value` into p (at most 9 bytes); returns its length. */
static size_t head(uint8_t *p, int major, uint64_t value)
{
    cbor_writer w;
    w.buf = p;
    w.cap = 9;
    w.pos = 0;
    w.overflow = 0;
    cbor_put_head(&w, major, value);
    return w.pos;
}

static size_t put_int(uint8_t *p, int64_t value)
{
    return value >= 0 ? head(p, CBOR_UINT, (uint64_t)value) : head(p, CBOR_NINT, (uint64_t)(-1 - value));
}

/* True when raw is exactly the one-byte CBOR encoding of an int in -24..23 (RFC 9528 §3.3.2). */
static int one_byte_int(const uint8_t *raw, size_t len)
{
    return len == 1 && (raw[0] <= 0x17 || (raw[0] >= 0x20 && raw[0] <= 0x37));
}

/* C_x or a compact kid (RFC 9528 §3.3.2, §3.5.3.2): the int itself, or a bstr. */
static size_t put_compact(uint8_t *p, const uint8_t *raw, size_t len)
{
    size_t n;
    if (one_byte_int(raw, len)) {
        p[0] = raw[0];
        return 1;
    }
    n = head(p, CBOR_BSTR, len);
    memcpy(p + n, raw, len);
    return n + len;
}

/* ID_CRED_x = {4: kid} as a full header map. */
static size_t put_id_cred_map(uint8_t *p, const uint8_t *kid, size_t kid_len)
{
    size_t n = head(p, CBOR_MAP, 1);
    p[n++] = HEADER_KID;
    n += head(p + n, CBOR_BSTR, kid_len);
    memcpy(p + n, kid, kid_len);
    return n + kid_len;
}

/* --- decoding helpers ------------------------------------------------------------------------ */

/* bstr / -24..23 as raw bytes (ints: the byte of their encoding). */
static int read_compact(cbor_reader *r, const uint8_t **raw, size_t *len)
{
    size_t start = r->pos;
    int major;
    uint64_t v;

    if (cbor_read_head(r, &major, &v) != 0) {
        return -1;
    }
    if ((major == CBOR_UINT || major == CBOR_NINT) && v <= 23) {
        *raw = r->data + start;
        *len = 1;
        return 0;
    }
    if (major != CBOR_BSTR) {
        return -1;
    }
    *raw = r->data + r->pos;
    *len = (size_t)v;
    r->pos += (size_t)v;
    return one_byte_int(*raw, *len) ? -1 : 0; /* must have been sent as an int */
}

static int read_bstr(cbor_reader *r, const uint8_t **data, size_t *len)
{
    int major;
    uint64_t v;
    if (cbor_read_head(r, &major, &v) != 0 || major != CBOR_BSTR) {
        return -1;
    }
    *data = r->data + r->pos;
    *len = (size_t)v;
    r->pos += (size_t)v;
    return 0;
}

static int read_int(cbor_reader *r, int64_t *value)
{
    int major;
    uint64_t v;
    if (cbor_read_head(r, &major, &v) != 0 || v > (uint64_t)INT64_MAX ||
        (major != CBOR_UINT && major != CBOR_NINT)) {
        return -1;
    }
    *value = major == CBOR_UINT ? (int64_t)v : -1 - (int64_t)v;
    return 0;
}

/* EAD_x until the end: (int label, ? bstr value)*. A critical (negative) label is refused,
 * since v1 defines none (REQ-HS-020); the rest (padding) is ignored. */
static edhoc_alert check_ead(cbor_reader *r, const char **detail)
{
    int64_t label;
    const uint8_t *value;
    size_t len;
    while (r->pos < r->len) {
        if (read_int(r, &label) != 0) {
            *detail = "EAD label is not an int";
            return ALERT_DECODE_ERROR;
        }
        if (r->pos < r->len && (r->data[r->pos] >> 5) == CBOR_BSTR &&
            read_bstr(r, &value, &len) != 0) {
            *detail = "EAD value is malformed";
            return ALERT_DECODE_ERROR;
        }
        if (label < 0) {
            *detail = "unsupported critical EAD";
            return ALERT_UNSPECIFIED;
        }
    }
    return ALERT_NONE;
}

/* ID_CRED_x (compact or map) to a kid; by-value credentials need TOFU, off here. */
static edhoc_alert read_id_cred(cbor_reader *r, const uint8_t **kid, size_t *kid_len,
                                const char **detail)
{
    int major;
    uint64_t count, i;
    int64_t label;
    int found = 0;

    if (r->pos < r->len && (r->data[r->pos] >> 5) == CBOR_MAP) {
        if (cbor_read_head(r, &major, &count) != 0 || count == 0) {
            *detail = "ID_CRED map is malformed";
            return ALERT_DECODE_ERROR;
        }
        for (i = 0; i < count; i++) {
            if (read_int(r, &label) != 0) {
                *detail = "ID_CRED labels must be ints";
                return ALERT_DECODE_ERROR;
            }
            if (label == (int64_t)HEADER_KID) {
                if (read_bstr(r, kid, kid_len) != 0) {
                    *detail = "kid must be a byte string";
                    return ALERT_DECODE_ERROR;
                }
                found = 1;
            } else if (label == (int64_t)HEADER_KCCS) {
                *detail = "credential by value needs TOFU";
                return ALERT_TOFU_DISABLED;
            } else if (cbor_skip(r) != 0) {
                *detail = "ID_CRED map is malformed";
                return ALERT_DECODE_ERROR;
            }
        }
        if (!found) {
            *detail = "ID_CRED names no kid";
            return ALERT_UNKNOWN_CREDENTIAL;
        }
        return ALERT_NONE;
    }
    if (read_compact(r, kid, kid_len) != 0) {
        *detail = "ID_CRED is malformed";
        return ALERT_DECODE_ERROR;
    }
    return ALERT_NONE;
}

/* --- key schedule ------------------------------------------------------------------------ */

void edhoc_kdf(int64_t hash, const uint8_t *prk, int64_t label, const span *context,
               size_t context_count, uint8_t *out, size_t len)
{
    uint8_t pre[20], post[9];
    span info[6];
    size_t i, total = 0, n = 0;

    for (i = 0; i < context_count; i++) {
        total += context[i].len;
    }
    info[0].data = pre;
    info[0].len = put_int(pre, label);
    info[0].len += head(pre + info[0].len, CBOR_BSTR, total);
    for (i = 0; i < context_count && i < 4; i++) {
        info[1 + i] = context[i];
        n++;
    }
    info[1 + n].data = post;
    info[1 + n].len = head(post, CBOR_UINT, len);
    hkdf_expand(hash, prk, hash_length(hash), info, n + 2, out, len);
}

static void kdf1(const edhoc_session *s, const uint8_t *prk, int64_t label, const uint8_t *ctx,
                 size_t ctx_len, uint8_t *out, size_t len)
{
    span c;
    c.data = ctx;
    c.len = ctx_len;
    edhoc_kdf(s->suite->hash, prk, label, &c, 1, out, len);
}

static void hash_bstr(hash_stream *h, const uint8_t *data, size_t len)
{
    uint8_t hd[9];
    hash_update(h, hd, head(hd, CBOR_BSTR, len));
    hash_update(h, data, len);
}

/* TH_2 = H(G_Y, H(message_1)). */
static void transcript_2(edhoc_session *s, const uint8_t *g_y, size_t g_y_len)
{
    hash_stream h;
    hash_init(&h, s->suite->hash);
    hash_bstr(&h, g_y, g_y_len);
    hash_bstr(&h, s->h_message_1, hash_length(s->suite->hash));
    hash_final(&h, s->th);
}

/* TH_{n+1} = H(TH_n, PLAINTEXT_n, CRED_x); replaces s->th. */
static void transcript_next(edhoc_session *s, const uint8_t *pt, size_t pt_len,
                            const credential *cred)
{
    hash_stream h;
    hash_init(&h, s->suite->hash);
    hash_bstr(&h, s->th, hash_length(s->suite->hash));
    hash_update(&h, pt, pt_len);
    hash_update(&h, cred->ccs, cred->ccs_len);
    hash_final(&h, s->th);
}

/* MAC_x = EDHOC_KDF(PRK, label, context_x, hash_length), context_x =
 * << ? C_R, ID_CRED_x, TH_x, CRED_x, ? EAD_x >> (RFC 9528 §5.3.2, §5.4.2). */
static void compute_mac(const edhoc_session *s, int64_t label, const uint8_t *c_r, size_t c_r_len,
                        const uint8_t *kid, size_t kid_len, const credential *cred,
                        const uint8_t *ead, size_t ead_len, uint8_t *mac)
{
    uint8_t prefix[EDHOC_MAX_CID + 4 + CRED_MAX_KID + 6 + 2 + HASH_MAX_LEN];
    size_t hl = hash_length(s->suite->hash), n = 0;
    span ctx[3];

    if (c_r != NULL) {
        n += put_compact(prefix, c_r, c_r_len);
    }
    n += put_id_cred_map(prefix + n, kid, kid_len);
    n += head(prefix + n, CBOR_BSTR, hl);
    memcpy(prefix + n, s->th, hl);
    n += hl;
    ctx[0].data = prefix;
    ctx[0].len = n;
    ctx[1].data = cred->ccs;
    ctx[1].len = cred->ccs_len;
    ctx[2].data = ead;
    ctx[2].len = ead_len;
    edhoc_kdf(s->suite->hash, s->prk, label, ctx, 3, mac, hl);
}

/* Sig_structure ["Signature1", << ID_CRED_x >>, << TH_x, CRED_x, ? EAD_x >>, MAC_x] in
 * scratch; returns its length, or 0 if it does not fit. */
static size_t sig_structure(const edhoc_session *s, const uint8_t *kid, size_t kid_len,
                            const credential *cred, const uint8_t *ead, size_t ead_len,
                            const uint8_t *mac)
{
    static const uint8_t prefix[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'};
    uint8_t idc[4 + CRED_MAX_KID + 6];
    size_t hl = hash_length(s->suite->hash), idc_len, aad_len, n;

    idc_len = put_id_cred_map(idc, kid, kid_len);
    aad_len = 2 + hl + cred->ccs_len + ead_len;
    if (sizeof(prefix) + 9 + idc_len + 9 + aad_len + 9 + hl > EDHOC_PLAINTEXT_MAX) {
        return 0;
    }
    memcpy(scratch, prefix, sizeof(prefix));
    n = sizeof(prefix);
    n += head(scratch + n, CBOR_BSTR, idc_len);
    memcpy(scratch + n, idc, idc_len);
    n += idc_len;
    n += head(scratch + n, CBOR_BSTR, aad_len);
    n += head(scratch + n, CBOR_BSTR, hl);
    memcpy(scratch + n, s->th, hl);
    n += hl;
    memcpy(scratch + n, cred->ccs, cred->ccs_len);
    n += cred->ccs_len;
    if (ead_len > 0) {
        memcpy(scratch + n, ead, ead_len);
        n += ead_len;
    }
    n += head(scratch + n, CBOR_BSTR, hl);
    memcpy(scratch + n, mac, hl);
    return n + hl;
}

/* A_x = ["Encrypt0", h'', TH_x] (RFC 9528 §5.4.2). */
static size_t enc_structure(const edhoc_session *s, uint8_t *a)
{
    static const uint8_t prefix[] = {0x83, 0x68, 'E', 'n', 'c', 'r', 'y', 'p', 't', '0', 0x40};
    size_t hl = hash_length(s->suite->hash), n = sizeof(prefix);
    memcpy(a, prefix, n);
    n += head(a + n, CBOR_BSTR, hl);
    memcpy(a + n, s->th, hl);
    return n + hl;
}

static void finish(edhoc_session *s)
{
    size_t hl = hash_length(s->suite->hash);
    kdf1(s, s->prk, 7, s->th, hl, s->prk_out, hl);
    kdf1(s, s->prk_out, 10, NULL, 0, s->prk_exporter, hl);
    memset(s->prk, 0, sizeof(s->prk)); /* REQ-HS-035 */
    s->state = EDHOC_DONE;
}

/* --- errors ------------------------------------------------------------------------------ */

static int fail_with(edhoc_session *s, edhoc_out *out, edhoc_alert alert, const char *detail,
                     int send_error)
{
    const char *name = edhoc_alert_name(alert);
    size_t n = 0, len = strlen(name);

    out->alert = alert;
    out->detail = detail;
    out->len = 0;
    if (send_error) {
        if (alert == ALERT_UNKNOWN_CREDENTIAL) {
            out->buf[n++] = ERR_CODE_UNKNOWN_CREDENTIAL;
            out->buf[n++] = 0xf5; /* true */
        } else {
            out->buf[n++] = ERR_CODE_ONE;
            n += head(out->buf + n, CBOR_TSTR, len);
            memcpy(out->buf + n, name, len);
            n += len;
        }
        out->len = n;
    }
    memset(s->dk, 0, sizeof(s->dk));
    memset(s->prk, 0, sizeof(s->prk));
    memset(s->prk_out, 0, sizeof(s->prk_out));
    memset(s->prk_exporter, 0, sizeof(s->prk_exporter));
    s->state = EDHOC_FAILED;
    return -1;
}

/* --- initiator ------------------------------------------------------------------------------ */

int edhoc_initiator_start(edhoc_session *s, const uint8_t kem_seed[64], edhoc_out *out)
{
    mlkem_sizes sz;
    hash_stream h;
    size_t n = 0;

    s->initiator = 1;
    s->suite = edhoc_find_suite(s->suites[0]);
    out->len = 0;
    out->alert = ALERT_NONE;
    if (s->suite == NULL || prim_mlkem_sizes(s->suite->kem_set, &sz) != 0 ||
        sz.dk > sizeof(s->dk) || out->cap < 16 + sz.ek + EDHOC_MAX_CID) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "suite not implemented", 0);
    }
    memcpy(s->c_i, s->own_cid, s->own_cid_len);
    s->c_i_len = s->own_cid_len;
    out->buf[n++] = METHOD_SIGNATURE;
    n += put_int(out->buf + n, s->suite->id); /* one suite offered: SUITES_I is an int */
    n += head(out->buf + n, CBOR_BSTR, sz.ek);
    if (prim_mlkem_keygen(s->suite->kem_set, kem_seed, kem_seed + 32, out->buf + n, s->dk) != 0) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "ML-KEM key generation failed", 0);
    }
    n += sz.ek;
    n += put_compact(out->buf + n, s->c_i, s->c_i_len);
    out->len = n;
    hash_init(&h, s->suite->hash);
    hash_update(&h, out->buf, n);
    hash_final(&h, s->h_message_1);
    s->state = EDHOC_WAIT_M2;
    return 0;
}

static int sign_into(edhoc_session *s, const uint8_t *payload, size_t payload_len, uint8_t *sig,
                     size_t *sig_len)
{
    return prim_mldsa_sign(s->suite->sig_alg, cred_own_secret(), payload, payload_len,
                           (const uint8_t *)"", 0, s->sig_rnd, sig, sig_len);
}

/* Resolve a kid against the allow-list and the configured expected peer (REQ-HS-010/011). */
static edhoc_alert resolve_peer(edhoc_session *s, const uint8_t *kid, size_t kid_len,
                                const char **detail)
{
    const credential *peer = cred_find_peer(kid, kid_len);
    if (peer == NULL) {
        *detail = "kid not in the allow-list";
        return ALERT_UNKNOWN_CREDENTIAL;
    }
    if (s->expected_peer_len > 0 &&
        (kid_len != s->expected_peer_len || memcmp(kid, s->expected_peer, kid_len) != 0)) {
        *detail = "not the expected peer";
        return ALERT_AUTHENTICATION_FAILED;
    }
    if (peer->alg != s->suite->sig_alg) {
        *detail = "peer key is not for the suite's signature algorithm";
        return ALERT_AUTHENTICATION_FAILED;
    }
    s->peer = peer;
    return ALERT_NONE;
}

/* Verify Signature_or_MAC_x of the peer (method 0). */
static edhoc_alert verify_peer(edhoc_session *s, int64_t label, const uint8_t *c_r,
                               size_t c_r_len, const uint8_t *kid, size_t kid_len,
                               const uint8_t *ead, size_t ead_len, const uint8_t *sig,
                               size_t sig_len, const char **detail)
{
    uint8_t mac[HASH_MAX_LEN];
    size_t payload_len;
    int valid = 0;

    compute_mac(s, label, c_r, c_r_len, kid, kid_len, s->peer, ead, ead_len, mac);
    payload_len = sig_structure(s, kid, kid_len, s->peer, ead, ead_len, mac);
    if (payload_len == 0 ||
        prim_mldsa_verify(s->suite->sig_alg, s->peer->ccs + s->peer->pub_pos, scratch, payload_len,
                          (const uint8_t *)"", 0, sig, sig_len, &valid) != 0 ||
        !valid) {
        *detail = "signature does not verify";
        return ALERT_AUTHENTICATION_FAILED;
    }
    return ALERT_NONE;
}

static int error_message(const uint8_t *msg, size_t len)
{
    return len > 0 && (msg[0] >> 5) <= CBOR_NINT;
}

static int initiator_message_2(edhoc_session *s, const uint8_t *msg, size_t len, edhoc_out *out)
{
    const edhoc_suite *su = s->suite;
    const credential *own = cred_own();
    const aead_params *aead = aead_find(su->aead);
    mlkem_sizes sz;
    cbor_reader r;
    const uint8_t *body, *c_r, *kid, *sig, *ead;
    size_t body_len, pt_len, c_r_len, kid_len, sig_len, ead_len, i, n, hl = hash_length(su->hash);
    size_t sig_hdr, payload_len, own_sig_len = 0, sig_max;
    uint8_t g_xy[32], mac[HASH_MAX_LEN], key[32], iv[13], a3[16 + HASH_MAX_LEN];
    mldsa_sizes dsz;
    edhoc_alert alert;
    const char *detail = NULL;

    prim_mlkem_sizes(su->kem_set, &sz);
    r.data = msg;
    r.len = len;
    r.pos = 0;
    if (read_bstr(&r, &body, &body_len) != 0 || r.pos != len) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "message_2 must be one byte string", 1);
    }
    if (body_len <= sz.ct) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "G_Y_CIPHERTEXT_2 too short", 1);
    }
    pt_len = body_len - sz.ct;
    if (pt_len > EDHOC_PLAINTEXT_MAX) {
        return fail_with(s, out, ALERT_MESSAGE_TOO_LARGE, "PLAINTEXT_2 above this build's limit", 1);
    }
    prim_mlkem_decaps(su->kem_set, s->dk, body, g_xy);
    memset(s->dk, 0, sizeof(s->dk)); /* REQ-HS-035 */
    transcript_2(s, body, sz.ct);
    hkdf_extract(su->hash, s->th, hl, g_xy, sizeof(g_xy), s->prk);
    memset(g_xy, 0, sizeof(g_xy));
    kdf1(s, s->prk, 0, s->th, hl, scratch, pt_len);
    for (i = 0; i < pt_len; i++) {
        plaintext[i] = body[sz.ct + i] ^ scratch[i];
    }
    r.data = plaintext;
    r.len = pt_len;
    r.pos = 0;
    if (read_compact(&r, &c_r, &c_r_len) != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "C_R is malformed", 1);
    }
    if (c_r_len > EDHOC_MAX_CID) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "C_R too long for an OSCORE ID", 1);
    }
    if (c_r_len == s->c_i_len && memcmp(c_r, s->c_i, c_r_len) == 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "C_R equals C_I", 1); /* REQ-HS-009 */
    }
    memcpy(s->c_r, c_r, c_r_len);
    s->c_r_len = c_r_len;
    alert = read_id_cred(&r, &kid, &kid_len, &detail);
    if (alert == ALERT_NONE && read_bstr(&r, &sig, &sig_len) != 0) {
        alert = ALERT_DECODE_ERROR;
        detail = "Signature_or_MAC_2 must be a byte string";
    }
    ead = r.data + r.pos;
    if (alert == ALERT_NONE) {
        alert = check_ead(&r, &detail);
    }
    ead_len = (size_t)(r.data + r.len - ead);
    if (alert == ALERT_NONE) {
        alert = resolve_peer(s, kid, kid_len, &detail);
    }
    if (alert == ALERT_NONE) {
        alert = verify_peer(s, 2, c_r, c_r_len, kid, kid_len, ead, ead_len, sig, sig_len, &detail);
    }
    if (alert != ALERT_NONE) {
        return fail_with(s, out, alert, detail, 1);
    }
    transcript_next(s, plaintext, pt_len, s->peer); /* TH_3 */

    /* message_3: PLAINTEXT_3 = (ID_CRED_I, Signature_or_MAC_3) under K_3 / IV_3. */
    prim_mldsa_sizes(su->sig_alg, &dsz);
    compute_mac(s, 6, NULL, 0, own->kid, own->kid_len, own, NULL, 0, mac);
    payload_len = sig_structure(s, own->kid, own->kid_len, own, NULL, 0, mac);
    n = put_compact(plaintext, own->kid, own->kid_len);
    sig_hdr = head(plaintext + n, CBOR_BSTR, dsz.sig);
    sig_max = EDHOC_PLAINTEXT_MAX - n - sig_hdr;
    if (payload_len == 0 || dsz.sig > sig_max ||
        out->cap < 9 + n + sig_hdr + dsz.sig + aead->tag_len) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "message_3 does not fit", 1);
    }
    if (sign_into(s, scratch, payload_len, plaintext + n + sig_hdr, &own_sig_len) != 0 ||
        own_sig_len != dsz.sig) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "signing failed", 1);
    }
    pt_len = n + sig_hdr + own_sig_len;
    kdf1(s, s->prk, 3, s->th, hl, key, aead->key_len);
    kdf1(s, s->prk, 4, s->th, hl, iv, aead->nonce_len);
    n = enc_structure(s, a3);
    i = head(out->buf, CBOR_BSTR, pt_len + aead->tag_len);
    aead_seal(aead, key, iv, a3, n, plaintext, pt_len, out->buf + i);
    out->len = i + pt_len + aead->tag_len;
    memset(key, 0, sizeof(key));
    transcript_next(s, plaintext, pt_len, own); /* TH_4 */
    finish(s);
    return 0;
}

/* --- responder ------------------------------------------------------------------------------ */

void edhoc_responder_start(edhoc_session *s)
{
    s->initiator = 0;
    s->state = EDHOC_START;
}

static size_t put_suites_r(uint8_t *p, const edhoc_session *s)
{
    size_t n = 0, i;
    if (s->suite_count == 1) {
        return put_int(p, s->suites[0]);
    }
    n = head(p, CBOR_ARRAY, s->suite_count);
    for (i = 0; i < s->suite_count; i++) {
        n += put_int(p + n, s->suites[i]);
    }
    return n;
}

static int enabled(const edhoc_session *s, int64_t id)
{
    size_t i;
    for (i = 0; i < s->suite_count; i++) {
        if (s->suites[i] == id) {
            return 1;
        }
    }
    return 0;
}

static int responder_message_1(edhoc_session *s, const uint8_t *msg, size_t len, edhoc_out *out)
{
    const credential *own = cred_own();
    cbor_reader r;
    int major;
    uint64_t count, i;
    int64_t method, offered[EDHOC_MAX_SUITES], selected;
    size_t offered_count = 0, g_x_len, c_i_len, n, pt_len, sig_hdr, sig_len = 0, payload_len;
    size_t hl;
    const uint8_t *g_x, *c_i;
    int earlier = 0;
    mlkem_sizes sz;
    mldsa_sizes dsz;
    uint8_t g_xy[32], mac[HASH_MAX_LEN];
    const char *detail = NULL;
    edhoc_alert alert;
    hash_stream h;

    r.data = msg;
    r.len = len;
    r.pos = 0;
    /* (2) structure */
    if (read_int(&r, &method) != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "METHOD must be an int", 1);
    }
    if (r.pos < len && (msg[r.pos] >> 5) == CBOR_ARRAY) {
        if (cbor_read_head(&r, &major, &count) != 0 || count < 2 || count > EDHOC_MAX_SUITES) {
            return fail_with(s, out, ALERT_DECODE_ERROR, "SUITES_I array must have 2..8 ints", 1);
        }
        for (i = 0; i < count; i++) {
            if (read_int(&r, &offered[offered_count++]) != 0) {
                return fail_with(s, out, ALERT_DECODE_ERROR, "SUITES_I must hold ints", 1);
            }
        }
    } else if (read_int(&r, &offered[offered_count++]) != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "SUITES_I must be an int or an array", 1);
    }
    if (read_bstr(&r, &g_x, &g_x_len) != 0 || read_compact(&r, &c_i, &c_i_len) != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "G_X or C_I is malformed", 1);
    }
    n = r.pos;
    alert = check_ead(&r, &detail);
    if (alert == ALERT_DECODE_ERROR) {
        return fail_with(s, out, alert, detail, 1);
    }
    r.pos = n;
    /* (3) method */
    if (method != METHOD_SIGNATURE) {
        return fail_with(s, out, ALERT_UNSUPPORTED_METHOD, "only method 0 is enabled", 1);
    }
    /* (4) negotiation (RFC 9528 §5.2.3, REQ-HS-027) */
    selected = offered[offered_count - 1];
    for (i = 0; i + 1 < offered_count; i++) {
        earlier |= enabled(s, offered[i]);
    }
    if (!enabled(s, selected) || earlier) {
        n = 0;
        out->buf[n++] = ERR_CODE_WRONG_SUITE;
        n += put_suites_r(out->buf + n, s);
        out->len = n;
        out->alert = ALERT_WRONG_SELECTED_CIPHER_SUITE;
        out->detail = "selected suite not enabled";
        s->state = EDHOC_FAILED;
        return -1;
    }
    s->suite = edhoc_find_suite(selected);
    prim_mlkem_sizes(s->suite->kem_set, &sz);
    prim_mldsa_sizes(s->suite->sig_alg, &dsz);
    hl = hash_length(s->suite->hash);
    /* (6) G_X and C_I */
    if (g_x_len != sz.ek || c_i_len > EDHOC_MAX_CID) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "G_X length or C_I length is wrong", 1);
    }
    /* (7) EAD_1 */
    alert = check_ead(&r, &detail);
    if (alert != ALERT_NONE) {
        return fail_with(s, out, alert, detail, 1);
    }
    if (s->own_cid_len == c_i_len && memcmp(s->own_cid, c_i, c_i_len) == 0) {
        return fail_with(s, out, ALERT_UNSPECIFIED, "C_R would equal C_I", 1); /* REQ-HS-005 */
    }
    memcpy(s->c_i, c_i, c_i_len);
    s->c_i_len = c_i_len;
    memcpy(s->c_r, s->own_cid, s->own_cid_len);
    s->c_r_len = s->own_cid_len;
    hash_init(&h, s->suite->hash);
    hash_update(&h, msg, len);
    hash_final(&h, s->h_message_1);

    /* G_Y = Encaps(G_X), written straight into message_2 behind its 3-byte bstr head. */
    if (out->cap < 3 + sz.ct + EDHOC_PLAINTEXT_MAX) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "output buffer too small", 1);
    }
    if (prim_mlkem_encaps(s->suite->kem_set, g_x, s->kem_m, out->buf + 3, g_xy) != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "G_X fails the FIPS 203 checks", 1);
    }
    transcript_2(s, out->buf + 3, sz.ct);
    hkdf_extract(s->suite->hash, s->th, hl, g_xy, sizeof(g_xy), s->prk);
    memset(g_xy, 0, sizeof(g_xy));

    /* PLAINTEXT_2 = (C_R, ID_CRED_R, Signature_or_MAC_2) */
    compute_mac(s, 2, s->c_r, s->c_r_len, own->kid, own->kid_len, own, NULL, 0, mac);
    payload_len = sig_structure(s, own->kid, own->kid_len, own, NULL, 0, mac);
    n = put_compact(plaintext, s->c_r, s->c_r_len);
    n += put_compact(plaintext + n, own->kid, own->kid_len);
    sig_hdr = head(plaintext + n, CBOR_BSTR, dsz.sig);
    if (payload_len == 0 || n + sig_hdr + dsz.sig > EDHOC_PLAINTEXT_MAX) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "message_2 does not fit", 1);
    }
    if (sign_into(s, scratch, payload_len, plaintext + n + sig_hdr, &sig_len) != 0 ||
        sig_len != dsz.sig) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "signing failed", 1);
    }
    pt_len = n + sig_hdr + sig_len;
    kdf1(s, s->prk, 0, s->th, hl, scratch, pt_len); /* KEYSTREAM_2 */
    for (i = 0; i < pt_len; i++) {
        out->buf[3 + sz.ct + i] = plaintext[i] ^ scratch[i];
    }
    out->buf[0] = 0x59; /* bstr, 2-byte length: G_Y alone is >= 768 bytes */
    out->buf[1] = (uint8_t)((sz.ct + pt_len) >> 8);
    out->buf[2] = (uint8_t)(sz.ct + pt_len);
    out->len = 3 + sz.ct + pt_len;
    transcript_next(s, plaintext, pt_len, own); /* TH_3 */
    s->state = EDHOC_WAIT_M3;
    return 0;
}

static int responder_message_3(edhoc_session *s, const uint8_t *msg, size_t len, edhoc_out *out)
{
    const aead_params *aead = aead_find(s->suite->aead);
    size_t hl = hash_length(s->suite->hash), ct_len, pt_len, kid_len, sig_len, ead_len, a_len;
    const uint8_t *ct, *kid, *sig, *ead;
    uint8_t key[32], iv[13], a3[16 + HASH_MAX_LEN];
    cbor_reader r;
    edhoc_alert alert;
    const char *detail = NULL;
    int ok;

    r.data = msg;
    r.len = len;
    r.pos = 0;
    if (read_bstr(&r, &ct, &ct_len) != 0 || r.pos != len) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "message_3 must be one byte string", 1);
    }
    if (ct_len < aead->tag_len || ct_len - aead->tag_len > EDHOC_PLAINTEXT_MAX) {
        return fail_with(s, out, ct_len < aead->tag_len ? ALERT_DECRYPT_FAILED
                                                        : ALERT_MESSAGE_TOO_LARGE,
                         "CIPHERTEXT_3 length", 1);
    }
    kdf1(s, s->prk, 3, s->th, hl, key, aead->key_len);
    kdf1(s, s->prk, 4, s->th, hl, iv, aead->nonce_len);
    a_len = enc_structure(s, a3);
    ok = aead_open(aead, key, iv, a3, a_len, ct, ct_len, plaintext);
    memset(key, 0, sizeof(key));
    if (!ok) {
        return fail_with(s, out, ALERT_DECRYPT_FAILED, "CIPHERTEXT_3 does not verify", 1);
    }
    pt_len = ct_len - aead->tag_len;
    r.data = plaintext;
    r.len = pt_len;
    r.pos = 0;
    alert = read_id_cred(&r, &kid, &kid_len, &detail);
    if (alert == ALERT_NONE && read_bstr(&r, &sig, &sig_len) != 0) {
        alert = ALERT_DECODE_ERROR;
        detail = "Signature_or_MAC_3 must be a byte string";
    }
    ead = r.data + r.pos;
    if (alert == ALERT_NONE) {
        alert = check_ead(&r, &detail);
    }
    ead_len = (size_t)(r.data + r.len - ead);
    if (alert == ALERT_NONE) {
        alert = resolve_peer(s, kid, kid_len, &detail);
    }
    if (alert == ALERT_NONE) {
        alert = verify_peer(s, 6, NULL, 0, kid, kid_len, ead, ead_len, sig, sig_len, &detail);
    }
    if (alert != ALERT_NONE) {
        return fail_with(s, out, alert, detail, 1);
    }
    transcript_next(s, plaintext, pt_len, s->peer); /* TH_4 */
    finish(s);
    out->len = 0;
    return 0;
}

int edhoc_deliver(edhoc_session *s, const uint8_t *msg, size_t len, edhoc_out *out)
{
    out->len = 0;
    out->alert = ALERT_NONE;
    out->detail = NULL;
    if (len > EDHOC_MAX_MESSAGE) {
        if (s->state == EDHOC_DONE || s->state == EDHOC_FAILED) {
            return 0;
        }
        return fail_with(s, out, ALERT_MESSAGE_TOO_LARGE, "above 16384 bytes", 1);
    }
    switch (s->state) {
    case EDHOC_START:
        if (s->initiator) {
            return fail_with(s, out, ALERT_UNEXPECTED_MESSAGE, "initiator has not started", 0);
        }
        return responder_message_1(s, msg, len, out);
    case EDHOC_WAIT_M2:
    case EDHOC_WAIT_M3:
        if (error_message(msg, len)) {
            /* REQ-HS-022: never answer an error with an error. */
            return fail_with(s, out, ALERT_UNSPECIFIED, "peer sent an error message", 0);
        }
        return s->state == EDHOC_WAIT_M2 ? initiator_message_2(s, msg, len, out)
                                         : responder_message_3(s, msg, len, out);
    case EDHOC_DONE:
        if (error_message(msg, len)) {
            return fail_with(s, out, ALERT_UNSPECIFIED, "peer sent an error message", 0);
        }
        return 0; /* REQ-HS-018: dropped */
    default:
        return 0; /* FAILED: drop */
    }
}

int edhoc_exporter(const edhoc_session *s, uint64_t label, const uint8_t *context,
                   size_t context_len, uint8_t *out, size_t len)
{
    if (s->state != EDHOC_DONE || label > (uint64_t)INT64_MAX ||
        len > 255u * hash_length(s->suite->hash)) {
        return -1;
    }
    kdf1(s, s->prk_exporter, (int64_t)label, context, context_len, out, len);
    return 0;
}
