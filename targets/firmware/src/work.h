/* Two shared work buffers for the protocol code. Only one TAP command or protocol step runs at
 * a time, so the handshake (PLAINTEXT_x, KEYSTREAM_2, Sig_structure) and the record layer
 * (plaintext in, plaintext out) borrow the same RAM instead of each holding its own. */
#ifndef PQIOT_WORK_H
#define PQIOT_WORK_H

#include <stddef.h>
#include <stdint.h>

/* 4 KB of record plaintext plus content type, or a 4 KB handshake plaintext. */
#define WORK_SIZE 4112u

/* which = 0 or 1; the two never alias. */
uint8_t *work_buffer(int which);

#endif
