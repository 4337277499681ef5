/*
 * QEMU netduinoplus2 (an emulated STM32F405). QEMU models no clock tree and
 * no meaningful ADC, so samples arrive from the host as REPLAY frames on
 * USART1 (the first -serial). Run QEMU with -icount shift=0: one instruction
 * then takes 1 ns of virtual time, and SysTick on the 168 MHz core clock
 * counts 0.168 ticks per instruction, so board_cost() reports instructions.
 * -semihosting-config enable=on,target=native lets EMO_CMD_EXIT end QEMU.
 */
#include "board.h"

#include "emo_proto.h"
#include "stm32f4.h"

#define QEMU_CPU_HZ EMO_BOARD_CORE_HZ /* board.toml clock.core_hz */
#define QEMU_NS_PER_INSN 1u   /* -icount shift=0 */

void board_init(void)
{
    cortexm_systick_start();
    cortexm_usart1_start(0x2Du); /* QEMU ignores the rate; 115200 Bd at 84 MHz on a chip */
    __asm volatile("cpsie i" ::: "memory");
}

uint8_t board_id(void)
{
    return EMO_BOARD_ID; /* board.toml id, compiled in by the build */
}

uint8_t board_cost_unit(void)
{
    return EMO_COST_INSTRUCTIONS;
}

uint8_t board_flags(void)
{
    return 0;                  /* QEMU's clock tree has nothing to wait for */
}

uint32_t board_cpu_hz(void)
{
    return QEMU_CPU_HZ;
}

uint64_t board_ticks(void)
{
    return cortexm_ticks();
}

/* ticks -> ns of virtual time -> instructions */
uint32_t board_cost(uint64_t ticks)
{
    return (uint32_t)((ticks * 1000000000ull / QEMU_CPU_HZ) / QEMU_NS_PER_INSN);
}

void board_write(const uint8_t *data, int32_t n)
{
    cortexm_usart1_write(data, n);
}

/* QEMU's USART takes no byte from the socket while RXNE is set: holding one in DR is
 * lossless flow control, and TCP pushes back on the host. */
int32_t board_rx_flow_control(void)
{
    return 1;
}

void board_rx_resume(void)
{
    cortexm_usart1_rx_resume();
}

int32_t board_has_adc(void)
{
    return 0;
}

emo_status_t board_sampling(int32_t on, int32_t fs)
{
    (void)on;
    return (fs == 8000 || fs == 16000) ? EMO_OK : EMO_ERR_RATE;
}

/* Semihosting SYS_EXIT_EXTENDED (0x20): r1 points at {ADP_Stopped_ApplicationExit, code}. */
emo_status_t board_exit(int32_t code)
{
    volatile uint32_t block[2] = {0x20026u, (uint32_t)code};
    register uint32_t r0 __asm("r0") = 0x20u;
    register volatile uint32_t *r1 __asm("r1") = block;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return EMO_ERR_UNSUPPORTED; /* semihosting off: QEMU would have faulted instead */
}

void board_watchdog_kick(void)
{
}

void board_idle(void)
{
    cortexm_idle();
}
