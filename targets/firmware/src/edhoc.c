#include "edhoc.h"

#include <string.h>

#include "aead.h"
#include "cbor.h"
#include "prims.h"
#include "secure_zero.h"
#include "sp.h"
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
/* Context spans EDHOC_KDF takes: C_R, ID_CRED_x, TH_x, CRED_x, EAD_x. */
#define EDHOC_KDF_MAX_CONTEXT 5u

/* PLAINTEXT_2/3 in work buffer 0, KEYSTREAM_2 and the Sig_structure in work buffer 1. */
#define plaintext (work_buffer(0))
#define scratch (work_buffer(1))

/* The secret temporaries of one handshake step (G_XY, MAC_2/3, K_3, IV_3), kept here instead of
 * on the stack so that edhoc_deliver can erase them after every step, whichever return path the
 * step took (REQ-HS-034, REQ-HS-035); the work buffer with KEYSTREAM_2 and the Sig_structure
 * (which holds MAC_x) is erased with them. */
static struct {
    uint8_t g_xy[32];
    uint8_t mac[HASH_MAX_LEN];
    uint8_t key[32];
    uint8_t iv[13];
} tmp;

static void erase_step_secrets(void)
{
    secure_zero(&tmp, sizeof(tmp));
    secure_zero(scratch, EDHOC_PLAINTEXT_MAX);
}

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

size_t edhoc_max_cid(const edhoc_suite *suite)
{
    const aead_params *aead = aead_find(suite->aead);
    size_t limit = aead != NULL && aead->nonce_len > 6 ? aead->nonce_len - 6 : 0;
    return limit < EDHOC_MAX_CID ? limit : EDHOC_MAX_CID;
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

/* --- the last message sent (REQ-HS-038, REQ-SER-007) ------------------------------------- */

static uint8_t reply_buf[EDHOC_REPLY_CACHE];
static size_t reply_len;
static const edhoc_session *reply_owner;

static void digest_message(const uint8_t *msg, size_t len, uint8_t out[32])
{
    hash_stream h;
    hash_init(&h, HASH_SHA256);
    hash_update(&h, msg, len);
    hash_final(&h, out);
}

/* Remember what s just sent (out) and, if in != NULL, the message it accepted. */
static void remember(edhoc_session *s, const uint8_t *in, size_t in_len, const edhoc_out *out)
{
    if (in != NULL) {
        digest_message(in, in_len, s->last_in_hash);
        s->last_in_len = in_len;
        s->has_last_in = 1;
    }
    if (out->len <= sizeof(reply_buf)) {
        memcpy(reply_buf, out->buf, out->len);
        reply_len = out->len;
        reply_owner = s;
    } else if (reply_owner == s) {
        reply_owner = NULL;
    }
}

int edhoc_is_retransmission(const edhoc_session *s, const uint8_t *msg, size_t len)
{
    uint8_t digest[32];
    if (!s->has_last_in || len != s->last_in_len || s->state == EDHOC_FAILED) {
        return 0;
    }
    digest_message(msg, len, digest);
    return memcmp(digest, s->last_in_hash, sizeof(digest)) == 0;
}

const uint8_t *edhoc_last_sent(const edhoc_session *s, size_t *len)
{
    if (reply_owner != s) {
        return NULL;
    }
    *len = reply_len;
    return reply_buf;
}

void edhoc_release(const edhoc_session *s)
{
    if (reply_owner == s) {
        reply_owner = NULL;
        reply_len = 0;
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

/* Detail of an unsupported critical EAD item; fail_ead() puts its label into ERR_INFO. */
static const char EAD_CRITICAL[] = "unsupported critical EAD";

/* EAD_x until the end: (int label, ? bstr value)*. A critical (negative) label is refused,
 * since v1 defines none (REQ-HS-020): detail EAD_CRITICAL and its label in *critical; the
 * rest (padding) is ignored. */
static edhoc_alert check_ead(cbor_reader *r, const char **detail, int64_t *critical)
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
            cbor_read_bstr(r, &value, &len) != 0) {
            *detail = "EAD value is malformed";
            return ALERT_DECODE_ERROR;
        }
        if (label < 0) {
            *detail = EAD_CRITICAL;
            *critical = label;
            return ALERT_UNSPECIFIED;
        }
    }
    return ALERT_NONE;
}

/* A received ID_CRED_x: the kid it names and, for a credential by value ({14: CCS}), the
 * CCS and the raw header map (which then enters MAC_x and the Sig_structure as sent). */
typedef struct {
    const uint8_t *kid;
    size_t kid_len;
    const uint8_t *ccs; /* NULL unless by value */
    size_t ccs_len;
    const uint8_t *map;
    size_t map_len;
} id_cred_in;

