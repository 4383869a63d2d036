/* MPS2 AN386 board support: CMSDK UART0 for the serial link, SysTick as the cycle source. */
#include <stdint.h>

#include "agent.h"
#include "platform.h"

#define SYSCLK_HZ 25000000u

/* CMSDK APB UART0 */
#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define UART_STATE_TXFULL 1u
#define UART_STATE_RXFULL 2u
#define UART_CTRL_TXEN 1u
#define UART_CTRL_RXEN 2u

/* SysTick */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu

extern uint8_t _stack_limit;

static volatile uint32_t systick_wraps;

void SysTick_Handler(void);

void SysTick_Handler(void)
{
    systick_wraps++;
}

uint64_t plat_cycles(void)
{
    uint32_t wraps, value;
    /* Re-read if the counter wrapped between the two reads. */
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return ((uint64_t)wraps << 24) + (SYST_RELOAD - value);
}

uint32_t plat_millis(void)
{
    return (uint32_t)(plat_cycles() / (SYSCLK_HZ / 1000u));
}

const char *plat_cycle_source(void)
{
#ifdef PQIOT_QEMU
    return "qemu-icount"; /* REQ-TAP-018: under QEMU SysTick counts instructions, not cycles */
#else
    return "systick";
#endif
}

uint32_t plat_clock_hz(void) { return SYSCLK_HZ; }
int plat_has_stack_paint(void) { return 1; }
uint8_t *plat_stack_limit(void) { return &_stack_limit; }
const char *plat_product(void) { return "pqiot reference firmware (mps2-an386 Cortex-M4)"; }

static void uart_write(const uint8_t *data, size_t len, void *ctx)
{
    size_t i;
    (void)ctx;
    for (i = 0; i < len; i++) {
        while (UART_STATE & UART_STATE_TXFULL) {
        }
        UART_DATA = data[i];
    }
}

int main(void)
{
    UART_BAUDDIV = 16u;
    UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enable */

    agent_serial_init(uart_write, NULL);
    for (;;) {
        if (UART_STATE & UART_STATE_RXFULL) {
            agent_serial_byte((uint8_t)UART_DATA, plat_millis());
        }
    }
}
