#include "records.h"

#include <string.h>

#include "aead.h"
#include "cbor.h"
#include "secure_zero.h"
#include "work.h"

#define FLAG_H 0x10u
#define FLAG_K 0x08u
/* §7.9 (draft-ietf-core-oscore-key-limits): limit_q of every v1 AEAD and limit_v (2^14 for
 * AES-CCM-16-64-128, 2^20 for the others), each lowered per layer by rec_set_limits
 * (REQ-KU-015). count_q of the sender context is the SSN. At the key-update threshold
 * (REQ-KU-010) rec_key_update_due() tells the caller to start an update with an RNG nonce. */
#define LIMIT_Q (1u << 20)
#define CLOSE_TEXT_MAX 128u /* a close body's tstr (§7.3) */

static uint64_t table_limit_v(int64_t aead)
{
    return aead == 10 ? (1u << 14) : (1u << 20);
}

static uint64_t limit_q(const rec_layer *l)
{
    return l->limit_q != 0 && l->limit_q < LIMIT_Q ? l->limit_q : LIMIT_Q;
}

static uint64_t limit_v(const rec_layer *l)
{
    uint64_t table = table_limit_v(l->aead);
    return l->limit_v != 0 && l->limit_v < table ? l->limit_v : table;
}

uint64_t rec_limit_q(const rec_layer *l)
{
    return limit_q(l);
}

uint64_t rec_limit_v(const rec_layer *l)
{
    return limit_v(l);
}

int rec_set_limits(rec_layer *l, uint64_t q, uint64_t v)
{
    if (q != 0 && q < REC_MIN_LIMIT_Q) {
        return -1;
    }
    l->limit_q = q;
    l->limit_v = v;
    return 0;
}

int rec_key_update_due(const rec_layer *l)
{
    uint64_t q = limit_q(l);
    return l->active && !l->closed && !l->pending && l->send_epoch < 255 && l->ssn >= q - q / 10u;
}

static size_t put_head(uint8_t *p, int major, uint64_t value)
{
    cbor_writer w;
    w.buf = p;
    w.cap = 9;
    w.pos = 0;
    w.overflow = 0;
    cbor_put_head(&w, major, value);
    return w.pos;
}

static size_t put_int(uint8_t *p, int64_t v)
{
    return v >= 0 ? put_head(p, CBOR_UINT, (uint64_t)v) : put_head(p, CBOR_NINT, (uint64_t)(-1 - v));
}

static size_t put_bstr(uint8_t *p, const uint8_t *data, size_t len)
{
    size_t n = put_head(p, CBOR_BSTR, len);
    if (len > 0) {
        memcpy(p + n, data, len);
    }
    return n + len;
}

static size_t max_plaintext_and_tag(int64_t aead)
{
    return aead == 10 ? 4096u : 16384u; /* REQ-REC-012 */
}

/* EDHOC_KDF(PRK, label, context, len) with the session's EDHOC hash. */
static void kdf(const rec_layer *l, const uint8_t *prk, int64_t label, const uint8_t *ctx,
                size_t ctx_len, uint8_t *out, size_t len)
{
    span c;
    c.data = ctx;
    c.len = ctx_len;
    edhoc_kdf(l->edhoc_hash, prk, label, &c, 1, out, len);
}

/* OSCORE info = [id, null, alg, type, L] (RFC 8613 §3.2.1). */
static void oscore_expand(const rec_layer *l, const uint8_t *prk, const uint8_t *id, size_t id_len,
                          const char *type, uint8_t *out, size_t len)
{
    uint8_t info[32];
    size_t n = 0, tl = strlen(type);
    span s;

    info[n++] = 0x85;
    n += put_bstr(info + n, id, id_len);
    info[n++] = 0xf6;
    n += put_int(info + n, l->aead);
    n += put_head(info + n, CBOR_TSTR, tl);
    memcpy(info + n, type, tl);
    n += tl;
    n += put_head(info + n, CBOR_UINT, len);
    s.data = info;
    s.len = n;
    hkdf_expand(l->hash, prk, hash_length(l->hash), &s, 1, out, len);
}

