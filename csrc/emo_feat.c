/* emo_feat: the student's input from F0 frames. See emo_feat.h; the specification is
 * eggemo/core/feat.py student_input and F0Normaliser. Build with
 * -ffp-contract=off. */
#include "emo_feat.h"

#include <math.h>
#include <string.h>

#define EMO_FEAT_LN100 4.60517018598809136804        /* ln 100: mu when nothing is voiced */
#define EMO_FEAT_SQRT2 1.41421356237309504880
#define EMO_FEAT_DBL_MAX 1.7976931348623157e308      /* what NumPy's nan_to_num makes of +inf */
#define EMO_FEAT_LN2_HI 6.93146705627441406250e-01   /* ln 2, high 21 bits: e * LN2_HI is exact */
#define EMO_FEAT_LN2_LO 4.7493250390316726e-07      /* ln 2 - LN2_HI */
#define EMO_FEAT_PW_BLOCK 128                        /* NumPy's pairwise-sum block */

/* ln(x) for x > 0 with +, -, *, / only: x = 2^e * m, m in [sqrt(1/2), sqrt(2)), f = m - 1
 * (exact), s = f / (2 + f), and ln(1 + f) = 2 atanh(s) = f - (hf - s * (hf + R)) with
 * hf = f^2 / 2 and R = 2 (s^2/3 + s^4/5 + ... + s^22/23) (|s| < 0.1716: the series is
 * complete to 1e-20). Within 1 ulp of the correctly rounded log (1.8 % of float32-derived
 * arguments differ from glibc's by 1 ulp, none by more). +inf gives +inf, x <= 0 -1e300. */
