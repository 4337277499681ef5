/* emo_nn: int8 kernels of the edge student (see emo_nn.h). */
#include "emo_nn.h"

#include <stddef.h>

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

int32_t emo_nn_requant_once(int32_t x, int32_t mult, int32_t shift)
{
    int32_t total = 31 - shift;
    int64_t r;
    if (total < 1)
        total = 1;
    r = ((int64_t)x * (int64_t)mult + ((int64_t)1 << (total - 1))) >> total;
    return r > INT32_MAX ? INT32_MAX : (r < INT32_MIN ? INT32_MIN : (int32_t)r);
}

emo_status_t emo_nn_conv(const emo_nn_conv_t *p, const int8_t *in, int8_t *out)
{
    int32_t t, o, k, i;
    if (p == NULL || in == NULL || out == NULL || p->weights == NULL || p->bias == NULL || p->mult == NULL
        || p->shift == NULL)
        return EMO_ERR_NULL;
    if (p->len_in < 1 || p->ch_in < 1 || p->len_out < 1 || p->ch_out < 1 || p->kernel < 1 || p->stride < 1
        || p->pad_before < 0)
        return EMO_ERR_PARAM;
    for (t = 0; t < p->len_out; t++) {
        int32_t start = t * p->stride - p->pad_before;
        int32_t k0 = start < 0 ? -start : 0;
        int32_t k1 = p->len_in - start < p->kernel ? p->len_in - start : p->kernel;
        int8_t *dst = out + (size_t)t * (size_t)p->ch_out;
        for (o = 0; o < p->ch_out; o++) {
            const int8_t *w = p->weights + (size_t)o * (size_t)(p->kernel * p->ch_in);
            int32_t acc = p->bias[o];
            for (k = k0; k < k1; k++) {
                const int8_t *x = in + (size_t)(start + k) * (size_t)p->ch_in;
                const int8_t *wk = w + (size_t)k * (size_t)p->ch_in;
                for (i = 0; i < p->ch_in; i++)
                    acc += ((int32_t)x[i] - p->in_zp) * (int32_t)wk[i];
            }
            acc = emo_nn_requant(acc, p->mult[o], p->shift[o]) + p->out_zp;
            dst[o] = (int8_t)clamp(acc, p->act_min, p->act_max);
        }
    }
    return EMO_OK;
}

static emo_status_t check_reduce(const emo_nn_reduce_t *p, const int8_t *in, const int8_t *out)
{
    if (p == NULL || in == NULL || out == NULL)
        return EMO_ERR_NULL;
    if (p->outer < 1 || p->len < 1 || p->inner < 1)
        return EMO_ERR_PARAM;
    return EMO_OK;
}

emo_status_t emo_nn_mean(const emo_nn_reduce_t *p, const int8_t *in, int8_t *out)
{
    int32_t a, t, b;
    emo_status_t s = check_reduce(p, in, out);
    if (s != EMO_OK)
        return s;
    for (a = 0; a < p->outer; a++) {
        const int8_t *base = in + (size_t)a * (size_t)(p->len * p->inner);
        for (b = 0; b < p->inner; b++) {
            int32_t sum = 0;
            for (t = 0; t < p->len; t++)
                sum += base[(size_t)t * (size_t)p->inner + (size_t)b];
            sum -= p->len * p->in_zp;
            out[(size_t)a * (size_t)p->inner + (size_t)b] =
                (int8_t)clamp(emo_nn_requant(sum, p->mult, p->shift) + p->out_zp, -128, 127);
        }
    }
    return EMO_OK;
}

emo_status_t emo_nn_reduce_max(const emo_nn_reduce_t *p, const int8_t *in, int8_t *out)
{
    int32_t a, t, b;
    emo_status_t s = check_reduce(p, in, out);
    if (s != EMO_OK)
        return s;
    for (a = 0; a < p->outer; a++) {
        const int8_t *base = in + (size_t)a * (size_t)(p->len * p->inner);
        for (b = 0; b < p->inner; b++) {
            int8_t m = -128;
            for (t = 0; t < p->len; t++) {
                int8_t v = base[(size_t)t * (size_t)p->inner + (size_t)b];
                m = v > m ? v : m;
            }
            out[(size_t)a * (size_t)p->inner + (size_t)b] = m;
        }
    }
    return EMO_OK;
}

emo_status_t emo_nn_mul(const emo_nn_mul_t *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    int32_t r, c;
    if (p == NULL || a == NULL || b == NULL || out == NULL)
        return EMO_ERR_NULL;
    if (p->rows < 1 || p->cols < 1)
        return EMO_ERR_PARAM;
    for (r = 0; r < p->rows; r++) {
        for (c = 0; c < p->cols; c++) {
            int32_t x = (int32_t)a[r * p->a_row + c * p->a_col] - p->a_zp;
            int32_t y = (int32_t)b[r * p->b_row + c * p->b_col] - p->b_zp;
            int32_t v = emo_nn_requant(x * y, p->mult, p->shift) + p->out_zp;
            out[(size_t)r * (size_t)p->cols + (size_t)c] = (int8_t)clamp(v, p->act_min, p->act_max);
        }
    }
    return EMO_OK;
}

emo_status_t emo_nn_requantize(const emo_nn_requantize_t *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    if (p == NULL || in == NULL || out == NULL)
        return EMO_ERR_NULL;
    if (p->n < 1)
        return EMO_ERR_PARAM;
    for (i = 0; i < p->n; i++)
        out[i] = (int8_t)clamp(emo_nn_requant((int32_t)in[i] - p->in_zp, p->mult, p->shift) + p->out_zp,
                               -128, 127);
    return EMO_OK;
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
    int32_t i, best = 0;
    if (x == NULL || n < 1)
        return -1;
    for (i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}
