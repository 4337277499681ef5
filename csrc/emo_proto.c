/* emo_proto: frames, COBS, CRC-16. See emo_proto.h and docs/protocol.md. */
#include "emo_proto.h"

#include <string.h>

#include "emo_feat.h"
#include "emo_seg.h"

/* CRC-16/CCITT-FALSE, four bits at a time: entry i is the CRC register after
 * shifting the nibble i through polynomial 0x1021 (32 bytes of flash, about
 * a dozen instructions per byte on the M4). */
static const uint16_t emo_crc_nibble[16] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
    0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
};

uint16_t emo_proto_crc16(const uint8_t *data, int32_t n, uint16_t crc)
{
    int32_t i;
    if (data == NULL) {
        return crc;
    }
    for (i = 0; i < n; i++) {
        uint8_t b = data[i];
        crc = (uint16_t)((crc << 4) ^ emo_crc_nibble[((crc >> 12) ^ (b >> 4)) & 0x0fu]);
        crc = (uint16_t)((crc << 4) ^ emo_crc_nibble[((crc >> 12) ^ b) & 0x0fu]);
    }
    return crc;
}

int32_t emo_proto_encoded_size(int32_t len)
{
    int32_t raw = EMO_PROTO_HEADER + len + EMO_PROTO_CRC_LEN;
    /* one code byte per started run of 254 bytes, one more, the delimiter */
    return raw + raw / 254 + 2;
}

/* COBS encoder writing into out; code_pos is where the current block's code
 * byte goes, code its value so far (1 + data bytes). */
typedef struct {
    uint8_t *out;
    int32_t w;
    int32_t code_pos;
    uint8_t code;
} emo_cobs_enc_t;

static void emo_cobs_put(emo_cobs_enc_t *e, uint8_t b)
{
    if (b == 0) {
        e->out[e->code_pos] = e->code;
        e->code_pos = e->w++;
        e->code = 1;
        return;
    }
    e->out[e->w++] = b;
    if (++e->code == 0xff) {
        e->out[e->code_pos] = e->code;
        e->code_pos = e->w++;
        e->code = 1;
    }
}

emo_status_t emo_proto_encode(uint8_t type, uint16_t seq, const uint8_t *payload, int32_t len,
                              uint8_t *out, int32_t cap, int32_t *n_out)
{
    uint8_t head[EMO_PROTO_HEADER];
    uint16_t crc;
    emo_cobs_enc_t e;
    int32_t i;

    if (out == NULL || n_out == NULL || (payload == NULL && len > 0)) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    if (len < 0 || len > EMO_PROTO_MAX_PAYLOAD) {
        return EMO_ERR_PARAM;
    }
    if (cap < emo_proto_encoded_size(len)) {
        return EMO_ERR_CAPACITY;
    }
    head[0] = EMO_PROTO_VERSION;
    head[1] = type;
    head[2] = (uint8_t)(seq & 0xffu);
    head[3] = (uint8_t)(seq >> 8);
    crc = emo_proto_crc16(head, EMO_PROTO_HEADER, (uint16_t)EMO_PROTO_CRC_INIT);
    crc = emo_proto_crc16(payload, len, crc);

    e.out = out;
    e.code_pos = 0;
    e.w = 1;
    e.code = 1;
    for (i = 0; i < EMO_PROTO_HEADER; i++) {
        emo_cobs_put(&e, head[i]);
    }
    for (i = 0; i < len; i++) {
        emo_cobs_put(&e, payload[i]);
    }
    emo_cobs_put(&e, (uint8_t)(crc & 0xffu));
    emo_cobs_put(&e, (uint8_t)(crc >> 8));
    out[e.code_pos] = e.code;
    out[e.w++] = 0;
    *n_out = e.w;
    return EMO_OK;
}

emo_status_t emo_proto_decoder_init(emo_proto_decoder_t *d)
{
    if (d == NULL) {
        return EMO_ERR_NULL;
    }
    memset(d, 0, sizeof(*d));
    return EMO_OK;
}

/* Append one decoded byte; beyond the buffer only remember that it overflowed. */
static void emo_dec_append(emo_proto_decoder_t *d, uint8_t b)
{
    if (d->len < EMO_PROTO_MAX_FRAME) {
        d->buf[d->len++] = b;
    } else {
        d->too_long = 1;
    }
}

