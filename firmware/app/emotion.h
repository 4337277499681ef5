/*
 * emotion.h: the board's own classifier (built when the firmware has a model: MODEL=dir).
 *
 * Every F0 frame the board releases goes through the host's segmenter rules (csrc/emo_seg.c);
 * at the end of each utterance the student's input is built from its frames and normalised as
 * the model was trained, or with the statistics the host set (emotion_set_norm, the SET_NORM
 * command) (csrc/emo_feat.c), quantised, and the int8 student runs
 * (the generated emo_model.c over csrc/emo_nn.c; int8 or 16x8 by EMO_MODEL_BITS). The result is an
 * EMOTION payload (docs/protocol.md) that the caller sends: the same bytes the host's inference gives
 * for the same frames. This module never sends anything itself, so it depends on the board's clock
 * (board.h) and the C core only, not on the application that drives it (app.c).
 */
#ifndef EMO_APP_EMOTION_H
#define EMO_APP_EMOTION_H

#include <stdint.h>
#include "emo_common.h"
#include "emo_f0.h"
#include "emo_feat.h"
#include "emo_proto.h"

/* One EMOTION frame's payload, ready for the caller to send. */
typedef struct {
    uint8_t payload[EMO_PROTO_EMOTION_MAX];
    int32_t len;
} emotion_msg_t;

/*
 * Where each utterance's normalisation statistics come from, from the next START on (the host's
 * SET_NORM): mode is an emo_feat_norm_mode_t; fixed holds the statistics in EMO_FEAT_NORM_FIXED
 * and is NULL otherwise. Until it is called the board uses the mode the model was exported with
 * (EMO_MODEL_NORM). The setting stays for every later stream. Errors (the setting is unchanged):
 * EMO_ERR_PARAM (an unknown mode, fixed statistics not finite or a sigma <= 0, fixed given for
 * another mode), EMO_ERR_NULL (fixed mode without statistics).
 */
emo_status_t emotion_set_norm(int32_t mode, const emo_feat_stats_t *fixed);

/* Start a stream: the segmenter restarts, and so do the session statistics (a fixed setting stays). */
void emotion_start(void);

/* One F0 frame just released, in index order. Returns 1 when it closed an utterance and msg holds
 * its EMOTION payload to send; 0 otherwise (msg untouched). */
int32_t emotion_push(const emo_f0_frame_t *frame, emotion_msg_t *msg);

/* The stream stopped: the open utterance closes (reason stream_end). Returns 1 when msg holds its
 * EMOTION payload to send. */
int32_t emotion_stop(emotion_msg_t *msg);

/* Utterances classified and dropped (too little voicing) this stream. */
uint32_t emotion_classified(void);

#endif /* EMO_APP_EMOTION_H */
