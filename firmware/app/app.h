/*
 * app.h: the portable application, as seen by board code and main().
 *
 * Data path: USART RX interrupt -> app_rx_byte() -> RX ring; ADC DMA interrupt
 * (or a REPLAY frame) -> app_samples() -> sample ring; app_poll() in the main
 * loop decodes commands, cuts the sample ring into hops, runs F0 through
 * csrc/emo_f0.c and sends frames (csrc/emo_proto.c). Every loss is counted.
 * Where the link has flow control (QEMU), a full RX ring pauses reception
 * instead of dropping bytes, so a host may send as fast as it likes.
 */
#ifndef EMO_APP_H
#define EMO_APP_H

#include <stdint.h>

#define EMO_APP_FW_MAJOR 0
#define EMO_APP_FW_MINOR 2        /* 0.2: protocol version 2 (F0 records with cq, jitter, shimmer) */
#define EMO_APP_FW_PATCH 0
#define EMO_APP_RX_RING 1024       /* bytes, a power of two */
#ifndef EMO_APP_SAMPLE_RING
#define EMO_APP_SAMPLE_RING 1024   /* samples, a power of two; a board.toml may set its own */
#endif
#define EMO_APP_MAX_HOP 160        /* input samples per 10 ms hop at 16 kHz */
#define EMO_APP_DEFAULT_FS 16000

/* Set up state and send HELLO. Call once after board_init(). */
void app_init(void);

/* One pass of the main loop: commands, hops, output. Returns 1 if it did work. */
int32_t app_poll(void);

/* 1 if app_poll() has work now. board_idle() checks it with interrupts
 * masked, so that a byte arriving just before the sleep is not left waiting. */
int32_t app_pending(void);

/* From the USART RX interrupt: one received byte. Returns 1 when the RX ring is
 * full and the board has flow control (board_rx_flow_control()): the interrupt
 * must then stop taking bytes, leaving the next one in the data register, until
 * the main loop has made room and calls board_rx_resume(). Returns 0 otherwise. */
int32_t app_rx_byte(uint8_t b);

/* Send one frame to the host (protocol sequence numbers and counters included). */
void app_send(uint8_t type, const uint8_t *data, int32_t len);

/* From the ADC DMA interrupt (or the replay path): n new samples. */
void app_samples(const int16_t *x, int32_t n);

#endif /* EMO_APP_H */
