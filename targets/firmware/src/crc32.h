/* CRC-32/ISO-HDLC (zlib's crc32), spec §12.1.1: check value crc32("123456789") = 0xCBF43926. */
#ifndef PQIOT_CRC32_H
#define PQIOT_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32_iso_hdlc(const uint8_t *data, size_t len);

#endif
