/* Static limits of the firmware; every buffer in the image is sized from these. */
#ifndef PQIOT_CONFIG_H
#define PQIOT_CONFIG_H

/* Serial fragment payload (REQ-SER-002: 128..1024, default 256). */
#define SERIAL_MTU 256u
/* Largest TAP request accepted (REQ-TAP-006: >= 8192 and >= the largest request the
 * declared commands need: ML-DSA-65 SIG_VERIFY with a 4096-byte msg is ~9.4 KB).
 * A multiple of the MTU, because the serial receiver checks frag_count x MTU (REQ-SER-005). */
#define TAP_MAX_REQUEST (48u * SERIAL_MTU)
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

#endif
