#include "work.h"

static uint8_t buffers[2][WORK_SIZE];

uint8_t *work_buffer(int which)
{
    return buffers[which != 0];
}
