/*
 * emo_feat: the student's input from the F0 core's frames, and its int8 form.
 *
 * One implementation for the board and the host: the firmware runs the int8
 * student on what emo_feat_quantize() writes, and the host's live classifier
 * (host/pipeline.py) feeds its int8 model the same bytes through the cffi
 * binding. The NumPy reference in eggemo/core/feat.py is the specification:
 *   stats      F0Normaliser.stats_for (utterance mode: F0Stats.from_frames);
 *   input      student_input (normalise_f0, fit_length);
 *   quantise   TFLite's reference QUANTIZE kernel (the one TF Lite Micro
 *              runs): q = round(x / scale) + zero_point, x / scale divided in
 *              float32, rounded half away from zero, saturated to int8;
 *              eggemo/core/feat.py quantize() does the same.
 *
 * Arithmetic. Statistics are double, as the host keeps them: the sums run in
 * NumPy's pairwise order (blocks of 128 with 8 partial sums), so they are the
 * reference's sums when the logs are. Every channel is computed in double and
 * rounded to float32 once, in the reference's order of operations. ln is the
 * module's own (an atanh series on the mantissa with +, -, *, / only, < 1 ulp
 * from a correctly rounded log): no libm transcendental, so x86 and the
 * Cortex-M4 (double in software) agree bit for bit under -ffp-contract=off.
 * A channel value is then the reference's float32, or one float32 ulp from it
 * where the two logs differ by an ulp across a float32 rounding boundary.
 *
 * The M4 cost is a few soft-double logs per voiced frame, once per utterance.
 */
#ifndef EMO_FEAT_H
#define EMO_FEAT_H

#include <stdint.h>
#include "emo_common.h"
#include "emo_f0.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EMO_FEAT_MAX_T 1024          /* longest student input, frames */
#define EMO_FEAT_MAX_CHANNELS 16     /* most channels per frame */

#define EMO_FEAT_F0_CLIP 6.0         /* every normalised channel is clipped to +-this */
#define EMO_FEAT_SIGMA_FLOOR 0.05    /* ln F0 standard deviation floor, ln units */
#define EMO_FEAT_ENERGY_SIGMA_FLOOR 1.0  /* energy standard deviation floor, dB */
#define EMO_FEAT_JITTER_REF 0.02     /* jitter channel: ln(jitter / this) */
#define EMO_FEAT_SHIMMER_REF 0.05    /* shimmer channel: ln(shimmer / this) */
#define EMO_FEAT_NAN_ENERGY_DB (-200.0)  /* a NaN energy_db reads as this in the energy channels */

/* Per-frame channels, one per eggemo/core/feat.py STUDENT_INPUTS name, in that order. */
typedef enum {
    EMO_FEAT_LOG_F0 = 0,        /* (ln f0 - mu) / sigma on voiced frames, else 0 */
    EMO_FEAT_VOICED = 1,        /* 1 / 0 */
    EMO_FEAT_DELTA_LOG_F0 = 2,  /* log_f0[i] - log_f0[i-1] where both are voiced, else 0 */
    EMO_FEAT_PERIODICITY = 3,   /* the frame's periodicity, NaN as 0, clipped to +-1 */
    EMO_FEAT_ENERGY = 4,        /* (energy_db - e_mu) / e_sigma; pads with -EMO_FEAT_F0_CLIP */
    EMO_FEAT_DELTA_ENERGY = 5,  /* energy[i] - energy[i-1], 0 at the utterance's first frame */
    EMO_FEAT_CQ = 6,            /* (cq - 0.5) * 4 on voiced frames with cq > 0, else 0 */
    EMO_FEAT_JITTER = 7,        /* ln(jitter / EMO_FEAT_JITTER_REF) on voiced frames with jitter > 0 */
    EMO_FEAT_SHIMMER = 8,       /* ln(shimmer / EMO_FEAT_SHIMMER_REF) likewise */
    EMO_FEAT_N_CHANNEL_KINDS = 9
} emo_feat_channel_t;

/* Which T frames of a longer utterance the input keeps; a shorter one is padded at the end. */
typedef enum {
    EMO_FEAT_CROP_CENTER = 0,   /* frames (L - T) / 2 .. +T (integer division) */
    EMO_FEAT_CROP_START = 1,    /* the first T */
    EMO_FEAT_CROP_END = 2       /* the last T */
} emo_feat_crop_t;

/* Where the normalisation statistics come from. */
typedef enum {
    EMO_FEAT_NORM_UTTERANCE = 0,  /* the utterance's own voiced frames */
    EMO_FEAT_NORM_SESSION = 1,    /* every voiced frame since init, this utterance included */
    EMO_FEAT_NORM_FIXED = 2       /* statistics given at init */
} emo_feat_norm_mode_t;

