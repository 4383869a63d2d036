/* Audit events (spec chapter 9) as TAP AUDIT_READ returns them (§13.9, REQ-TAP-021). */
#include "audit.h"

#include <string.h>

#include "cbor.h"
#include "config.h"
#include "measure.h"
#include "platform.h"
#include "work.h"

#define CMD_AUDIT_READ 97u
/* Bytes of the AUDIT_READ result besides the event strings (map, keys, lost, more). */
#define AUDIT_RESPONSE_OVERHEAD 64u

static audit_entry ring[AUDIT_CAPACITY];
static size_t ring_head, ring_count;
static uint32_t lost_pending; /* events lost since the last one stored (REQ-AUDIT-009) */
static uint32_t lost_since_read; /* AUDIT_READ `lost` */

void audit_emit(const audit_entry *e)
{
    audit_entry *slot;

    if (ring_count == AUDIT_CAPACITY) {
        /* §13.9: a full buffer keeps its oldest events; no protocol check depends on this */
        lost_pending++;
        lost_since_read++;
        return;
    }
    slot = &ring[(ring_head + ring_count) % AUDIT_CAPACITY];
    *slot = *e;
    slot->ts_ms = plat_millis();
    slot->lost_events = lost_pending;
    lost_pending = 0;
    ring_count++;
}

void audit_clear(void)
{
    memset(ring, 0, sizeof(ring));
    ring_head = 0;
    ring_count = 0;
    lost_pending = 0;
    lost_since_read = 0;
}

/* --- JSON rendering (the form Python's json.dumps(separators=(",", ":"), ensure_ascii=False)
 * writes, so a line compares byte for byte with the reference's) ------------------------------ */

typedef struct {
    char *buf;
    size_t cap, len;
    int overflow;
} jw;

static void put_raw(jw *j, const char *s, size_t n)
{
    if (j->overflow || n > j->cap - j->len) {
        j->overflow = 1;
        return;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
}

static void put_s(jw *j, const char *s)
{
    put_raw(j, s, strlen(s));
}

static void put_u64(jw *j, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0);
    put_raw(j, tmp + sizeof(tmp) - n, n);
}

static void put_i64(jw *j, int64_t v)
{
    if (v < 0) {
        put_s(j, "-");
        put_u64(j, (uint64_t)(-(v + 1)) + 1u);
    } else {
        put_u64(j, (uint64_t)v);
    }
}

static void put_digits(jw *j, uint32_t v, int width)
{
    char tmp[4];
    int i;
    for (i = width - 1; i >= 0; i--) {
        tmp[i] = (char)('0' + v % 10u);
        v /= 10u;
    }
    put_raw(j, tmp, (size_t)width);
}

/* A JSON string: quotes, backslash and control characters escaped as json.dumps does. */
static void put_str(jw *j, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    put_s(j, "\"");
    for (i = 0; i < n; i++) {
        uint8_t c = s[i];
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15u]};
        switch (c) {
        case '"': put_s(j, "\\\""); break;
        case '\\': put_s(j, "\\\\"); break;
        case '\b': put_s(j, "\\b"); break;
        case '\f': put_s(j, "\\f"); break;
        case '\n': put_s(j, "\\n"); break;
        case '\r': put_s(j, "\\r"); break;
        case '\t': put_s(j, "\\t"); break;
        default:
            if (c < 0x20u) {
                put_raw(j, esc, sizeof(esc));
            } else {
                put_raw(j, (const char *)&s[i], 1);
            }
        }
    }
    put_s(j, "\"");
}

static void put_text(jw *j, const char *s)
{
    put_str(j, (const uint8_t *)s, strlen(s));
}

static void put_hex(jw *j, const uint8_t *data, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    put_s(j, "\"");
    for (i = 0; i < n; i++) {
        char two[2] = {hex[data[i] >> 4], hex[data[i] & 15u]};
        put_raw(j, two, 2);
    }
    put_s(j, "\"");
}

/* ,"key": */
static void key(jw *j, const char *k, int first)
{
    if (!first) {
        put_s(j, ",");
    }
    put_text(j, k);
    put_s(j, ":");
}

/* §13.9 "Time": without a wall clock (feature no-clock) the best source is the uptime, so `ts`
 * counts from 1970-01-01T00:00:00.000Z at boot, in the §9.1 form (REQ-AUDIT-003). */
