#include "pubsub.h"

#include <string.h>

#include "audit.h"
#include "cbor.h"
#include "creds.h"
#include "hkdf.h"
#include "prims.h"
#include "records.h"
#include "work.h"

#define HEADER_ALG 1u
#define HEADER_KID 4u
#define WINDOW 64u
/* Sig_structure bytes besides protected, topic and payload: the "Signature1" prefix, three bstr
 * heads, the PubSubAAD array and context string heads, the topic's tstr head (§8.1). */
#define SIG_OVERHEAD (12u + 3u * 9u + 2u + (sizeof(CONTEXT) - 1u) + 9u)

static const char CONTEXT[] = "PQC-IIoT pubsub v1";

typedef struct {
    int used, has_top;
    uint8_t kid[CRED_MAX_KID];
    size_t kid_len;
    uint8_t topic_hash[16]; /* SHA-256 of the topic, truncated: topics may be 64 KB long */
    uint64_t top, bitmap;
    int has_bound;
    uint64_t bound; /* the persisted bound P_r of this window (REQ-PUBSUB-010) */
} seq_window;

typedef char pubsub_kid_fits[(PUBSUB_KID_MAX == CRED_MAX_KID) ? 1 : -1];

static seq_window windows[PUBSUB_MAX_WINDOWS];
static int windows_dirty; /* a bound was raised and is not stored yet */

void pubsub_reset(void)
{
    memset(windows, 0, sizeof(windows));
    windows_dirty = 0;
}

