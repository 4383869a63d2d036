/* Vector table and reset handler for the Cortex-M4 of the MPS2 AN386. */
#include <stdint.h>
#include <string.h>

extern uint32_t _data_load, _data_start, _data_end, _bss_start, _bss_end, _stack_top;
extern int main(void);
void SysTick_Handler(void);

#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)

void Reset_Handler(void);
void _exit(int status);
/* entropy_semihost.c: a semihosting BKPT without a host returns -1; other faults reset. */
void Bkpt_Fault_Handler(void);

/* A fault means a bug; reset rather than hang, so the host sees the agent come back. */
static void Fault_Handler(void)
{
    SCB_AIRCR = 0x05FA0004u; /* VECTKEY | SYSRESETREQ */
    for (;;) {
    }
}

static void Default_Handler(void)
{
}

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&_stack_top),
    Reset_Handler,
    Fault_Handler, /* NMI */
    Bkpt_Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVCall */
    Bkpt_Fault_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};

void Reset_Handler(void)
{
    memcpy(&_data_start, &_data_load, (size_t)((char *)&_data_end - (char *)&_data_start));
    memset(&_bss_start, 0, (size_t)((char *)&_bss_end - (char *)&_bss_start));
    main();
    Fault_Handler();
}

/* newlib's exit() (reachable from PQClean's out-of-memory paths) ends here. */
void _exit(int status)
{
    (void)status;
    Fault_Handler();
}
