#include "cobs.h"

size_t cobs_encode(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t code_pos = 0; /* where the current block's length byte goes */
    size_t o = 1;
    uint8_t code = 1;
    size_t i;

    for (i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_pos] = code;
            code_pos = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            code++;
            /* A full block ends without an implied zero; open the next one only if more
             * input follows, so 254 non-zero bytes encode as FF + data (minimal form). */
            if (code == 0xFF && i + 1 < len) {
                out[code_pos] = code;
                code_pos = o++;
                code = 1;
            }
        }
    }
    out[code_pos] = code;
    return o;
}

int cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    size_t i = 0;
    size_t o = 0;

    if (len == 0) {
        return -1;
    }
    while (i < len) {
        uint8_t code = in[i++];
        size_t j;
        if (code == 0 || (size_t)(code - 1) > len - i) {
            return -1;
        }
        for (j = 1; j < code; j++) {
            if (in[i] == 0 || o >= out_cap) {
                return -1;
            }
            out[o++] = in[i++];
        }
        /* A block shorter than 0xFF stands for a zero, except at the very end. */
        if (code != 0xFF && i < len) {
            if (o >= out_cap) {
                return -1;
            }
            out[o++] = 0;
        }
    }
    *out_len = o;
    return 0;
}