/* Normalisation statistics (eggemo/core/feat.py F0Stats). A frame counts as voiced when
 * voiced != 0 and f0_hz > 0. With no voiced frame: mu = ln 100, sigma = 1, n = 0,
 * e_mu = 0, e_sigma = 1 (every log_f0 value is 0 then). */
typedef struct {
    double mu;               /* mean of ln f0_hz over voiced frames */
    double sigma;            /* its standard deviation, at least EMO_FEAT_SIGMA_FLOOR */
    int64_t n;               /* voiced frames the statistics cover */
    double e_mu;             /* mean energy_db of the same frames */
    double e_sigma;          /* its standard deviation, at least EMO_FEAT_ENERGY_SIGMA_FLOOR */
} emo_feat_stats_t;

/* Caller-owned normaliser state (88 bytes). Initialise with emo_feat_norm_init(). */
typedef struct {
    int32_t mode;            /* emo_feat_norm_mode_t */
    emo_feat_stats_t fixed;  /* EMO_FEAT_NORM_FIXED: the statistics returned */
    int64_t n;               /* session: voiced frames so far */
    double sum;              /* session: sum of ln f0 (one pairwise sum per utterance, added) */
    double sumsq;            /* session: sum of (ln f0)^2 */
    double esum;             /* session: sum of energy_db (NaN as 0, +-inf as +-DBL_MAX) */
    double esumsq;           /* session: sum of energy_db^2 */
} emo_feat_norm_t;

/*
 * Set up st for `mode`. fixed: the statistics for EMO_FEAT_NORM_FIXED (finite mu and
 * e_mu, sigma and e_sigma > 0), NULL for the other modes. Errors: EMO_ERR_NULL (st, or
 * fixed in fixed mode), EMO_ERR_PARAM (unknown mode, fixed given for another mode,
 * fixed statistics out of range).
 */
emo_status_t emo_feat_norm_init(emo_feat_norm_t *st, int32_t mode, const emo_feat_stats_t *fixed);

/*
 * The statistics utterance frames[0 .. n_frames-1] is normalised with (session mode
 * first adds its voiced frames to st). Utterance mode keeps NumPy's two-pass standard
 * deviation and does not clean energy: a NaN energy_db of a voiced frame makes e_mu and
 * e_sigma NaN, as the reference's does. frames may be NULL when n_frames is 0.
 * Errors: EMO_ERR_NULL, EMO_ERR_PARAM (n_frames < 0, st not initialised).
 */
emo_status_t emo_feat_norm_stats(emo_feat_norm_t *st, const emo_f0_frame_t *frames, int32_t n_frames,
                                 emo_feat_stats_t *out);

/*
 * The student's (T x n_channels) float32 input, row-major (frame t, channel c at
 * out[t * n_channels + c]), from utterance frames[0 .. n_frames-1] normalised with
 * stats: channels[c] is an emo_feat_channel_t. Deltas are taken on the whole
 * utterance before the crop. out_len >= T * n_channels. frames may be NULL when
 * n_frames is 0 (then every row is padding). Errors: EMO_ERR_NULL, EMO_ERR_PARAM
 * (T outside 1..EMO_FEAT_MAX_T, n_channels outside 1..EMO_FEAT_MAX_CHANNELS, an unknown
 * channel or crop, n_frames < 0), EMO_ERR_CAPACITY (out_len).
 */
emo_status_t emo_feat_build(const emo_f0_frame_t *frames, int32_t n_frames, const emo_feat_stats_t *stats,
                            const int32_t *channels, int32_t n_channels, int32_t T, int32_t crop,
                            float *out, int32_t out_len);

/*
 * The model's int8 input: q[i] = clamp(round_half_away(x[i] / scale) + zero_point,
 * -128, 127), the division in float32 (TFLite's reference QUANTIZE). Errors:
 * EMO_ERR_NULL, EMO_ERR_PARAM (n < 0, scale not finite and > 0, zero_point outside
 * -128..127), EMO_ERR_NONFINITE (a NaN or infinite x; nothing is written then).
 */
emo_status_t emo_feat_quantize(const float *x, int32_t n, float scale, int32_t zero_point, int8_t *q);

/* The same into int16 (a 16x8 model's input; zero_point in -32768..32767, 0 in TFLite's 16x8). */
emo_status_t emo_feat_quantize16(const float *x, int32_t n, float scale, int32_t zero_point, int16_t *q);

#ifdef __cplusplus
}
#endif

#endif /* EMO_FEAT_H */