/* MQTT 5 §4.7 topic name: UTF-8 without U+0000, no wildcards, 1..65535 bytes. */
static int topic_valid(const uint8_t *t, size_t len)
{
    size_t i = 0, n, k;
    uint32_t cp;
    if (len == 0 || len > 65535u) {
        return 0;
    }
    while (i < len) {
        uint8_t b = t[i];
        if (b == 0 || b == '+' || b == '#') {
            return 0;
        }
        if (b < 0x80) {
            i++;
            continue;
        }
        n = (b & 0xE0) == 0xC0 ? 1 : (b & 0xF0) == 0xE0 ? 2 : (b & 0xF8) == 0xF0 ? 3 : 0;
        if (n == 0 || n >= len - i) {
            return 0; /* invalid lead byte, or the sequence runs past the end */
        }
        cp = b & (0x3Fu >> n);
        for (k = 1; k <= n; k++) {
            if ((t[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (t[i + k] & 0x3Fu);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0; /* overlong, out of range or a surrogate */
        }
        i += n + 1;
    }
    return 1;
}

static int read_uint(cbor_reader *r, uint64_t *v)
{
    int major;
    return cbor_read_head(r, &major, v) != 0 || major != CBOR_UINT ? -1 : 0;
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

/* Sig_structure ["Signature1", protected, << [CONTEXT, topic] >>, payload] into work buffer 1;
 * 0 if it does not fit. */
static size_t sig_structure(const uint8_t *protected_hdr, size_t protected_len,
                            const uint8_t *topic, size_t topic_len, const uint8_t *payload,
                            size_t payload_len)
{
    static const uint8_t prefix[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'};
    uint8_t *out = work_buffer(1);
    size_t ctx_len = sizeof(CONTEXT) - 1, aad_len, n;

    aad_len = 1 + 1 + ctx_len + 3 + topic_len; /* 82, 72 "...", tstr head (<= 3 bytes) */
    if (sizeof(prefix) + 9 + protected_len + 9 + aad_len + 9 + payload_len > WORK_SIZE) {
        return 0;
    }
    memcpy(out, prefix, sizeof(prefix));
    n = sizeof(prefix);
    n += put_head(out + n, CBOR_BSTR, protected_len);
    memcpy(out + n, protected_hdr, protected_len);
    n += protected_len;
    aad_len = 2 + ctx_len + put_head(out + n, CBOR_TSTR, topic_len) + topic_len;
    n += put_head(out + n, CBOR_BSTR, aad_len);
    out[n++] = 0x82;
    out[n++] = (uint8_t)(0x60 + ctx_len);
    memcpy(out + n, CONTEXT, ctx_len);
    n += ctx_len;
    n += put_head(out + n, CBOR_TSTR, topic_len);
    memcpy(out + n, topic, topic_len);
    n += topic_len;
    n += put_head(out + n, CBOR_BSTR, payload_len);
    memcpy(out + n, payload, payload_len);
    return n + payload_len;
}

/* One §8.3 audit event: `peer` is the message's kid (null if it cannot be a stored kid). */
static void audit_failure(uint8_t event, edhoc_alert alert, uint8_t code, const uint8_t *kid,
                          size_t kid_len, const uint8_t *topic, size_t topic_len, uint64_t seq)
{
    audit_entry e;

    memset(&e, 0, sizeof(e));
    e.event = event;
    e.alert = (uint8_t)alert;
    e.origin = AUDIT_ORIGIN_LOCAL;
    e.code = code;
    if (kid_len <= sizeof(e.peer)) {
        memcpy(e.peer, kid, kid_len);
        e.peer_len = (uint8_t)kid_len;
    }
    if (event == AUDIT_REPLAY_DROPPED) {
        e.pubsub = 1;
        e.value = (int64_t)seq; /* seq < 2^63 in any message a publisher can send */
        if (topic_len <= sizeof(e.topic)) {
            memcpy(e.topic, topic, topic_len);
            e.topic_len = (uint16_t)topic_len;
        } else {
            sha256(e.topic, topic, topic_len);
            e.topic_hashed = 1;
        }
    } else if (event == AUDIT_LIMIT_EXCEEDED) {
        e.value = PUBSUB_MAX_WINDOWS;
    }
    audit_emit(&e);
}

static seq_window *window_for(const uint8_t *kid, size_t kid_len, const uint8_t *topic,
                              size_t topic_len, int create)
{
    uint8_t digest[32];
    size_t i;
    seq_window *free_slot = NULL;

    sha256(digest, topic, topic_len);
    for (i = 0; i < PUBSUB_MAX_WINDOWS; i++) {
        seq_window *w = &windows[i];
        if (!w->used) {
            free_slot = free_slot == NULL ? w : free_slot;
            continue;
        }
        if (w->kid_len == kid_len && memcmp(w->kid, kid, kid_len) == 0 &&
            memcmp(w->topic_hash, digest, sizeof(w->topic_hash)) == 0) {
            return w;
        }
    }
    if (!create || free_slot == NULL) {
        return NULL;
    }
    memset(free_slot, 0, sizeof(*free_slot));
    free_slot->used = 1;
    memcpy(free_slot->kid, kid, kid_len);
    free_slot->kid_len = kid_len;
    memcpy(free_slot->topic_hash, digest, sizeof(free_slot->topic_hash));
    return free_slot;
}

edhoc_alert pubsub_verify(const uint8_t *topic, size_t topic_len, const uint8_t *msg,
                          size_t msg_len, const uint64_t *now_ms, pubsub_message *out,
                          const char **detail)
{
    cbor_reader r, h;
    int major, valid = 0;
    uint64_t count, label, diff;
    int64_t alg = 0;
    const uint8_t *protected_hdr, *payload, *sig, *kid = NULL;
    size_t protected_len, payload_len, sig_len, kid_len = 0, n;
    const credential *cred;
    seq_window *w;

    *detail = "";
    /* 1. size: this build's limit is what its Sig_structure buffer holds */
    if (msg_len > WORK_SIZE || topic_len > WORK_SIZE - msg_len ||
        msg_len + topic_len > WORK_SIZE - SIG_OVERHEAD) {
        *detail = "message above this build's limit";
        return ALERT_MESSAGE_TOO_LARGE;
    }
    /* 2. structure */
    r.data = msg;
    r.len = msg_len;
    r.pos = 0;
    if (cbor_read_head(&r, &major, &count) != 0 || major != CBOR_ARRAY || count != 4 ||
        cbor_read_bstr(&r, &protected_hdr, &protected_len) != 0 ||
        cbor_read_head(&r, &major, &count) != 0 || major != CBOR_MAP || count != 0 ||
        cbor_read_bstr(&r, &payload, &payload_len) != 0 || cbor_read_bstr(&r, &sig, &sig_len) != 0 ||
        r.pos != r.len) {
        *detail = "not a COSE_Sign1 [bstr, {}, bstr, bstr]";
        return ALERT_DECODE_ERROR;
    }
    h.data = protected_hdr;
    h.len = protected_len;
    h.pos = 0;
    if (cbor_read_head(&h, &major, &count) != 0 || major != CBOR_MAP || count != 2 ||
        read_uint(&h, &label) != 0 || label != HEADER_ALG || read_int(&h, &alg) != 0 ||
        read_uint(&h, &label) != 0 || label != HEADER_KID || cbor_read_bstr(&h, &kid, &kid_len) != 0 ||
        h.pos != h.len) {
        *detail = "protected header must be exactly {1: alg, 4: kid}";
        return ALERT_DECODE_ERROR;
    }
    h.data = payload;
    h.len = payload_len;
    h.pos = 0;
    if (cbor_read_head(&h, &major, &count) != 0 || major != CBOR_ARRAY || count != 3 ||
        read_uint(&h, &out->seq) != 0 || read_uint(&h, &out->timestamp_ms) != 0 ||
        cbor_read_bstr(&h, &out->content, &out->content_len) != 0 || h.pos != h.len) {
        *detail = "payload must be [seq, timestamp_ms, content]";
        return ALERT_DECODE_ERROR;
    }
    /* 3. topic */
    if (!topic_valid(topic, topic_len)) {
        *detail = "invalid topic name";
        return ALERT_DECODE_ERROR;
    }
    /* 4., 5. credential and alg */
    cred = cred_find_peer(kid, kid_len);
    if (cred == NULL) {
        *detail = "kid not in the allow-list";
        audit_failure(AUDIT_AUTH_FAILED, ALERT_UNKNOWN_CREDENTIAL, AUDIT_STAGE_PUBSUB, kid,
                      kid_len, topic, topic_len, 0);
        return ALERT_UNKNOWN_CREDENTIAL;
    }
    if (cred->alg != alg) {
        *detail = "alg differs from the credential's";
        audit_failure(AUDIT_AUTH_FAILED, ALERT_AUTHENTICATION_FAILED, AUDIT_STAGE_PUBSUB, kid,
                      kid_len, topic, topic_len, 0);
        return ALERT_AUTHENTICATION_FAILED;
    }
    /* 6. signature over the topic the message arrived on (REQ-PUBSUB-008) */
    n = sig_structure(protected_hdr, protected_len, topic, topic_len, payload, payload_len);
    if (n == 0) {
        *detail = "message above this build's limit";
        return ALERT_MESSAGE_TOO_LARGE;
    }
    if (prim_falcon_verify(alg, cred->ccs + cred->pub_pos, work_buffer(1), n, sig, sig_len,
                           &valid) == PRIM_UNSUPPORTED &&
        prim_mldsa_verify(alg, cred->ccs + cred->pub_pos, work_buffer(1), n,
                          (const uint8_t *)"", 0, sig, sig_len, &valid) != 0) {
        valid = 0;
    }
    if (!valid) {
        *detail = "bad signature (wrong key, topic or tampered message)";
        audit_failure(AUDIT_AUTH_FAILED, ALERT_AUTHENTICATION_FAILED, AUDIT_STAGE_PUBSUB, kid,
                      kid_len, topic, topic_len, 0);
        return ALERT_AUTHENTICATION_FAILED;
    }
    /* 7. replay window of (kid, topic) without updating it */
    w = window_for(kid, kid_len, topic, topic_len, 0);
    if (w != NULL && w->has_top && out->seq <= w->top &&
        (w->top - out->seq >= WINDOW || ((w->bitmap >> (w->top - out->seq)) & 1u) != 0)) {
        *detail = "replayed seq";
        audit_failure(AUDIT_REPLAY_DROPPED, ALERT_REPLAY_DETECTED, AUDIT_PUBSUB_WINDOW, kid,
                      kid_len, topic, topic_len, out->seq);
        return ALERT_REPLAY_DETECTED;
    }
    /* 8. clock skew, when the time is known (REQ-PUBSUB-012) */
    if (now_ms != NULL) {
        diff = *now_ms > out->timestamp_ms ? *now_ms - out->timestamp_ms
                                           : out->timestamp_ms - *now_ms;
        if (diff > PUBSUB_SKEW_MS) {
            *detail = "stale";
            audit_failure(AUDIT_REPLAY_DROPPED, ALERT_REPLAY_DETECTED, AUDIT_PUBSUB_STALE, kid,
                          kid_len, topic, topic_len, out->seq);
            return ALERT_REPLAY_DETECTED;
        }
    }
    /* 9. update the window */
    if (w == NULL) {
        w = window_for(kid, kid_len, topic, topic_len, 1);
        if (w == NULL) {
            /* REQ-PUBSUB-011: drop, never evict a window (none is persisted elsewhere) */
            *detail = "no replay window left for a new (kid, topic)";
            audit_failure(AUDIT_LIMIT_EXCEEDED, ALERT_USAGE_LIMIT_REACHED,
                          AUDIT_LIMIT_PUBSUB_WINDOWS, kid, kid_len, topic, topic_len, 0);
            return ALERT_USAGE_LIMIT_REACHED;
        }
    }
    if (!w->has_top) {
        w->top = out->seq;
        w->bitmap = 1;
        w->has_top = 1;
    } else if (out->seq > w->top) {
        diff = out->seq - w->top;
        w->bitmap = diff >= WINDOW ? 1 : (w->bitmap << diff) | 1u;
        w->top = out->seq;
    } else {
        w->bitmap |= (uint64_t)1 << (w->top - out->seq);
    }
    if (!w->has_bound || out->seq > w->bound) {
        /* REQ-PUBSUB-010 / REQ-REPLAY-008: the caller stores seq + K before reporting it */
        w->bound = out->seq + REC_PERSIST_K;
        w->has_bound = 1;
        windows_dirty = 1;
    }
    out->kid = kid;
    out->kid_len = kid_len;
    return ALERT_NONE;
}

int pubsub_dirty(void)
{
    return windows_dirty;
}

void pubsub_saved(void)
{
    windows_dirty = 0;
}

void pubsub_to_blob(pubsub_blob *b)
{
    size_t i;
    memset(b, 0, sizeof(*b));
    for (i = 0; i < PUBSUB_MAX_WINDOWS; i++) {
        const seq_window *w = &windows[i];
        if (!w->used || !w->has_bound) {
            continue;
        }
        b->window[i].used = 1;
        b->window[i].kid_len = (uint8_t)w->kid_len;
        memcpy(b->window[i].kid, w->kid, w->kid_len);
        memcpy(b->window[i].topic_hash, w->topic_hash, sizeof(w->topic_hash));
        b->window[i].bound = w->bound;
    }
}

int pubsub_from_blob(const pubsub_blob *b)
{
    size_t i;
    pubsub_reset();
    for (i = 0; i < PUBSUB_MAX_WINDOWS; i++) {
        seq_window *w = &windows[i];
        if (b->window[i].used == 0) {
            continue;
        }
        if (b->window[i].used != 1 || b->window[i].kid_len > CRED_MAX_KID) {
            pubsub_reset();
            return -1;
        }
        w->used = 1;
        w->kid_len = b->window[i].kid_len;
        memcpy(w->kid, b->window[i].kid, w->kid_len);
        memcpy(w->topic_hash, b->window[i].topic_hash, sizeof(w->topic_hash));
        /* REQ-REPLAY-009: every seq <= the stored bound is a replay after the restart */
        w->has_bound = 1;
        w->bound = b->window[i].bound;
        w->has_top = 1;
        w->top = w->bound;
        w->bitmap = ~(uint64_t)0;
    }
    return 0;
}