/* A delimiter ended the frame in d: check it. Returns 1 for a valid frame. */
static int32_t emo_dec_finish(emo_proto_decoder_t *d, emo_proto_frame_t *frame)
{
    uint16_t crc, want;
    int32_t plen;

    if (d->seen == 0) {
        return 0; /* empty: back-to-back delimiters are allowed */
    }
    if (d->too_long || d->left != 0 || d->len < EMO_PROTO_HEADER + EMO_PROTO_CRC_LEN) {
        d->format_errors++;
        return 0;
    }
    plen = d->len - EMO_PROTO_CRC_LEN;
    crc = emo_proto_crc16(d->buf, plen, (uint16_t)EMO_PROTO_CRC_INIT);
    want = (uint16_t)(d->buf[plen] | (d->buf[plen + 1] << 8));
    if (crc != want) {
        d->crc_errors++;
        return 0;
    }
    if (d->buf[0] != EMO_PROTO_VERSION) {
        d->format_errors++;
        return 0;
    }
    frame->version = d->buf[0];
    frame->type = d->buf[1];
    frame->seq = (uint16_t)(d->buf[2] | (d->buf[3] << 8));
    frame->len = plen - EMO_PROTO_HEADER;
    frame->payload = d->buf + EMO_PROTO_HEADER;
    if (d->have_seq && frame->seq != d->next_seq) {
        d->seq_gaps++;
        d->seq_lost += (uint16_t)(frame->seq - d->next_seq);
    }
    d->have_seq = 1;
    d->next_seq = (uint16_t)(frame->seq + 1u);
    d->frames++;
    return 1;
}

emo_status_t emo_proto_feed(emo_proto_decoder_t *d, const uint8_t *data, int32_t n,
                            int32_t *used, emo_proto_frame_t *frame, int32_t *got)
{
    int32_t i;

    if (d == NULL || used == NULL || frame == NULL || got == NULL || (data == NULL && n > 0)) {
        return EMO_ERR_NULL;
    }
    *used = 0;
    *got = 0;
    if (n < 0) {
        return EMO_ERR_PARAM;
    }
    for (i = 0; i < n; i++) {
        uint8_t b = data[i];
        d->bytes++;
        if (b == 0) {
            int32_t ok = emo_dec_finish(d, frame);
            d->len = 0;
            d->seen = 0;
            d->left = 0;
            d->code = 0;
            d->too_long = 0;
            if (ok) {
                *used = i + 1;
                *got = 1;
                return EMO_OK;
            }
            continue;
        }
        if (d->left == 0) {
            /* a code byte; the block before it ends in a zero unless it was
             * a full 254-byte block or this is the first block */
            if (d->seen > 0 && d->code != 0xff) {
                emo_dec_append(d, 0);
            }
            d->code = b;
            d->left = b - 1;
        } else {
            emo_dec_append(d, b);
            d->left--;
        }
        d->seen++;
    }
    *used = n;
    return EMO_OK;
}

static void emo_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xffu);
    p[1] = (uint8_t)(v >> 8);
}

static void emo_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xffu);
    p[1] = (uint8_t)((v >> 8) & 0xffu);
    p[2] = (uint8_t)((v >> 16) & 0xffu);
    p[3] = (uint8_t)(v >> 24);
}

static void emo_put_f32(uint8_t *p, float v)
{
    union { float f; uint32_t u; } c;
    c.f = v;
    emo_put_u32(p, c.u);
}

static void emo_put_f64(uint8_t *p, double v)
{
    union { double d; uint64_t u; } c;
    c.d = v;
    emo_put_u32(p, (uint32_t)(c.u & 0xffffffffu));
    emo_put_u32(p + 4, (uint32_t)(c.u >> 32));
}

emo_status_t emo_proto_pack_hello(const emo_proto_hello_t *h, uint8_t *out, int32_t cap,
                                  int32_t *n_out)
{
    if (h == NULL || out == NULL || n_out == NULL) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    if (cap < EMO_PROTO_HELLO_LEN) {
        return EMO_ERR_CAPACITY;
    }
    out[0] = h->fw_major;
    out[1] = h->fw_minor;
    out[2] = h->fw_patch;
    out[3] = h->board;
    emo_put_u32(out + 4, h->fs);
    emo_put_u16(out + 8, h->f0_hop_samples);
    emo_put_u16(out + 10, h->f0_frame_samples);
    out[12] = h->mode;
    out[13] = h->streaming;
    out[14] = h->cost_unit;
    out[15] = h->flags;
    emo_put_u32(out + 16, h->cpu_hz);
    *n_out = EMO_PROTO_HELLO_LEN;
    return EMO_OK;
}

