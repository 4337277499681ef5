/*
 * emo_proto: the serial protocol between the wearable and the host.
 *
 * docs/protocol.md is the specification; eggemo/core/proto.py (eggemo.core.proto)
 * is the pure-Python twin of this code and the parity tests hold the two
 * identical. Summary:
 *
 *   frame   = version:u8 | type:u8 | seq:u16 | payload:0..EMO_PROTO_MAX_PAYLOAD | crc:u16
 *   on wire = COBS(frame) | 0x00
 *
 * Multi-byte fields are little-endian. The CRC is CRC-16/CCITT-FALSE (also
 * called CRC-16/IBM-3740): polynomial 0x1021, initial value 0xFFFF, no input
 * or output reflection, no final XOR; check value 0x29B1 for "123456789". It
 * covers version, type, seq and payload.
 *
 * The decoder is streaming and byte oriented: garbage, truncated or corrupted
 * frames are counted and dropped, and decoding resynchronises at the next
 * 0x00 delimiter. No malloc; every state is caller-owned.
 */
#ifndef EMO_PROTO_H
#define EMO_PROTO_H

#include <stdint.h>
#include "emo_common.h"
#include "emo_f0.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EMO_PROTO_VERSION 2          /* version byte of every frame (2: F0 records carry cq, jitter, shimmer) */
#define EMO_PROTO_HEADER 4           /* version, type, seq (2) */
#define EMO_PROTO_CRC_LEN 2          /* CRC-16, little-endian, after the payload */
#define EMO_PROTO_MAX_PAYLOAD 1024   /* longest payload, bytes */
#define EMO_PROTO_MAX_FRAME 1030     /* header + longest payload + CRC, bytes */
#define EMO_PROTO_MAX_ENCODED 1036   /* COBS of the longest frame plus the 0x00 delimiter */
#define EMO_PROTO_CRC_INIT 65535     /* CRC-16/CCITT-FALSE initial value 0xFFFF */
#define EMO_PROTO_CRC_POLY 4129      /* polynomial 0x1021 (x^16 + x^12 + x^5 + 1), not reflected */

/* Frame types, board -> host (0x01..0x7F). */
#define EMO_MSG_HELLO 1              /* emo_proto_hello_t, EMO_PROTO_HELLO_LEN bytes */
#define EMO_MSG_RAW 2                /* first sample index u32, then int16 samples */
#define EMO_MSG_F0 3                 /* 1..EMO_PROTO_F0_PER_FRAME records of EMO_PROTO_F0_RECORD bytes */
#define EMO_MSG_STATUS 4             /* emo_proto_status_t, EMO_PROTO_STATUS_LEN bytes */
#define EMO_MSG_ACK 5                /* command type u8, command seq u16, status i8 */
#define EMO_MSG_EMOTION 6            /* emo_proto_emotion_t, EMO_PROTO_EMOTION_HEAD + n_classes bytes */
#define EMO_MSG_NACK 7               /* a refused command and why: an ACK and a reason u8 (EMO_NACK_*) */
/* Frame types, host -> board (0x80..0xFF). */
#define EMO_CMD_START 129            /* 0x81, no payload: start a new stream */
#define EMO_CMD_STOP 130             /* 0x82, no payload: stop, flush F0, send status */
#define EMO_CMD_SET_MODE 131         /* 0x83, mode u8: EMO_MODE_RAW | EMO_MODE_F0 */
#define EMO_CMD_SET_RATE 132         /* 0x84, sample rate u32, Hz: 8000 or 16000 */
#define EMO_CMD_REPLAY 133           /* 0x85, first sample index u32, then int16 samples */
#define EMO_CMD_GET_STATUS 134       /* 0x86, no payload: answered by a STATUS frame */
#define EMO_CMD_GET_HELLO 135        /* 0x87, no payload: answered by a HELLO frame */
#define EMO_CMD_EXIT 136             /* 0x88, exit code i32: semihosting exit (emulator) */
#define EMO_CMD_STALL 137            /* 0x89, bytes u32: test hook, main loop stops reading */
#define EMO_CMD_SET_NORM 138         /* 0x8A, emo_proto_set_norm_t: the model's normalisation statistics */

/* Stream modes (bit mask of EMO_CMD_SET_MODE). */
#define EMO_MODE_RAW 1
#define EMO_MODE_F0 2
#define EMO_MODE_REPLAY 4            /* with RAW and/or F0: the samples come as REPLAY frames (a board with
                                      * an ADC leaves it off); not reported in HELLO's mode */

