/* Static limits of the firmware; every buffer in the image is sized from these. */
#ifndef PQIOT_CONFIG_H
#define PQIOT_CONFIG_H

/* Serial fragment payload (REQ-SER-002: 128..1024, default 256), set at build time with
 * -DSERIAL_MTU=N; the harness must then use the same MTU (transport URL `?mtu=N`). */
#ifndef SERIAL_MTU
#define SERIAL_MTU 256u
#endif
#if SERIAL_MTU < 128 || SERIAL_MTU > 1024
#error "SERIAL_MTU must be 128..1024 (REQ-SER-002)"
#endif
/* The smallest multiple of the MTU that is at least n (the reassembly bound is frag_count x MTU). */
#define MTU_MULTIPLE(n) ((((n) + SERIAL_MTU - 1u) / SERIAL_MTU) * SERIAL_MTU)
/* Largest TAP request accepted (REQ-TAP-006: >= 8192 and >= the largest request the
 * declared commands need: HKDF with salt, ikm and info at their 4096-byte limit (REQ-TAP-007)
 * is 12,328 bytes + a request_id of up to 9; ML-DSA-65 SIG_VERIFY with a 4096-byte msg ~9.6 KB).
 * A multiple of the MTU, because the serial receiver checks frag_count x MTU (REQ-SER-005). */
#define TAP_MAX_REQUEST MTU_MULTIPLE(12544u)
/* Largest channel-0 message reassembled (kind byte + the largest handshake message accepted,
 * 5120 bytes, or a record of 4 KB plaintext); a multiple of the MTU like TAP_MAX_REQUEST. Larger
 * messages are discarded at their first fragment as message_too_large (REQ-SER-005). */
#define SERIAL_MAX_PROTOCOL MTU_MULTIPLE(5376u)
/* Largest TAP response (ML-DSA-65 SIG_KEYGEN, pk + sk = 5984 bytes, is the biggest). */
#define TAP_MAX_RESPONSE 8192u
/* Per-argument limit of the primitive commands (REQ-TAP-007). */
#define TAP_MAX_ARG 4096u
/* Largest `len` of HASH/KMAC (REQ-TAP-007). */
#define TAP_MAX_XOF_LEN 1024u
/* Largest ACCUMULATED `n` (REQ-TAP-007). */
#define TAP_MAX_ACCUMULATED 1000000u
/* Arguments kept per request; unknown keys beyond this are ignored like any unknown key. */
#define TAP_MAX_ARGS 16u
/* Partial serial messages older than this are discarded (REQ-SER-005 default). */
#define SERIAL_REASSEMBLY_TIMEOUT_MS 2000u

/* REQ-HS-037: the state timer of WAIT_M2 / WAIT_M3 (default 30 s, configurable 1..300 s). */
#ifndef HS_STATE_TIMER_MS
#define HS_STATE_TIMER_MS 30000u
#endif
/* REQ-HS-036: Responder sessions that may wait for message_3 at once (default 8); a further
 * message_1 is answered with ERR_CODE 1 "unspecified_error: busy". */
#ifndef HS_MAX_WAIT_M3
#define HS_MAX_WAIT_M3 8u
#endif
/* REQ-KU-006: the key-update timeout (default 10 s, configurable 1..300 s). */
#ifndef KEY_UPDATE_TIMEOUT_MS
#define KEY_UPDATE_TIMEOUT_MS 10000u
#endif
typedef char hs_state_timer_in_range[(HS_STATE_TIMER_MS >= 1000u && HS_STATE_TIMER_MS <= 300000u) ? 1 : -1];
typedef char key_update_timeout_in_range[
    (KEY_UPDATE_TIMEOUT_MS >= 1000u && KEY_UPDATE_TIMEOUT_MS <= 300000u) ? 1 : -1];

#endif
