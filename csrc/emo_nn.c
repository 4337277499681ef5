/* emo_nn: int8 kernels of the edge student (see emo_nn.h). */
#include "emo_nn.h"

#include <stddef.h>
#include <string.h>

static int32_t clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* round(a * b / 2^31), half away from zero, saturated (only INT32_MIN * INT32_MIN overflows) */
static int32_t high_mul(int32_t a, int32_t b)
{
    int64_t ab, nudge;
    if (a == INT32_MIN && b == INT32_MIN)
        return INT32_MAX;
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));   /* C division truncates toward zero */
}

/* x / 2^e, rounded half away from zero */
static int32_t shift_right_rounded(int32_t x, int32_t e)
{
    int32_t mask, rem, threshold;
    if (e <= 0)
        return x;
    mask = (int32_t)(((int64_t)1 << e) - 1);
    rem = x & mask;
    threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > threshold ? 1 : 0);            /* >> of a negative int is arithmetic in GCC */
}

int32_t emo_nn_requant(int32_t x, int32_t mult, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    int64_t scaled = (int64_t)x * ((int64_t)1 << left);
    if (scaled > INT32_MAX)
        scaled = INT32_MAX;
    else if (scaled < INT32_MIN)
        scaled = INT32_MIN;
    return shift_right_rounded(high_mul((int32_t)scaled, mult), right);
}

int32_t emo_nn_requant_once64(int64_t x, int32_t mult, int32_t shift)
{
    int32_t total = 31 - shift;
    int64_t r;
    if (total < 1)
        total = 1;
    r = (x * (int64_t)mult + ((int64_t)1 << (total - 1))) >> total;
    return r > INT32_MAX ? INT32_MAX : (r < INT32_MIN ? INT32_MIN : (int32_t)r);
}

int32_t emo_nn_requant_once(int32_t x, int32_t mult, int32_t shift)
{
    return emo_nn_requant_once64(x, mult, shift);
}

/* The window of one output frame, widened to int16 with the zero point taken off (0 outside the
 * input), in the order the weights are stored (emo_nn.h): each group of four values x0..x3 as
 * x0, x2, x1, x3, so that on a Cortex-M4 one word holds (x0, x2) and the next (x1, x3), the
 * pairs a dual 16-bit multiply-accumulate (SMLAD) takes; the last n % 4 values plain. */
static union {
    int16_t v[EMO_NN_MAX_WINDOW];
    uint32_t words[EMO_NN_MAX_WINDOW / 2];
} win;

/* in holds the input frames from `first` on (conv_rows checks that the window's frames are held) */
static void widen_window_any(const emo_nn_conv_t *p, const int8_t *in, int32_t first, int32_t start, int32_t n)
{
    static const int8_t slot[4] = {0, 2, 1, 3};   /* where value r of a group goes */
    int32_t k, i, j = 0, n4 = n & ~3;
    for (k = 0; k < p->kernel; k++) {
        int32_t src = start + k;
        int32_t inside = src >= 0 && src < p->len_in;
        const int8_t *x = inside ? in + (size_t)(src - first) * (size_t)p->ch_in : in;
        for (i = 0; i < p->ch_in; i++, j++) {
            int16_t v = inside ? (int16_t)((int32_t)x[i] - p->in_zp) : 0;
            win.v[j < n4 ? (j & ~3) + slot[j & 3] : j] = v;
        }
    }
}

#if defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>

/* bytes 1 and 3 of w as two int16 lanes (SXTB16 with its free rotation) */
static inline uint32_t odd_bytes(uint32_t w)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}

/* A window wholly inside the input is kernel * ch_in consecutive bytes: four at a time, widened
 * and offset with two SXTB16 and two SSUB16 (x - zp lies in -255..255: no lane saturates). */