static double emo_feat_ln(double x)
{
    union { double d; uint64_t u; } v;
    int32_t e;
    double m, f, s, s2, r, hf;

    if (!(x > 0.0)) {
        return -1e300;
    }
    v.d = x;
    e = (int32_t)((v.u >> 52) & 0x7ffu);
    if (e == 0x7ff) {
        return x;
    }
    if (e == 0) {                           /* subnormal: scale up by 2^54 */
        v.d = x * 18014398509481984.0;
        e = (int32_t)((v.u >> 52) & 0x7ffu) - 54;
    }
    e -= 1023;
    v.u = (v.u & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    m = v.d;
    if (m > EMO_FEAT_SQRT2) {
        m *= 0.5;
        e += 1;
    }
    f = m - 1.0;
    s = f / (2.0 + f);
    s2 = s * s;
    r = 2.0 / 23.0;
    r = 2.0 / 21.0 + s2 * r;
    r = 2.0 / 19.0 + s2 * r;
    r = 2.0 / 17.0 + s2 * r;
    r = 2.0 / 15.0 + s2 * r;
    r = 2.0 / 13.0 + s2 * r;
    r = 2.0 / 11.0 + s2 * r;
    r = 2.0 / 9.0 + s2 * r;
    r = 2.0 / 7.0 + s2 * r;
    r = 2.0 / 5.0 + s2 * r;
    r = 2.0 / 3.0 + s2 * r;
    r *= s2;
    hf = 0.5 * f * f;
    return (double)e * EMO_FEAT_LN2_HI - ((hf - (s * (hf + r) + (double)e * EMO_FEAT_LN2_LO)) - f);
}

static int emo_feat_is_voiced(const emo_f0_frame_t *fr)
{
    return fr->voiced != 0 && fr->f0_hz > 0.0f;
}

/* np.nan_to_num of a float64 energy: NaN -> nan_value, +-inf -> +-DBL_MAX. */
static double emo_feat_energy_clean(float e, double nan_value)
{
    double d = (double)e;

    if (d != d) {
        return nan_value;
    }
    if (d > EMO_FEAT_DBL_MAX) {
        return EMO_FEAT_DBL_MAX;
    }
    if (d < -EMO_FEAT_DBL_MAX) {
        return -EMO_FEAT_DBL_MAX;
    }
    return d;
}

/* The values a statistic sums, one per voiced frame. */
enum {
    EMO_FEAT_V_LN,          /* ln f0 */
    EMO_FEAT_V_LN_SQ,       /* (ln f0)^2 */
    EMO_FEAT_V_LN_DEV_SQ,   /* (ln f0 - mean)^2 */
    EMO_FEAT_V_E,           /* energy_db */
    EMO_FEAT_V_E_DEV_SQ,    /* (energy_db - mean)^2 */
    EMO_FEAT_V_E0,          /* energy_db, NaN as 0, +-inf as +-DBL_MAX (session) */
    EMO_FEAT_V_E0_SQ        /* its square */
};

/* Walks the voiced frames of an utterance in order, giving one value each. */
typedef struct {
    const emo_f0_frame_t *frames;
    int32_t pos;            /* next frame to look at */
    int32_t kind;           /* EMO_FEAT_V_* */
    double mean;            /* for the deviations */
} emo_feat_cursor_t;

static double emo_feat_next(emo_feat_cursor_t *c)
{
    const emo_f0_frame_t *fr;
    double v;

    while (!emo_feat_is_voiced(&c->frames[c->pos])) {
        c->pos++;
    }
    fr = &c->frames[c->pos++];
    switch (c->kind) {
    case EMO_FEAT_V_LN:
        return emo_feat_ln((double)fr->f0_hz);
    case EMO_FEAT_V_LN_SQ:
        v = emo_feat_ln((double)fr->f0_hz);
        return v * v;
    case EMO_FEAT_V_LN_DEV_SQ:
        v = emo_feat_ln((double)fr->f0_hz) - c->mean;
        return v * v;
    case EMO_FEAT_V_E:
        return (double)fr->energy_db;
    case EMO_FEAT_V_E_DEV_SQ:
        v = (double)fr->energy_db - c->mean;
        return v * v;
    case EMO_FEAT_V_E0:
        return emo_feat_energy_clean(fr->energy_db, 0.0);
    default:                /* EMO_FEAT_V_E0_SQ */
        v = emo_feat_energy_clean(fr->energy_db, 0.0);
        return v * v;
    }
}

/* Sum of the cursor's next n values in NumPy's order (pairwise_sum for float64): fewer
 * than 8 in turn; up to a block, 8 running sums combined as a tree, then the rest; above,
 * the two halves (the first a multiple of 8) summed alone and added. Recursion depth is
 * log2(n / 128). */
static double emo_feat_pairwise(emo_feat_cursor_t *c, int32_t n)
{
    double r[8], res;
    int32_t i, j, n2;

    if (n < 8) {
        res = 0.0;
        for (i = 0; i < n; i++) {
            res += emo_feat_next(c);
        }
        return res;
    }
    if (n <= EMO_FEAT_PW_BLOCK) {
        for (j = 0; j < 8; j++) {
            r[j] = emo_feat_next(c);
        }
        for (i = 8; i < n - (n % 8); i += 8) {
            for (j = 0; j < 8; j++) {
                r[j] += emo_feat_next(c);
            }
        }
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) {
            res += emo_feat_next(c);
        }
        return res;
    }
    n2 = n / 2;
    n2 -= n2 % 8;
    res = emo_feat_pairwise(c, n2);
    return res + emo_feat_pairwise(c, n - n2);
}

static double emo_feat_sum(const emo_f0_frame_t *frames, int32_t n_voiced, int32_t kind, double mean)
{
    emo_feat_cursor_t c;

    c.frames = frames;
    c.pos = 0;
    c.kind = kind;
    c.mean = mean;
    return 0.0 + emo_feat_pairwise(&c, n_voiced);
}

/* Python's max(v, floor): floor only when floor > v, so NaN stays NaN. */
static double emo_feat_floor(double v, double floor)
{
    return (floor > v) ? floor : v;
}

static void emo_feat_unvoiced_stats(emo_feat_stats_t *out)
{
    out->mu = EMO_FEAT_LN100;
    out->sigma = 1.0;
    out->n = 0;
    out->e_mu = 0.0;
    out->e_sigma = 1.0;
}