/* Sender Key / Recipient Key / Common IV of the epoch whose PRK_out is given (§6.6). */
static void derive_keys(const rec_layer *l, const uint8_t *prk_out, uint8_t *send_key,
                        uint8_t *recv_key, uint8_t *iv)
{
    const aead_params *p = aead_find(l->aead);
    size_t hl = hash_length(l->edhoc_hash);
    uint8_t exporter[HASH_MAX_LEN], secret[REC_MAX_KEY], salt[8], prk[HASH_MAX_LEN];

    kdf(l, prk_out, 10, NULL, 0, exporter, hl);
    kdf(l, exporter, 0, NULL, 0, secret, p->key_len);
    kdf(l, exporter, 1, NULL, 0, salt, sizeof(salt));
    hkdf_extract(l->hash, salt, sizeof(salt), secret, p->key_len, prk);
    if (send_key != NULL) {
        oscore_expand(l, prk, l->sender_id, l->sender_id_len, "Key", send_key, p->key_len);
    }
    if (recv_key != NULL) {
        oscore_expand(l, prk, l->recipient_id, l->recipient_id_len, "Key", recv_key, p->key_len);
    }
    oscore_expand(l, prk, NULL, 0, "IV", iv, p->nonce_len);
    secure_zero(exporter, sizeof(exporter));
    secure_zero(secret, sizeof(secret));
    secure_zero(prk, sizeof(prk));
}

static void install_sender(rec_layer *l, uint8_t epoch, const uint8_t *prk_out)
{
    uint8_t iv[REC_MAX_IV];
    l->send_epoch = epoch;
    memcpy(l->send_prk_out, prk_out, HASH_MAX_LEN);
    derive_keys(l, prk_out, l->send_key, NULL, iv);
    memcpy(l->send_iv, iv, sizeof(iv));
    l->ssn = 0;
    l->bound_s = REC_PERSIST_K; /* REQ-REPLAY-006: initialised to K */
    l->dirty = 1;
}

static rec_recipient *recipient_for(rec_layer *l, uint8_t epoch)
{
    size_t i;
    for (i = 0; i < 2; i++) {
        if (l->recv[i].valid && l->recv[i].epoch == epoch) {
            return &l->recv[i];
        }
    }
    return NULL;
}

static void install_recipient(rec_layer *l, uint8_t epoch, const uint8_t *prk_out)
{
    rec_recipient *r = recipient_for(l, epoch);
    if (r == NULL) {
        r = !l->recv[0].valid ? &l->recv[0]
            : !l->recv[1].valid ? &l->recv[1]
            : l->recv[0].epoch < l->recv[1].epoch ? &l->recv[0] : &l->recv[1];
    }
    memset(r, 0, sizeof(*r)); /* REQ-REPLAY-005: a new, empty window */
    r->valid = 1;
    r->epoch = epoch;
    memcpy(r->prk_out, prk_out, HASH_MAX_LEN);
    derive_keys(l, prk_out, NULL, r->key, r->iv);
    l->dirty = 1;
}

static void byte_form(const uint8_t *cid, size_t len, uint8_t *out, size_t *out_len)
{
    memcpy(out, cid, len);
    *out_len = len;
}

void rec_init(rec_layer *l, const edhoc_session *s)
{
    uint64_t q = l->limit_q, v = l->limit_v; /* configured before the handshake (REQ-KU-015) */
    memset(l, 0, sizeof(*l));
    l->limit_q = q;
    l->limit_v = v;
    l->active = 1;
    l->aead = s->suite->aead;
    l->hash = s->suite->hash;
    l->edhoc_hash = s->suite->hash;
    /* Initiator: Sender ID = C_R, Recipient ID = C_I; the Responder the other way (§6.6). */
    if (s->initiator) {
        byte_form(s->c_r, s->c_r_len, l->sender_id, &l->sender_id_len);
        byte_form(s->c_i, s->c_i_len, l->recipient_id, &l->recipient_id_len);
    } else {
        byte_form(s->c_i, s->c_i_len, l->sender_id, &l->sender_id_len);
        byte_form(s->c_r, s->c_r_len, l->recipient_id, &l->recipient_id_len);
    }
    memcpy(l->committed_prk_out, s->prk_out, HASH_MAX_LEN);
    install_sender(l, 0, s->prk_out);
    install_recipient(l, 0, s->prk_out);
}

