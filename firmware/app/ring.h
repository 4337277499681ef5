/*
 * ring.h: single-producer single-consumer rings (producer in an interrupt,
 * consumer in the main loop; no locks on a single core). Capacity is the
 * buffer length, a power of two; head and tail run freely and wrap.
 * A push into a full ring drops the item and counts it.
 */
#ifndef EMO_RING_H
#define EMO_RING_H

#include <stdint.h>

typedef struct {
    uint8_t *buf;
    uint32_t mask;               /* capacity - 1 */
    volatile uint32_t head;      /* written by the producer */
    volatile uint32_t tail;      /* written by the consumer */
    volatile uint32_t dropped;   /* items refused because the ring was full */
} emo_byte_ring_t;

typedef struct {
    int16_t *buf;
    uint32_t mask;
    volatile uint32_t head;
    volatile uint32_t tail;
    volatile uint32_t dropped;
} emo_sample_ring_t;

/* capacity must be a power of two. */
void emo_byte_ring_init(emo_byte_ring_t *r, uint8_t *buf, uint32_t capacity);
/* Producer: 1 if stored, 0 if dropped (counted). */
int32_t emo_byte_ring_push(emo_byte_ring_t *r, uint8_t b);
/* Consumer: copy up to n bytes into out; returns how many. */
int32_t emo_byte_ring_pop(emo_byte_ring_t *r, uint8_t *out, int32_t n);
uint32_t emo_byte_ring_count(const emo_byte_ring_t *r);

void emo_sample_ring_init(emo_sample_ring_t *r, int16_t *buf, uint32_t capacity);
/* Producer: store n samples; those that do not fit are dropped and counted.
 * Returns how many were stored. */
int32_t emo_sample_ring_push(emo_sample_ring_t *r, const int16_t *x, int32_t n);
/* Consumer: copy up to n samples into out; returns how many. */
int32_t emo_sample_ring_pop(emo_sample_ring_t *r, int16_t *out, int32_t n);
uint32_t emo_sample_ring_count(const emo_sample_ring_t *r);
/* Consumer: discard everything stored (the counters stay). */
void emo_sample_ring_clear(emo_sample_ring_t *r);

#endif /* EMO_RING_H */