/* Boards (HELLO board): each board's id is the `id` of its firmware/boards/<board>/board.toml,
 * compiled into its firmware as EMO_BOARD_ID and read by the host from the same file. */

/* Unit of the hop cost in STATUS (HELLO cost_unit). */
#define EMO_COST_CYCLES 0            /* CPU clock cycles (SysTick on the chip) */
#define EMO_COST_INSTRUCTIONS 1      /* instructions (QEMU -icount shift=0) */

/* HELLO flags. */
/* bit 0: the board's clock did not come up as designed (crystal or PLL never ready); it runs on
 * its fallback clock */
#define EMO_HELLO_FLAG_CLOCK_FALLBACK 1
#define EMO_HELLO_FLAG_MODEL 2      /* bit 1: the board runs the student and sends EMOTION frames */

#define EMO_PROTO_HELLO_LEN 20       /* HELLO payload, bytes */
#define EMO_PROTO_STATUS_FIELDS 17   /* u32 fields of a STATUS payload */
#define EMO_PROTO_STATUS_LEN 68      /* STATUS payload, bytes */
#define EMO_PROTO_ACK_LEN 4          /* ACK payload, bytes */
#define EMO_PROTO_NACK_LEN 5         /* NACK payload: command u8, seq u16, status i8, reason u8 */
/* F0 record: index u32, f0 f32, periodicity f32, energy f32, voiced u8, cq f32, jitter f32,
 * shimmer f32, packed (29 bytes, so the floats after voiced sit at odd offsets). */
#define EMO_PROTO_F0_RECORD 29       /* bytes of one F0 record */
#define EMO_PROTO_F0_PER_FRAME 35    /* F0 records in one frame (35 * 29 <= 1024) */
#define EMO_PROTO_RAW_MAX 510        /* int16 samples in one RAW or REPLAY frame */
#define EMO_PROTO_EMOTION_HEAD 29    /* EMOTION payload before its n_classes int8 scores, bytes */
#define EMO_PROTO_EMOTION_CLASSES 16 /* most classes (scores) in one EMOTION */
#define EMO_PROTO_EMOTION_MAX 45     /* longest EMOTION payload (29 + 16), bytes */
#define EMO_PROTO_SET_NORM_LEN 1     /* SET_NORM payload in utterance or session mode: the mode byte */
#define EMO_PROTO_SET_NORM_FIXED_LEN 33  /* SET_NORM payload in fixed mode: mode, then 4 f64 */

/* Why the board refused a command (NACK reason): SET_NORM's, checked in this order. */
#define EMO_NACK_NO_MODEL 1          /* the firmware carries no model (status EMO_ERR_UNSUPPORTED) */
#define EMO_NACK_LENGTH 2            /* the payload length does not fit the mode (EMO_ERR_FORMAT) */
#define EMO_NACK_MODE 3              /* an unknown normalisation mode (EMO_ERR_PARAM) */
#define EMO_NACK_MU 4                /* fixed mu outside EMO_PROTO_NORM_MU_MIN..MAX (EMO_ERR_PARAM) */
#define EMO_NACK_SIGMA 5             /* fixed sigma outside EMO_PROTO_NORM_SIGMA_MIN..MAX (EMO_ERR_PARAM) */
#define EMO_NACK_E_MU 6              /* fixed e_mu outside EMO_PROTO_NORM_E_MU_MIN..MAX (EMO_ERR_PARAM) */
#define EMO_NACK_E_SIGMA 7           /* fixed e_sigma outside EMO_PROTO_NORM_E_SIGMA_MIN..MAX (EMO_ERR_PARAM) */
#define EMO_NACK_STREAMING 8         /* only while stopped (EMO_ERR_STATE) */

/* Ranges of the normalisation statistics (docs/protocol.md "Ranges"; eggemo/core/proto.py NORM_RANGES has
 * the same doubles). A mean of ln F0 lies within the voiced F0 range 40..650 Hz, which the F0 core's
 * 50..500 Hz search cannot leave; a standard deviation of values in [a, b] is at most (b - a) / 2; the
 * floors are emo_feat's. Energies are dB re full scale: -120 is silence, +12.04 the most an int16
 * signal reaches after the F0 core's two high-passes. SET_NORM's f64 and EMOTION's f32 (compared in
 * f32) must lie within them, NaN never does: the board refuses what it could not classify with. */
