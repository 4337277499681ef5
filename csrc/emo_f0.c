/* emo_f0: F0 of an EGG signal. See emo_f0.h; the specification is
 * eggemo/core/f0/reference.py. Build with -ffp-contract=off. */
#include "emo_f0.h"

#include <math.h>
#include <string.h>

#define EMO_TWO_PI 6.28318530717958647692f
#define EMO_DB_PER_LOG2 3.01029995663981195214f /* 10 * log10(2) */
#define EMO_ENERGY_EPS 1e-12f
#define EMO_DEN_EPS 1e-20f

/* log2(x) for x > 0 from the float's exponent and an atanh series on the
 * mantissa. Only +, *, / on float32: the same bits on every IEEE target,
 * unlike libm's log2f, which differs between newlib and glibc. */
static float emo_log2f(float x)
{
    union { float f; uint32_t u; } v;
    int32_t e;
    float m, s, s2, t, sum;
    int k;

    if (!(x > 0.0f)) {
        return -200.0f;
    }
    v.f = x;
    e = (int32_t)((v.u >> 23) & 0xffu);
    if (e == 0) {                       /* subnormal: scale up by 2^24 */
        v.f = x * 16777216.0f;
        e = (int32_t)((v.u >> 23) & 0xffu) - 24;
    }
    e -= 127;
    v.u = (v.u & 0x007fffffu) | 0x3f800000u; /* m in [1, 2) */
    m = v.f;
    if (m > 1.41421356f) {              /* m in [0.707, 1.414) for a short series */
        m *= 0.5f;
        e += 1;
    }
    s = (m - 1.0f) / (m + 1.0f);        /* ln(m) = 2 atanh(s), |s| < 0.172 */
    s2 = s * s;
    t = s;
    sum = 0.0f;
    for (k = 1; k <= 9; k += 2) {
        sum += t / (float)k;
        t *= s2;
    }
    return (float)e + sum * 2.88539008177792681472f; /* 2 / ln 2 */
}

emo_status_t emo_f0_default_params(emo_f0_params_t *p, int32_t fs)
{
    if (p == NULL) {
        return EMO_ERR_NULL;
    }
    p->fs = fs;
    p->decimation = 0;
    p->fmin = 50.0f;
    p->fmax = 500.0f;
    p->frame_ms = 40.0f;
    p->hop_ms = 10.0f;
    p->hpf_hz = 50.0f;
    p->energy_floor_db = -60.0f;
    p->energy_rel_db = 30.0f;
    p->peak_release_db = 0.05f;
    p->ac_threshold = 0.5f;
    p->octave_cost = 0.02f;
    p->jump_weight = 0.3f;
    p->min_voiced = 3;
    p->median_len = 5;
    return EMO_OK;
}

static int32_t emo_round_pos(float v)
{
    return (int32_t)(v + 0.5f);
}