static void put_ts(jw *j, uint32_t ms)
{
    uint32_t secs = ms / 1000u, days = secs / 86400u, rem = secs % 86400u;
    /* days since 1970-01-01 to a civil date (proleptic Gregorian, era arithmetic) */
    uint32_t z = days + 719468u, era = z / 146097u, doe = z - era * 146097u;
    uint32_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    uint32_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    uint32_t mp = (5u * doy + 2u) / 153u;
    uint32_t d = doy - (153u * mp + 2u) / 5u + 1u;
    uint32_t m = mp < 10u ? mp + 3u : mp - 9u;
    uint32_t y = yoe + era * 400u + (m <= 2u ? 1u : 0u);

    put_s(j, "\"");
    put_digits(j, y, 4);
    put_s(j, "-");
    put_digits(j, m, 2);
    put_s(j, "-");
    put_digits(j, d, 2);
    put_s(j, "T");
    put_digits(j, rem / 3600u, 2);
    put_s(j, ":");
    put_digits(j, rem / 60u % 60u, 2);
    put_s(j, ":");
    put_digits(j, rem % 60u, 2);
    put_s(j, ".");
    put_digits(j, ms % 1000u, 3);
    put_s(j, "Z\"");
}

static const char *event_name(uint8_t event)
{
    switch (event) {
    case AUDIT_PEER_AUTHENTICATED: return "peer_authenticated";
    case AUDIT_AUTH_FAILED: return "auth_failed";
    case AUDIT_REPLAY_DROPPED: return "replay_dropped";
    case AUDIT_DECRYPT_FAILED: return "decrypt_failed";
    case AUDIT_REKEY: return "rekey";
    case AUDIT_LIMIT_EXCEEDED: return "limit_exceeded";
    case AUDIT_HANDSHAKE_FAILED: return "handshake_failed";
    default: return "handshake_completed";
    }
}

/* §9.2: the severity of each event (peer_authenticated is a warning only under TOFU, which
 * this build does not implement). */
static const char *severity(uint8_t event)
{
    switch (event) {
    case AUDIT_AUTH_FAILED:
    case AUDIT_HANDSHAKE_FAILED: return "error";
    case AUDIT_REPLAY_DROPPED:
    case AUDIT_DECRYPT_FAILED:
    case AUDIT_LIMIT_EXCEEDED: return "warning";
    default: return "info";
    }
}

static const char *origin_name(uint8_t origin)
{
    return origin == AUDIT_ORIGIN_PEER ? "peer" : "local";
}

static void put_err_code(jw *j, const audit_entry *e)
{
    if (e->has_value) {
        key(j, "err_code", 0);
        put_i64(j, e->value);
    }
}

/* ,"topic":"<topic>" of a pub/sub event; a topic too long to keep is logged as
 * "topic":null,"topic_fingerprint":"sha256:<hex>" (the form the reference uses). */
static void put_topic(jw *j, const audit_entry *e)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    key(j, "topic", 0);
    if (!e->topic_hashed) {
        put_str(j, e->topic, e->topic_len);
        return;
    }
    put_s(j, "null");
    key(j, "topic_fingerprint", 0);
    put_s(j, "\"sha256:");
    for (i = 0; i < 32u; i++) {
        char two[2] = {hex[e->topic[i] >> 4], hex[e->topic[i] & 15u]};
        put_raw(j, two, 2);
    }
    put_s(j, "\"");
}

static void put_detail(jw *j, const audit_entry *e)
{
    const char *role = e->initiator ? "initiator" : "responder";
    switch (e->event) {
    case AUDIT_PEER_AUTHENTICATED:
        key(j, "role", 1);
        put_text(j, role);
        key(j, "method", 0);
        put_s(j, "0");
        key(j, "trust", 0);
        put_text(j, "allow-list");
        key(j, "sub", 0);
        if (e->cred != NULL && e->cred->has_sub) {
            put_str(j, e->cred->ccs + e->cred->sub_pos, e->cred->sub_len);
        } else {
            put_s(j, "null");
        }
        break;
    case AUDIT_HANDSHAKE_COMPLETED:
        key(j, "role", 1);
        put_text(j, role);
        key(j, "method", 0);
        put_s(j, "0");
        key(j, "c_i", 0);
        put_hex(j, e->c_i, e->c_i_len);
        key(j, "c_r", 0);
        put_hex(j, e->c_r, e->c_r_len);
        key(j, "duration_ms", 0);
        put_i64(j, e->value);
        break;
    case AUDIT_AUTH_FAILED:
        key(j, "alert", 1);
        put_text(j, edhoc_alert_name((edhoc_alert)e->alert));
        key(j, "stage", 0);
        put_text(j, e->code == AUDIT_STAGE_PUBSUB      ? "pubsub"
                    : e->code == AUDIT_STAGE_MESSAGE_3 ? "message_3"
                                                       : "message_2");
        key(j, "origin", 0);
        put_text(j, origin_name(e->origin));
        put_err_code(j, e);
        break;
    case AUDIT_DECRYPT_FAILED:
        key(j, "context", 1);
        if (e->code == AUDIT_REASON_NONE) {
            put_text(j, "handshake");
            key(j, "origin", 0);
            put_text(j, origin_name(e->origin));
            put_err_code(j, e);
        } else {
            put_text(j, "record");
            key(j, "count_v", 0);
            put_i64(j, e->value);
            key(j, "reason", 0);
            put_text(j, e->code == AUDIT_REASON_NO_CONTEXT ? "no context"
                                                            : "authentication failed");
        }
        break;
    case AUDIT_REPLAY_DROPPED:
        key(j, "context", 1);
        if (e->pubsub) {
            put_text(j, "pubsub");
            key(j, "seq", 0);
            put_u64(j, (uint64_t)e->value);
            put_topic(j, e);
            key(j, "reason", 0);
            put_text(j, e->code == AUDIT_PUBSUB_STALE ? "stale" : "window");
            break;
        }
        put_text(j, "record");
        key(j, "piv", 0);
        put_i64(j, e->value);
        key(j, "reason", 0);
        put_text(j, "window");
        break;
    case AUDIT_REKEY:
        key(j, "epoch", 1);
        put_i64(j, e->value);
        key(j, "initiated_by", 0);
        put_text(j, e->code == AUDIT_BY_PEER ? "peer" : "local");
        break;
    case AUDIT_LIMIT_EXCEEDED:
        key(j, "limit", 1);
        put_text(j, e->code == AUDIT_LIMIT_PUBSUB_WINDOWS ? "pubsub_windows"
                    : e->code == AUDIT_LIMIT_V            ? "v"
                                                          : "q");
        key(j, "value", 0);
        put_i64(j, e->value);
        break;
    default: /* handshake_failed */
        key(j, "alert", 1);
        put_text(j, edhoc_alert_name((edhoc_alert)e->alert));
        key(j, "origin", 0);
        put_text(j, origin_name(e->origin));
        key(j, "state", 0);
        put_text(j, edhoc_state_name((edhoc_state)e->state));
        put_err_code(j, e);
        if (e->code == AUDIT_REASON_TIMEOUT) {
            key(j, "reason", 0);
            put_text(j, "timeout");
        }
        break;
    }
    if (e->lost_events != 0) {
        key(j, "lost_events", 0);
        put_u64(j, e->lost_events);
    }
}

