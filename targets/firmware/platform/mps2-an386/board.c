/* MPS2 AN386 board support: CMSDK UART0 for the serial link, SysTick as the cycle source.
 *
 * Receiving: the CMSDK UART holds one byte, and QEMU's model does not tell the
 * character backend when the guest has read it, so a busy-polling guest gets
 * its next byte only when QEMU's main loop happens to wake up (~200 us per
 * byte: ~5 KB/s). Sleeping in WFI until the UART's RX interrupt is pending
 * (as low-power firmware does on a real board) makes QEMU's main loop run at
 * once and deliver the next byte. The RX interrupt is only a wake-up source:
 * it is enabled in the NVIC just for the WFI, inside a PRIMASK-masked window
 * (a pending enabled interrupt still ends WFI, ARMv7-M B1.5.19), and disabled
 * again before PRIMASK is cleared, so it is never taken and startup.c needs
 * no vector for it. CMSDK TIMER0 is a second wake-up source of the same kind,
 * every POLL_MS, so agent_serial_poll() runs while the line is idle (the
 * channel-0 retransmission timer, REQ-SER-007). Measured operations never
 * contain a WFI and neither interrupt is ever taken, so the -icount
 * instruction proxy stays exact.
 *
 * Even so QEMU delivers one received byte per main-loop iteration (measured
 * 2026-11-22 on 2 cores: ~70 us per byte idle, ~145 us under load; about 26
 * host syscalls and two thread hand-offs per byte). That cost is QEMU's, not
 * this loop's: a variant with a real RX interrupt feeding a ring buffer, and
 * one with fewer register accesses per byte, measured the same, with or
 * without -icount. Sending is cheaper (~10 us per byte).
 */
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
#define UART_INTSTATUS (*(volatile uint32_t *)(UART0_BASE + 0x0Cu))
#define UART_CTRL_TXEN 1u
#define UART_CTRL_RXEN 2u
#define UART_CTRL_RXINTEN 8u
#define UART_INT_RX 2u

/* CMSDK APB TIMER0: the idle poll tick. */
#define TIMER0_BASE 0x40000000u
#define TIMER_CTRL (*(volatile uint32_t *)(TIMER0_BASE + 0x00u))
#define TIMER_VALUE (*(volatile uint32_t *)(TIMER0_BASE + 0x04u))
#define TIMER_RELOAD (*(volatile uint32_t *)(TIMER0_BASE + 0x08u))
#define TIMER_INTCLEAR (*(volatile uint32_t *)(TIMER0_BASE + 0x0Cu))
#define TIMER_CTRL_EN 1u
#define TIMER_CTRL_INTEN 8u
#define POLL_MS 50u

/* NVIC: UART0 RX is external interrupt 0, TIMER0 interrupt 8 on MPS2 (AN385/AN386). */
#define UART0_RX_IRQ 0u
#define TIMER0_IRQ 8u
#define WAKE_IRQS ((1u << UART0_RX_IRQ) | (1u << TIMER0_IRQ))
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define NVIC_ICER0 (*(volatile uint32_t *)0xE000E180u)
#define NVIC_ICPR0 (*(volatile uint32_t *)0xE000E280u)

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

/* Sleep until a byte is waiting or the poll tick (or a SysTick wrap) comes; returns with
 * interrupts enabled. */
static void wait_for_rx(void)
{
    __asm volatile("cpsid i" ::: "memory");
    UART_INTSTATUS = UART_INT_RX; /* W1C: forget bytes already handled ... */
    TIMER_INTCLEAR = 1u;          /* ... and ticks already seen ... */
    NVIC_ICPR0 = WAKE_IRQS;       /* ... and the pending state they left */
    NVIC_ISER0 = WAKE_IRQS;
    if (!(UART_STATE & UART_STATE_RXFULL)) {
        __asm volatile("wfi" ::: "memory"); /* a byte or a tick from here on ends the WFI */
    }
    NVIC_ICER0 = WAKE_IRQS;                 /* disabled before unmasking: never taken */
    __asm volatile("cpsie i" ::: "memory"); /* a pending SysTick wrap is taken here */
}

int main(void)
{
    UART_BAUDDIV = 16u;
    UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXINTEN;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enable */
    TIMER_RELOAD = SYSCLK_HZ / 1000u * POLL_MS;
    TIMER_VALUE = SYSCLK_HZ / 1000u * POLL_MS;
    TIMER_CTRL = TIMER_CTRL_EN | TIMER_CTRL_INTEN;

    agent_serial_init(uart_write, NULL);
    uint32_t last_poll = plat_millis();
    for (;;) {
        wait_for_rx();
        while (UART_STATE & UART_STATE_RXFULL) {
            agent_serial_byte((uint8_t)UART_DATA, plat_millis());
        }
        uint32_t now = plat_millis();
        if (now - last_poll >= POLL_MS) {
            agent_serial_poll(now); /* REQ-SER-007 retransmission timer, as the host build */
            last_poll = now;
        }
    }
}