emo_status_t emo_feat_norm_init(emo_feat_norm_t *st, int32_t mode, const emo_feat_stats_t *fixed)
{
    if (st == NULL) {
        return EMO_ERR_NULL;
    }
    memset(st, 0, sizeof(*st));
    st->mode = -1;
    if (mode != EMO_FEAT_NORM_UTTERANCE && mode != EMO_FEAT_NORM_SESSION && mode != EMO_FEAT_NORM_FIXED) {
        return EMO_ERR_PARAM;
    }
    if (mode == EMO_FEAT_NORM_FIXED) {
        if (fixed == NULL) {
            return EMO_ERR_NULL;
        }
        /* written so that NaN fails each test */
        if (!(fixed->mu - fixed->mu == 0.0) || !(fixed->e_mu - fixed->e_mu == 0.0) ||
            !(fixed->sigma > 0.0 && fixed->sigma <= EMO_FEAT_DBL_MAX) ||
            !(fixed->e_sigma > 0.0 && fixed->e_sigma <= EMO_FEAT_DBL_MAX)) {
            return EMO_ERR_PARAM;
        }
        st->fixed = *fixed;
    } else if (fixed != NULL) {
        return EMO_ERR_PARAM;
    }
    st->mode = mode;
    return EMO_OK;
}

emo_status_t emo_feat_norm_stats(emo_feat_norm_t *st, const emo_f0_frame_t *frames, int32_t n_frames,
                                 emo_feat_stats_t *out)
{
    int32_t i, nv = 0;
    double nd, mu, var;

    if (st == NULL || out == NULL || (frames == NULL && n_frames > 0)) {
        return EMO_ERR_NULL;
    }
    if (n_frames < 0 || st->mode < EMO_FEAT_NORM_UTTERANCE || st->mode > EMO_FEAT_NORM_FIXED) {
        return EMO_ERR_PARAM;
    }
    if (st->mode == EMO_FEAT_NORM_FIXED) {
        *out = st->fixed;
        return EMO_OK;
    }
    for (i = 0; i < n_frames; i++) {
        nv += emo_feat_is_voiced(&frames[i]);
    }
    if (st->mode == EMO_FEAT_NORM_UTTERANCE) {
        /* F0Stats.from_frames: mean, then the mean squared deviation from it */
        if (nv == 0) {
            emo_feat_unvoiced_stats(out);
            return EMO_OK;
        }
        nd = (double)nv;
        mu = emo_feat_sum(frames, nv, EMO_FEAT_V_LN, 0.0) / nd;
        out->mu = mu;
        out->sigma = emo_feat_floor(sqrt(emo_feat_sum(frames, nv, EMO_FEAT_V_LN_DEV_SQ, mu) / nd),
                                    EMO_FEAT_SIGMA_FLOOR);
        out->n = nv;
        mu = emo_feat_sum(frames, nv, EMO_FEAT_V_E, 0.0) / nd;
        out->e_mu = mu;
        out->e_sigma = emo_feat_floor(sqrt(emo_feat_sum(frames, nv, EMO_FEAT_V_E_DEV_SQ, mu) / nd),
                                      EMO_FEAT_ENERGY_SIGMA_FLOOR);
        return EMO_OK;
    }
    /* session: running sums, one pairwise sum per utterance added to each */
    st->n += nv;
    st->sum += emo_feat_sum(frames, nv, EMO_FEAT_V_LN, 0.0);
    st->sumsq += emo_feat_sum(frames, nv, EMO_FEAT_V_LN_SQ, 0.0);
    st->esum += emo_feat_sum(frames, nv, EMO_FEAT_V_E0, 0.0);
    st->esumsq += emo_feat_sum(frames, nv, EMO_FEAT_V_E0_SQ, 0.0);
    if (st->n == 0) {
        emo_feat_unvoiced_stats(out);
        return EMO_OK;
    }
    nd = (double)st->n;
    mu = st->sum / nd;
    var = st->sumsq / nd - mu * mu;
    out->mu = mu;
    out->sigma = emo_feat_floor(sqrt(emo_feat_floor(var, 0.0)), EMO_FEAT_SIGMA_FLOOR);
    out->n = st->n;
    mu = st->esum / nd;
    var = st->esumsq / nd - mu * mu;
    out->e_mu = mu;
    out->e_sigma = emo_feat_floor(sqrt(emo_feat_floor(var, 0.0)), EMO_FEAT_ENERGY_SIGMA_FLOOR);
    return EMO_OK;
}

/* np.clip(v, -lim, lim): NaN stays NaN. */
static double emo_feat_clip(double v, double lim)
{
    if (v < -lim) {
        return -lim;
    }
    if (v > lim) {
        return lim;
    }
    return v;
}

