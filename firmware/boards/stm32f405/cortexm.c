/* Pieces both STM32F405 ports share: SysTick time base, idle, NVIC, USART1. */
#include "stm32f4.h"

#include "app.h"

static volatile uint32_t systick_wraps;

/* SysTick on the processor clock, full 24-bit period; the interrupt counts
 * wraps so board_ticks() can extend the count to 64 bits. */
void cortexm_systick_start(void)
{
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = (1u << 2) | (1u << 1) | (1u << 0); /* CLKSOURCE = CPU, TICKINT, ENABLE */
}

void SysTick_Handler(void)
{
    systick_wraps++;
}

uint64_t cortexm_ticks(void)
{
    uint32_t w, v;
    do {
        w = systick_wraps;
        v = SYST_CVR;
    } while (w != systick_wraps);
    return ((uint64_t)w << 24) + (uint64_t)(0x00FFFFFFu - v);
}

void cortexm_idle(void)
{
    __asm volatile("cpsid i" ::: "memory");
    if (!app_pending()) {
        __asm volatile("wfi" ::: "memory"); /* a pending interrupt still wakes it */
    }
    __asm volatile("cpsie i" ::: "memory");
}

void cortexm_irq_enable(uint32_t irq, uint8_t priority)
{
    NVIC_IPR8(irq) = priority;
    NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
}

/* USART1, 8N1, receive by interrupt. Pins and clocks are the caller's. */
void cortexm_usart1_start(uint32_t brr)
{
    USART1_BRR = brr;
    USART1_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    cortexm_irq_enable(USART1_IRQN, 0x40u);
}

void USART1_IRQHandler(void)
{
    uint32_t sr = USART1_SR;
    if (sr & (USART_SR_RXNE | USART_SR_ORE)) {
        /* reading DR clears RXNE and, after the SR read, ORE */
        if (app_rx_byte((uint8_t)USART1_DR)) {
            /* Ring full: leave the next byte in DR (RXNE set) until the main loop makes room.
             * Masked in the NVIC, not with RXNEIE: QEMU 7.2 lowers the USART's line only
             * when DR is read, so a held byte would re-enter this handler forever. */
            NVIC_ICER(USART1_IRQN / 32u) = 1u << (USART1_IRQN % 32u);
            __asm volatile("dsb\n\tisb" ::: "memory");
        }
    }
}

void cortexm_usart1_rx_resume(void)
{
    /* a byte already waiting in DR is pending and interrupts at once */
    NVIC_ISER(USART1_IRQN / 32u) = 1u << (USART1_IRQN % 32u);
}

void cortexm_usart1_write(const uint8_t *data, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        while ((USART1_SR & USART_SR_TXE) == 0u) {
        }
        USART1_DR = data[i];
    }
}
