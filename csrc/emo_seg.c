/* emo_seg: F0 frames to utterances. See emo_seg.h; the specification is eggemo/core/seg.py
 * Segmenter. */
#include "emo_seg.h"

#include <string.h>

emo_status_t emo_seg_default_ms(emo_seg_ms_t *ms)
{
    if (ms == NULL) {
        return EMO_ERR_NULL;
    }
    ms->hop_ms = 10.0;
    ms->hangover_ms = 500.0;
    ms->preroll_ms = 300.0;
    ms->tail_ms = 200.0;
    ms->min_voiced_ms = 100.0;
    ms->max_ms = 10000.0;
    return EMO_OK;
}

/* Python's int(round(x_ms / hop_ms)) for x_ms >= 0: halves go to the even neighbour. A NaN or
 * an infinity (where Python raises) is refused, and so is a count beyond int32 unless `saturate`
 * (tail and min_voiced, which mean the same from hangover and EMO_SEG_MAX_FRAMES + 1 on). */
static emo_status_t emo_seg_frames(double x_ms, double hop_ms, int32_t saturate, int32_t *out)
{
    double x = x_ms / hop_ms;
    double d;
    int32_t t;

    if (!(x >= 0.0)) {
        return EMO_ERR_PARAM;
    }
    if (!(x < 2147483647.0)) {
        if (!saturate || x - x != 0.0) {
            return EMO_ERR_PARAM;
        }
        *out = 2147483647;
        return EMO_OK;
    }
    t = (int32_t)x;
    d = x - (double)t; /* exact: t <= x < t + 1 <= 2t, or t = 0 */
    if (d > 0.5 || (d == 0.5 && (t & 1) != 0)) {
        t++;
    }
    *out = t;
    return EMO_OK;
}

static emo_status_t emo_seg_check(const emo_seg_config_t *c)
{
    if (c->hangover < 1 || c->preroll < 0 || c->preroll > EMO_SEG_MAX_FRAMES - 1 || c->tail < 0 ||
        c->min_voiced < 0 || c->max_frames < c->hangover || c->max_frames > EMO_SEG_MAX_FRAMES) {
        return EMO_ERR_PARAM;
    }
    return EMO_OK;
}

emo_status_t emo_seg_config_from_ms(emo_seg_config_t *c, const emo_seg_ms_t *ms)
{
    emo_seg_config_t t;

    if (c == NULL || ms == NULL) {
        return EMO_ERR_NULL;
    }
    /* SegmenterConfig.__post_init__ (the NaNs it lets through fail in the rounding) */
    if (!(ms->hop_ms > 0.0) || ms->hangover_ms < 0.0 || ms->preroll_ms < 0.0 || ms->tail_ms < 0.0 ||
        ms->min_voiced_ms < 0.0 || ms->hangover_ms < ms->hop_ms || ms->max_ms < ms->hangover_ms) {
        return EMO_ERR_PARAM;
    }
    if (emo_seg_frames(ms->hangover_ms, ms->hop_ms, 0, &t.hangover) != EMO_OK ||
        emo_seg_frames(ms->preroll_ms, ms->hop_ms, 0, &t.preroll) != EMO_OK ||
        emo_seg_frames(ms->tail_ms, ms->hop_ms, 1, &t.tail) != EMO_OK ||
        emo_seg_frames(ms->min_voiced_ms, ms->hop_ms, 1, &t.min_voiced) != EMO_OK ||
        emo_seg_frames(ms->max_ms, ms->hop_ms, 0, &t.max_frames) != EMO_OK || emo_seg_check(&t) != EMO_OK) {
        return EMO_ERR_PARAM;
    }
    *c = t;
    return EMO_OK;
}

emo_status_t emo_seg_init(emo_seg_state_t *st, const emo_seg_config_t *c)
{
    if (st == NULL || c == NULL) {
        return EMO_ERR_NULL;
    }
    if (emo_seg_check(c) != EMO_OK) {
        return EMO_ERR_PARAM;
    }
    memset(st, 0, sizeof(*st));
    st->c = *c;
    st->tail = c->tail < c->hangover ? c->tail : c->hangover;
    st->min_voiced = c->min_voiced > 1 ? c->min_voiced : 1;
    st->last_voiced = -1;
    st->next = -1;
    return EMO_OK;
}

static void emo_seg_reverse(emo_f0_frame_t *a, int32_t n)
{
    int32_t i;
    for (i = 0; i < n / 2; i++) {
        emo_f0_frame_t t = a[i];
        a[i] = a[n - 1 - i];
        a[n - 1 - i] = t;
    }
}

/* Preroll (no utterance open): keep the last c.preroll frames, oldest at slot head. The ring
 * only wraps once full, so head is 0 whenever len < c.preroll. */