static void widen_window(const emo_nn_conv_t *p, const int8_t *in, int32_t first, int32_t start, int32_t n)
{
    const int8_t *x;
    uint32_t zp2 = ((uint32_t)(uint16_t)(int16_t)p->in_zp << 16) | (uint16_t)(int16_t)p->in_zp;
    int32_t j, n4 = n & ~3;
    if (start < 0 || start + p->kernel > p->len_in) {
        widen_window_any(p, in, first, start, n);
        return;
    }
    x = in + (size_t)(start - first) * (size_t)p->ch_in;
    for (j = 0; j < n4; j += 4) {
        uint32_t w;
        memcpy(&w, x + j, 4);
        win.words[j / 2] = __ssub16(__sxtb16(w), zp2);
        win.words[j / 2 + 1] = __ssub16(odd_bytes(w), zp2);
    }
    for (; j < n; j++)
        win.v[j] = (int16_t)((int32_t)x[j] - p->in_zp);
}

/* Two words in one instruction (LDRD takes any two registers and a word-aligned address on
 * the M4; the compiler cannot prove the alignment, so it would issue two LDRs). */
static inline void load2(const uint32_t *p, uint32_t *a, uint32_t *b)
{
    uint32_t lo, hi;
    __asm__("ldrd %0, %1, %2" : "=r"(lo), "=r"(hi) : "m"(*(const struct { uint32_t w[2]; } *)(const void *)p));
    *a = lo;
    *b = hi;
}

/* Four output channels against the window: per group of four values, one word pair of the
 * window and four of the weights (all int16 pairs), eight SMLADs. */