emo_status_t emo_proto_pack_status(const emo_proto_status_t *s, uint8_t *out, int32_t cap,
                                   int32_t *n_out)
{
    int32_t i;

    if (s == NULL || out == NULL || n_out == NULL) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    if (cap < EMO_PROTO_STATUS_LEN) {
        return EMO_ERR_CAPACITY;
    }
    {
        const uint32_t v[EMO_PROTO_STATUS_FIELDS] = {
            s->uptime_ms, s->samples_in, s->samples_dropped, s->samples_lost,
            s->rx_bytes, s->rx_overflows, s->frames_ok, s->crc_errors,
            s->format_errors, s->seq_lost, s->cmd_rejected, s->hops,
            s->hop_cost_last, s->hop_cost_max, s->hop_cost_mean, s->tx_frames,
            s->f0_sent,
        };
        for (i = 0; i < EMO_PROTO_STATUS_FIELDS; i++) {
            emo_put_u32(out + 4 * i, v[i]);
        }
    }
    *n_out = EMO_PROTO_STATUS_LEN;
    return EMO_OK;
}

emo_status_t emo_proto_pack_ack(uint8_t type, uint16_t seq, int32_t status, uint8_t *out,
                                int32_t cap, int32_t *n_out)
{
    if (out == NULL || n_out == NULL) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    if (cap < EMO_PROTO_ACK_LEN) {
        return EMO_ERR_CAPACITY;
    }
    if (status < -128 || status > 127) {
        return EMO_ERR_PARAM;
    }
    out[0] = type;
    emo_put_u16(out + 1, seq);
    out[3] = (uint8_t)(int8_t)status;
    *n_out = EMO_PROTO_ACK_LEN;
    return EMO_OK;
}

emo_status_t emo_proto_pack_nack(uint8_t type, uint16_t seq, int32_t status, int32_t reason, uint8_t *out,
                                 int32_t cap, int32_t *n_out)
{
    emo_status_t s;

    if (out == NULL || n_out == NULL) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    if (cap < EMO_PROTO_NACK_LEN) {
        return EMO_ERR_CAPACITY;
    }
    if (status >= 0 || reason < 0 || reason > 255) {
        return EMO_ERR_PARAM;
    }
    s = emo_proto_pack_ack(type, seq, status, out, cap, n_out);
    if (s != EMO_OK) {
        return s;
    }
    out[EMO_PROTO_ACK_LEN] = (uint8_t)reason;
    *n_out = EMO_PROTO_NACK_LEN;
    return EMO_OK;
}

emo_status_t emo_proto_pack_f0(const emo_f0_frame_t *frames, int32_t n, uint8_t *out,
                               int32_t cap, int32_t *n_out)
{
    int32_t i;

    if (frames == NULL || out == NULL || n_out == NULL) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    if (n < 1 || n > EMO_PROTO_F0_PER_FRAME) {
        return EMO_ERR_PARAM;
    }
    if (cap < n * EMO_PROTO_F0_RECORD) {
        return EMO_ERR_CAPACITY;
    }
    for (i = 0; i < n; i++) {
        uint8_t *p = out + i * EMO_PROTO_F0_RECORD;
        emo_put_u32(p, frames[i].index);
        emo_put_f32(p + 4, frames[i].f0_hz);
        emo_put_f32(p + 8, frames[i].periodicity);
        emo_put_f32(p + 12, frames[i].energy_db);
        p[16] = frames[i].voiced;
        emo_put_f32(p + 17, frames[i].cq);
        emo_put_f32(p + 21, frames[i].jitter);
        emo_put_f32(p + 25, frames[i].shimmer);
    }
    *n_out = n * EMO_PROTO_F0_RECORD;
    return EMO_OK;
}

emo_status_t emo_proto_pack_samples(uint32_t first, const int16_t *x, int32_t n, uint8_t *out,
                                    int32_t cap, int32_t *n_out)
{
    int32_t i;

    if (out == NULL || n_out == NULL || (x == NULL && n > 0)) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    if (n < 0 || n > EMO_PROTO_RAW_MAX) {
        return EMO_ERR_PARAM;
    }
    if (cap < 4 + 2 * n) {
        return EMO_ERR_CAPACITY;
    }
    emo_put_u32(out, first);
    for (i = 0; i < n; i++) {
        emo_put_u16(out + 4 + 2 * i, (uint16_t)x[i]);
    }
    *n_out = 4 + 2 * n;
    return EMO_OK;
}

static uint32_t emo_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static float emo_get_f32(const uint8_t *p)
{
    union { float f; uint32_t u; } c;
    c.u = emo_get_u32(p);
    return c.f;
}

