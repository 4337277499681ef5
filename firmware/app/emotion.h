/*
 * emotion.h: the board's own classifier (built when the firmware has a model: MODEL=dir).
 *
 * Every F0 frame the board releases goes through the host's segmenter rules (csrc/emo_seg.c);
 * at the end of each utterance the student's input is built from its frames and normalised as
 * the model was trained, or with the statistics the host set (emotion_set_norm, the SET_NORM
 * command) (csrc/emo_feat.c), quantised, and the int8 student runs
 * (the generated emo_model.c over csrc/emo_nn.c). The result goes out as an EMOTION frame
 * (docs/protocol.md): the same bytes the host's int8 inference gives for the same frames.
 */
#ifndef EMO_APP_EMOTION_H
#define EMO_APP_EMOTION_H

#include <stdint.h>
#include "emo_common.h"
#include "emo_f0.h"
#include "emo_feat.h"

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

/* The F0 frames just released, in index order; sends an EMOTION for each closed utterance. */
void emotion_frames(const emo_f0_frame_t *frames, int32_t n);

/* The stream stopped: the open utterance closes (reason stream_end) and is classified. */
void emotion_stop(void);

/* Utterances classified and dropped (too little voicing) this stream. */
uint32_t emotion_classified(void);

#endif /* EMO_APP_EMOTION_H */