static edhoc_alert read_id_cred(cbor_reader *r, id_cred_in *idc, const char **detail)
{
    int major;
    uint64_t count, i;
    int64_t label;
    size_t start = r->pos, value_start;
    int found = 0;

    memset(idc, 0, sizeof(*idc));
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
            value_start = r->pos;
            if (label == (int64_t)HEADER_KID) {
                if (cbor_read_bstr(r, &idc->kid, &idc->kid_len) != 0) {
                    *detail = "kid must be a byte string";
                    return ALERT_DECODE_ERROR;
                }
                found = 1;
            } else if (label == (int64_t)HEADER_KCCS) {
                if (r->pos >= r->len || (r->data[r->pos] >> 5) != CBOR_MAP || cbor_skip(r) != 0) {
                    *detail = "kccs must hold a CCS map";
                    return ALERT_DECODE_ERROR;
                }
                idc->ccs = r->data + value_start;
                idc->ccs_len = r->pos - value_start;
            } else if (cbor_skip(r) != 0) {
                *detail = "ID_CRED map is malformed";
                return ALERT_DECODE_ERROR;
            }
        }
        if (idc->ccs != NULL) {
            cred_view view;
            mldsa_sizes sz;
            size_t falcon_pk, falcon_sig;
            if (cred_view_of(idc->ccs, idc->ccs_len, &view) != 0 || !view.has_sub) {
                *detail = "credential by value is not a CCS with sub and an AKP key (REQ-CRED-001)";
                return ALERT_DECODE_ERROR;
            }
            if ((prim_mldsa_sizes(view.alg, &sz) == 0 && view.pub_len != sz.pk) ||
                (prim_falcon_sizes(view.alg, &falcon_pk, &falcon_sig) == 0 &&
                 view.pub_len != falcon_pk)) {
                *detail = "pub length does not match alg (REQ-CRED-003)";
                return ALERT_DECODE_ERROR;
            }
            idc->kid = view.kid;
            idc->kid_len = view.kid_len;
            idc->map = r->data + start;
            idc->map_len = r->pos - start;
            return ALERT_NONE;
        }
        if (!found) {
            *detail = "ID_CRED names no kid";
            return ALERT_UNKNOWN_CREDENTIAL;
        }
        /* REQ-ENC-012: a received map enters MAC_x and the Sig_structure as sent. */
        idc->map = r->data + start;
        idc->map_len = r->pos - start;
        return ALERT_NONE;
    }
    if (read_compact(r, &idc->kid, &idc->kid_len) != 0) {
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
    span info[EDHOC_KDF_MAX_CONTEXT + 2];
    size_t i, total = 0, n = 0;

    for (i = 0; i < context_count; i++) {
        total += context[i].len;
    }
    info[0].data = pre;
    info[0].len = put_int(pre, label);
    info[0].len += head(pre + info[0].len, CBOR_BSTR, total);
    for (i = 0; i < context_count && i < EDHOC_KDF_MAX_CONTEXT; i++) {
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
 * << ? C_R, ID_CRED_x, TH_x, CRED_x, ? EAD_x >> (RFC 9528 §5.3.2, §5.4.2). ID_CRED_x is
 * {4: kid}, or idc_raw (a received by-value map) when given. */
static void compute_mac(const edhoc_session *s, int64_t label, const uint8_t *c_r, size_t c_r_len,
                        const uint8_t *kid, size_t kid_len, const uint8_t *idc_raw,
                        size_t idc_raw_len, const credential *cred, const uint8_t *ead,
                        size_t ead_len, uint8_t *mac)
{
    uint8_t prefix[EDHOC_MAX_CID + 4 + CRED_MAX_KID + 6], th[2 + HASH_MAX_LEN];
    size_t hl = hash_length(s->suite->hash), n = 0, m;
    span ctx[5];

    if (c_r != NULL) {
        n += put_compact(prefix, c_r, c_r_len);
    }
    ctx[0].data = prefix;
    if (idc_raw != NULL) {
        ctx[0].len = n;
        ctx[1].data = idc_raw;
        ctx[1].len = idc_raw_len;
    } else {
        n += put_id_cred_map(prefix + n, kid, kid_len);
        ctx[0].len = n;
        ctx[1].data = prefix + n;
        ctx[1].len = 0;
    }
    m = head(th, CBOR_BSTR, hl);
    memcpy(th + m, s->th, hl);
    ctx[2].data = th;
    ctx[2].len = m + hl;
    ctx[3].data = cred->ccs;
    ctx[3].len = cred->ccs_len;
    ctx[4].data = ead;
    ctx[4].len = ead_len;
    edhoc_kdf(s->suite->hash, s->prk, label, ctx, 5, mac, hl);
}

/* Sig_structure ["Signature1", << ID_CRED_x >>, << TH_x, CRED_x, ? EAD_x >>, MAC_x] in
 * scratch (ID_CRED_x as in compute_mac); returns its length, or 0 if it does not fit. */
static size_t sig_structure(const edhoc_session *s, const uint8_t *kid, size_t kid_len,
                            const uint8_t *idc_raw, size_t idc_raw_len, const credential *cred,
                            const uint8_t *ead, size_t ead_len, const uint8_t *mac)
{
    static const uint8_t prefix[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'};
    uint8_t idc_map[4 + CRED_MAX_KID + 6];
    const uint8_t *idc = idc_raw;
    size_t hl = hash_length(s->suite->hash), idc_len = idc_raw_len, aad_len, n;

    if (idc == NULL) {
        idc_len = put_id_cred_map(idc_map, kid, kid_len);
        idc = idc_map;
    }
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
    /* REQ-HS-035: PRK_2e = PRK_3e2m = PRK_4e3m goes; K_3/IV_3 went with the step's temporaries */
    secure_zero(s->prk, sizeof(s->prk));
    secure_zero(s->sig_rnd, sizeof(s->sig_rnd));
    s->state = EDHOC_DONE;
}

/* --- errors ------------------------------------------------------------------------------ */

/* Discard everything the session derived (REQ-HS-034) and end it in FAILED. */
static int abort_session(edhoc_session *s)
{
    secure_zero(s->dk, sizeof(s->dk));
    secure_zero(s->kem_m, sizeof(s->kem_m)); /* G_XY follows from m and the public G_X */
    secure_zero(s->sig_rnd, sizeof(s->sig_rnd));
    secure_zero(s->prk, sizeof(s->prk));
    secure_zero(s->prk_out, sizeof(s->prk_out));
    secure_zero(s->prk_exporter, sizeof(s->prk_exporter));
    erase_step_secrets();
    s->state = EDHOC_FAILED;
    return -1;
}

/* REQ-HS-020: ERR_CODE 1 with ERR_INFO "unspecified_error: unsupported critical EAD <label>". */
static int fail_ead(edhoc_session *s, edhoc_out *out, int64_t label)
{
    static const char prefix[] = "unspecified_error: unsupported critical EAD -";
    uint8_t digits[20];
    uint64_t v = label < 0 ? (uint64_t)(-(label + 1)) + 1u : (uint64_t)label;
    size_t nd = 0, n = 0, len, i;

    do {
        digits[nd++] = (uint8_t)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0);
    len = sizeof(prefix) - 1 - (label < 0 ? 0 : 1) + nd;
    out->alert = ALERT_UNSPECIFIED;
    out->detail = EAD_CRITICAL;
    out->buf[n++] = ERR_CODE_ONE;
    n += head(out->buf + n, CBOR_TSTR, len);
    memcpy(out->buf + n, prefix, len - nd);
    n += len - nd;
    for (i = 0; i < nd; i++) {
        out->buf[n++] = digits[nd - 1 - i];
    }
    out->len = n;
    return abort_session(s);
}

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
    return abort_session(s);
}

/* REQ-HS-036: the WAIT_M3 bound is reached. ERR_CODE 1 "unspecified_error: busy" (the one
 * detail on the wire: REQ-HS-040 lets the Initiator retry on it); message_1 is not even parsed,
 * so nothing of it is kept. */
static int fail_busy(edhoc_session *s, edhoc_out *out)
{
    static const char info[] = "unspecified_error: busy";
    size_t n = 0;

    out->alert = ALERT_UNSPECIFIED;
    out->detail = "busy: the bound of sessions in WAIT_M3 is reached (REQ-HS-036)";
    out->buf[n++] = ERR_CODE_ONE;
    n += head(out->buf + n, CBOR_TSTR, sizeof(info) - 1u);
    memcpy(out->buf + n, info, sizeof(info) - 1u);
    out->len = n + sizeof(info) - 1u;
    return abort_session(s);
}

/* The end of a message check: the EAD failure with its exact ERR_INFO, else fail_with. */
static int fail_check(edhoc_session *s, edhoc_out *out, edhoc_alert alert, const char *detail,
                      int64_t critical)
{
    if (detail == EAD_CRITICAL) {
        return fail_ead(s, out, critical);
    }
    return fail_with(s, out, alert, detail, 1);
}

/* --- initiator ------------------------------------------------------------------------------ */

int edhoc_initiator_start(edhoc_session *s, const uint8_t kem_seed[64], edhoc_out *out)
{
    mlkem_sizes sz;
    hash_stream h;
    size_t n = 0;
    int rc;

    s->initiator = 1;
    s->suite = edhoc_find_suite(s->suites[0]);
    out->len = 0;
    out->alert = ALERT_NONE;
    if (s->suite == NULL || prim_mlkem_sizes(s->suite->kem_set, &sz) != 0 ||
        sz.dk > sizeof(s->dk) || out->cap < 16 + sz.ek + EDHOC_MAX_CID) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "suite not implemented", 0);
    }
    if (s->own_cid_len > edhoc_max_cid(s->suite)) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "C_I too long for the suite (REQ-HS-003)", 0);
    }
    memcpy(s->c_i, s->own_cid, s->own_cid_len);
    s->c_i_len = s->own_cid_len;
    out->buf[n++] = METHOD_SIGNATURE;
    n += put_int(out->buf + n, s->suite->id); /* one suite offered: SUITES_I is an int */
    n += head(out->buf + n, CBOR_BSTR, sz.ek);
    rc = prim_mlkem_keygen(s->suite->kem_set, kem_seed, kem_seed + 32, out->buf + n, s->dk);
    secure_stack_burn(SECURE_KEM_STACK); /* PQClean's copies of the seed and the secret s */
    if (rc != 0) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "ML-KEM key generation failed", 0);
    }
    n += sz.ek;
    n += put_compact(out->buf + n, s->c_i, s->c_i_len);
    out->len = n;
    hash_init(&h, s->suite->hash);
    hash_update(&h, out->buf, n);
    hash_final(&h, s->h_message_1);
    s->state = EDHOC_WAIT_M2;
    s->has_last_in = 0;
    remember(s, NULL, 0, out); /* for the serial binding's retransmission (REQ-SER-007) */
    return 0;
}