emo_status_t emo_f0_init(emo_f0_state_t *st, const emo_f0_params_t *p)
{
    int32_t dec;
    float fa;

    if (st == NULL || p == NULL) {
        return EMO_ERR_NULL;
    }
    if (p->fs < EMO_FS_MIN || p->fs > EMO_FS_MAX) {
        return EMO_ERR_RATE;
    }
    /* NaN fails every comparison below, so each test is written to pass only
     * for good values. */
    if (!(p->fmin > 0.0f) || !(p->fmax > p->fmin) || !(p->frame_ms > 0.0f) ||
        !(p->hop_ms > 0.0f) || !(p->hpf_hz >= 0.0f) || !(p->peak_release_db >= 0.0f) ||
        !(p->energy_rel_db >= 0.0f) || !(p->energy_floor_db > -400.0f) ||
        !(p->ac_threshold >= 0.0f && p->ac_threshold <= 1.0f) ||
        !(p->octave_cost >= 0.0f && p->octave_cost <= 1.0f) ||
        !(p->jump_weight >= 0.0f && p->jump_weight <= 10.0f) ||
        p->decimation < 0 || p->decimation > 64 ||
        p->min_voiced < 1 || p->min_voiced > EMO_F0_MAX_SEG ||
        p->median_len < 1 || p->median_len > EMO_F0_MAX_MEDIAN || (p->median_len % 2) == 0) {
        return EMO_ERR_PARAM;
    }
    dec = p->decimation;
    if (dec == 0) {
        dec = p->fs / EMO_F0_AUTO_RATE;
        if (dec < 1) {
            dec = 1;
        }
    }
    fa = (float)p->fs / (float)dec;

    memset(st, 0, sizeof(*st));
    st->p = *p;
    st->dec = dec;
    st->fa = fa;
    st->frame_len = emo_round_pos(p->frame_ms * fa / 1000.0f);
    st->hop = emo_round_pos(p->hop_ms * fa / 1000.0f);
    st->lag_min = (int32_t)(fa / p->fmax);
    st->lag_max = (int32_t)(fa / p->fmin);
    st->hpf_a = 1.0f - EMO_TWO_PI * p->hpf_hz / fa;

    if (st->hop < 1 || st->lag_min < 2 || st->lag_max > EMO_F0_MAX_LAG ||
        st->lag_max <= st->lag_min || st->frame_len > EMO_F0_MAX_FRAME ||
        st->frame_len < 2 * st->lag_max || !(st->hpf_a > 0.0f)) {
        return EMO_ERR_PARAM;
    }
    return EMO_OK;
}

float emo_f0_frame_time(const emo_f0_state_t *st, uint32_t index)
{
    float centre = (float)index * (float)st->hop + 0.5f * (float)st->frame_len;
    return centre * (float)st->dec / (float)st->p.fs;
}

int32_t emo_f0_hop_samples(const emo_f0_state_t *st)
{
    return st->dec * st->hop;
}

int32_t emo_f0_num_frames(const emo_f0_state_t *st, int64_t n)
{
    int64_t m = n / st->dec;
    if (m < st->frame_len) {
        return 0;
    }
    return (int32_t)(1 + (m - st->frame_len) / st->hop);
}

/* Candidates of the frame in st->work: local maxima of the normalised
 * autocorrelation in [lag_min, lag_max], refined by a parabola, best first.
 * Returns how many (0..EMO_F0_NCAND). */
static int32_t emo_f0_candidates(emo_f0_state_t *st, emo_f0_cand_t *cand)
{
    const int32_t n = st->frame_len;
    const float *w = st->work;
    float *nac = st->nac;
    const float total = st->prefix[n];
    int32_t k, i, j, count = 0;

    for (k = st->lag_min - 1; k <= st->lag_max + 1; k++) {
        /* four partial sums in a fixed order: breaks the add latency chain on
         * x86 and stays bit-identical across targets (no reassociation) */
        const int32_t m = n - k;
        float r0 = 0.0f, r1 = 0.0f, r2 = 0.0f, r3 = 0.0f, r, den;
        for (i = 0; i + 3 < m; i += 4) {
            r0 += w[i] * w[i + k];
            r1 += w[i + 1] * w[i + 1 + k];
            r2 += w[i + 2] * w[i + 2 + k];
            r3 += w[i + 3] * w[i + 3 + k];
        }
        for (; i < m; i++) {
            r0 += w[i] * w[i + k];
        }
        r = (r0 + r1) + (r2 + r3);
        den = sqrtf(st->prefix[n - k] * (total - st->prefix[k]));
        nac[k] = den > EMO_DEN_EPS ? r / den : 0.0f;
    }
    for (k = st->lag_min; k <= st->lag_max; k++) {
        float a = nac[k - 1], b = nac[k], c = nac[k + 1];
        float curv, delta = 0.0f, lag, score;
        emo_f0_cand_t cnd;
        if (!(b > a && b >= c && b > 0.0f)) {
            continue;
        }
        curv = a - 2.0f * b + c;
        if (curv < 0.0f) {
            delta = 0.5f * (a - c) / curv;
        }
        lag = (float)k + delta;
        score = b + st->p.octave_cost * emo_log2f((float)st->lag_max / lag);
        cnd.lag = lag;
        cnd.strength = b;
        cnd.score = score;
        /* insert, best score first; equal scores keep the shorter lag first */
        for (i = count; i > 0 && cand[i - 1].score < score; i--) {
        }
        if (i >= EMO_F0_NCAND) {
            continue;
        }
        for (j = (count < EMO_F0_NCAND ? count : EMO_F0_NCAND - 1); j > i; j--) {
            cand[j] = cand[j - 1];
        }
        cand[i] = cnd;
        if (count < EMO_F0_NCAND) {
            count++;
        }
    }
    return count;
}