static void nonce_for(const rec_layer *l, const uint8_t *iv, const uint8_t *id, size_t id_len,
                      const uint8_t *piv, size_t piv_len, uint8_t *nonce)
{
    size_t nl = aead_find(l->aead)->nonce_len, i;
    memset(nonce, 0, nl);
    nonce[0] = (uint8_t)id_len;
    memcpy(nonce + 1 + (nl - 6 - id_len), id, id_len);
    memcpy(nonce + nl - piv_len, piv, piv_len);
    for (i = 0; i < nl; i++) {
        nonce[i] ^= iv[i];
    }
}

/* ["Encrypt0", h'', bstr .cbor [1, [alg], kid, piv, h'', binding_context]]: binding_context is
 * empty for the TAP transport (like TCP) and h'00' on the serial link (REQ-SER-006). */
static size_t record_aad(const rec_layer *l, const uint8_t *kid, size_t kid_len,
                         const uint8_t *piv, size_t piv_len, uint8_t *aad)
{
    static const uint8_t prefix[] = {0x83, 0x68, 'E', 'n', 'c', 'r', 'y', 'p', 't', '0', 0x40};
    uint8_t ext[40];
    size_t n = 0, m;

    ext[n++] = 0x86;
    ext[n++] = 0x01;
    ext[n++] = 0x81;
    n += put_int(ext + n, l->aead);
    n += put_bstr(ext + n, kid, kid_len);
    n += put_bstr(ext + n, piv, piv_len);
    ext[n++] = 0x40;
    n += put_bstr(ext + n, &l->binding_context, l->binding_context_len);
    memcpy(aad, prefix, sizeof(prefix));
    m = sizeof(prefix);
    m += put_bstr(aad + m, ext, n);
    return m;
}

static edhoc_alert close_with(rec_layer *l, edhoc_alert alert, rec_out *out);

static size_t piv_of(uint64_t ssn, uint8_t *piv)
{
    size_t len = 1, i;
    while (len < 5 && (ssn >> (8 * len)) != 0) {
        len++;
    }
    for (i = 0; i < len; i++) {
        piv[len - 1 - i] = (uint8_t)(ssn >> (8 * i));
    }
    return len;
}

edhoc_alert rec_send(rec_layer *l, uint8_t content_type, const uint8_t *body, size_t len,
                     rec_out *out)
{
    const aead_params *p = aead_find(l->aead);
    uint8_t piv[5], nonce[REC_MAX_IV], aad[64];
    size_t piv_len, n = 0, aad_len, opt_start;
    uint8_t *plain = work_buffer(1); /* rec_receive's plaintext lives in work buffer 0 */

    out->len = 0;
    if (!l->active || l->closed) {
        return ALERT_UNEXPECTED_MESSAGE;
    }
    if (len > REC_MAX_PLAINTEXT || 1 + len + p->tag_len > max_plaintext_and_tag(l->aead)) {
        return ALERT_MESSAGE_TOO_LARGE;
    }
    if (l->ssn >= limit_q(l)) {
        l->closed = 1;
        return ALERT_USAGE_LIMIT_REACHED; /* REQ-KU-011: this key never encrypts again */
    }
    if (l->ssn + 1 == limit_q(l) && content_type != CT_CLOSE) {
        /* REQ-KU-011: the encryption that reaches limit_q is the close record */
        close_with(l, ALERT_USAGE_LIMIT_REACHED, out);
        return ALERT_USAGE_LIMIT_REACHED;
    }
    if (l->ssn >= l->bound_s) {
        l->bound_s = l->ssn + REC_PERSIST_K; /* REQ-REPLAY-006: stored before use */
        l->dirty = 1;
    }
    piv_len = piv_of(l->ssn, piv);
    l->ssn++;
    out->buf[n++] = 0; /* option_len, below */
    opt_start = n;
    out->buf[n++] = (uint8_t)(FLAG_K | (l->send_epoch > 0 ? FLAG_H : 0) | piv_len);
    memcpy(out->buf + n, piv, piv_len);
    n += piv_len;
    if (l->send_epoch > 0) {
        out->buf[n++] = 0x01;
        out->buf[n++] = l->send_epoch;
    }
    memcpy(out->buf + n, l->sender_id, l->sender_id_len);
    n += l->sender_id_len;
    out->buf[0] = (uint8_t)(n - opt_start);
    nonce_for(l, l->send_iv, l->sender_id, l->sender_id_len, piv, piv_len, nonce);
    aad_len = record_aad(l, l->sender_id, l->sender_id_len, piv, piv_len, aad);
    plain[0] = content_type;
    if (len > 0) {
        memcpy(plain + 1, body, len);
    }
    aead_seal(p, l->send_key, nonce, aad, aad_len, plain, len + 1, out->buf + n);
    out->len = n + len + 1 + p->tag_len;
    memset(plain, 0, len + 1);
    return ALERT_NONE;
}

