/*
 * emo_f0: fundamental frequency (F0) of an electroglottograph (EGG) signal.
 *
 * The same source runs on the wearable (Cortex-M4F) and in Python (cffi), so
 * the model is trained on exactly the contour the device computes. The NumPy
 * reference in eggemo/core/f0/reference.py is the specification of this code.
 *
 * Pipeline, per 10 ms hop:
 *   1. decimate by D (boxcar mean of D input samples) to the analysis rate
 *      fa = fs / D, so the autocorrelation fits the M4's budget;
 *   2. remove DC and larynx drift: two cascaded one-pole high-passes at hpf_hz;
 *   3. short-time log energy of the frame (voicing test 1, the paper's method):
 *      voiced only if above energy_floor_db and within energy_rel_db of a
 *      running peak that decays by peak_release_db per frame;
 *   4. normalised autocorrelation over lags fa/fmax .. fa/fmin (Eq. 1 of the
 *      paper), its local maxima as candidates, refined by parabolic
 *      interpolation; the best peak is voicing test 2 (>= ac_threshold);
 *   5. voiced runs shorter than min_voiced frames are dropped; each voiced run
 *      (a "segment", at most EMO_F0_MAX_SEG frames) is corrected for octave
 *      jumps by a bidirectional search from its most periodic frame, then
 *      median-smoothed (median_len frames, truncated symmetrically at the ends);
 *   6. voice quality of each voiced frame, from the glottal cycles in it: the
 *      closure instants are the peaks of the EGG's derivative (DEGG) at least
 *      0.6 periods of the frame's best candidate apart; per cycle between two
 *      closures, the contact quotient is the share of its samples above 35 %
 *      of its peak-to-peak contact; the frame reports the mean contact
 *      quotient, the jitter (mean |T_k - T_k-1| / mean T) and the shimmer
 *      (mean |A_k - A_k-1| / mean A) of its cycles (see eggemo/core/f0/reference.py).
 *
 * Streaming and whole-signal results are identical: emo_f0_analyze() is the
 * streaming API run over the whole signal. Because the bidirectional pass needs
 * the whole segment, the streaming API releases a voiced segment's frames when
 * the segment ends (the first unvoiced frame, EMO_F0_MAX_SEG frames, or
 * emo_f0_flush()). Frames always come out in order, each exactly once.
 *
 * All arithmetic is float32 with no library transcendental in the per-frame
 * path; build with -ffp-contract=off so x86 and ARM agree bit for bit.
 */
#ifndef EMO_F0_H
#define EMO_F0_H

#include <stdint.h>
#include "emo_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EMO_FS_MIN 4000              /* lowest accepted input rate, Hz */
#define EMO_FS_MAX 96000             /* highest accepted input rate, Hz */
#define EMO_F0_AUTO_RATE 8000        /* auto decimation: largest D with fs/D >= this */
#define EMO_F0_MAX_FRAME 1024        /* longest analysis frame, decimated samples */
#define EMO_F0_MAX_LAG 512           /* longest lag (fa/fmin), decimated samples */
#define EMO_F0_NCAND 4               /* candidate periods kept per frame */
#define EMO_F0_MAX_SEG 256           /* longest segment tracked as one unit, frames */
#define EMO_F0_MAX_MEDIAN 15         /* longest median window, frames */
#define EMO_F0_OUT_MAX 258           /* frames one push or flush may release */
#define EMO_F0_MAX_ABS 10000         /* largest accepted |sample| (full scale is 1) */

/* Analysis parameters. emo_f0_default_params() fills the defaults below. */
typedef struct {
    int32_t fs;              /* input sample rate, Hz (EMO_FS_MIN..EMO_FS_MAX) */
    int32_t decimation;      /* D >= 1, or 0 for auto (EMO_F0_AUTO_RATE); default 0 */
    float fmin;              /* lowest F0 searched, Hz; default 50 */
    float fmax;              /* highest F0 searched, Hz; default 500 */
    float frame_ms;          /* analysis window, ms; must span two periods of fmin; default 40 */
    float hop_ms;            /* hop between frames, ms; default 10 */
    float hpf_hz;            /* drift high-pass corner, Hz (0 = off); default 50 */
    float energy_floor_db;   /* absolute energy floor, dB re full scale (1.0); default -60 */
    float energy_rel_db;     /* voiced only within this of the running peak, dB; default 30 */
    float peak_release_db;   /* running-peak decay per frame, dB; default 0.05 */
    float ac_threshold;      /* minimum normalised autocorrelation peak; default 0.5 */
    float octave_cost;       /* score bonus per octave above fmin (Praat-like); default 0.02 */
    float jump_weight;       /* tracking: strength weight against |log2 jump|; default 0.3 */
    int32_t min_voiced;      /* voiced runs shorter than this are dropped, frames; default 3 */
    int32_t median_len;      /* median window, odd, 1 = off; default 5 */
} emo_f0_params_t;

/* One analysed frame, as released by push/flush/analyze. */
typedef struct {
    uint32_t index;          /* frame number since init; centre at emo_f0_frame_time() */
    float f0_hz;             /* F0 in Hz, 0 when unvoiced */
    float periodicity;       /* normalised autocorrelation at the chosen period, 0..1 */
    float energy_db;         /* short-time log energy, dB re full scale */
    uint8_t voiced;          /* 1 voiced, 0 unvoiced */
    float cq;                /* contact quotient, 0..1 (0 when unvoiced or no whole cycle) */
    float jitter;            /* period jitter, ratio (0 when fewer than two cycles) */
    float shimmer;           /* contact-amplitude shimmer, ratio (0 when fewer than two cycles) */
} emo_f0_frame_t;

