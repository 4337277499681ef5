/*
 * emo_nn: integer inference kernels for the edge student, with TFLite's integer arithmetic, in
 * int8 (int8 activations and weights) and in TFLite's 16x8 mode (int16 activations, int8 weights,
 * 64-bit biases; the `16` kernels below, which the recipe deploys).
 *
 * The exported student (export/keras_cnn.py) is a fixed graph of a handful of integer ops:
 * CONV_2D with a (k x 1) kernel (a 1-D convolution over frames), PAD, MEAN, REDUCE_MAX,
 * MUL, QUANTIZE, CONCATENATION, FULLY_CONNECTED and RESHAPE. export/cmodel.py reads the
 * .tflite and writes that graph as plain C (emo_model.c): constant weights and
 * quantisation parameters, and one call per op into the kernels below. No interpreter, no
 * arena allocator, no malloc: the generated code places every tensor in one caller-owned
 * scratch buffer whose size is a macro of the generated header.
 *
 * Arithmetic (TFLite's int8 scheme; docs/inference.md): a real value is
 * scale * (q - zero_point). A real multiplier M = in_scale * w_scale / out_scale is held as
 * a Q31 mantissa and a power-of-two exponent (quantize_multiplier in Python:
 * eggemo/core/nn.py), and applied to an int32 accumulator by emo_nn_requant(): a saturating
 * rounding doubling high multiply, then a rounding right shift (round half away from zero
 * in the first step, half up in the second), as TFLite's reference kernels do
 * ("double rounding"; measured bit-exact against ai-edge-litert's reference kernels).
 *
 * Layout: every activation is channels-last, a (len x ch) int8 (int16 in 16x8) array, frames outer.
 * Weights of a convolution are (ch_out x kernel x ch_in), of a fully connected layer
 * (n_out x n_in), as in the .tflite file.
 */
#ifndef EMO_NN_H
#define EMO_NN_H

#include <stdint.h>
#include "emo_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EMO_NN_ALIGN 4               /* byte alignment of every tensor in the scratch buffer */
#define EMO_NN_MAX_WINDOW 1024       /* longest convolution window, kernel * ch_in values */

/* x * M with M = mult * 2^(shift - 31), rounded as TFLite does (mult in [2^30, 2^31) or 0;
 * shift in -31..30; shift > 0 shifts left first). */
int32_t emo_nn_requant(int32_t x, int32_t mult, int32_t shift);

/* The same product rounded once: (x * mult + 2^(30 - shift)) >> (31 - shift), in 64 bits.
 * ai-edge-litert's reference FULLY_CONNECTED with per-channel weights rounds this way
 * (measured: the double-rounded form differs by 1 on 3 % of its outputs). */
int32_t emo_nn_requant_once(int32_t x, int32_t mult, int32_t shift);

/* A 1-D convolution over frames (CONV_2D with a k x 1 kernel, fused ReLU as act_min).
 * out[t][o] = clamp(out_zp + requant(bias[o] + sum_k sum_i (in[t*stride + k - pad_before][i]
 * - in_zp) * w[o][k][i], mult[o], shift[o]), act_min, act_max); frames outside 0..len_in-1
 * are skipped (a PAD with the input's zero point, or SAME padding, is the same). */
typedef struct {
    int32_t len_in, ch_in;       /* input frames and channels */
    int32_t len_out, ch_out;     /* output frames and channels */
    int32_t kernel, stride, pad_before;
    int32_t in_zp, out_zp;
    int32_t act_min, act_max;    /* output clamp (ReLU: out_zp .. 127) */
    const int16_t *weights;      /* ch_out * kernel * ch_in int8 values held as int16, blocked (below) */
    const int32_t *bias;         /* ch_out */
    const int32_t *mult;         /* ch_out, per-channel requantisation */
    const int32_t *shift;        /* ch_out */
} emo_nn_conv_t;

/* Weights of a convolution: row o holds the n = kernel * ch_in weights of output channel o in
 * (k, i) order, each group of four j = 4g .. 4g+3 (g < n / 4) stored as j = 4g, 4g+2, 4g+1, 4g+3
 * (the window's order: a Cortex-M4 multiplies two int16 pairs per instruction), the last n % 4
 * plain. The int8 weights are stored widened to int16 (twice the flash, none of the widening in
 * the inner loop) and blocked: each group of four output channels o = 4b .. 4b+3 (from element
 * 4b * n) holds, per g, the four values of row 4b, then 4b+1, 4b+2, 4b+3; then each of the four
 * rows' last n % 4. Channels beyond the last whole group follow as rows. Word-aligned.
 * export/cmodel.py packs them (eggemo/core/nn.py pack_conv_weights).
 *
 * Frames are channels-last, so the window of output frame t is kernel * ch_in consecutive input
 * values: it is widened once to int16 with the zero point taken off (0 outside the input) and
 * reused by every output channel. Integer arithmetic throughout: every path gives the same
 * bits. EMO_ERR_PARAM if kernel * ch_in exceeds EMO_NN_MAX_WINDOW or the weights are not
 * word-aligned. */