/* Close the session after an error in an authenticated record (REQ-REC-008). */
static edhoc_alert close_with(rec_layer *l, edhoc_alert alert, rec_out *out)
{
    uint8_t body[40];
    const char *name = edhoc_alert_name(alert);
    size_t n = put_head(body, CBOR_TSTR, strlen(name));
    memcpy(body + n, name, strlen(name));
    n += strlen(name);
    if (!l->closed && l->ssn < limit_q(l)) {
        rec_send(l, CT_CLOSE, body, n, out); /* only while the sender key may still encrypt */
    }
    l->closed = 1;
    l->pending = 0;
    return alert;
}

edhoc_alert rec_close(rec_layer *l, edhoc_alert alert, rec_out *out)
{
    out->len = 0;
    if (!l->active || l->closed) {
        return alert;
    }
    return close_with(l, alert, out);
}

/* §7.3: one CBOR item, null or a tstr of at most 128 bytes, and nothing after it. */
static int close_body_ok(const uint8_t *body, size_t len)
{
    cbor_reader r;
    int major;
    uint64_t n;

    if (len == 1 && body[0] == 0xf6) {
        return 1;
    }
    r.data = body;
    r.len = len;
    r.pos = 0;
    if (cbor_read_head(&r, &major, &n) != 0 || major != CBOR_TSTR || n > CLOSE_TEXT_MAX ||
        n != len - r.pos) {
        return 0;
    }
    return 1;
}

static void derive_next(const rec_layer *l, const uint8_t nonce[REC_NONCE_LEN], uint8_t *prk_out)
{
    kdf(l, l->committed_prk_out, 11, nonce, REC_NONCE_LEN, prk_out, hash_length(l->edhoc_hash));
}

edhoc_alert rec_start_key_update(rec_layer *l, const uint8_t nonce[REC_NONCE_LEN], rec_out *out)
{
    uint8_t next[HASH_MAX_LEN];
    edhoc_alert alert;

    out->len = 0;
    if (!l->active || l->closed) {
        return ALERT_UNEXPECTED_MESSAGE;
    }
    if (l->pending || l->send_epoch == 255) {
        return ALERT_KEY_UPDATE_FAILED; /* REQ-KU-007/008 */
    }
    memset(next, 0, sizeof(next));
    derive_next(l, nonce, next);
    alert = rec_send(l, CT_KEY_UPDATE, nonce, REC_NONCE_LEN, out);
    if (alert != ALERT_NONE) {
        return alert;
    }
    install_sender(l, (uint8_t)(l->send_epoch + 1), next);
    install_recipient(l, l->send_epoch, next);
    l->pending = 1;
    memcpy(l->pending_nonce, nonce, REC_NONCE_LEN);
    l->ack_expected = 1;
    l->ack_epoch = l->send_epoch;
    secure_zero(next, sizeof(next));
    return ALERT_NONE;
}