#define EMO_PROTO_NORM_MU_MIN 3.6888794541139363      /* ln 40 */
#define EMO_PROTO_NORM_MU_MAX 6.476972362889683       /* ln 650 */
#define EMO_PROTO_NORM_SIGMA_MIN 0.05                 /* EMO_FEAT_SIGMA_FLOOR */
#define EMO_PROTO_NORM_SIGMA_MAX ((EMO_PROTO_NORM_MU_MAX - EMO_PROTO_NORM_MU_MIN) / 2.0)
#define EMO_PROTO_NORM_E_MU_MIN (-121.0)
#define EMO_PROTO_NORM_E_MU_MAX 13.0
#define EMO_PROTO_NORM_E_SIGMA_MIN 1.0                /* EMO_FEAT_ENERGY_SIGMA_FLOOR */
#define EMO_PROTO_NORM_E_SIGMA_MAX ((EMO_PROTO_NORM_E_MU_MAX - EMO_PROTO_NORM_E_MU_MIN) / 2.0)
#define EMO_PROTO_UTTERANCE_MAX 1000 /* most frames of one EMOTION's utterance (EMO_SEG_MAX_FRAMES) */

/* HELLO payload (little-endian on the wire, in this order). */
typedef struct {
    uint8_t fw_major, fw_minor, fw_patch;
    uint8_t board;               /* the board.toml id (EMO_BOARD_ID) */
    uint32_t fs;                 /* sample rate, Hz */
    uint16_t f0_hop_samples;     /* input samples between F0 frames */
    uint16_t f0_frame_samples;   /* input samples in one F0 analysis frame */
    uint8_t mode;                /* EMO_MODE_* mask */
    uint8_t streaming;           /* 1 between START and STOP */
    uint8_t cost_unit;           /* EMO_COST_* */
    uint8_t flags;               /* EMO_HELLO_FLAG_* bits */
    uint32_t cpu_hz;             /* core clock, Hz */
} emo_proto_hello_t;

/* STATUS payload: EMO_PROTO_STATUS_FIELDS u32 values in this order. */
typedef struct {
    uint32_t uptime_ms;          /* since reset */
    uint32_t samples_in;         /* samples accepted into the sample ring this stream */
    uint32_t samples_dropped;    /* samples lost because the sample ring was full */
    uint32_t samples_lost;       /* samples missing from the replay (gaps in its sample index) */
    uint32_t rx_bytes;           /* bytes the USART received */
    uint32_t rx_overflows;       /* received bytes dropped because the RX ring was full */
    uint32_t frames_ok;          /* host frames that passed COBS, CRC and version checks */
    uint32_t crc_errors;         /* host frames with a CRC mismatch */
    uint32_t format_errors;      /* host frames malformed (COBS, length, version) */
    uint32_t seq_lost;           /* host frames missing by sequence number */
    uint32_t cmd_rejected;       /* valid frames refused (unknown type, bad payload, state) */
    uint32_t hops;               /* F0 hops analysed this stream */
    uint32_t hop_cost_last;      /* F0 cost of the last hop (cost_unit) */
    uint32_t hop_cost_max;       /* largest F0 cost of one hop this stream */
    uint32_t hop_cost_mean;      /* mean F0 cost per hop this stream */
    uint32_t tx_frames;          /* frames sent since reset */
    uint32_t f0_sent;            /* F0 records sent this stream */
} emo_proto_status_t;

/*
 * EMOTION payload: one classified utterance (little-endian on the wire, packed, in this order;
 * the scores follow n_classes). An utterance has at least one frame and one voiced frame.
 */
typedef struct {
    uint32_t first;              /* index of the utterance's first F0 frame */
    uint32_t last;               /* index of its last F0 frame, first .. first + EMO_PROTO_UTTERANCE_MAX - 1 */
    uint16_t n_voiced;           /* its voiced frames, 1 .. last - first + 1 */
    uint8_t reason;              /* why it ended: emo_seg_reason_t, EMO_SEG_HANGOVER..EMO_SEG_RESTART */
    uint8_t label;               /* argmax class index, < n_classes */
    uint32_t model_id;           /* bytes 0..3 of the SHA-256 of the model's .tflite, as a u32 LE */
    uint32_t cost;               /* features + inference cost, in the HELLO cost_unit */
    float mu;                    /* mean of ln F0 the utterance was normalised with, in NORM_MU_MIN..MAX */
    float sigma;                 /* its standard deviation, in NORM_SIGMA_MIN..MAX */
    uint8_t n_classes;           /* 1..EMO_PROTO_EMOTION_CLASSES */
    int8_t scores[EMO_PROTO_EMOTION_CLASSES]; /* the model's int8 output (a 16x8 model's narrowed:
                                                 * emo_nn_narrow16), n_classes of them */
} emo_proto_emotion_t;