#define EMO_F0_CQ_LEVEL 0.35f        /* contact threshold, share of a cycle's peak-to-peak */
#define EMO_F0_CLOSURE_REL 0.4f      /* DEGG peaks below this share of the frame's largest are not closures */
#define EMO_F0_CLOSURE_GAP 0.6f      /* closures at least this many periods apart */
#define EMO_F0_CYCLE_MIN 0.7f        /* cycles outside [0.7, 1.5] periods are not counted: a high-passed */
                                     /* long contact recovers with a DEGG peak ~0.6 periods on */
#define EMO_F0_CYCLE_MAX 1.5f
#define EMO_F0_MAX_CYCLES 64         /* glottal cycles measured per frame */

/* A candidate period of one frame. */
typedef struct {
    float lag;               /* refined period, decimated samples */
    float strength;          /* normalised autocorrelation at the integer peak */
    float score;             /* strength + octave bonus: the ranking key */
} emo_f0_cand_t;

/* Caller-owned analysis state (about 28 KB). Initialise with emo_f0_init(). */
typedef struct {
    emo_f0_params_t p;
    /* derived */
    int32_t dec;             /* decimation factor D */
    float fa;                /* analysis rate fs / D, Hz */
    int32_t frame_len;       /* N, decimated samples */
    int32_t hop;             /* H, decimated samples */
    int32_t lag_min;         /* floor(fa / fmax) */
    int32_t lag_max;         /* floor(fa / fmin) */
    float hpf_a;             /* one-pole coefficient 1 - 2*pi*hpf_hz/fa */
    /* decimator and high-pass memories */
    float dec_sum;
    int32_t dec_count;
    int32_t started;         /* 1 once the first decimated sample was seen */
    float hp1_x, hp1_y, hp2_x, hp2_y;
    /* ring of the last frame_len filtered samples */
    float ring[EMO_F0_MAX_FRAME];
    int32_t ring_pos;        /* next write position */
    int32_t filled;          /* filtered samples seen, saturating at frame_len */
    int32_t since_frame;     /* filtered samples since the last frame */
    uint32_t next_index;     /* index of the next frame analysed */
    float peak_db;           /* running energy peak */
    int32_t have_peak;
    /* open voiced segment */
    int32_t seg_len;
    int32_t seg_continued;   /* 1 when the segment continues a run cut at EMO_F0_MAX_SEG */
    uint32_t seg_first;      /* index of the segment's first frame */
    emo_f0_cand_t seg_cand[EMO_F0_MAX_SEG][EMO_F0_NCAND];
    int32_t seg_ncand[EMO_F0_MAX_SEG];
    float seg_energy[EMO_F0_MAX_SEG];
    float seg_vq[EMO_F0_MAX_SEG][3]; /* cq, jitter, shimmer of each frame of the segment */
    /* scratch */
    float work[EMO_F0_MAX_FRAME];
    float prefix[EMO_F0_MAX_FRAME + 1];
    float nac[EMO_F0_MAX_LAG + 2];
    float track_f0[EMO_F0_MAX_SEG];
    float track_pr[EMO_F0_MAX_SEG];
} emo_f0_state_t;

/* Fill p with the defaults for input rate fs. */
emo_status_t emo_f0_default_params(emo_f0_params_t *p, int32_t fs);

/* Check p and set up st. Errors: EMO_ERR_NULL, EMO_ERR_RATE, EMO_ERR_PARAM. */
emo_status_t emo_f0_init(emo_f0_state_t *st, const emo_f0_params_t *p);

/* Centre of frame `index` in seconds from the first input sample. */
float emo_f0_frame_time(const emo_f0_state_t *st, uint32_t index);

/*
 * Streaming: feed n input samples (full scale +-1.0), any n >= 0 up to the
 * input samples of one hop (emo_f0_hop_samples()). Released frames are
 * written to out[0 .. *n_out-1]; out must hold EMO_F0_OUT_MAX frames.
 * A NaN/inf sample returns EMO_ERR_NONFINITE, one beyond +-EMO_F0_MAX_ABS
 * EMO_ERR_RANGE; either way nothing of x is consumed.
 */
emo_status_t emo_f0_push(emo_f0_state_t *st, const float *x, int32_t n,
                         emo_f0_frame_t *out, int32_t *n_out);

/* End of input: close the open segment and release its frames into out. */
emo_status_t emo_f0_flush(emo_f0_state_t *st, emo_f0_frame_t *out, int32_t *n_out);

/* Input samples per hop (D * H): the largest n one push accepts. */
int32_t emo_f0_hop_samples(const emo_f0_state_t *st);

/* Frames a signal of n input samples yields: 0 if shorter than one frame. */
int32_t emo_f0_num_frames(const emo_f0_state_t *st, int64_t n);

/*
 * Whole signal: init st from p, push all n samples and flush. Frames go to
 * out[0 .. *n_out-1]; out_cap must be >= emo_f0_num_frames(). Errors as init
 * and push, plus EMO_ERR_SHORT (n below one frame) and EMO_ERR_CAPACITY.
 */
emo_status_t emo_f0_analyze(emo_f0_state_t *st, const emo_f0_params_t *p,
                            const float *x, int64_t n,
                            emo_f0_frame_t *out, int32_t out_cap, int32_t *n_out);

#ifdef __cplusplus
}
#endif

#endif /* EMO_F0_H */