/* Signature_or_MAC_x through the SecurityProvider (REQ-SP-001): the own key, asked for the
 * suite's signature algorithm; a key bound to another algorithm is refused (REQ-SP-003) and
 * every refusal becomes internal_error at the call site (REQ-SP-004). sig points into
 * `plaintext`, which bounds the room for it. */
static int sign_into(edhoc_session *s, const uint8_t *payload, size_t payload_len, uint8_t *sig,
                     size_t *sig_len)
{
    sp_key_ref key;
    key.slot = SP_SLOT_OWN;
    key.alg = s->suite->sig_alg;
    return sp_sign(key, payload, payload_len, s->sig_rnd, sig,
                   EDHOC_PLAINTEXT_MAX - (size_t)(sig - plaintext), sig_len);
}

/* Resolve a received ID_CRED against the allow-list (spec §4.4.1) and the configured expected
 * peer (REQ-HS-010/011), and refuse our own subject (REQ-CRED-007). */
static edhoc_alert resolve_peer(edhoc_session *s, const id_cred_in *idc, const char **detail)
{
    const credential *peer = cred_find_peer(idc->kid, idc->kid_len);
    if (idc->ccs != NULL) {
        if (peer == NULL) {
            *detail = "credential by value needs TOFU";
            return ALERT_TOFU_DISABLED; /* REQ-KS-003 */
        }
        if (peer->ccs_len != idc->ccs_len || memcmp(peer->ccs, idc->ccs, idc->ccs_len) != 0) {
            *detail = "credential by value reuses a stored kid with other bytes (REQ-KS-004)";
            return ALERT_AUTHENTICATION_FAILED;
        }
    }
    if (peer == NULL) {
        *detail = "kid not in the allow-list";
        return ALERT_UNKNOWN_CREDENTIAL;
    }
    if (s->expected_peer_len > 0 && (idc->kid_len != s->expected_peer_len ||
                                     memcmp(idc->kid, s->expected_peer, idc->kid_len) != 0)) {
        *detail = "not the expected peer";
        return ALERT_AUTHENTICATION_FAILED;
    }
    if (cred_same_subject(peer, cred_own())) {
        *detail = "peer credential has our own sub (REQ-CRED-007)";
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
                               size_t c_r_len, const id_cred_in *idc, const uint8_t *ead,
                               size_t ead_len, const uint8_t *sig, size_t sig_len,
                               const char **detail)
{
    uint8_t *mac = tmp.mac;
    size_t payload_len;
    int valid = 0;

    compute_mac(s, label, c_r, c_r_len, idc->kid, idc->kid_len, idc->map, idc->map_len, s->peer,
                ead, ead_len, mac);
    payload_len = sig_structure(s, idc->kid, idc->kid_len, idc->map, idc->map_len, s->peer, ead,
                                ead_len, mac);
    if (payload_len == 0 ||
        prim_mldsa_verify(s->suite->sig_alg, s->peer->ccs + s->peer->pub_pos, scratch, payload_len,
                          (const uint8_t *)"", 0, sig, sig_len, &valid) != 0 ||
        !valid) {
        *detail = "signature does not verify";
        return ALERT_AUTHENTICATION_FAILED;
    }
    return ALERT_NONE;
}

/* What a received message is, by shape (spec §5.11, RFC 9528 §6): a byte string is
 * message_2 or message_3; a well-formed sequence starting with an int is an error message
 * when it holds exactly two items and a message_1 when it holds more. Other input starting
 * with an int (not well-formed, a lone int) is INPUT_BROKEN: in a WAIT state it is read as a
 * malformed error message (REQ-HS-023), never answered (REQ-HS-022). */
typedef enum { INPUT_MESSAGE = 0, INPUT_ERROR, INPUT_MESSAGE_1, INPUT_BROKEN } input_kind;

static input_kind classify(const uint8_t *msg, size_t len)
{
    size_t count = 0;
    if (len == 0 || (msg[0] >> 5) > CBOR_NINT) {
        return INPUT_MESSAGE;
    }
    if (cbor_check_sequence(msg, len, &count) != 0 || count < 2) {
        return INPUT_BROKEN;
    }
    return count == 2 ? INPUT_ERROR : INPUT_MESSAGE_1;
}

/* The alert an ERR_CODE 1 ERR_INFO names: the text up to ':' if it is one of the fourteen,
 * else unspecified_error (REQ-ERR-002). */
edhoc_alert edhoc_alert_named(const uint8_t *text, size_t len)
{
    edhoc_alert a;
    size_t n = 0, name_len;
    const char *name;

    while (n < len && text[n] != ':') {
        n++;
    }
    for (a = ALERT_UNSPECIFIED; a <= ALERT_INTERNAL_ERROR; a = (edhoc_alert)(a + 1)) {
        name = edhoc_alert_name(a);
        name_len = strlen(name);
        if (name_len == n && memcmp(name, text, n) == 0) {
            return a;
        }
    }
    return ALERT_UNSPECIFIED;
}

/* A received error message (ERR_CODE, ERR_INFO): the alert it carries, or decode_error when
 * it is malformed (REQ-HS-023): ERR_CODE 0, ERR_INFO not a text string for ERR_CODE 1,
 * not SUITES_R for 2, not true for 3; an unknown ERR_CODE reads like ERR_CODE 1. */
static edhoc_alert peer_error(const uint8_t *msg, size_t len, const char **detail,
                              int64_t *err_code)
{
    cbor_reader r;
    int64_t code, suite;
    int major;
    uint64_t v, count, i;
    size_t items = 0;
    const uint8_t *info;

    r.data = msg;
    r.len = len;
    r.pos = 0;
    *detail = "malformed error message (REQ-HS-023)";
    if (cbor_check_sequence(msg, len, &items) != 0 || items != 2 || read_int(&r, &code) != 0 ||
        code == 0) {
        return ALERT_DECODE_ERROR;
    }
    info = r.data + r.pos;
    if (cbor_read_head(&r, &major, &v) != 0) {
        return ALERT_DECODE_ERROR;
    }
    if (code == (int64_t)ERR_CODE_WRONG_SUITE) {
        /* SUITES_R = [2* suite] / suite */
        count = 1;
        if (major == CBOR_ARRAY) {
            if (v < 2) {
                return ALERT_DECODE_ERROR;
            }
            count = v; /* the elements follow the array head */
        } else {
            r.pos = (size_t)(info - r.data); /* a single suite: read the item again as an int */
        }
        for (i = 0; i < count; i++) {
            if (read_int(&r, &suite) != 0) {
                return ALERT_DECODE_ERROR;
            }
        }
        *detail = "peer sent ERR_CODE 2 (wrong selected cipher suite)";
        *err_code = code;
        return ALERT_WRONG_SELECTED_CIPHER_SUITE;
    }
    if (code == (int64_t)ERR_CODE_UNKNOWN_CREDENTIAL) {
        if (major != CBOR_SIMPLE || v != CBOR_TRUE) {
            return ALERT_DECODE_ERROR;
        }
        *detail = "peer sent ERR_CODE 3 (unknown credential)";
        *err_code = code;
        return ALERT_UNKNOWN_CREDENTIAL;
    }
    if (major != CBOR_TSTR) {
        if (code == (int64_t)ERR_CODE_ONE) {
            return ALERT_DECODE_ERROR;
        }
        *detail = "peer sent an error message with an unknown ERR_CODE";
        *err_code = code;
        return ALERT_UNSPECIFIED;
    }
    *detail = "peer sent an error message";
    *err_code = code;
    return edhoc_alert_named(r.data + r.pos, (size_t)v);
}

static int initiator_message_2(edhoc_session *s, const uint8_t *msg, size_t len, edhoc_out *out)
{
    const edhoc_suite *su = s->suite;
    const credential *own = cred_own();
    const aead_params *aead = aead_find(su->aead);
    mlkem_sizes sz;
    cbor_reader r;
    const uint8_t *body, *c_r, *sig, *ead;
    id_cred_in idc;
    size_t body_len, pt_len, c_r_len, sig_len, ead_len, i, n, hl = hash_length(su->hash);
    size_t sig_hdr, payload_len, own_sig_len = 0, sig_max;
    uint8_t *g_xy = tmp.g_xy, *mac = tmp.mac, *key = tmp.key, *iv = tmp.iv;
    uint8_t a3[16 + HASH_MAX_LEN];
    mldsa_sizes dsz;
    edhoc_alert alert;
    const char *detail = NULL;
    int64_t critical = 0;

    prim_mlkem_sizes(su->kem_set, &sz);
    r.data = msg;
    r.len = len;
    r.pos = 0;
    if (cbor_read_bstr(&r, &body, &body_len) != 0 || r.pos != len) {
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
    secure_stack_burn(SECURE_KEM_STACK); /* PQClean's copies of G_XY and the decrypted m */
    secure_zero(s->dk, sizeof(s->dk)); /* REQ-HS-035 */
    transcript_2(s, body, sz.ct);
    hkdf_extract(su->hash, s->th, hl, g_xy, sizeof(tmp.g_xy), s->prk);
    secure_zero(g_xy, sizeof(tmp.g_xy));
    kdf1(s, s->prk, 0, s->th, hl, scratch, pt_len);
    for (i = 0; i < pt_len; i++) {
        plaintext[i] = body[sz.ct + i] ^ scratch[i];
    }
    secure_zero(scratch, pt_len); /* KEYSTREAM_2 */
    if (cbor_check_sequence(plaintext, pt_len, NULL) != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "PLAINTEXT_2 is not well-formed CBOR", 1);
    }
    r.data = plaintext;
    r.len = pt_len;
    r.pos = 0;
    if (read_compact(&r, &c_r, &c_r_len) != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "C_R is malformed", 1);
    }
    if (c_r_len > edhoc_max_cid(su)) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "C_R too long for an OSCORE ID", 1);
    }
    if (c_r_len == s->c_i_len && memcmp(c_r, s->c_i, c_r_len) == 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "C_R equals C_I", 1); /* REQ-HS-009 */
    }
    memcpy(s->c_r, c_r, c_r_len);
    s->c_r_len = c_r_len;
    alert = read_id_cred(&r, &idc, &detail);
    if (alert == ALERT_NONE && cbor_read_bstr(&r, &sig, &sig_len) != 0) {
        alert = ALERT_DECODE_ERROR;
        detail = "Signature_or_MAC_2 must be a byte string";
    }
    ead = r.data + r.pos;
    if (alert == ALERT_NONE) {
        alert = check_ead(&r, &detail, &critical);
    }
    ead_len = (size_t)(r.data + r.len - ead);
    if (alert == ALERT_NONE) {
        alert = resolve_peer(s, &idc, &detail);
    }
    if (alert == ALERT_NONE) {
        alert = verify_peer(s, 2, c_r, c_r_len, &idc, ead, ead_len, sig, sig_len, &detail);
    }
    if (alert != ALERT_NONE) {
        return fail_check(s, out, alert, detail, critical);
    }
    transcript_next(s, plaintext, pt_len, s->peer); /* TH_3 */

    /* message_3: PLAINTEXT_3 = (ID_CRED_I, Signature_or_MAC_3) under K_3 / IV_3. */
    prim_mldsa_sizes(su->sig_alg, &dsz);
    compute_mac(s, 6, NULL, 0, own->kid, own->kid_len, NULL, 0, own, NULL, 0, mac);
    payload_len = sig_structure(s, own->kid, own->kid_len, NULL, 0, own, NULL, 0, mac);
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
    secure_zero(key, sizeof(tmp.key));
    secure_zero(iv, sizeof(tmp.iv));
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
    uint8_t *g_xy = tmp.g_xy, *mac = tmp.mac;
    const char *detail = NULL;
    edhoc_alert alert;
    hash_stream h;
    int64_t critical = 0;
    int rc;

    r.data = msg;
    r.len = len;
    r.pos = 0;
    /* (2) structure: the whole sequence first (REQ-ENC-005/006/008), then the fields */
    if (cbor_check_sequence(msg, len, NULL) != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "message_1 is not well-formed CBOR", 1);
    }
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
    if (cbor_read_bstr(&r, &g_x, &g_x_len) != 0 || read_compact(&r, &c_i, &c_i_len) != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "G_X or C_I is malformed", 1);
    }
    n = r.pos;
    alert = check_ead(&r, &detail, &critical);
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
        return abort_session(s); /* REQ-HS-034: kem_m goes too */
    }
    s->suite = edhoc_find_suite(selected);
    prim_mlkem_sizes(s->suite->kem_set, &sz);
    prim_mldsa_sizes(s->suite->sig_alg, &dsz);
    hl = hash_length(s->suite->hash);
    /* (6) G_X and C_I */
    if (g_x_len != sz.ek || c_i_len > edhoc_max_cid(s->suite)) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "G_X length or C_I length is wrong", 1);
    }
    /* (7) EAD_1 */
    alert = check_ead(&r, &detail, &critical);
    if (alert != ALERT_NONE) {
        return fail_check(s, out, alert, detail, critical);
    }
    if (s->own_cid_len > edhoc_max_cid(s->suite)) {
        return fail_with(s, out, ALERT_INTERNAL_ERROR, "own C_R too long for the suite", 1);
    }
    if (s->own_cid_len == c_i_len && memcmp(s->own_cid, c_i, c_i_len) == 0) {
        /* REQ-HS-005: C_R differs from C_I even when the configured identifier equals it
         * (EAD_1 may follow C_I, so tap_proto's look at the last byte cannot settle this):
         * take int 0, or int 1 when C_I is 0. */
        s->own_cid[0] = c_i_len == 1 && c_i[0] == 0x00 ? 0x01 : 0x00;
        s->own_cid_len = 1;
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
    rc = prim_mlkem_encaps(s->suite->kem_set, g_x, s->kem_m, out->buf + 3, g_xy);
    secure_stack_burn(SECURE_KEM_STACK); /* PQClean's copies of m, G_XY and r */
    if (rc != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "G_X fails the FIPS 203 checks", 1);
    }
    /* REQ-HS-034: m gives G_XY with the public G_X, so it goes as soon as it has been used */
    secure_zero(s->kem_m, sizeof(s->kem_m));
    transcript_2(s, out->buf + 3, sz.ct);
    hkdf_extract(s->suite->hash, s->th, hl, g_xy, sizeof(tmp.g_xy), s->prk);
    secure_zero(g_xy, sizeof(tmp.g_xy));

    /* PLAINTEXT_2 = (C_R, ID_CRED_R, Signature_or_MAC_2) */
    compute_mac(s, 2, s->c_r, s->c_r_len, own->kid, own->kid_len, NULL, 0, own, NULL, 0, mac);
    payload_len = sig_structure(s, own->kid, own->kid_len, NULL, 0, own, NULL, 0, mac);
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
    secure_zero(scratch, pt_len);
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
    size_t hl = hash_length(s->suite->hash), ct_len, pt_len, sig_len, ead_len, a_len;
    const uint8_t *ct, *sig, *ead;
    id_cred_in idc;
    uint8_t *key = tmp.key, *iv = tmp.iv, a3[16 + HASH_MAX_LEN];
    cbor_reader r;
    edhoc_alert alert;
    const char *detail = NULL;
    int64_t critical = 0;
    int ok;

    r.data = msg;
    r.len = len;
    r.pos = 0;
    if (cbor_read_bstr(&r, &ct, &ct_len) != 0 || r.pos != len) {
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
    secure_zero(key, sizeof(tmp.key));
    secure_zero(iv, sizeof(tmp.iv));
    if (!ok) {
        return fail_with(s, out, ALERT_DECRYPT_FAILED, "CIPHERTEXT_3 does not verify", 1);
    }
    pt_len = ct_len - aead->tag_len;
    if (cbor_check_sequence(plaintext, pt_len, NULL) != 0) {
        return fail_with(s, out, ALERT_DECODE_ERROR, "PLAINTEXT_3 is not well-formed CBOR", 1);
    }
    r.data = plaintext;
    r.len = pt_len;
    r.pos = 0;
    alert = read_id_cred(&r, &idc, &detail);
    if (alert == ALERT_NONE && cbor_read_bstr(&r, &sig, &sig_len) != 0) {
        alert = ALERT_DECODE_ERROR;
        detail = "Signature_or_MAC_3 must be a byte string";
    }
    ead = r.data + r.pos;
    if (alert == ALERT_NONE) {
        alert = check_ead(&r, &detail, &critical);
    }
    ead_len = (size_t)(r.data + r.len - ead);
    if (alert == ALERT_NONE) {
        alert = resolve_peer(s, &idc, &detail);
    }
    if (alert == ALERT_NONE) {
        alert = verify_peer(s, 6, NULL, 0, &idc, ead, ead_len, sig, sig_len, &detail);
    }
    if (alert != ALERT_NONE) {
        return fail_check(s, out, alert, detail, critical);
    }
    transcript_next(s, plaintext, pt_len, s->peer); /* TH_4 */
    finish(s);
    out->len = 0;
    return 0;
}

