/*
 * emotion.h: the board's own classifier (built when the firmware has a model: MODEL=dir).
 *
 * Every F0 frame the board releases goes through the host's segmenter rules (csrc/emo_seg.c);
 * at the end of each utterance the student's input is built from its frames and normalised as
 * the model was trained (csrc/emo_feat.c), quantised, and the int8 student runs
 * (the generated emo_model.c over csrc/emo_nn.c). The result goes out as an EMOTION frame
 * (docs/protocol.md): the same bytes the host's int8 inference gives for the same frames.
 */
#ifndef EMO_APP_EMOTION_H
#define EMO_APP_EMOTION_H

#include <stdint.h>
#include "emo_f0.h"

/* Start a stream: the segmenter and the session statistics restart. */
void emotion_start(void);

/* The F0 frames just released, in index order; sends an EMOTION for each closed utterance. */
void emotion_frames(const emo_f0_frame_t *frames, int32_t n);

/* The stream stopped: the open utterance closes (reason stream_end) and is classified. */
void emotion_stop(void);

/* Utterances classified and dropped (too little voicing) this stream. */
uint32_t emotion_classified(void);

#endif /* EMO_APP_EMOTION_H */