static void dot4(const int16_t *w, int32_t n, int32_t *acc)
{
    const uint32_t *x = win.words;
    const uint32_t *x_end = x + (n >> 2) * 2;
    const uint32_t *wp = (const uint32_t *)(const void *)w;
    int32_t i, c, n4 = n & ~3, a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    while (x < x_end) {
        uint32_t xa, xb, u0, u1, u2, u3, u4, u5, u6, u7;
        load2(x, &xa, &xb);
        load2(wp, &u0, &u1);
        load2(wp + 2, &u2, &u3);
        load2(wp + 4, &u4, &u5);
        load2(wp + 6, &u6, &u7);
        x += 2;
        wp += 8;
        a0 = __smlad(u1, xb, __smlad(u0, xa, a0));
        a1 = __smlad(u3, xb, __smlad(u2, xa, a1));
        a2 = __smlad(u5, xb, __smlad(u4, xa, a2));
        a3 = __smlad(u7, xb, __smlad(u6, xa, a3));
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    w = (const int16_t *)(const void *)wp;
    for (c = 0; c < 4; c++, w += n - n4)          /* the tail: each channel's last n - n4 weights */
        for (i = n4; i < n; i++)
            acc[c] += (int32_t)w[i - n4] * (int32_t)win.v[i];
}
#else
static void widen_window(const emo_nn_conv_t *p, const int8_t *in, int32_t first, int32_t start, int32_t n)
{
    widen_window_any(p, in, first, start, n);
}

static void dot4(const int16_t *w, int32_t n, int32_t *acc)
{
    int32_t i, c, n4 = n & ~3;
    for (i = 0; i < n4; i += 4, w += 16)
        for (c = 0; c < 4; c++)
            acc[c] += w[4 * c] * win.v[i] + w[4 * c + 1] * win.v[i + 1] + w[4 * c + 2] * win.v[i + 2]
                      + w[4 * c + 3] * win.v[i + 3];
    for (c = 0; c < 4; c++, w += n - n4)
        for (i = n4; i < n; i++)
            acc[c] += (int32_t)w[i - n4] * (int32_t)win.v[i];
}
#endif

/* A channel beyond the last whole group of four: a row of n weights in window order. */
static int32_t dot1(const int16_t *w, int32_t n, int32_t acc)
{
    int32_t i;
    for (i = 0; i < n; i++)
        acc += (int32_t)w[i] * (int32_t)win.v[i];
    return acc;
}

static int8_t conv_out(const emo_nn_conv_t *p, int32_t o, int32_t acc)
{
    acc = emo_nn_requant(acc, p->mult[o], p->shift[o]) + p->out_zp;
    return (int8_t)clamp(acc, p->act_min, p->act_max);
}

/* Output frames t0 .. t1 - 1 of a convolution with these sizes may be computed from the input
 * frames first .. first + rows - 1: every frame their windows reach inside the input is held. */
static emo_status_t rows_ok(int32_t len_in, int32_t len_out, int32_t kernel, int32_t stride, int32_t pad_before,
                            int32_t first, int32_t rows, int32_t t0, int32_t t1)
{
    int32_t lo, hi;
    if (len_in < 1 || len_out < 1 || kernel < 1 || stride < 1 || pad_before < 0)
        return EMO_ERR_PARAM;
    if (t0 < 0 || t1 < t0 || t1 > len_out || first < 0 || rows < 0 || first > len_in || rows > len_in - first)
        return EMO_ERR_PARAM;
    if (t1 == t0)
        return EMO_OK;
    lo = t0 * stride - pad_before;
    hi = (t1 - 1) * stride - pad_before + kernel;     /* one past the last frame read */
    lo = lo < 0 ? 0 : lo;
    hi = hi > len_in ? len_in : hi;
    return (hi <= lo || (lo >= first && hi <= first + rows)) ? EMO_OK : EMO_ERR_PARAM;
}

emo_status_t emo_nn_conv_rows(const emo_nn_conv_t *p, const int8_t *in, int32_t first, int32_t rows, int32_t t0,
                              int32_t t1, int8_t *out)
{
    int32_t t, o, n;
    emo_status_t s;
    if (p == NULL || in == NULL || out == NULL || p->weights == NULL || p->bias == NULL || p->mult == NULL
        || p->shift == NULL)
        return EMO_ERR_NULL;
    if (p->ch_in < 1 || p->ch_out < 1)
        return EMO_ERR_PARAM;
    if ((s = rows_ok(p->len_in, p->len_out, p->kernel, p->stride, p->pad_before, first, rows, t0, t1)) != EMO_OK)
        return s;
    n = p->kernel * p->ch_in;
    if (n > EMO_NN_MAX_WINDOW || ((uintptr_t)p->weights & 3u) != 0)
        return EMO_ERR_PARAM;
    for (t = t0; t < t1; t++) {
        int8_t *dst = out + (size_t)(t - t0) * (size_t)p->ch_out;
        widen_window(p, in, first, t * p->stride - p->pad_before, n);
        for (o = 0; o + 4 <= p->ch_out; o += 4) {
            int32_t a[4] = {p->bias[o], p->bias[o + 1], p->bias[o + 2], p->bias[o + 3]}, c;
            dot4(p->weights + (size_t)o * (size_t)n, n, a);   /* block o / 4 starts at o * n */
            for (c = 0; c < 4; c++)
                dst[o + c] = conv_out(p, o + c, a[c]);
        }
        for (; o < p->ch_out; o++)
            dst[o] = conv_out(p, o, dot1(p->weights + (size_t)o * (size_t)n, n, p->bias[o]));
    }
    return EMO_OK;
}

emo_status_t emo_nn_conv(const emo_nn_conv_t *p, const int8_t *in, int8_t *out)
{
    if (p == NULL)
        return EMO_ERR_NULL;
    return emo_nn_conv_rows(p, in, 0, p->len_in, 0, p->len_out, out);
}

/* The rows of a's output that b's output frames t0 .. t1 - 1 read: [*r0, *r1). */
static void pair_span(int32_t a_len_out, int32_t b_kernel, int32_t b_stride, int32_t b_pad, int32_t t0, int32_t t1,
                      int32_t *r0, int32_t *r1)
{
    int32_t lo = t0 * b_stride - b_pad, hi = (t1 - 1) * b_stride - b_pad + b_kernel;
    *r0 = lo < 0 ? 0 : (lo > a_len_out ? a_len_out : lo);
    *r1 = hi > a_len_out ? a_len_out : (hi < *r0 ? *r0 : hi);
}

/* The two convolutions of a pair, whichever their type: sizes, and their rows kernel. */
typedef emo_status_t (*rows_fn)(const void *p, const void *in, int32_t first, int32_t rows, int32_t t0, int32_t t1,
                                void *out);
typedef struct {
    const void *a, *b;
    int32_t a_len_in, a_len_out, a_ch_out;
    int32_t b_len_in, b_ch_in, b_len_out, b_ch_out, b_kernel, b_stride, b_pad;
    size_t elem;                 /* bytes per activation */
    rows_fn rows;
} pair_t;

/* b's output `tile` frames at a time, each from the rows of a's output it reads, made into mid. */
static emo_status_t pair_run(const pair_t *q, int32_t tile, const void *in, void *mid, void *out)
{
    int32_t t0, t1, r0, r1;
    emo_status_t s;
    if (q->a_len_out != q->b_len_in || q->a_ch_out != q->b_ch_in || tile < 1 || q->b_stride < 1 || q->b_kernel < 1)
        return EMO_ERR_PARAM;
    for (t0 = 0; t0 < q->b_len_out; t0 = t1) {
        t1 = t0 + tile < q->b_len_out ? t0 + tile : q->b_len_out;
        pair_span(q->a_len_out, q->b_kernel, q->b_stride, q->b_pad, t0, t1, &r0, &r1);
        if (r1 > r0 && (s = q->rows(q->a, in, 0, q->a_len_in, r0, r1, mid)) != EMO_OK)
            return s;
        s = q->rows(q->b, mid, r0, r1 - r0, t0, t1, (uint8_t *)out + (size_t)t0 * (size_t)q->b_ch_out * q->elem);
        if (s != EMO_OK)
            return s;
    }
    return EMO_OK;
}

static emo_status_t conv_rows_any(const void *p, const void *in, int32_t first, int32_t rows, int32_t t0, int32_t t1,
                                  void *out)
{
    return emo_nn_conv_rows((const emo_nn_conv_t *)p, (const int8_t *)in, first, rows, t0, t1, (int8_t *)out);
}

emo_status_t emo_nn_conv_pair(const emo_nn_conv_t *a, const emo_nn_conv_t *b, int32_t tile, const int8_t *in,
                              int8_t *mid, int8_t *out)
{
    pair_t q;
    if (a == NULL || b == NULL || in == NULL || mid == NULL || out == NULL)
        return EMO_ERR_NULL;
    q = (pair_t){a, b, a->len_in, a->len_out, a->ch_out, b->len_in, b->ch_in, b->len_out, b->ch_out, b->kernel,
                 b->stride, b->pad_before, sizeof(int8_t), conv_rows_any};
    return pair_run(&q, tile, in, mid, out);
}

/* MEAN, REDUCE_MAX, MUL, QUANTIZE and argmax do the same on int8 (wide = 0) and int16 (wide = 1)
 * activations: one body each, the element read and written at its width, clamped to its range. */
static inline int32_t act_get(const void *x, size_t i, int32_t wide)
{
    return wide ? (int32_t)((const int16_t *)x)[i] : (int32_t)((const int8_t *)x)[i];
}

static inline void act_put(void *x, size_t i, int32_t wide, int32_t v)
{
    if (wide)
        ((int16_t *)x)[i] = (int16_t)v;
    else
        ((int8_t *)x)[i] = (int8_t)v;
}

#define ACT_MIN(wide) ((wide) ? INT16_MIN : -128)
#define ACT_MAX(wide) ((wide) ? INT16_MAX : 127)

/* MEAN (mean = 1) or REDUCE_MAX (mean = 0) over the middle axis of (outer x len x inner); int16 sums
 * of len < 65536 values fit 32 bits. */
static inline emo_status_t reduce(const emo_nn_reduce_t *p, const void *in, void *out, int32_t mean, int32_t wide)
{
    int32_t a, t, b;
    if (p == NULL || in == NULL || out == NULL)
        return EMO_ERR_NULL;
    if (p->outer < 1 || p->len < 1 || p->inner < 1 || (wide && p->len > 65535))
        return EMO_ERR_PARAM;
    for (a = 0; a < p->outer; a++) {
        size_t base = (size_t)a * (size_t)(p->len * p->inner);
        for (b = 0; b < p->inner; b++) {
            int32_t sum = 0, m = ACT_MIN(wide), v;
            for (t = 0; t < p->len; t++) {
                v = act_get(in, base + (size_t)t * (size_t)p->inner + (size_t)b, wide);
                sum += v;
                m = v > m ? v : m;
            }
            if (mean)
                m = clamp(emo_nn_requant(sum - p->len * p->in_zp, p->mult, p->shift) + p->out_zp, ACT_MIN(wide),
                          ACT_MAX(wide));
            act_put(out, (size_t)a * (size_t)p->inner + (size_t)b, wide, m);
        }
    }
    return EMO_OK;
}

static inline emo_status_t mul(const emo_nn_mul_t *p, const void *a, const void *b, void *out, int32_t wide)
{
    int32_t r, c;
    if (p == NULL || a == NULL || b == NULL || out == NULL)
        return EMO_ERR_NULL;
    if (p->rows < 1 || p->cols < 1)
        return EMO_ERR_PARAM;
    for (r = 0; r < p->rows; r++) {
        for (c = 0; c < p->cols; c++) {
            int32_t x = act_get(a, (size_t)(r * p->a_row + c * p->a_col), wide) - p->a_zp;
            int32_t y = act_get(b, (size_t)(r * p->b_row + c * p->b_col), wide) - p->b_zp;
            int32_t v = emo_nn_requant(x * y, p->mult, p->shift) + p->out_zp;
            act_put(out, (size_t)r * (size_t)p->cols + (size_t)c, wide, clamp(v, p->act_min, p->act_max));
        }
    }
    return EMO_OK;
}

static inline emo_status_t requantize(const emo_nn_requantize_t *p, const void *in, void *out, int32_t wide)
{
    int32_t i;
    if (p == NULL || in == NULL || out == NULL)
        return EMO_ERR_NULL;
    if (p->n < 1)
        return EMO_ERR_PARAM;
    for (i = 0; i < p->n; i++)
        act_put(out, (size_t)i, wide,
                clamp(emo_nn_requant(act_get(in, (size_t)i, wide) - p->in_zp, p->mult, p->shift) + p->out_zp,
                      ACT_MIN(wide), ACT_MAX(wide)));
    return EMO_OK;
}

static inline int32_t argmax(const void *x, int32_t n, int32_t wide)
{
    int32_t i, best = 0;
    if (x == NULL || n < 1)
        return -1;
    for (i = 1; i < n; i++)
        if (act_get(x, (size_t)i, wide) > act_get(x, (size_t)best, wide))
            best = i;
    return best;
}

emo_status_t emo_nn_mean(const emo_nn_reduce_t *p, const int8_t *in, int8_t *out)
{
    return reduce(p, in, out, 1, 0);
}

emo_status_t emo_nn_reduce_max(const emo_nn_reduce_t *p, const int8_t *in, int8_t *out)
{
    return reduce(p, in, out, 0, 0);
}

emo_status_t emo_nn_mul(const emo_nn_mul_t *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    return mul(p, a, b, out, 0);
}

emo_status_t emo_nn_requantize(const emo_nn_requantize_t *p, const int8_t *in, int8_t *out)
{
    return requantize(p, in, out, 0);
}

emo_status_t emo_nn_fc(const emo_nn_fc_t *p, const int8_t *in, int8_t *out)
{
    int32_t o, i;
    if (p == NULL || in == NULL || out == NULL || p->weights == NULL || p->bias == NULL || p->mult == NULL
        || p->shift == NULL)
        return EMO_ERR_NULL;
    if (p->n_in < 1 || p->n_out < 1)
        return EMO_ERR_PARAM;
    for (o = 0; o < p->n_out; o++) {
        const int8_t *w = p->weights + (size_t)o * (size_t)p->n_in;
        int32_t acc = p->bias[o];
        for (i = 0; i < p->n_in; i++)
            acc += ((int32_t)in[i] - p->in_zp) * (int32_t)w[i];
        out[o] = (int8_t)clamp(emo_nn_requant_once(acc, p->mult[o], p->shift[o]) + p->out_zp, p->act_min,
                               p->act_max);
    }
    return EMO_OK;
}

int32_t emo_nn_argmax(const int8_t *x, int32_t n)
{
    return argmax(x, n, 0);
}

/* --- 16x8 ------------------------------------------------------------------------------------ */

int32_t emo_nn_requant_wide(int64_t x, int32_t mult, int32_t shift)
{
    int64_t reduced = mult < 0x7FFF0000 ? ((int64_t)mult + (1 << 15)) >> 16 : 0x7FFF;
    int32_t total = 15 - shift;
    int64_t r;
    if (total < 1)
        total = 1;
    r = (x * reduced + ((int64_t)1 << (total - 1))) >> total;
    return r > INT32_MAX ? INT32_MAX : (r < INT32_MIN ? INT32_MIN : (int32_t)r);
}

/* The int16 window of one output frame in the weights' order (as widen_window_any; zero point 0).
 * One wholly inside the input is n consecutive values: per four, two words (x0, x1) and (x2, x3)
 * become (x0, x2) and (x1, x3) with two shifts and masks each (PKHBT / PKHTB on the M4). */
static void window16(const emo_nn_conv16_t *p, const int16_t *in, int32_t first, int32_t start, int32_t n)
{
    static const int8_t slot[4] = {0, 2, 1, 3};
    int32_t k, i, j = 0, n4 = n & ~3;
    if (start >= 0 && start + p->kernel <= p->len_in) {
        const int16_t *x = in + (size_t)(start - first) * (size_t)p->ch_in;
        for (j = 0; j < n4; j += 4) {
            uint32_t a, b;                        /* little-endian: a = x0 | x1 << 16 */
            memcpy(&a, x + j, 4);
            memcpy(&b, x + j + 2, 4);
            win.words[j / 2] = (a & 0xFFFFu) | (b << 16);
            win.words[j / 2 + 1] = (b & 0xFFFF0000u) | (a >> 16);
        }
        for (; j < n; j++)
            win.v[j] = x[j];
        return;
    }
    for (k = 0; k < p->kernel; k++) {
        int32_t src = start + k;
        int32_t inside = src >= 0 && src < p->len_in;
        const int16_t *x = inside ? in + (size_t)(src - first) * (size_t)p->ch_in : in;
        for (i = 0; i < p->ch_in; i++, j++)
            win.v[j < n4 ? (j & ~3) + slot[j & 3] : j] = inside ? x[i] : 0;
    }
}

static int16_t conv16_out(const emo_nn_conv16_t *p, int32_t o, int32_t acc)
{
    int32_t v = emo_nn_requant_wide((int64_t)acc + p->bias[o], p->mult[o], p->shift[o]);
    return (int16_t)clamp(v, p->act_min, p->act_max);
}

emo_status_t emo_nn_conv16_rows(const emo_nn_conv16_t *p, const int16_t *in, int32_t first, int32_t rows, int32_t t0,
                                int32_t t1, int16_t *out)
{
    int32_t t, o, n;
    emo_status_t s;
    if (p == NULL || in == NULL || out == NULL || p->weights == NULL || p->bias == NULL || p->mult == NULL
        || p->shift == NULL)
        return EMO_ERR_NULL;
    if (p->ch_in < 1 || p->ch_out < 1)
        return EMO_ERR_PARAM;
    if ((s = rows_ok(p->len_in, p->len_out, p->kernel, p->stride, p->pad_before, first, rows, t0, t1)) != EMO_OK)
        return s;
    n = p->kernel * p->ch_in;
    if (n > EMO_NN_MAX_WINDOW16 || ((uintptr_t)p->weights & 3u) != 0)
        return EMO_ERR_PARAM;
    for (t = t0; t < t1; t++) {
        int16_t *dst = out + (size_t)(t - t0) * (size_t)p->ch_out;
        window16(p, in, first, t * p->stride - p->pad_before, n);
        for (o = 0; o + 4 <= p->ch_out; o += 4) {
            int32_t a[4] = {0, 0, 0, 0}, c;
            dot4(p->weights + (size_t)o * (size_t)n, n, a);
            for (c = 0; c < 4; c++)
                dst[o + c] = conv16_out(p, o + c, a[c]);
        }
        for (; o < p->ch_out; o++)
            dst[o] = conv16_out(p, o, dot1(p->weights + (size_t)o * (size_t)n, n, 0));
    }
    return EMO_OK;
}

emo_status_t emo_nn_conv16(const emo_nn_conv16_t *p, const int16_t *in, int16_t *out)
{
    if (p == NULL)
        return EMO_ERR_NULL;
    return emo_nn_conv16_rows(p, in, 0, p->len_in, 0, p->len_out, out);
}

static emo_status_t conv16_rows_any(const void *p, const void *in, int32_t first, int32_t rows, int32_t t0,
                                    int32_t t1, void *out)
{
    return emo_nn_conv16_rows((const emo_nn_conv16_t *)p, (const int16_t *)in, first, rows, t0, t1, (int16_t *)out);
}

emo_status_t emo_nn_conv16_pair(const emo_nn_conv16_t *a, const emo_nn_conv16_t *b, int32_t tile, const int16_t *in,
                                int16_t *mid, int16_t *out)
{
    pair_t q;
    if (a == NULL || b == NULL || in == NULL || mid == NULL || out == NULL)
        return EMO_ERR_NULL;
    q = (pair_t){a, b, a->len_in, a->len_out, a->ch_out, b->len_in, b->ch_in, b->len_out, b->ch_out, b->kernel,
                 b->stride, b->pad_before, sizeof(int16_t), conv16_rows_any};
    return pair_run(&q, tile, in, mid, out);
}

emo_status_t emo_nn_mean16(const emo_nn_reduce_t *p, const int16_t *in, int16_t *out)
{
    return reduce(p, in, out, 1, 1);
}

emo_status_t emo_nn_reduce_max16(const emo_nn_reduce_t *p, const int16_t *in, int16_t *out)
{
    return reduce(p, in, out, 0, 1);
}

emo_status_t emo_nn_mul16(const emo_nn_mul_t *p, const int16_t *a, const int16_t *b, int16_t *out)
{
    return mul(p, a, b, out, 1);
}

emo_status_t emo_nn_requantize16(const emo_nn_requantize_t *p, const int16_t *in, int16_t *out)
{
    return requantize(p, in, out, 1);
}

emo_status_t emo_nn_fc16(const emo_nn_fc16_t *p, const int16_t *in, int16_t *out)
{
    int32_t o, i;
    if (p == NULL || in == NULL || out == NULL || p->weights == NULL || p->bias == NULL || p->mult == NULL
        || p->shift == NULL)
        return EMO_ERR_NULL;
    if (p->n_in < 1 || p->n_out < 1)
        return EMO_ERR_PARAM;
    for (o = 0; o < p->n_out; o++) {
        const int8_t *w = p->weights + (size_t)o * (size_t)p->n_in;
        int64_t acc = p->bias[o];
        for (i = 0; i < p->n_in; i++)
            acc += (int32_t)in[i] * (int32_t)w[i];
        out[o] = (int16_t)clamp(emo_nn_requant_once64(acc, p->mult[o], p->shift[o]), p->act_min, p->act_max);
    }
    return EMO_OK;
}

int32_t emo_nn_argmax16(const int16_t *x, int32_t n)
{
    return argmax(x, n, 1);
}

void emo_nn_narrow16(const int16_t *x, int32_t n, int8_t *out)
{
    int32_t i;
    if (x == NULL || out == NULL)
        return;
    for (i = 0; i < n; i++)
        out[i] = (int8_t)clamp(((int32_t)x[i] + 128) >> 8, -128, 127);   /* >> of a negative int is arithmetic in GCC */
}