emo_status_t emo_nn_conv(const emo_nn_conv_t *p, const int8_t *in, int8_t *out);

/* Output frames t0 .. t1 - 1 only, written from out (frame t0 first), reading the input frames
 * first .. first + rows - 1 held from in. EMO_ERR_PARAM if a window of those outputs reaches a
 * frame of the input (0 .. len_in - 1) that is not held. emo_nn_conv is the whole range. */
emo_status_t emo_nn_conv_rows(const emo_nn_conv_t *p, const int8_t *in, int32_t first, int32_t rows, int32_t t0,
                              int32_t t1, int8_t *out);

/* Convolution a streamed into convolution b (b reads a's output and nothing else does): b's
 * output frames are made `tile` at a time from the rows of a's output they read, computed into
 * mid and overwritten by the next tile, so a's whole output is never held. mid holds
 * (tile - 1) * b->stride + b->kernel frames of a->ch_out values. The same bits as emo_nn_conv
 * twice; the rows two tiles share are computed twice ((b->kernel - b->stride) per tile).
 * export/cmodel.py streams a pair where that lowers the model's scratch. */
emo_status_t emo_nn_conv_pair(const emo_nn_conv_t *a, const emo_nn_conv_t *b, int32_t tile, const int8_t *in,
                              int8_t *mid, int8_t *out);

/* A reduction over the middle axis of an (outer x len x inner) array to (outer x inner). */
typedef struct {
    int32_t outer, len, inner;
    int32_t in_zp, out_zp;
    int32_t mult, shift;         /* MEAN: in_scale / out_scale with 1 / len folded in (cmodel.py) */
} emo_nn_reduce_t;

/* MEAN: out = clamp(out_zp + requant(sum(in) - len * in_zp, mult, shift)). */
emo_status_t emo_nn_mean(const emo_nn_reduce_t *p, const int8_t *in, int8_t *out);

/* REDUCE_MAX: the largest input (input and output share their quantisation). */
emo_status_t emo_nn_reduce_max(const emo_nn_reduce_t *p, const int8_t *in, int8_t *out);

/* MUL of two int8 arrays viewed as (rows x cols), each operand with its own strides so one
 * can broadcast (stride 0): out[r][c] = clamp(out_zp + requant((a - a_zp) * (b - b_zp))). */
typedef struct {
    int32_t rows, cols;
    int32_t a_row, a_col;        /* element strides of a */
    int32_t b_row, b_col;        /* element strides of b */
    int32_t a_zp, b_zp, out_zp;
    int32_t mult, shift;         /* a_scale * b_scale / out_scale */
    int32_t act_min, act_max;
} emo_nn_mul_t;

emo_status_t emo_nn_mul(const emo_nn_mul_t *p, const int8_t *a, const int8_t *b, int8_t *out);

/* QUANTIZE int8 -> int8: out = clamp(out_zp + requant(in - in_zp, mult, shift)). */
typedef struct {
    int32_t n;
    int32_t in_zp, out_zp;
    int32_t mult, shift;         /* in_scale / out_scale */
} emo_nn_requantize_t;

emo_status_t emo_nn_requantize(const emo_nn_requantize_t *p, const int8_t *in, int8_t *out);

/* FULLY_CONNECTED: out[o] = clamp(out_zp + requant_once(bias[o] + sum_i (in[i] - in_zp) * w[o][i],
 * mult[o], shift[o]), act_min, act_max). */
typedef struct {
    int32_t n_in, n_out;
    int32_t in_zp, out_zp;
    int32_t act_min, act_max;
    const int8_t *weights;       /* n_out * n_in */
    const int32_t *bias;         /* n_out */
    const int32_t *mult;         /* n_out */
    const int32_t *shift;        /* n_out */
} emo_nn_fc_t;

emo_status_t emo_nn_fc(const emo_nn_fc_t *p, const int8_t *in, int8_t *out);

