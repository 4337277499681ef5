/*
 * Start-up for the STM32F405 (and the QEMU netduinoplus2, the same chip):
 * the vector table and the reset handler. The reset handler enables the FPU
 * before any C code that may use float runs, then sets up .data and .bss.
 */
#include <stdint.h>

#include "stm32f4.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));
void USART1_IRQHandler(void) __attribute__((weak, alias("Default_Handler")));
void DMA2_Stream0_IRQHandler(void) __attribute__((weak, alias("Default_Handler")));

#define EMO_NUM_IRQ 82 /* STM32F405 external interrupts */

typedef void (*emo_vector_t)(void);

__attribute__((section(".isr_vector"), used))
const emo_vector_t emo_vectors[16 + EMO_NUM_IRQ] = {
    [0] = (emo_vector_t)(uintptr_t)&_estack,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [11] = SVC_Handler,
    [12] = DebugMon_Handler,
    [14] = PendSV_Handler,
    [15] = SysTick_Handler,
    [16 + USART1_IRQN] = USART1_IRQHandler,
    [16 + DMA2_STREAM0_IRQN] = DMA2_Stream0_IRQHandler,
};

/* The loops below must stay loops: GCC would otherwise turn them into memcpy
 * and memset calls, which are not safe to run before .data exists. */
__attribute__((noreturn, optimize("no-tree-loop-distribute-patterns")))
void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;

    SCB_CPACR |= 0xFu << 20; /* CP10 and CP11 full access: the FPU */
    __asm volatile("dsb\n\tisb" ::: "memory");
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss; dst++) {
        *dst = 0;
    }
    main();
    for (;;) {
    }
}

/* Unhandled exception: stop here (a debugger shows where; on the board the
 * watchdog resets the chip). */
void Default_Handler(void)
{
    for (;;) {
    }
}