/* Voice quality of the frame w[0..n-1] whose period is about lag samples:
 * vq = {contact quotient, jitter, shimmer}, zeros where there is no whole cycle.
 * Closures are DEGG peaks (d[i] = w[i+1] - w[i], a strict rise then no rise,
 * at least EMO_F0_CLOSURE_REL of the largest d) taken left to right; one within
 * EMO_F0_CLOSURE_GAP periods of the previous closure replaces it if larger. */
static void emo_f0_voice_quality(const float *w, int32_t n, float lag, float *vq)
{
    int32_t idx[EMO_F0_MAX_CYCLES];
    float t[EMO_F0_MAX_CYCLES];
    int32_t i, k, count = 0, n_valid = 0, n_pairs = 0, prev_valid = 0;
    float dmax = 0.0f, thr, gap = EMO_F0_CLOSURE_GAP * lag;
    float cq_sum = 0.0f, t_sum = 0.0f, a_sum = 0.0f, j_sum = 0.0f, s_sum = 0.0f;
    float t_prev = 0.0f, a_prev = 0.0f;

    vq[0] = 0.0f;
    vq[1] = 0.0f;
    vq[2] = 0.0f;
    for (i = 0; i + 1 < n; i++) {
        float d = w[i + 1] - w[i];
        dmax = d > dmax ? d : dmax;
    }
    if (!(dmax > 0.0f)) {
        return;
    }
    thr = EMO_F0_CLOSURE_REL * dmax;
    for (i = 1; i + 2 < n; i++) {
        float a = w[i] - w[i - 1], b = w[i + 1] - w[i], c = w[i + 2] - w[i + 1];
        if (!(b > a && b >= c && b >= thr)) {
            continue;
        }
        if (count > 0 && (float)(i - idx[count - 1]) < gap) {
            int32_t j = idx[count - 1];
            if (b > w[j + 1] - w[j]) {
                idx[count - 1] = i;
                t[count - 1] = (float)i + 0.5f * (a - c) / (a - 2.0f * b + c);
            }
            continue;
        }
        if (count == EMO_F0_MAX_CYCLES) {
            break;
        }
        idx[count] = i;
        t[count] = (float)i + 0.5f * (a - c) / (a - 2.0f * b + c);
        count++;
    }
    for (k = 0; k + 1 < count; k++) {
        float period = t[k + 1] - t[k], lo, hi, amp, level;
        int32_t m = idx[k + 1] - idx[k], above = 0;
        if (!(period >= EMO_F0_CYCLE_MIN * lag && period <= EMO_F0_CYCLE_MAX * lag)) {
            prev_valid = 0;
            continue;
        }
        lo = w[idx[k] + 1];
        hi = lo;
        for (i = idx[k] + 2; i <= idx[k + 1]; i++) {
            lo = w[i] < lo ? w[i] : lo;
            hi = w[i] > hi ? w[i] : hi;
        }
        amp = hi - lo;
        if (!(amp > 0.0f)) {
            prev_valid = 0;
            continue;
        }
        level = lo + EMO_F0_CQ_LEVEL * amp;
        for (i = idx[k] + 1; i <= idx[k + 1]; i++) {
            above += w[i] > level;
        }
        cq_sum += (float)above / (float)m;
        t_sum += period;
        a_sum += amp;
        n_valid++;
        if (prev_valid) {
            j_sum += period > t_prev ? period - t_prev : t_prev - period;
            s_sum += amp > a_prev ? amp - a_prev : a_prev - amp;
            n_pairs++;
        }
        t_prev = period;
        a_prev = amp;
        prev_valid = 1;
    }
    if (n_valid > 0) {
        vq[0] = cq_sum / (float)n_valid;
    }
    if (n_pairs > 0) {
        vq[1] = (j_sum / (float)n_pairs) / (t_sum / (float)n_valid);
        vq[2] = (s_sum / (float)n_pairs) / (a_sum / (float)n_valid);
    }
}

