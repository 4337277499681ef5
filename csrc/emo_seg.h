/*
 * emo_seg: F0 frames to utterances, on the board as on the host.
 *
 * The C twin of eggemo/core/seg.py Segmenter and SegmenterConfig (eggemo.core.seg), which
 * are its specification; tests/core/test_seg_parity.py holds the two identical.
 *
 * Frames (emo_f0_frame_t, as emo_f0_push releases them) come in index order, one per
 * emo_seg_push(). An utterance starts at a voiced frame, with up to `preroll` unvoiced frames
 * before it, and ends when `hangover` frames pass without voicing; it keeps `tail` frames of
 * that silence, and the frames after the tail go back into the preroll. Pauses shorter than
 * the hangover stay inside. An utterance that reaches `max_frames` is closed there (when the
 * preroll alone fills it, it closes at its first voiced frame, preroll + 1 frames long).
 * Utterances with fewer than `min_voiced` voiced frames are dropped and counted in `dropped`.
 * An index jump closes the open utterance (EMO_SEG_GAP forward, EMO_SEG_RESTART back) and
 * forgets the preroll, as does emo_seg_end() at the end of a stream.
 *
 * One push closes at most one utterance (a jump closes the open one; the frame after it then
 * starts a new utterance of one frame, which max_frames >= 2 keeps open and max_frames = 1
 * leaves nothing open to jump from). Its frames are handed back as a pointer into the state's
 * own buffer, valid until the next emo_seg_push() or emo_seg_end() on that state.
 *
 * Sizes are in frames, independent of the hop; emo_seg_config_from_ms() converts the host's
 * milliseconds exactly as SegmenterConfig.frames() rounds them (ms / hop_ms in double
 * precision, halves to even).
 */
#ifndef EMO_SEG_H
#define EMO_SEG_H

#include <stdint.h>
#include "emo_common.h"
#include "emo_f0.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EMO_SEG_MAX_FRAMES 1000      /* longest utterance and preroll + 1, frames (10 s at 10 ms) */

/* Why an utterance ended (the EMOTION frame's reason byte). The host's "link_lost" has no code. */
typedef enum {
    EMO_SEG_HANGOVER = 1,    /* hangover frames passed without voicing */
    EMO_SEG_MAX_LENGTH = 2,  /* it reached max_frames */
    EMO_SEG_STREAM_END = 3,  /* emo_seg_end(): the stream stopped */
    EMO_SEG_GAP = 4,         /* the frame index jumped forward */
    EMO_SEG_RESTART = 5      /* the frame index went back */
} emo_seg_reason_t;

/* Segmenter sizes in frames (SegmenterConfig in hops). */
typedef struct {
    int32_t hangover;        /* unvoiced frames that close an utterance, >= 1 */
    int32_t preroll;         /* unvoiced frames kept before an utterance, 0..EMO_SEG_MAX_FRAMES-1 */
    int32_t tail;            /* frames of the closing silence kept, >= 0 (at most hangover count) */
    int32_t min_voiced;      /* fewer voiced frames drop the utterance, >= 0 (0 counts as 1) */
    int32_t max_frames;      /* an utterance this long is closed, hangover..EMO_SEG_MAX_FRAMES */
} emo_seg_config_t;

/* Segmenter sizes in milliseconds: the fields of the host's SegmenterConfig. */
typedef struct {
    double hop_ms;           /* F0 hop, > 0; default 10 */
    double hangover_ms;      /* >= hop_ms; default 500 */
    double preroll_ms;       /* >= 0; default 300 */
    double tail_ms;          /* >= 0; default 200 */
    double min_voiced_ms;    /* >= 0; default 100 */
    double max_ms;           /* >= hangover_ms; default 10000 */
} emo_seg_ms_t;

/* A closed utterance. frames points into the state and stays valid until its next push or end. */
typedef struct {
    const emo_f0_frame_t *frames; /* its frames, in index order */
    int32_t n;               /* number of frames, 1..EMO_SEG_MAX_FRAMES */
    uint32_t first;          /* index of its first frame (frames[0].index) */
    int32_t n_voiced;        /* voiced frames in it */
    int32_t reason;          /* emo_seg_reason_t */
} emo_seg_utt_t;

/* Caller-owned segmenter state (about 32 KB). Initialise with emo_seg_init(). */
typedef struct {
    emo_seg_config_t c;      /* as given */
    int32_t tail;            /* min(c.tail, c.hangover) */
    int32_t min_voiced;      /* max(c.min_voiced, 1) */
    /* buf[base ..] holds the open utterance (open = 1, len frames) or else the preroll, a ring
     * of len frames starting at slot head of c.preroll slots; buf[0 .. base-1] is the utterance
     * handed out by the last call, moved over at the start of the next */
    emo_f0_frame_t buf[EMO_SEG_MAX_FRAMES];
    int32_t base;
    int32_t len;
    int32_t head;
    int32_t open;            /* 1 while an utterance is open */
    int32_t last_voiced;     /* position of its last voiced frame in it */
    int32_t n_voiced;        /* its voiced frames */
    int64_t next;            /* index expected next, -1 at the start of a stream */
    uint32_t dropped;        /* utterances dropped for too little voicing, since init */
} emo_seg_state_t;

/* Fill ms with the host's SegmenterConfig defaults. Errors: EMO_ERR_NULL. */
emo_status_t emo_seg_default_ms(emo_seg_ms_t *ms);

/*
 * Frames from milliseconds as SegmenterConfig.frames() rounds them: round(x_ms / hop_ms), halves
 * to even; a tail or min_voiced beyond int32 saturates at INT32_MAX. Errors: EMO_ERR_NULL;
 * EMO_ERR_PARAM where SegmenterConfig or Segmenter raise (hop_ms not > 0, a negative or
 * non-finite value, hangover_ms < hop_ms, max_ms < hangover_ms) and where the result does not
 * fit EMO_SEG_MAX_FRAMES (max over 10 s or a preroll of 10 s or more at 10 ms), which the
 * host accepts.
 */
emo_status_t emo_seg_config_from_ms(emo_seg_config_t *c, const emo_seg_ms_t *ms);

/* Check c and start st with an empty stream. Errors: EMO_ERR_NULL, EMO_ERR_PARAM. */
emo_status_t emo_seg_init(emo_seg_state_t *st, const emo_seg_config_t *c);

/*
 * Feed the next frame. When an utterance closes (and is not dropped), *got is 1 and utt
 * describes it; otherwise *got is 0. Errors: EMO_ERR_NULL.
 */
emo_status_t emo_seg_push(emo_seg_state_t *st, const emo_f0_frame_t *frame, emo_seg_utt_t *utt,
                          int32_t *got);

/*
 * Close the open utterance now with `reason` (EMO_SEG_STREAM_END at the end of a stream) and
 * forget the preroll; the next frame starts a new stream. *got and utt as emo_seg_push().
 * Errors: EMO_ERR_NULL, EMO_ERR_PARAM (reason not an emo_seg_reason_t).
 */
emo_status_t emo_seg_end(emo_seg_state_t *st, int32_t reason, emo_seg_utt_t *utt, int32_t *got);

#ifdef __cplusplus
}
#endif

#endif /* EMO_SEG_H */