static int step(edhoc_session *s, const uint8_t *msg, size_t len, edhoc_out *out);

int edhoc_deliver(edhoc_session *s, const uint8_t *msg, size_t len, edhoc_out *out)
{
    const uint8_t *prev;
    size_t prev_len = 0;
    edhoc_state before = s->state;
    int rc;

    out->len = 0;
    out->alert = ALERT_NONE;
    out->detail = NULL;
    out->retransmission = 0;
    out->err_code = 0;
    if (edhoc_is_retransmission(s, msg, len)) {
        /* REQ-HS-038: the previous reply again, byte for byte; nothing is processed, no state
         * changes, no randomness is used. Without the reply (the buffer now serves another
         * session) the repeat is dropped, which still changes nothing. */
        out->retransmission = 1;
        prev = edhoc_last_sent(s, &prev_len);
        if (prev != NULL && prev_len <= out->cap) {
            memcpy(out->buf, prev, prev_len);
            out->len = prev_len;
        }
        return 0;
    }
    rc = step(s, msg, len, out);
    erase_step_secrets(); /* every return path of the step (REQ-HS-035) */
    if (rc == 0 && s->state != before && s->state != EDHOC_FAILED) {
        remember(s, msg, len, out); /* an accepted message and our reply to it */
    }
    return rc;
}