static void emo_seg_preroll_add(emo_seg_state_t *st, const emo_f0_frame_t *f)
{
    int32_t p = st->c.preroll;
    emo_f0_frame_t *ring = st->buf + st->base;

    if (p == 0) {
        return;
    }
    if (st->len < p) {
        ring[st->len++] = *f;
    } else {
        ring[st->head] = *f;
        st->head = st->head + 1 == p ? 0 : st->head + 1;
    }
}

/* Open an utterance on the preroll: put the ring in order from buf[base] (rotate by head). */
static void emo_seg_open(emo_seg_state_t *st)
{
    emo_f0_frame_t *ring = st->buf + st->base;

    if (st->head != 0) {
        emo_seg_reverse(ring, st->head);
        emo_seg_reverse(ring + st->head, st->len - st->head);
        emo_seg_reverse(ring, st->len);
        st->head = 0;
    }
    st->open = 1;
    st->n_voiced = 0;
}

/* Segmenter._close: hand out buf[base .. base+stop-1] (stop clipped to the length) unless it has
 * too little voicing; the frames after it become the preroll, which stays behind the utterance
 * until the next call moves it down. Returns 1 when utt was filled. */
static int32_t emo_seg_close(emo_seg_state_t *st, int32_t reason, int32_t stop, emo_seg_utt_t *utt)
{
    int32_t n = st->len, n_voiced = st->n_voiced;
    int32_t rest, keep;
    emo_f0_frame_t *cur = st->buf + st->base;

    if (stop > n) {
        stop = n;
    }
    rest = n - stop;
    keep = rest < st->c.preroll ? rest : st->c.preroll;
    st->open = 0;
    st->last_voiced = -1;
    st->n_voiced = 0;
    st->head = 0;
    st->len = keep;
    if (n_voiced < st->min_voiced) {
        st->dropped++;
        memmove(cur, cur + n - keep, (size_t)keep * sizeof(*cur));
        return 0;
    }
    utt->frames = cur;
    utt->n = stop;
    utt->first = cur[0].index;
    utt->n_voiced = n_voiced;
    utt->reason = reason;
    st->base += n - keep;
    return 1;
}

/* Move what lives behind the utterance handed out last (preroll or open utterance) to buf[0]. */
static void emo_seg_compact(emo_seg_state_t *st)
{
    if (st->base != 0) {
        memmove(st->buf, st->buf + st->base, (size_t)st->len * sizeof(st->buf[0]));
        st->base = 0;
    }
}

/* Segmenter.end after the close: forget the preroll and the expected index. */
static void emo_seg_forget(emo_seg_state_t *st)
{
    st->len = 0;
    st->head = 0;
    st->next = -1;
}

emo_status_t emo_seg_push(emo_seg_state_t *st, const emo_f0_frame_t *frame, emo_seg_utt_t *utt,
                          int32_t *got)
{
    emo_f0_frame_t f;

    if (st == NULL || frame == NULL || utt == NULL || got == NULL) {
        return EMO_ERR_NULL;
    }
    *got = 0;
    emo_seg_compact(st);
    f = *frame;
    f.voiced = f.voiced != 0;
    if (st->next >= 0 && (int64_t)f.index != st->next) {
        if (st->open) {
            *got = emo_seg_close(st, (int64_t)f.index < st->next ? EMO_SEG_RESTART : EMO_SEG_GAP,
                                 st->last_voiced + 1 + st->tail, utt);
        }
        emo_seg_forget(st);
    }
    st->next = (int64_t)f.index + 1;
    /* After a close above this frame starts at most a one-frame utterance, which stays open:
     * max_frames = 1 closes every utterance in the push that opens it, so none was open. */
    if (f.voiced) {
        if (!st->open) {
            emo_seg_open(st);
        }
        st->buf[st->base + st->len] = f;
        st->last_voiced = st->len++;
        st->n_voiced++;
    } else if (!st->open) {
        emo_seg_preroll_add(st, &f);
        return EMO_OK;
    } else {
        st->buf[st->base + st->len++] = f;
        if (st->len - 1 - st->last_voiced >= st->c.hangover) {
            *got = emo_seg_close(st, EMO_SEG_HANGOVER, st->last_voiced + 1 + st->tail, utt);
            return EMO_OK;
        }
    }
    if (st->len >= st->c.max_frames) {
        *got = emo_seg_close(st, EMO_SEG_MAX_LENGTH, st->len, utt);
    }
    return EMO_OK;
}

emo_status_t emo_seg_end(emo_seg_state_t *st, int32_t reason, emo_seg_utt_t *utt, int32_t *got)
{
    if (st == NULL || utt == NULL || got == NULL) {
        return EMO_ERR_NULL;
    }
    *got = 0;
    if (reason < EMO_SEG_HANGOVER || reason > EMO_SEG_RESTART) {
        return EMO_ERR_PARAM;
    }
    emo_seg_compact(st);
    if (st->open) {
        *got = emo_seg_close(st, reason, st->last_voiced + 1 + st->tail, utt);
    }
    emo_seg_forget(st);
    return EMO_OK;
}
