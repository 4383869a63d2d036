/* Per-command measurement (spec §13.6): cycle count and painted-stack high-water mark. */
#ifndef PQIOT_MEASURE_H
#define PQIOT_MEASURE_H

#include <stdint.h>

typedef struct {
    int valid;
    uint32_t cmd;
    uint64_t cycles;
    int overflow;
    int has_stack;
    uint32_t stack_bytes;
} measurement;

/* Start the interval: paints the free stack below the caller's frame. */
void measure_begin(void);
/* End it and record the result as the last measurement of command `cmd`. */
void measure_end(uint32_t cmd);
const measurement *measure_last(void);
void measure_clear(void);

#endif