/* REQ-HS-022 / REQ-ERR-005: an error message ends the session in any state but FAILED;
 * keys are discarded and nothing is sent, not even for a malformed one (REQ-HS-023). */
static int on_peer_error(edhoc_session *s, const uint8_t *msg, size_t len, edhoc_out *out)
{
    const char *detail;
    int64_t err_code = 0;
    edhoc_alert alert = peer_error(msg, len, &detail, &err_code);
    int rc = fail_with(s, out, alert, detail, 0);
    out->err_code = err_code; /* 0 for a malformed one: decode_error is then our alert */
    return rc;
}

static int step(edhoc_session *s, const uint8_t *msg, size_t len, edhoc_out *out)
{
    input_kind kind;

    if (len > EDHOC_MAX_MESSAGE) {
        if (s->state == EDHOC_DONE || s->state == EDHOC_FAILED) {
            return 0;
        }
        return fail_with(s, out, ALERT_MESSAGE_TOO_LARGE, "above 16384 bytes", 1);
    }
    if (s->state == EDHOC_FAILED) {
        return 0; /* drop */
    }
    kind = classify(msg, len);
    if (kind == INPUT_ERROR) {
        return on_peer_error(s, msg, len, out);
    }
    if (s->state == EDHOC_START && !s->initiator) {
        if (s->busy) {
            return fail_busy(s, out);
        }
        /* Anything else, a truncated message_1 too, gets message_1's checks and their reply. */
        return responder_message_1(s, msg, len, out);
    }
    if (kind == INPUT_BROKEN && s->state != EDHOC_DONE) {
        return on_peer_error(s, msg, len, out);
    }
    switch (s->state) {
    case EDHOC_START:
        return fail_with(s, out, ALERT_UNEXPECTED_MESSAGE, "initiator has not started", 0);
    case EDHOC_WAIT_M2:
    case EDHOC_WAIT_M3:
        if (kind == INPUT_MESSAGE_1) {
            /* REQ-HS-033: not in the transition table of a WAIT state (a repeated message_1
             * in WAIT_M3 was answered as a retransmission before getting here). */
            return fail_with(s, out, ALERT_UNEXPECTED_MESSAGE, "message_1 in a WAIT state", 1);
        }
        return s->state == EDHOC_WAIT_M2 ? initiator_message_2(s, msg, len, out)
                                         : responder_message_3(s, msg, len, out);
    default:
        return 0; /* DONE: REQ-HS-018 / REQ-HS-033, dropped */
    }
}

int edhoc_abort(edhoc_session *s)
{
    return abort_session(s);
}

void edhoc_hand_over(edhoc_session *s)
{
    secure_zero(s->prk_out, sizeof(s->prk_out));
    secure_zero(s->prk_exporter, sizeof(s->prk_exporter));
    s->keys_handed_over = 1;
}

int edhoc_exporter(const edhoc_session *s, uint64_t label, const uint8_t *context,
                   size_t context_len, uint8_t *out, size_t len)
{
    if (s->state != EDHOC_DONE || s->keys_handed_over || label > (uint64_t)INT64_MAX ||
        len > 255u * hash_length(s->suite->hash)) {
        return -1;
    }
    kdf1(s, s->prk_exporter, (int64_t)label, context, context_len, out, len);
    return 0;
}