/*
 * SET_NORM payload (host -> board): where the board's classifier takes the statistics each
 * utterance is normalised with. mode is an emo_feat_norm_mode_t (csrc/emo_feat.h): 0 utterance,
 * 1 session, 2 fixed. Fixed mode carries the statistics, little-endian IEEE-754 binary64 in this
 * order after the mode byte (EMO_PROTO_SET_NORM_FIXED_LEN bytes); the other modes send the mode
 * byte alone (EMO_PROTO_SET_NORM_LEN) and their four values are 0 here.
 */
typedef struct {
    uint8_t mode;                /* emo_feat_norm_mode_t: 0 utterance, 1 session, 2 fixed */
    double mu;                   /* fixed: mean of ln F0 (Hz) over voiced frames, NORM_MU_MIN..MAX */
    double sigma;                /* fixed: its standard deviation, NORM_SIGMA_MIN..MAX */
    double e_mu;                 /* fixed: mean energy_db of the same frames, NORM_E_MU_MIN..MAX */
    double e_sigma;              /* fixed: its standard deviation, NORM_E_SIGMA_MIN..MAX */
} emo_proto_set_norm_t;

/* A decoded frame. payload points into the decoder and stays valid until the
 * next emo_proto_feed() call on it. */
typedef struct {
    uint8_t version;
    uint8_t type;
    uint16_t seq;
    int32_t len;                 /* payload length, bytes */
    const uint8_t *payload;
} emo_proto_frame_t;

/* Streaming decoder state and its counters. Initialise with emo_proto_decoder_init(). */
typedef struct {
    uint8_t buf[EMO_PROTO_MAX_FRAME]; /* the frame being decoded */
    int32_t len;                 /* decoded bytes in buf */
    int32_t seen;                /* bytes since the last delimiter */
    int32_t left;                /* data bytes left in the current COBS block */
    int32_t code;                /* code byte of the current COBS block */
    int32_t too_long;            /* 1 when the frame outgrew buf */
    int32_t have_seq;            /* 1 once a valid frame set the expected seq */
    uint16_t next_seq;           /* sequence number expected next */
    /* counters, since init */
    uint32_t bytes;              /* bytes fed */
    uint32_t frames;             /* valid frames */
    uint32_t crc_errors;         /* frames with a CRC mismatch */
    uint32_t format_errors;      /* malformed frames: COBS, too short, too long, version */
    uint32_t seq_gaps;           /* times the sequence number jumped */
    uint32_t seq_lost;           /* frames missing by sequence number (sum of the jumps) */
} emo_proto_decoder_t;

/* CRC-16/CCITT-FALSE of data[0..n-1], continuing from crc (EMO_PROTO_CRC_INIT to start). */
uint16_t emo_proto_crc16(const uint8_t *data, int32_t n, uint16_t crc);

/* Bytes emo_proto_encode() writes for a payload of len bytes (delimiter included). */
int32_t emo_proto_encoded_size(int32_t len);

/*
 * Encode one frame: COBS(version, type, seq, payload[0..len-1], crc) and the
 * 0x00 delimiter into out (cap bytes, >= emo_proto_encoded_size(len)).
 * *n_out is the number of bytes written.
 * Errors: EMO_ERR_NULL, EMO_ERR_PARAM (len outside 0..EMO_PROTO_MAX_PAYLOAD),
 * EMO_ERR_CAPACITY (cap too small).
 */
emo_status_t emo_proto_encode(uint8_t type, uint16_t seq, const uint8_t *payload, int32_t len,
                              uint8_t *out, int32_t cap, int32_t *n_out);

/* Reset d and its counters. Errors: EMO_ERR_NULL. */
emo_status_t emo_proto_decoder_init(emo_proto_decoder_t *d);

/*
 * Feed up to n bytes. Decoding stops after the byte that completes a valid
 * frame: then *got is 1 and frame describes it; otherwise *got is 0 and all n
 * bytes were used. *used is the number of bytes consumed; feed the rest again.
 * Invalid frames are counted in d and skipped. Errors: EMO_ERR_NULL, EMO_ERR_PARAM (n < 0).
 */
emo_status_t emo_proto_feed(emo_proto_decoder_t *d, const uint8_t *data, int32_t n,
                            int32_t *used, emo_proto_frame_t *frame, int32_t *got);