static edhoc_alert on_key_update(rec_layer *l, uint8_t epoch, const uint8_t *nonce, rec_out *out)
{
    uint8_t next[HASH_MAX_LEN];
    rec_recipient *old;
    int cmp;

    memset(next, 0, sizeof(next));
    if (l->pending && epoch + 1 == l->send_epoch) {
        /* Both started an update in epoch e: the greater nonce wins (REQ-KU-005). */
        cmp = memcmp(nonce, l->pending_nonce, REC_NONCE_LEN);
        if (cmp < 0) {
            return ALERT_NONE;
        }
        if (cmp > 0) {
            derive_next(l, nonce, next);
            install_sender(l, l->send_epoch, next);
            install_recipient(l, l->send_epoch, next);
            l->ack_expected = 0;
        }
        l->pending = 0;
        memcpy(l->committed_prk_out, l->send_prk_out, HASH_MAX_LEN);
    } else {
        if (l->pending || epoch != l->send_epoch || l->send_epoch == 255) {
            return close_with(l, ALERT_KEY_UPDATE_FAILED, out);
        }
        derive_next(l, nonce, next);
        install_sender(l, (uint8_t)(epoch + 1), next);
        install_recipient(l, l->send_epoch, next);
        memcpy(l->committed_prk_out, next, HASH_MAX_LEN);
    }
    secure_zero(next, sizeof(next));
    /* REQ-KU-004 / REQ-KEYS-010: our part ends with the ack, so PRK_out of epoch e goes now;
     * the recipient context of epoch e keeps only its keys (§7.8) */
    old = recipient_for(l, epoch);
    if (old != NULL) {
        secure_zero(old->prk_out, sizeof(old->prk_out));
    }
    return rec_send(l, CT_KEY_UPDATE_ACK, NULL, 0, out); /* REQ-KU-002 */
}