/* The ranges of emo_proto_emotion_t, which pack and unpack share. x - x is 0 only when finite. */
static int32_t emo_emotion_ok(const emo_proto_emotion_t *e)
{
    return e->n_classes >= 1 && e->n_classes <= EMO_PROTO_EMOTION_CLASSES && e->label < e->n_classes &&
           e->reason >= EMO_SEG_HANGOVER && e->reason <= EMO_SEG_RESTART && e->last >= e->first &&
           e->last - e->first < EMO_PROTO_UTTERANCE_MAX &&
           e->n_voiced >= 1 && (uint64_t)e->n_voiced <= (uint64_t)e->last - e->first + 1u &&
           e->mu >= (float)EMO_PROTO_NORM_MU_MIN && e->mu <= (float)EMO_PROTO_NORM_MU_MAX &&
           e->sigma >= (float)EMO_PROTO_NORM_SIGMA_MIN && e->sigma <= (float)EMO_PROTO_NORM_SIGMA_MAX;
}

emo_status_t emo_proto_pack_emotion(const emo_proto_emotion_t *e, uint8_t *out, int32_t cap,
                                    int32_t *n_out)
{
    int32_t i;

    if (e == NULL || out == NULL || n_out == NULL) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    if (!emo_emotion_ok(e)) {
        return EMO_ERR_PARAM;
    }
    if (cap < EMO_PROTO_EMOTION_HEAD + e->n_classes) {
        return EMO_ERR_CAPACITY;
    }
    emo_put_u32(out, e->first);
    emo_put_u32(out + 4, e->last);
    emo_put_u16(out + 8, e->n_voiced);
    out[10] = e->reason;
    out[11] = e->label;
    emo_put_u32(out + 12, e->model_id);
    emo_put_u32(out + 16, e->cost);
    emo_put_f32(out + 20, e->mu);
    emo_put_f32(out + 24, e->sigma);
    out[28] = e->n_classes;
    for (i = 0; i < e->n_classes; i++) {
        out[EMO_PROTO_EMOTION_HEAD + i] = (uint8_t)e->scores[i];
    }
    *n_out = EMO_PROTO_EMOTION_HEAD + e->n_classes;
    return EMO_OK;
}

emo_status_t emo_proto_unpack_emotion(const uint8_t *payload, int32_t len, emo_proto_emotion_t *e)
{
    int32_t i;

    if (payload == NULL || e == NULL) {
        return EMO_ERR_NULL;
    }
    if (len < EMO_PROTO_EMOTION_HEAD || len != EMO_PROTO_EMOTION_HEAD + payload[28]) {
        return EMO_ERR_FORMAT;
    }
    memset(e, 0, sizeof(*e));
    e->first = emo_get_u32(payload);
    e->last = emo_get_u32(payload + 4);
    e->n_voiced = (uint16_t)(payload[8] | (payload[9] << 8));
    e->reason = payload[10];
    e->label = payload[11];
    e->model_id = emo_get_u32(payload + 12);
    e->cost = emo_get_u32(payload + 16);
    e->mu = emo_get_f32(payload + 20);
    e->sigma = emo_get_f32(payload + 24);
    e->n_classes = payload[28];
    if (!emo_emotion_ok(e)) {
        return EMO_ERR_FORMAT;
    }
    for (i = 0; i < e->n_classes; i++) {
        e->scores[i] = (int8_t)payload[EMO_PROTO_EMOTION_HEAD + i];
    }
    return EMO_OK;
}

static double emo_get_f64(const uint8_t *p)
{
    union { double d; uint64_t u; } c;
    c.u = (uint64_t)emo_get_u32(p) | ((uint64_t)emo_get_u32(p + 4) << 32);
    return c.d;
}

static int32_t emo_norm_mode_ok(int32_t mode)
{
    return mode == EMO_FEAT_NORM_UTTERANCE || mode == EMO_FEAT_NORM_SESSION || mode == EMO_FEAT_NORM_FIXED;
}

/* The first fixed statistic outside its range, as an EMO_NACK_* reason; 0 when all are usable.
 * Every comparison with NaN is false, so NaN is outside every range. */