static void emo_f0_emit(emo_f0_frame_t *out, int32_t *n_out, uint32_t index, float f0,
                        float periodicity, float energy_db, uint8_t voiced, const float *vq)
{
    emo_f0_frame_t *f = &out[(*n_out)++];
    f->index = index;
    f->f0_hz = f0;
    f->periodicity = periodicity;
    f->energy_db = energy_db;
    f->voiced = voiced;
    f->cq = vq != NULL ? vq[0] : 0.0f;
    f->jitter = vq != NULL ? vq[1] : 0.0f;
    f->shimmer = vq != NULL ? vq[2] : 0.0f;
}

/* Ratio-based continuity cost of lag c against reference lag r. */
static float emo_f0_jump_cost(const emo_f0_state_t *st, const emo_f0_cand_t *c, float ref_lag)
{
    float ratio = c->lag > ref_lag ? c->lag / ref_lag : ref_lag / c->lag;
    return (ratio - 1.0f) - st->p.jump_weight * c->strength;
}

static int32_t emo_f0_pick(const emo_f0_state_t *st, int32_t j, float ref_lag)
{
    int32_t c, best = 0;
    float best_cost = emo_f0_jump_cost(st, &st->seg_cand[j][0], ref_lag);
    for (c = 1; c < st->seg_ncand[j]; c++) {
        float cost = emo_f0_jump_cost(st, &st->seg_cand[j][c], ref_lag);
        if (cost < best_cost) {
            best_cost = cost;
            best = c;
        }
    }
    return best;
}

/* Close the open segment: track, smooth and release its frames. */
static void emo_f0_close_segment(emo_f0_state_t *st, emo_f0_frame_t *out, int32_t *n_out)
{
    const int32_t len = st->seg_len;
    int32_t j, anchor = 0, half = st->p.median_len / 2;
    float *lagv = st->track_f0; /* chosen lags, then F0 */
    float win[EMO_F0_MAX_MEDIAN];

    if (len == 0) {
        return;
    }
    if (len < st->p.min_voiced && !st->seg_continued) {
        for (j = 0; j < len; j++) {
            emo_f0_emit(out, n_out, st->seg_first + (uint32_t)j, 0.0f,
                        st->seg_cand[j][0].strength, st->seg_energy[j], 0, NULL);
        }
        st->seg_len = 0;
        return;
    }
    /* anchor: the most periodic frame (first of equals) */
    for (j = 1; j < len; j++) {
        if (st->seg_cand[j][0].score > st->seg_cand[anchor][0].score) {
            anchor = j;
        }
    }
    lagv[anchor] = st->seg_cand[anchor][0].lag;
    st->track_pr[anchor] = st->seg_cand[anchor][0].strength;
    for (j = anchor + 1; j < len; j++) {
        int32_t c = emo_f0_pick(st, j, lagv[j - 1]);
        lagv[j] = st->seg_cand[j][c].lag;
        st->track_pr[j] = st->seg_cand[j][c].strength;
    }
    for (j = anchor - 1; j >= 0; j--) {
        int32_t c = emo_f0_pick(st, j, lagv[j + 1]);
        lagv[j] = st->seg_cand[j][c].lag;
        st->track_pr[j] = st->seg_cand[j][c].strength;
    }
    for (j = 0; j < len; j++) {
        lagv[j] = st->fa / lagv[j];
    }
    /* median over a window truncated symmetrically at the segment ends */
    for (j = 0; j < len; j++) {
        int32_t h = half, m, a, b;
        float f0;
        if (h > j) {
            h = j;
        }
        if (h > len - 1 - j) {
            h = len - 1 - j;
        }
        m = 2 * h + 1;
        for (a = 0; a < m; a++) {
            float v = lagv[j - h + a];
            for (b = a; b > 0 && win[b - 1] > v; b--) {
                win[b] = win[b - 1];
            }
            win[b] = v;
        }
        f0 = win[h];
        emo_f0_emit(out, n_out, st->seg_first + (uint32_t)j, f0, st->track_pr[j],
                    st->seg_energy[j], 1, st->seg_vq[j]);
    }
    st->seg_len = 0;
}