/* Index of the largest of n int8 scores (the first on a tie), or -1 when n < 1. */
int32_t emo_nn_argmax(const int8_t *x, int32_t n);

/*
 * TFLite's 16x8 mode: int16 activations (symmetric, zero point 0), int8 per-channel weights,
 * int64 biases. The same graph as above; export/cmodel.py lowers it, and its NumPy reference
 * (eggemo/core/nn.py run_reference) is bit for bit with ai-edge-litert's reference kernels. MEAN, REDUCE_MAX, MUL and QUANTIZE take
 * the int8 ops' parameter structs (zero points 0, clamps at the int16 range).
 */

/* A 64-bit accumulator times M = mult * 2^(shift - 31) as TFLite's 16x8 CONV_2D rounds it: mult
 * cut to its 16 high bits (rounded; 0x7FFF at the top), then one rounding shift by 15 - shift
 * (shift <= 14; |x| < 2^47). */
int32_t emo_nn_requant_wide(int64_t x, int32_t mult, int32_t shift);

/* emo_nn_requant_once for a 64-bit accumulator (|x| < 2^32): 16x8 FULLY_CONNECTED. */
int32_t emo_nn_requant_once64(int64_t x, int32_t mult, int32_t shift);

/* CONV_2D 16x8: out[t][o] = clamp(requant_wide(bias[o] + sum (in - 0) * w, mult[o], shift[o]),
 * act_min, act_max), frames outside the input read as 0. Weights packed as emo_nn_conv_t's.
 * The products accumulate in 32 bits (SMLAD on the M4), so kernel * ch_in is at most
 * EMO_NN_MAX_WINDOW16 (512 * 32768 * 127 < 2^31; the weights are symmetric int8), the bias added
 * in 64. */
#define EMO_NN_MAX_WINDOW16 512
typedef struct {
    int32_t len_in, ch_in;
    int32_t len_out, ch_out;
    int32_t kernel, stride, pad_before;
    int32_t act_min, act_max;
    const int16_t *weights;      /* ch_out * kernel * ch_in int8 values held as int16, blocked */
    const int64_t *bias;         /* ch_out */
    const int32_t *mult;         /* ch_out */
    const int32_t *shift;        /* ch_out */
} emo_nn_conv16_t;

emo_status_t emo_nn_conv16(const emo_nn_conv16_t *p, const int16_t *in, int16_t *out);
emo_status_t emo_nn_conv16_rows(const emo_nn_conv16_t *p, const int16_t *in, int32_t first, int32_t rows,
                                int32_t t0, int32_t t1, int16_t *out);
emo_status_t emo_nn_conv16_pair(const emo_nn_conv16_t *a, const emo_nn_conv16_t *b, int32_t tile,
                                const int16_t *in, int16_t *mid, int16_t *out);
emo_status_t emo_nn_mean16(const emo_nn_reduce_t *p, const int16_t *in, int16_t *out);
emo_status_t emo_nn_reduce_max16(const emo_nn_reduce_t *p, const int16_t *in, int16_t *out);
emo_status_t emo_nn_mul16(const emo_nn_mul_t *p, const int16_t *a, const int16_t *b, int16_t *out);
emo_status_t emo_nn_requantize16(const emo_nn_requantize_t *p, const int16_t *in, int16_t *out);

/* FULLY_CONNECTED 16x8: out[o] = clamp(requant_once64(bias[o] + sum in[i] * w[o][i], mult[o],
 * shift[o]), act_min, act_max). */
typedef struct {
    int32_t n_in, n_out;
    int32_t act_min, act_max;
    const int8_t *weights;       /* n_out * n_in */
    const int64_t *bias;         /* n_out */
    const int32_t *mult;         /* n_out */
    const int32_t *shift;        /* n_out */
} emo_nn_fc16_t;

emo_status_t emo_nn_fc16(const emo_nn_fc16_t *p, const int16_t *in, int16_t *out);

/* Index of the largest of n int16 scores (the first on a tie), or -1 when n < 1. */
int32_t emo_nn_argmax16(const int16_t *x, int32_t n);

/* A 16x8 model's int16 scores as the int8 ones an EMOTION frame carries: (x + 128) >> 8 (x / 256
 * rounded half up), saturated; their scale is 256 times the output scale, zero point 0. The label
 * is the int16 scores' argmax. eggemo/core/nn.py narrow16 is the same. */
void emo_nn_narrow16(const int16_t *x, int32_t n, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EMO_NN_H */
