/*
 * board.h: what a board port supplies to the portable application.
 *
 * A port lives in boards/<board>/ and implements every function below; it
 * calls back into the application through app.h (received bytes, sampled
 * blocks). Register-level code stays in the port.
 */
#ifndef EMO_BOARD_H
#define EMO_BOARD_H

#include <stdint.h>
#include "emo_common.h"

/* Clocks, USART, SysTick, watchdog; interrupts are enabled on return. */
void board_init(void);

/* The HELLO board id (EMO_BOARD_ID: the board.toml id, defined by the build), and the unit of
 * board_cost() (EMO_COST_*). */
uint8_t board_id(void);
uint8_t board_cost_unit(void);

/* EMO_HELLO_FLAG_* bits the board reports in HELLO (clock fallback). */
uint8_t board_flags(void);

/* Core clock, Hz. */
uint32_t board_cpu_hz(void);

/* CPU clock ticks since reset (SysTick, extended to 64 bits). */
uint64_t board_ticks(void);

/* A tick interval in the board's cost unit (cycles, or instructions under QEMU -icount). */
uint32_t board_cost(uint64_t ticks);

/* Send n bytes on the host link; returns when they are queued or sent. */
void board_write(const uint8_t *data, int32_t n);

/* 1 when the link can hold bytes back while the RX ring is full (QEMU's USART
 * stops reading the socket while RXNE is set, as RTS/CTS would); 0 when a held
 * byte would be overrun by the next, so a full ring drops and counts instead. */
int32_t board_rx_flow_control(void);

/* Take received bytes again after app_rx_byte() asked the interrupt to pause. */
void board_rx_resume(void);

/* 1 when samples come from the board's ADC, 0 when they come as REPLAY frames. */
int32_t board_has_adc(void);

/* Start (on = 1) or stop sampling at fs Hz (8000 or 16000). EMO_ERR_RATE if fs
 * is not supported. Boards without an ADC only check fs. */
emo_status_t board_sampling(int32_t on, int32_t fs);

/* End the program with an exit code (semihosting). Returns EMO_ERR_UNSUPPORTED
 * where there is no such thing; otherwise it does not return. */
emo_status_t board_exit(int32_t code);

/* Restart the watchdog's count-down (no-op where there is none). */
void board_watchdog_kick(void);

/* Sleep until the next interrupt unless app_pending() (checked with interrupts masked). */
void board_idle(void);

#endif /* EMO_BOARD_H */