/* Analyse the frame ending at the newest filtered sample. */
static void emo_f0_frame(emo_f0_state_t *st, emo_f0_frame_t *out, int32_t *n_out)
{
    const int32_t n = st->frame_len;
    const uint32_t index = st->next_index++;
    emo_f0_cand_t cand[EMO_F0_NCAND];
    int32_t i, ncand, voiced;
    float acc = 0.0f, energy_db, strength;

    /* unroll the ring, oldest first, and its running energy */
    st->prefix[0] = 0.0f;
    for (i = 0; i < n; i++) {
        int32_t r = st->ring_pos + i;
        float v;
        if (r >= n) {
            r -= n;
        }
        v = st->ring[r];
        st->work[i] = v;
        acc += v * v;
        st->prefix[i + 1] = acc;
    }
    energy_db = EMO_DB_PER_LOG2 * emo_log2f(acc / (float)n + EMO_ENERGY_EPS);
    if (st->have_peak) {
        float decayed = st->peak_db - st->p.peak_release_db;
        st->peak_db = energy_db > decayed ? energy_db : decayed;
    } else {
        st->peak_db = energy_db;
        st->have_peak = 1;
    }
    ncand = emo_f0_candidates(st, cand);
    strength = ncand > 0 ? cand[0].strength : 0.0f;
    voiced = ncand > 0 && energy_db >= st->p.energy_floor_db &&
             energy_db >= st->peak_db - st->p.energy_rel_db &&
             strength >= st->p.ac_threshold;

    if (voiced) {
        int32_t s = st->seg_len;
        if (s == 0) {
            st->seg_first = index;
        }
        memcpy(st->seg_cand[s], cand, sizeof(cand));
        st->seg_ncand[s] = ncand;
        st->seg_energy[s] = energy_db;
        emo_f0_voice_quality(st->work, n, cand[0].lag, st->seg_vq[s]);
        st->seg_len = s + 1;
        if (st->seg_len == EMO_F0_MAX_SEG) {
            emo_f0_close_segment(st, out, n_out);
            st->seg_continued = 1;
        }
    } else {
        emo_f0_close_segment(st, out, n_out);
        st->seg_continued = 0;
        emo_f0_emit(out, n_out, index, 0.0f, strength, energy_db, 0, NULL);
    }
}

static emo_status_t emo_f0_check_sample(float v)
{
    if (!(v - v == 0.0f)) { /* NaN or +-inf */
        return EMO_ERR_NONFINITE;
    }
    if (!(v >= -(float)EMO_F0_MAX_ABS && v <= (float)EMO_F0_MAX_ABS)) {
        return EMO_ERR_RANGE;
    }
    return EMO_OK;
}