static int32_t emo_norm_stats_reason(const emo_proto_set_norm_t *s)
{
    if (!(s->mu >= EMO_PROTO_NORM_MU_MIN && s->mu <= EMO_PROTO_NORM_MU_MAX)) {
        return EMO_NACK_MU;
    }
    if (!(s->sigma >= EMO_PROTO_NORM_SIGMA_MIN && s->sigma <= EMO_PROTO_NORM_SIGMA_MAX)) {
        return EMO_NACK_SIGMA;
    }
    if (!(s->e_mu >= EMO_PROTO_NORM_E_MU_MIN && s->e_mu <= EMO_PROTO_NORM_E_MU_MAX)) {
        return EMO_NACK_E_MU;
    }
    if (!(s->e_sigma >= EMO_PROTO_NORM_E_SIGMA_MIN && s->e_sigma <= EMO_PROTO_NORM_E_SIGMA_MAX)) {
        return EMO_NACK_E_SIGMA;
    }
    return 0;
}

emo_status_t emo_proto_pack_set_norm(const emo_proto_set_norm_t *s, uint8_t *out, int32_t cap,
                                     int32_t *n_out)
{
    int32_t fixed;

    if (s == NULL || out == NULL || n_out == NULL) {
        return EMO_ERR_NULL;
    }
    *n_out = 0;
    fixed = s->mode == EMO_FEAT_NORM_FIXED;
    if (!emo_norm_mode_ok(s->mode) || (fixed && emo_norm_stats_reason(s) != 0)) {
        return EMO_ERR_PARAM;
    }
    if (cap < (fixed ? EMO_PROTO_SET_NORM_FIXED_LEN : EMO_PROTO_SET_NORM_LEN)) {
        return EMO_ERR_CAPACITY;
    }
    out[0] = s->mode;
    *n_out = EMO_PROTO_SET_NORM_LEN;
    if (fixed) {
        emo_put_f64(out + 1, s->mu);
        emo_put_f64(out + 9, s->sigma);
        emo_put_f64(out + 17, s->e_mu);
        emo_put_f64(out + 25, s->e_sigma);
        *n_out = EMO_PROTO_SET_NORM_FIXED_LEN;
    }
    return EMO_OK;
}

emo_status_t emo_proto_unpack_set_norm(const uint8_t *payload, int32_t len, emo_proto_set_norm_t *s,
                                       int32_t *reason)
{
    int32_t why;

    if (reason != NULL) {
        *reason = 0;
    }
    if (payload == NULL || s == NULL) {
        return EMO_ERR_NULL;
    }
    memset(s, 0, sizeof(*s));
    if (len != EMO_PROTO_SET_NORM_LEN && len != EMO_PROTO_SET_NORM_FIXED_LEN) {
        why = EMO_NACK_LENGTH;
    } else if (!emo_norm_mode_ok(payload[0])) {
        why = EMO_NACK_MODE;
    } else if ((payload[0] == EMO_FEAT_NORM_FIXED) != (len == EMO_PROTO_SET_NORM_FIXED_LEN)) {
        why = EMO_NACK_LENGTH;
    } else {
        s->mode = payload[0];
        why = 0;
        if (s->mode == EMO_FEAT_NORM_FIXED) {
            s->mu = emo_get_f64(payload + 1);
            s->sigma = emo_get_f64(payload + 9);
            s->e_mu = emo_get_f64(payload + 17);
            s->e_sigma = emo_get_f64(payload + 25);
            why = emo_norm_stats_reason(s);
        }
    }
    if (reason != NULL) {
        *reason = why;
    }
    if (why != 0) {
        memset(s, 0, sizeof(*s));
    }
    return why == 0 ? EMO_OK : (why == EMO_NACK_LENGTH ? EMO_ERR_FORMAT : EMO_ERR_PARAM);
}

emo_status_t emo_proto_unpack_samples(const uint8_t *payload, int32_t len, uint32_t *first,
                                      int16_t *x, int32_t cap, int32_t *n)
{
    int32_t i, count;

    if (payload == NULL || first == NULL || n == NULL || (x == NULL && cap > 0)) {
        return EMO_ERR_NULL;
    }
    *n = 0;
    if (len < 4 || ((len - 4) & 1) != 0) {
        return EMO_ERR_FORMAT;
    }
    count = (len - 4) / 2;
    if (count > cap) {
        return EMO_ERR_CAPACITY;
    }
    *first = (uint32_t)payload[0] | ((uint32_t)payload[1] << 8) |
             ((uint32_t)payload[2] << 16) | ((uint32_t)payload[3] << 24);
    for (i = 0; i < count; i++) {
        x[i] = (int16_t)(uint16_t)(payload[4 + 2 * i] | (payload[5 + 2 * i] << 8));
    }
    *n = count;
    return EMO_OK;
}