static float emo_feat_log_f0(const emo_f0_frame_t *fr, const emo_feat_stats_t *st)
{
    if (!emo_feat_is_voiced(fr)) {
        return 0.0f;
    }
    return (float)emo_feat_clip((emo_feat_ln((double)fr->f0_hz) - st->mu) / st->sigma, EMO_FEAT_F0_CLIP);
}

static float emo_feat_energy(const emo_f0_frame_t *fr, const emo_feat_stats_t *st)
{
    double e = emo_feat_energy_clean(fr->energy_db, EMO_FEAT_NAN_ENERGY_DB);

    return (float)emo_feat_clip((e - st->e_mu) / st->e_sigma, EMO_FEAT_F0_CLIP);
}

/* cq, jitter or shimmer of a voiced frame that measured it (NaN and +-inf as 0), else 0. */
static float emo_feat_vq(const emo_f0_frame_t *fr, int32_t ch)
{
    float q32 = ch == EMO_FEAT_CQ ? fr->cq : (ch == EMO_FEAT_JITTER ? fr->jitter : fr->shimmer);
    double q = (double)q32;

    if (!emo_feat_is_voiced(fr) || !(q > 0.0) || q > EMO_FEAT_DBL_MAX) {
        return 0.0f;
    }
    if (ch == EMO_FEAT_CQ) {
        return (float)emo_feat_clip((q - 0.5) * 4.0, EMO_FEAT_F0_CLIP);
    }
    return (float)emo_feat_clip(emo_feat_ln(q / (ch == EMO_FEAT_JITTER ? EMO_FEAT_JITTER_REF
                                                                           : EMO_FEAT_SHIMMER_REF)),
                                EMO_FEAT_F0_CLIP);
}

/* A channel that reads frame fr alone: voiced, periodicity, cq, jitter, shimmer (log-F0, energy
 * and their deltas are built in emo_feat_build, which keeps each frame's value for the next). */
static float emo_feat_frame_value(const emo_f0_frame_t *fr, int32_t ch)
{
    float p;

    switch (ch) {
    case EMO_FEAT_VOICED:
        return emo_feat_is_voiced(fr) ? 1.0f : 0.0f;
    case EMO_FEAT_PERIODICITY:
        p = fr->periodicity;
        if (p != p) {
            return 0.0f;
        }
        return p < -1.0f ? -1.0f : (p > 1.0f ? 1.0f : p);
    default:                /* EMO_FEAT_CQ, EMO_FEAT_JITTER, EMO_FEAT_SHIMMER */
        return emo_feat_vq(fr, ch);
    }
}

