/* Entropy for the DRBG on the MPS2 AN386 under QEMU. The board has no TRNG, so the firmware reads
 * the host's /dev/urandom through ARM semihosting (SYS_OPEN, SYS_READ, SYS_CLOSE), which QEMU
 * serves when started with `-semihosting-config enable=on,target=native` (targets/qemu-m4.toml).
 * A real board implements plat_entropy() with its TRNG instead (e.g. the RNG peripheral of an
 * STM32L4 or nRF5340) and needs none of this file.
 *
 * Without semihosting the BKPT 0xAB of a call is a debug event no debugger takes: it escalates
 * to HardFault (or DebugMonitor). Bkpt_Fault_Handler recognises that case, makes the call return
 * -1 and resumes after the BKPT, so the firmware then simply has no RNG (rng.c) instead of
 * resetting. Every other fault resets, as before. */
#include <stdint.h>
#include <string.h>

#include "platform.h"

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_READ 0x06
#define OPEN_MODE_RB 1 /* fopen mode "rb" */
#define BKPT_SEMIHOST 0xBEABu

#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)

static volatile int semihosting_absent;

static int semihost(int op, void *args)
{
    register int r0 __asm("r0") = op;
    register void *r1 __asm("r1") = args;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void Bkpt_Fault_Handler(void);
void bkpt_fault(uint32_t *frame);

/* The stacked exception frame: r0 r1 r2 r3 r12 lr pc xpsr. */
void bkpt_fault(uint32_t *frame)
{
    const uint16_t *pc = (const uint16_t *)frame[6];
    if (*pc == BKPT_SEMIHOST) {
        semihosting_absent = 1;
        frame[0] = (uint32_t)-1; /* the call's result */
        frame[6] += 2;           /* resume after the BKPT */
        SCB_HFSR = SCB_HFSR;     /* write-one-to-clear DEBUGEVT / FORCED */
        return;
    }
    SCB_AIRCR = 0x05FA0004u; /* a real fault: reset, as startup.c does */
    for (;;) {
    }
}

__attribute__((naked)) void Bkpt_Fault_Handler(void)
{
    __asm volatile("tst lr, #4\n"
                   "ite eq\n"
                   "mrseq r0, msp\n"
                   "mrsne r0, psp\n"
                   "b bkpt_fault\n");
}

int plat_entropy(uint8_t *out, size_t len)
{
    static const char path[] = "/dev/urandom";
    uint32_t args[3];
    int handle, left;

    if (semihosting_absent) {
        return -1;
    }
    args[0] = (uint32_t)path;
    args[1] = OPEN_MODE_RB;
    args[2] = sizeof(path) - 1;
    handle = semihost(SYS_OPEN, args);
    if (handle == -1 || semihosting_absent) {
        return -1;
    }
    args[0] = (uint32_t)handle;
    args[1] = (uint32_t)out;
    args[2] = (uint32_t)len;
    left = semihost(SYS_READ, args); /* the number of bytes NOT read */
    args[0] = (uint32_t)handle;
    semihost(SYS_CLOSE, args);
    if (left != 0) {
        memset(out, 0, len);
        return -1;
    }
    return 0;
}