edhoc_alert rec_receive(rec_layer *l, const uint8_t *record, size_t len, uint8_t *plain,
                        uint8_t *content_type, const uint8_t **body, size_t *body_len,
                        rec_out *out, const char **detail)
{
    const aead_params *p = aead_find(l->aead);
    size_t opt_len, piv_len, kid_len, ct_len, aad_len, i;
    const uint8_t *opt, *piv, *kid, *ct;
    uint8_t flags, epoch = 0, nonce[REC_MAX_IV], aad[64];
    uint64_t pn = 0, shift;
    rec_recipient *r;

    out->len = 0;
    *detail = "";
    if (!l->active || l->closed) {
        *detail = "session closed";
        return ALERT_UNEXPECTED_MESSAGE;
    }
    /* 1. header (REQ-REC-002) */
    if (len < 1 || (opt_len = record[0]) + 1 > len || opt_len < 2) {
        *detail = "truncated record";
        return ALERT_DECODE_ERROR;
    }
    opt = record + 1;
    flags = opt[0];
    piv_len = flags & 0x07u;
    if ((flags & 0xE0u) != 0 || (flags & FLAG_K) == 0 || piv_len == 0 || piv_len > 5 ||
        1 + piv_len > opt_len) {
        *detail = "bad flags";
        return ALERT_DECODE_ERROR;
    }
    piv = opt + 1;
    if (piv_len > 1 && piv[0] == 0) {
        *detail = "non-minimal PIV";
        return ALERT_DECODE_ERROR;
    }
    kid = piv + piv_len;
    if (flags & FLAG_H) {
        if (1 + piv_len + 2 > opt_len || kid[0] != 1 || kid[1] == 0) {
            *detail = "bad kid context";
            return ALERT_DECODE_ERROR;
        }
        epoch = kid[1];
        kid += 2;
    }
    kid_len = (size_t)(opt + opt_len - kid);
    ct = opt + opt_len;
    ct_len = len - 1 - opt_len;
    if (ct_len < p->tag_len + 1) {
        *detail = "ciphertext too short";
        return ALERT_DECODE_ERROR;
    }
    if (ct_len > max_plaintext_and_tag(l->aead) || ct_len - p->tag_len > REC_MAX_PLAINTEXT + 1) {
        return ALERT_MESSAGE_TOO_LARGE;
    }
    for (i = 0; i < piv_len; i++) {
        pn = (pn << 8) | piv[i];
    }
    /* 2. context by (kid, epoch) */
    r = kid_len == l->recipient_id_len && memcmp(kid, l->recipient_id, kid_len) == 0
            ? recipient_for(l, epoch)
            : NULL;
    if (r == NULL) {
        *detail = "no context";
        return ALERT_DECRYPT_FAILED;
    }
    /* 3. replay check without updating (REQ-REPLAY-002) */
#ifndef PQIOT_BROKEN_NO_REPLAY_CHECK /* defined only by the suite's broken self-test build */
    if (r->has_top && pn <= r->top &&
        (r->top - pn >= REC_WINDOW || ((r->bitmap >> (r->top - pn)) & 1u) != 0)) {
        *detail = "replayed PIV";
        return ALERT_REPLAY_DETECTED;
    }
#endif
    /* 4. decrypt */
    nonce_for(l, r->iv, kid, kid_len, piv, piv_len, nonce);
    aad_len = record_aad(l, kid, kid_len, piv, piv_len, aad);
    if (!aead_open(p, r->key, nonce, aad, aad_len, ct, ct_len, plain)) {
        *detail = "record authentication failed";
        r->count_v++;
        if (r->count_v > r->count_v_bound) {
            r->count_v_bound = r->count_v + REC_PERSIST_K; /* REQ-KU-013: stored ahead */
            l->dirty = 1;
        }
        if (r->count_v >= limit_v(l)) {
            /* REQ-KU-012: the context and the session end; close if the sender key can */
            *detail = "count_v reached limit_v";
            memset(r, 0, sizeof(*r));
            l->dirty = 1;
            return close_with(l, ALERT_USAGE_LIMIT_REACHED, out);
        }
        return ALERT_DECRYPT_FAILED;
    }
    /* 5. persistence bound first, then the window (REQ-REPLAY-008, -003) */
    if (!r->has_bound || pn > r->bound) {
        r->bound = pn + REC_PERSIST_K;
        r->has_bound = 1;
        l->dirty = 1;
    }
    if (!r->has_top) {
        r->top = pn;
        r->bitmap = 1;
        r->has_top = 1;
    } else if (pn > r->top) {
        shift = pn - r->top;
        r->bitmap = shift >= REC_WINDOW ? 1 : (r->bitmap << shift) | 1u;
        r->top = pn;
    } else {
        r->bitmap |= (uint64_t)1 << (r->top - pn);
    }
    /* the first valid record of a newer epoch ends the older one (REQ-KU-003, -004) */
    for (i = 0; i < 2; i++) {
        if (l->recv[i].valid && l->recv[i].epoch < epoch) {
            memset(&l->recv[i], 0, sizeof(l->recv[i]));
            l->dirty = 1;
        }
    }
    if (l->pending && epoch == l->send_epoch) {
        l->pending = 0;
        memcpy(l->committed_prk_out, l->send_prk_out, HASH_MAX_LEN);
        l->dirty = 1;
    }
    /* 6. content type (§7.3) */
    ct_len -= p->tag_len;
    *content_type = plain[0];
    *body = plain + 1;
    *body_len = ct_len - 1;
    switch (plain[0]) {
    case CT_APPLICATION_DATA:
        return ALERT_NONE;
    case CT_KEY_UPDATE:
        if (*body_len != REC_NONCE_LEN) {
            return close_with(l, ALERT_DECODE_ERROR, out);
        }
        return on_key_update(l, epoch, *body, out);
    case CT_KEY_UPDATE_ACK:
        if (*body_len != 0) {
            return close_with(l, ALERT_DECODE_ERROR, out);
        }
        if (!l->ack_expected || epoch != l->ack_epoch) {
            return close_with(l, ALERT_UNEXPECTED_MESSAGE, out);
        }
        l->ack_expected = 0;
        return ALERT_NONE;
    case CT_CLOSE:
        if (!close_body_ok(*body, *body_len)) {
            *detail = "close body is not null or a tstr of at most 128 bytes";
            return close_with(l, ALERT_DECODE_ERROR, out); /* REQ-REC-006 */
        }
        l->closed = 1; /* REQ-REC-007: no reply */
        l->pending = 0;
        return ALERT_NONE;
    default:
        return close_with(l, ALERT_UNEXPECTED_MESSAGE, out);
    }
}

void rec_exporter(const rec_layer *l, uint64_t label, const uint8_t *context, size_t context_len,
                  uint8_t *out, size_t len)
{
    uint8_t exporter[HASH_MAX_LEN];
    kdf(l, l->committed_prk_out, 10, NULL, 0, exporter, hash_length(l->edhoc_hash));
    kdf(l, exporter, (int64_t)label, context, context_len, out, len);
    secure_zero(exporter, sizeof(exporter));
}

