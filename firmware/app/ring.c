#include "ring.h"

/* Keep the compiler from moving buffer accesses across index updates. On a
 * single Cortex-M core this is all the ordering an SPSC ring needs. */
#define EMO_BARRIER() __asm volatile("" ::: "memory")

void emo_byte_ring_init(emo_byte_ring_t *r, uint8_t *buf, uint32_t capacity)
{
    r->buf = buf;
    r->mask = capacity - 1u;
    r->head = 0;
    r->tail = 0;
    r->dropped = 0;
}

int32_t emo_byte_ring_push(emo_byte_ring_t *r, uint8_t b)
{
    uint32_t head = r->head;
    if (head - r->tail > r->mask) {
        r->dropped++;
        return 0;
    }
    r->buf[head & r->mask] = b;
    EMO_BARRIER();
    r->head = head + 1u;
    return 1;
}

int32_t emo_byte_ring_pop(emo_byte_ring_t *r, uint8_t *out, int32_t n)
{
    uint32_t tail = r->tail;
    uint32_t avail = r->head - tail;
    int32_t i, k = (int32_t)avail < n ? (int32_t)avail : n;
    EMO_BARRIER();
    for (i = 0; i < k; i++) {
        out[i] = r->buf[(tail + (uint32_t)i) & r->mask];
    }
    EMO_BARRIER();
    r->tail = tail + (uint32_t)k;
    return k;
}

uint32_t emo_byte_ring_count(const emo_byte_ring_t *r)
{
    return r->head - r->tail;
}

void emo_sample_ring_init(emo_sample_ring_t *r, int16_t *buf, uint32_t capacity)
{
    r->buf = buf;
    r->mask = capacity - 1u;
    r->head = 0;
    r->tail = 0;
    r->dropped = 0;
}

int32_t emo_sample_ring_push(emo_sample_ring_t *r, const int16_t *x, int32_t n)
{
    uint32_t head = r->head;
    uint32_t space = r->mask + 1u - (head - r->tail);
    int32_t i, k = (uint32_t)n < space ? n : (int32_t)space;
    for (i = 0; i < k; i++) {
        r->buf[(head + (uint32_t)i) & r->mask] = x[i];
    }
    EMO_BARRIER();
    r->head = head + (uint32_t)k;
    r->dropped += (uint32_t)(n - k);
    return k;
}

int32_t emo_sample_ring_pop(emo_sample_ring_t *r, int16_t *out, int32_t n)
{
    uint32_t tail = r->tail;
    uint32_t avail = r->head - tail;
    int32_t i, k = (int32_t)avail < n ? (int32_t)avail : n;
    EMO_BARRIER();
    for (i = 0; i < k; i++) {
        out[i] = r->buf[(tail + (uint32_t)i) & r->mask];
    }
    EMO_BARRIER();
    r->tail = tail + (uint32_t)k;
    return k;
}

uint32_t emo_sample_ring_count(const emo_sample_ring_t *r)
{
    return r->head - r->tail;
}

void emo_sample_ring_clear(emo_sample_ring_t *r)
{
    r->tail = r->head;
}