emo_status_t emo_f0_push(emo_f0_state_t *st, const float *x, int32_t n,
                         emo_f0_frame_t *out, int32_t *n_out)
{
    int32_t i;
    float inv_dec, a;
    int use_hpf;

    if (st == NULL || out == NULL || n_out == NULL || (x == NULL && n > 0)) {
        return EMO_ERR_NULL;
    }
    inv_dec = 1.0f / (float)st->dec;
    a = st->hpf_a;
    use_hpf = st->p.hpf_hz > 0.0f;
    *n_out = 0;
    if (n < 0 || n > st->dec * st->hop) {
        return EMO_ERR_PARAM;
    }
    for (i = 0; i < n; i++) {
        emo_status_t s = emo_f0_check_sample(x[i]);
        if (s != EMO_OK) {
            return s;
        }
    }
    for (i = 0; i < n; i++) {
        float d, y;
        st->dec_sum += x[i];
        if (++st->dec_count < st->dec) {
            continue;
        }
        d = st->dec_sum * inv_dec;
        st->dec_sum = 0.0f;
        st->dec_count = 0;
        if (use_hpf) {
            if (!st->started) {
                st->hp1_x = d; /* start from the first sample: no DC step */
                st->started = 1;
            }
            y = (d - st->hp1_x) + a * st->hp1_y;
            st->hp1_x = d;
            st->hp1_y = y;
            d = (y - st->hp2_x) + a * st->hp2_y;
            st->hp2_x = y;
            st->hp2_y = d;
        }
        st->ring[st->ring_pos] = d;
        st->ring_pos = st->ring_pos + 1 == st->frame_len ? 0 : st->ring_pos + 1;
        if (st->filled < st->frame_len) {
            st->filled++;
            if (st->filled == st->frame_len) {
                emo_f0_frame(st, out, n_out);
            }
        } else if (++st->since_frame == st->hop) {
            st->since_frame = 0;
            emo_f0_frame(st, out, n_out);
        }
    }
    return EMO_OK;
}

emo_status_t emo_f0_flush(emo_f0_state_t *st, emo_f0_frame_t *out, int32_t *n_out)
{
    if (st == NULL || out == NULL || n_out == NULL) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    emo_f0_close_segment(st, out, n_out);
    st->seg_continued = 0;
    return EMO_OK;
}

emo_status_t emo_f0_analyze(emo_f0_state_t *st, const emo_f0_params_t *p,
                            const float *x, int64_t n,
                            emo_f0_frame_t *out, int32_t out_cap, int32_t *n_out)
{
    emo_f0_frame_t chunk[EMO_F0_OUT_MAX];
    emo_status_t s;
    int64_t pos;
    int32_t step, got, total = 0, need;

    if (st == NULL || p == NULL || x == NULL || out == NULL || n_out == NULL) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    s = emo_f0_init(st, p);
    if (s != EMO_OK) {
        return s;
    }
    need = emo_f0_num_frames(st, n);
    if (need == 0) {
        return EMO_ERR_SHORT;
    }
    if (out_cap < need) {
        return EMO_ERR_CAPACITY;
    }
    for (pos = 0; pos < n; pos++) {
        s = emo_f0_check_sample(x[pos]);
        if (s != EMO_OK) {
            return s;
        }
    }
    step = emo_f0_hop_samples(st);
    for (pos = 0; pos < n; pos += step) {
        int32_t len = (int32_t)(n - pos < step ? n - pos : step);
        s = emo_f0_push(st, x + pos, len, chunk, &got);
        if (s != EMO_OK) {
            return s;
        }
        memcpy(out + total, chunk, (size_t)got * sizeof(chunk[0]));
        total += got;
    }
    s = emo_f0_flush(st, chunk, &got);
    memcpy(out + total, chunk, (size_t)got * sizeof(chunk[0]));
    total += got;
    *n_out = total;
    return s;
}