/* Payloads. Each pack writes exactly the documented length into out (cap bytes). */

/* HELLO payload into out[0..EMO_PROTO_HELLO_LEN-1]. */
emo_status_t emo_proto_pack_hello(const emo_proto_hello_t *h, uint8_t *out, int32_t cap,
                                  int32_t *n_out);

/* STATUS payload into out[0..EMO_PROTO_STATUS_LEN-1]. */
emo_status_t emo_proto_pack_status(const emo_proto_status_t *s, uint8_t *out, int32_t cap,
                                   int32_t *n_out);

/* ACK payload for command `type` with sequence number seq and result `status`. */
emo_status_t emo_proto_pack_ack(uint8_t type, uint16_t seq, int32_t status, uint8_t *out,
                                int32_t cap, int32_t *n_out);

/* NACK payload: command `type` with sequence number seq was refused with `status` (< 0) because of
 * `reason` (EMO_NACK_*). Errors: EMO_ERR_NULL, EMO_ERR_PARAM (status >= 0), EMO_ERR_CAPACITY. */
emo_status_t emo_proto_pack_nack(uint8_t type, uint16_t seq, int32_t status, int32_t reason, uint8_t *out,
                                 int32_t cap, int32_t *n_out);

/* F0 payload: n (1..EMO_PROTO_F0_PER_FRAME) records of EMO_PROTO_F0_RECORD bytes. */
emo_status_t emo_proto_pack_f0(const emo_f0_frame_t *frames, int32_t n, uint8_t *out,
                               int32_t cap, int32_t *n_out);

/* RAW or REPLAY payload: first sample index, then n (0..EMO_PROTO_RAW_MAX) int16 samples. */
emo_status_t emo_proto_pack_samples(uint32_t first, const int16_t *x, int32_t n, uint8_t *out,
                                    int32_t cap, int32_t *n_out);

/* EMOTION payload into out[0..EMO_PROTO_EMOTION_HEAD + e->n_classes - 1]. Errors: EMO_ERR_NULL,
 * EMO_ERR_PARAM (a field outside its range in emo_proto_emotion_t), EMO_ERR_CAPACITY. */
emo_status_t emo_proto_pack_emotion(const emo_proto_emotion_t *e, uint8_t *out, int32_t cap,
                                    int32_t *n_out);

/* Read an EMOTION payload into e. Errors: EMO_ERR_NULL, EMO_ERR_FORMAT (a length other than
 * EMO_PROTO_EMOTION_HEAD + n_classes, or a field outside its range). */
emo_status_t emo_proto_unpack_emotion(const uint8_t *payload, int32_t len, emo_proto_emotion_t *e);

/* SET_NORM payload into out: 1 byte, or EMO_PROTO_SET_NORM_FIXED_LEN in fixed mode. Errors:
 * EMO_ERR_NULL, EMO_ERR_PARAM (an unknown mode; a fixed statistic outside its EMO_PROTO_NORM_* range),
 * EMO_ERR_CAPACITY. */
emo_status_t emo_proto_pack_set_norm(const emo_proto_set_norm_t *s, uint8_t *out, int32_t cap,
                                     int32_t *n_out);

/* Read a SET_NORM payload into s, checked in this order: EMO_ERR_FORMAT (a length other than
 * EMO_PROTO_SET_NORM_LEN or EMO_PROTO_SET_NORM_FIXED_LEN), EMO_ERR_PARAM (an unknown mode),
 * EMO_ERR_FORMAT (the length of the other kind of mode), EMO_ERR_PARAM (a fixed statistic outside
 * its range: mu, sigma, e_mu, e_sigma in this order); EMO_ERR_NULL. *reason (when reason is not NULL)
 * is the EMO_NACK_* that names the refusal, 0 when the payload is usable. */
emo_status_t emo_proto_unpack_set_norm(const uint8_t *payload, int32_t len, emo_proto_set_norm_t *s,
                                       int32_t *reason);

/*
 * Read a RAW or REPLAY payload: *first and *n samples into x (cap samples).
 * Errors: EMO_ERR_NULL, EMO_ERR_FORMAT (shorter than 4 bytes or odd sample
 * bytes), EMO_ERR_CAPACITY (more than cap samples).
 */
emo_status_t emo_proto_unpack_samples(const uint8_t *payload, int32_t len, uint32_t *first,
                                      int16_t *x, int32_t cap, int32_t *n);

#ifdef __cplusplus
}
#endif

#endif /* EMO_PROTO_H */