size_t audit_render(const audit_entry *e, char *buf, size_t cap)
{
    jw j;
    j.buf = buf;
    j.cap = cap > 0 ? cap - 1 : 0; /* room for the NUL */
    j.len = 0;
    j.overflow = 0;
    /* REQ-AUDIT-007 order: ts, event, severity, peer, suite, detail */
    put_s(&j, "{\"ts\":");
    put_ts(&j, e->ts_ms);
    put_s(&j, ",\"event\":");
    put_text(&j, event_name(e->event));
    put_s(&j, ",\"severity\":");
    put_text(&j, severity(e->event));
    put_s(&j, ",\"peer\":");
    if (e->peer_len > 0) {
        put_hex(&j, e->peer, e->peer_len);
    } else {
        put_s(&j, "null");
    }
    put_s(&j, ",\"suite\":");
    if (e->has_suite) {
        put_i64(&j, e->suite);
    } else {
        put_s(&j, "null");
    }
    put_s(&j, ",\"detail\":{");
    put_detail(&j, e);
    put_s(&j, "}}");
    if (j.overflow) {
        return 0;
    }
    buf[j.len] = '\0';
    return j.len;
}

/* CBOR text head size for n bytes. */
static size_t tstr_size(size_t n)
{
    return n + (n < 24u ? 1u : n < 256u ? 2u : n < 65536u ? 3u : 5u);
}

int tap_cmd_audit_read(tap_ctx *t)
{
    char *line = (char *)work_buffer(0); /* free between commands */
    size_t budget = TAP_MAX_RESPONSE - AUDIT_RESPONSE_OVERHEAD, count = 0, i, len;
    uint32_t lost;

    measure_begin();
    /* §13.9: the oldest events that fit max_tap_response (at least one) */
    for (i = 0; i < ring_count; i++) {
        len = audit_render(&ring[(ring_head + i) % AUDIT_CAPACITY], line, WORK_SIZE);
        if (tstr_size(len) > budget && count > 0) {
            break;
        }
        budget -= tstr_size(len) < budget ? tstr_size(len) : budget;
        count++;
    }
    measure_end(CMD_AUDIT_READ);
    lost = lost_since_read;
    lost_since_read = 0;
    /* deterministic key order: length first, then bytewise */
    cbor_put_head(t->w, CBOR_MAP, 3);
    tap_put_key(t->w, "lost");
    cbor_put_uint(t->w, lost);
    tap_put_key(t->w, "more");
    cbor_put_bool(t->w, ring_count > count);
    tap_put_key(t->w, "events");
    cbor_put_head(t->w, CBOR_ARRAY, count);
    for (i = 0; i < count; i++) {
        audit_entry *e = &ring[ring_head];
        audit_render(e, line, WORK_SIZE);
        cbor_put_text(t->w, line);
        memset(e, 0, sizeof(*e));
        ring_head = (ring_head + 1u) % AUDIT_CAPACITY;
        ring_count--;
    }
    memset(line, 0, WORK_SIZE);
    return 0;
}
