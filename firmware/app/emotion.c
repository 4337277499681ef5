/* The board's own classifier: segmenter -> features -> int8 or 16x8 student -> EMOTION payload (emotion.h). */
#include "emotion.h"

#include <string.h>

#include "board.h"
#include "emo_feat.h"
#include "emo_model.h"
#include "emo_nn.h"
#include "emo_proto.h"
#include "emo_seg.h"

/* An int8 model, or a 16x8 one (int16 activations and scores: `eggemo export --activations int16`).
 * A 16x8 model's label is its int16 scores' argmax; the EMOTION frame carries them narrowed to int8
 * (emo_nn_narrow16), so the protocol is the same for both. */
#if !defined(EMO_MODEL_BITS) || EMO_MODEL_BITS == 8
typedef int8_t emo_act_t;
#define QUANTIZE_INPUT emo_feat_quantize
#elif EMO_MODEL_BITS == 16
typedef int16_t emo_act_t;
#define QUANTIZE_INPUT emo_feat_quantize16
#else
#error "emo_model.h: EMO_MODEL_BITS must be 8 (int8) or 16 (16x8)"
#endif
#if EMO_MODEL_N_CLASSES > EMO_PROTO_EMOTION_CLASSES
#error "the model has more classes than an EMOTION frame carries (EMO_PROTO_EMOTION_CLASSES)"
#endif

#define FEAT_FLOATS (EMO_MODEL_FRAMES * EMO_MODEL_CHANNELS)
#define WORK_BYTES (EMO_MODEL_SCRATCH_BYTES > 4 * FEAT_FLOATS ? EMO_MODEL_SCRATCH_BYTES : 4 * FEAT_FLOATS)

/* On the chip the two large buffers live in the 64 KiB CCM (boards/stm32f405/board.toml; not zeroed
 * at reset: emotion_start() initialises the segmenter, and the work buffer is written before it is
 * read), leaving the SRAM to the F0 core and the rings; QEMU has no CCM. */
#ifdef EMO_BOARD_CCM
#define EMO_APP_CCM __attribute__((section(".ccm.emotion")))
#else
#define EMO_APP_CCM
#endif

/* The float features are built in the model's scratch before the model runs: one buffer. */
static union {
    float features[WORK_BYTES / 4 + 1];
    uint8_t scratch[WORK_BYTES + 4];
} work EMO_APP_CCM;
static emo_seg_state_t seg EMO_APP_CCM;           /* ~32 KB: the longest utterance */
static emo_feat_norm_t norm;
static int32_t norm_mode = EMO_MODEL_NORM;       /* what START sets norm up with (SET_NORM) */
static emo_feat_stats_t norm_fixed;              /* its statistics in EMO_FEAT_NORM_FIXED */
static emo_act_t input[EMO_MODEL_INPUT_LEN];
static uint32_t classified;

/* Classify one closed utterance into msg; returns 1 when msg holds an EMOTION payload to send. */
static int32_t classify(const emo_seg_utt_t *u, emotion_msg_t *msg)
{
    emo_feat_stats_t st;
    emo_proto_emotion_t e;
    emo_act_t scores[EMO_MODEL_N_CLASSES];
    uint64_t t0 = board_ticks();

    memset(&e, 0, sizeof(e));
    if (emo_feat_norm_stats(&norm, u->frames, u->n, &st) != EMO_OK ||
        emo_feat_build(u->frames, u->n, &st, emo_model_channels, EMO_MODEL_CHANNELS, EMO_MODEL_FRAMES,
                       EMO_MODEL_CROP, work.features, FEAT_FLOATS) != EMO_OK ||
        QUANTIZE_INPUT(work.features, FEAT_FLOATS, emo_model_input_scale, EMO_MODEL_INPUT_ZERO_POINT, input)
            != EMO_OK) {
        return 0; /* only a programming error gets here: every size is fixed at build time */
    }
#ifdef EMO_APP_COST_MODEL_ONLY
    t0 = board_ticks(); /* benchmarks/bench_board_model.py: the model's share of the cost */
#endif
    if (emo_model_run(input, scores, work.scratch) != EMO_OK) {
        return 0; /* only a programming error gets here: every size is fixed at build time */
    }
    e.cost = board_cost(board_ticks() - t0);
    e.first = u->first;
    e.last = u->first + (uint32_t)u->n - 1u;
    e.n_voiced = (uint16_t)(u->n_voiced > 65535 ? 65535 : u->n_voiced);
    e.reason = (uint8_t)u->reason;
#if defined(EMO_MODEL_BITS) && EMO_MODEL_BITS == 16
    e.label = (uint8_t)emo_nn_argmax16(scores, EMO_MODEL_N_CLASSES);
    emo_nn_narrow16(scores, EMO_MODEL_N_CLASSES, e.scores);
#else
    e.label = (uint8_t)emo_nn_argmax(scores, EMO_MODEL_N_CLASSES);
    memcpy(e.scores, scores, sizeof(scores));
#endif
    e.model_id = EMO_MODEL_ID;
    e.mu = (float)st.mu;
    e.sigma = (float)st.sigma;
    e.n_classes = EMO_MODEL_N_CLASSES;
    if (emo_proto_pack_emotion(&e, msg->payload, (int32_t)sizeof(msg->payload), &msg->len) != EMO_OK) {
        return 0;
    }
    classified++;
    return 1;
}

emo_status_t emotion_set_norm(int32_t mode, const emo_feat_stats_t *fixed)
{
    emo_feat_norm_t st;
    emo_status_t s = emo_feat_norm_init(&st, mode, fixed); /* checks the mode and the statistics */
    if (s == EMO_OK) {
        norm_mode = mode;
        if (fixed != NULL) {
            norm_fixed = *fixed;
        }
    }
    return s;
}

void emotion_start(void)
{
    emo_seg_ms_t ms;
    emo_seg_config_t c;
    emo_seg_default_ms(&ms);
    emo_seg_config_from_ms(&c, &ms);
    emo_seg_init(&seg, &c);
    /* fresh session sums; a fixed setting stays (it passed the same call in emotion_set_norm) */
    emo_feat_norm_init(&norm, norm_mode, norm_mode == EMO_FEAT_NORM_FIXED ? &norm_fixed : NULL);
    classified = 0;
}

int32_t emotion_push(const emo_f0_frame_t *frame, emotion_msg_t *msg)
{
    int32_t got = 0;
    emo_seg_utt_t u;
    if (emo_seg_push(&seg, frame, &u, &got) != EMO_OK || !got) {
        return 0;
    }
    return classify(&u, msg);
}

int32_t emotion_stop(emotion_msg_t *msg)
{
    int32_t got = 0;
    emo_seg_utt_t u;
    if (emo_seg_end(&seg, EMO_SEG_STREAM_END, &u, &got) != EMO_OK || !got) {
        return 0;
    }
    return classify(&u, msg);
}

uint32_t emotion_classified(void)
{
    return classified;
}