emo_status_t emo_feat_build(const emo_f0_frame_t *frames, int32_t n_frames, const emo_feat_stats_t *stats,
                            const int32_t *channels, int32_t n_channels, int32_t T, int32_t crop,
                            float *out, int32_t out_len)
{
    int32_t c, t, start = 0, rows, need_f0 = 0, need_e = 0;
    float prev_lf = 0.0f, prev_e = 0.0f;

    if (stats == NULL || channels == NULL || out == NULL || (frames == NULL && n_frames > 0)) {
        return EMO_ERR_NULL;
    }
    if (T < 1 || T > EMO_FEAT_MAX_T || n_channels < 1 || n_channels > EMO_FEAT_MAX_CHANNELS ||
        n_frames < 0 || crop < EMO_FEAT_CROP_CENTER || crop > EMO_FEAT_CROP_END) {
        return EMO_ERR_PARAM;
    }
    for (c = 0; c < n_channels; c++) {
        if (channels[c] < 0 || channels[c] >= EMO_FEAT_N_CHANNEL_KINDS) {
            return EMO_ERR_PARAM;
        }
    }
    if (out_len < T * n_channels) {
        return EMO_ERR_CAPACITY;
    }
    if (n_frames > T) {
        start = crop == EMO_FEAT_CROP_START ? 0 : (crop == EMO_FEAT_CROP_END ? n_frames - T : (n_frames - T) / 2);
    }
    rows = n_frames < T ? n_frames : T;
    for (c = 0; c < n_channels; c++) {
        need_f0 |= channels[c] == EMO_FEAT_LOG_F0 || channels[c] == EMO_FEAT_DELTA_LOG_F0;
        need_e |= channels[c] == EMO_FEAT_ENERGY || channels[c] == EMO_FEAT_DELTA_ENERGY;
    }
    /* Each frame's normalised log-F0 and energy are computed once and kept for the next frame's
     * delta (the same function on the same frame: the same bits as computing it twice). */
    if (rows > 0 && start > 0) {
        prev_lf = need_f0 ? emo_feat_log_f0(&frames[start - 1], stats) : 0.0f;
        prev_e = need_e ? emo_feat_energy(&frames[start - 1], stats) : 0.0f;
    }
    for (t = 0; t < rows; t++) {
        int32_t i = start + t;
        const emo_f0_frame_t *fr = &frames[i];
        float lf = need_f0 ? emo_feat_log_f0(fr, stats) : 0.0f;
        float e = need_e ? emo_feat_energy(fr, stats) : 0.0f;
        for (c = 0; c < n_channels; c++) {
            float v;
            switch (channels[c]) {
            case EMO_FEAT_LOG_F0:
                v = lf;
                break;
            case EMO_FEAT_DELTA_LOG_F0:
                v = (i == 0 || !emo_feat_is_voiced(fr) || !emo_feat_is_voiced(fr - 1)) ? 0.0f : lf - prev_lf;
                break;
            case EMO_FEAT_ENERGY:
                v = e;
                break;
            case EMO_FEAT_DELTA_ENERGY:
                v = i == 0 ? 0.0f : e - prev_e;
                break;
            default:
                v = emo_feat_frame_value(fr, channels[c]);
                break;
            }
            out[t * n_channels + c] = v;
        }
        prev_lf = lf;
        prev_e = e;
    }
    for (t = rows; t < T; t++) {        /* padding: silence, unvoiced */
        for (c = 0; c < n_channels; c++) {
            out[t * n_channels + c] = channels[c] == EMO_FEAT_ENERGY ? (float)-EMO_FEAT_F0_CLIP : 0.0f;
        }
    }
    return EMO_OK;
}

/* emo_feat_quantize into int8 (q8) or int16 (q16) values in lo..hi */
static emo_status_t quantize_to(const float *x, int32_t n, float scale, int32_t zero_point, int32_t lo, int32_t hi,
                                int8_t *q8, int16_t *q16)
{
    int32_t i, r;
    float v, t;
    /* beyond +-(2 * 32768) every zero point of the range saturates: clamping first keeps the int32 exact */
    const float bound = 2.0f * (float)(hi - lo + 1);

    if (x == NULL || (q8 == NULL && q16 == NULL)) {
        return EMO_ERR_NULL;
    }
    if (n < 0 || !(scale > 0.0f && scale <= 3.40282347e38f) || zero_point < lo || zero_point > hi) {
        return EMO_ERR_PARAM;
    }
    for (i = 0; i < n; i++) {
        if (!(x[i] - x[i] == 0.0f)) {
            return EMO_ERR_NONFINITE;
        }
    }
    for (i = 0; i < n; i++) {
        v = x[i] / scale;
        v = v < -bound ? -bound : (v > bound ? bound : v);
        t = (float)(int32_t)v;          /* toward zero */
        r = (int32_t)t;
        if (v - t >= 0.5f) {            /* v - t is exact: half away from zero */
            r += 1;
        } else if (v - t <= -0.5f) {
            r -= 1;
        }
        r += zero_point;
        r = r < lo ? lo : (r > hi ? hi : r);
        if (q8 != NULL) {
            q8[i] = (int8_t)r;
        } else {
            q16[i] = (int16_t)r;
        }
    }
    return EMO_OK;
}

emo_status_t emo_feat_quantize(const float *x, int32_t n, float scale, int32_t zero_point, int8_t *q)
{
    if (q == NULL) {
        return EMO_ERR_NULL;
    }
    return quantize_to(x, n, scale, zero_point, -128, 127, q, NULL);
}

emo_status_t emo_feat_quantize16(const float *x, int32_t n, float scale, int32_t zero_point, int16_t *q)
{
    if (q == NULL) {
        return EMO_ERR_NULL;
    }
    return quantize_to(x, n, scale, zero_point, -32768, 32767, NULL, q);
}