void rec_to_blob(const rec_layer *l, int initiator, int32_t suite_id, rec_blob *b)
{
    size_t i;
    memset(b, 0, sizeof(*b));
    b->initiator = (uint8_t)initiator;
    b->suite_id = suite_id;
    b->send_epoch = l->send_epoch;
    b->sender_id_len = (uint8_t)l->sender_id_len;
    b->recipient_id_len = (uint8_t)l->recipient_id_len;
    memcpy(b->sender_id, l->sender_id, l->sender_id_len);
    memcpy(b->recipient_id, l->recipient_id, l->recipient_id_len);
    memcpy(b->committed_prk_out, l->committed_prk_out, HASH_MAX_LEN);
    memcpy(b->send_prk_out, l->send_prk_out, HASH_MAX_LEN);
    b->bound_s = l->bound_s;
    b->limit_q = l->limit_q;
    b->limit_v = l->limit_v;
    for (i = 0; i < 2; i++) {
        b->recv[i].valid = l->recv[i].valid;
        b->recv[i].epoch = l->recv[i].epoch;
        b->recv[i].has_bound = l->recv[i].has_bound;
        b->recv[i].bound = l->recv[i].bound;
        b->recv[i].count_v = l->recv[i].count_v_bound;
        memcpy(b->recv[i].prk_out, l->recv[i].prk_out, HASH_MAX_LEN);
    }
}

int rec_from_blob(rec_layer *l, const rec_blob *b)
{
    const edhoc_suite *suite = edhoc_find_suite(b->suite_id);
    uint8_t iv[REC_MAX_IV];
    size_t i;

    if (suite == NULL || b->sender_id_len > EDHOC_MAX_CID || b->recipient_id_len > EDHOC_MAX_CID) {
        return -1;
    }
    memset(l, 0, sizeof(*l));
    l->active = 1;
    l->aead = suite->aead;
    l->hash = suite->hash;
    l->edhoc_hash = suite->hash;
    l->sender_id_len = b->sender_id_len;
    l->recipient_id_len = b->recipient_id_len;
    memcpy(l->sender_id, b->sender_id, b->sender_id_len);
    memcpy(l->recipient_id, b->recipient_id, b->recipient_id_len);
    memcpy(l->committed_prk_out, b->committed_prk_out, HASH_MAX_LEN);
    l->send_epoch = b->send_epoch;
    memcpy(l->send_prk_out, b->send_prk_out, HASH_MAX_LEN);
    derive_keys(l, l->send_prk_out, l->send_key, NULL, iv);
    memcpy(l->send_iv, iv, sizeof(iv));
    l->ssn = b->bound_s; /* REQ-REPLAY-007 */
    l->bound_s = b->bound_s;
    l->limit_q = b->limit_q; /* REQ-KU-013: count_v keeps counting against the same limit_v */
    l->limit_v = b->limit_v;
    for (i = 0; i < 2; i++) {
        rec_recipient *r = &l->recv[i];
        static const uint8_t erased[HASH_MAX_LEN];
        if (!b->recv[i].valid || memcmp(b->recv[i].prk_out, erased, HASH_MAX_LEN) == 0) {
            continue; /* an old epoch whose PRK_out was erased (REQ-KU-004): not restorable */
        }
        r->valid = 1;
        r->epoch = b->recv[i].epoch;
        memcpy(r->prk_out, b->recv[i].prk_out, HASH_MAX_LEN);
        derive_keys(l, r->prk_out, NULL, r->key, r->iv);
        r->count_v = b->recv[i].count_v; /* REQ-KU-013: never below the true count */
        r->count_v_bound = b->recv[i].count_v;
        if (b->recv[i].has_bound) { /* REQ-REPLAY-009 */
            r->has_bound = 1;
            r->bound = b->recv[i].bound;
            r->has_top = 1;
            r->top = b->recv[i].bound;
            r->bitmap = ~(uint64_t)0;
        }
    }
    return 0;
}
