/*
 * The portable application: commands in, samples through F0, frames out.
 * See app.h for the data path and docs/protocol.md for the wire format.
 */
#include "app.h"

#include <string.h>

#include "board.h"
#include "emo_f0.h"
#include "emo_proto.h"
#include "ring.h"
#ifdef EMO_APP_MODEL
#include "emotion.h"
#endif

#define EMO_APP_RX_CHUNK 64          /* bytes taken from the RX ring per decode step */
#define EMO_APP_REPLAY_CHUNK 32      /* samples unpacked per push into the sample ring */
#define EMO_APP_F0_CHUNK 32          /* samples converted to float per emo_f0_push() (any n works) */

/* Large state first: all static, nothing on the heap. */
static emo_f0_state_t f0_state;                  /* ~34 KB */
static emo_f0_frame_t f0_out[EMO_F0_OUT_MAX];    /* frames one push may release: a whole segment (8 KB) */
static emo_proto_decoder_t decoder;
static uint8_t tx_buf[EMO_PROTO_MAX_ENCODED];
static uint8_t payload[EMO_PROTO_MAX_PAYLOAD];
static uint8_t rx_buf[EMO_APP_RX_RING];
static int16_t sample_buf[EMO_APP_SAMPLE_RING];
static emo_byte_ring_t rx_ring;
static emo_sample_ring_t sample_ring;
static int16_t hop_raw[EMO_APP_MAX_HOP];
static float f0_in[EMO_APP_F0_CHUNK];           /* a hop in float goes to F0 a chunk at a time */
static uint8_t rx_chunk[EMO_APP_RX_CHUNK];

static struct {
    int32_t fs;
    int32_t mode;                    /* EMO_MODE_RAW | EMO_MODE_F0: what the board sends */
    int32_t replay_source;           /* 1: samples come as REPLAY frames (EMO_MODE_REPLAY), the ADC stays off */
    int32_t streaming;
    int32_t hop_samples;             /* input samples per F0 hop at fs */
    int32_t frame_samples;           /* input samples per F0 analysis frame at fs */
    uint16_t tx_seq;
    int32_t chunk_len, chunk_pos;    /* undecoded bytes in rx_chunk */
    volatile uint32_t rx_bytes;      /* written by the RX interrupt */
    volatile uint32_t stall_left;    /* test hook: bytes until the main loop resumes */
    volatile int32_t rx_paused;      /* the RX interrupt holds bytes back: the ring was full */
    int32_t rx_flow;                 /* board_rx_flow_control(), read once */
    int32_t stalled;                 /* 1 while a STALL is in force (main loop's view) */
    /* this stream (reset by START) */
    uint32_t stream_pos;             /* samples analysed */
    uint32_t replay_next;            /* replay sample index expected next */
    uint32_t samples_lost;
    uint32_t head_base;              /* sample_ring.head at START */
    uint32_t dropped_base;           /* sample_ring.dropped at START */
    uint32_t hops;
    uint32_t cost_last, cost_max;
    uint64_t cost_sum;
    uint32_t f0_sent;
    /* since reset */
    uint32_t cmd_rejected;
    uint32_t tx_frames;
} app;

/* ---- output ---------------------------------------------------------------------- */

static void send_frame(uint8_t type, const uint8_t *data, int32_t len)
{
    int32_t n;
    if (emo_proto_encode(type, app.tx_seq, data, len, tx_buf, (int32_t)sizeof(tx_buf), &n) != EMO_OK) {
        return; /* only a programming error gets here: every payload is sized below */
    }
    app.tx_seq++;
    app.tx_frames++;
    board_write(tx_buf, n);
}

void app_send(uint8_t type, const uint8_t *data, int32_t len)
{
    send_frame(type, data, len);
}

static void send_hello(void)
{
    emo_proto_hello_t h;
    int32_t n;
    memset(&h, 0, sizeof(h));
    h.fw_major = EMO_APP_FW_MAJOR;
    h.fw_minor = EMO_APP_FW_MINOR;
    h.fw_patch = EMO_APP_FW_PATCH;
    h.board = board_id();
    h.fs = (uint32_t)app.fs;
    h.f0_hop_samples = (uint16_t)app.hop_samples;
    h.f0_frame_samples = (uint16_t)app.frame_samples;
    h.mode = (uint8_t)app.mode;
    h.streaming = (uint8_t)app.streaming;
    h.cost_unit = board_cost_unit();
    h.cpu_hz = board_cpu_hz();
    h.flags = board_flags();
#ifdef EMO_APP_MODEL
    h.flags |= EMO_HELLO_FLAG_MODEL;
#endif
    emo_proto_pack_hello(&h, payload, (int32_t)sizeof(payload), &n);
    send_frame(EMO_MSG_HELLO, payload, n);
}

static void send_status(void)
{
    emo_proto_status_t s;
    int32_t n;
    s.uptime_ms = (uint32_t)(board_ticks() / (board_cpu_hz() / 1000u));
    s.samples_in = sample_ring.head - app.head_base;
    s.samples_dropped = sample_ring.dropped - app.dropped_base;
    s.samples_lost = app.samples_lost;
    s.rx_bytes = app.rx_bytes;
    s.rx_overflows = rx_ring.dropped;
    s.frames_ok = decoder.frames;
    s.crc_errors = decoder.crc_errors;
    s.format_errors = decoder.format_errors;
    s.seq_lost = decoder.seq_lost;
    s.cmd_rejected = app.cmd_rejected;
    s.hops = app.hops;
    s.hop_cost_last = app.cost_last;
    s.hop_cost_max = app.cost_max;
    s.hop_cost_mean = app.hops ? (uint32_t)(app.cost_sum / app.hops) : 0u;
    s.tx_frames = app.tx_frames + 1u; /* this frame included */
    s.f0_sent = app.f0_sent;
    emo_proto_pack_status(&s, payload, (int32_t)sizeof(payload), &n);
    send_frame(EMO_MSG_STATUS, payload, n);
}

static void send_ack(const emo_proto_frame_t *f, emo_status_t status)
{
    int32_t n;
    if (status != EMO_OK) {
        app.cmd_rejected++;
    }
    emo_proto_pack_ack(f->type, f->seq, status, payload, (int32_t)sizeof(payload), &n);
    send_frame(EMO_MSG_ACK, payload, n);
}

/* A refusal that says why (EMO_NACK_*): a NACK, which the host reads as an error ACK and a reason. */
static void send_nack(const emo_proto_frame_t *f, emo_status_t status, int32_t reason)
{
    int32_t n;
    app.cmd_rejected++;
    emo_proto_pack_nack(f->type, f->seq, status, reason, payload, (int32_t)sizeof(payload), &n);
    send_frame(EMO_MSG_NACK, payload, n);
}

static void send_f0(const emo_f0_frame_t *frames, int32_t n)
{
    while (n > 0) {
        int32_t k = n < EMO_PROTO_F0_PER_FRAME ? n : EMO_PROTO_F0_PER_FRAME, len;
        emo_proto_pack_f0(frames, k, payload, (int32_t)sizeof(payload), &len);
        send_frame(EMO_MSG_F0, payload, len);
        app.f0_sent += (uint32_t)k;
        frames += k;
        n -= k;
    }
}

/* ---- samples --------------------------------------------------------------------- */

#ifdef EMO_APP_MODEL
static emotion_msg_t emotion_msg;

/* The board's own classifier (emotion.h) reads the released F0 frames; the app sends what it returns. */
static void classify_frames(const emo_f0_frame_t *frames, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        if (emotion_push(&frames[i], &emotion_msg)) {
            app_send(EMO_MSG_EMOTION, emotion_msg.payload, emotion_msg.len);
        }
    }
}
#endif

/* Analyse one block of n <= hop samples: F0 (timed) and/or a RAW frame. */
static void process_block(int32_t n)
{
    if (app.mode & EMO_MODE_F0) {
        /* The F0 core takes any number of samples per push with the same result, so the hop
         * goes in chunks: a float copy of the whole hop would cost 4 bytes per sample. Each
         * chunk's released frames are sent before the next push reuses f0_out; the cost
         * counts the pushes only, as for one push of the whole hop. */
        int32_t i, j, k, got;
        uint64_t ticks = 0, t0;
        uint32_t cost;
        for (i = 0; i < n; i += k) {
            k = n - i < EMO_APP_F0_CHUNK ? n - i : EMO_APP_F0_CHUNK;
            for (j = 0; j < k; j++) {
                f0_in[j] = (float)hop_raw[i + j] * (1.0f / 32768.0f);
            }
            got = 0;
            t0 = board_ticks();
            emo_f0_push(&f0_state, f0_in, k, f0_out, &got);
            ticks += board_ticks() - t0;
            send_f0(f0_out, got);
#ifdef EMO_APP_MODEL
            classify_frames(f0_out, got);
#endif
        }
        cost = board_cost(ticks);
        app.hops++;
        app.cost_last = cost;
        app.cost_max = cost > app.cost_max ? cost : app.cost_max;
        app.cost_sum += cost;
    }
    if (app.mode & EMO_MODE_RAW) {
        int32_t len;
        emo_proto_pack_samples(app.stream_pos, hop_raw, n, payload, (int32_t)sizeof(payload), &len);
        send_frame(EMO_MSG_RAW, payload, len);
    }
    app.stream_pos += (uint32_t)n;
}

/* Every whole hop waiting in the sample ring; with final, the remainder too. */
static int32_t process_hops(int32_t final)
{
    int32_t did = 0;
    for (;;) {
        uint32_t avail = emo_sample_ring_count(&sample_ring);
        int32_t n;
        if (avail < (uint32_t)app.hop_samples && !(final && avail > 0)) {
            return did;
        }
        n = emo_sample_ring_pop(&sample_ring, hop_raw, app.hop_samples);
        process_block(n);
        did = 1;
    }
}

void app_samples(const int16_t *x, int32_t n)
{
    emo_sample_ring_push(&sample_ring, x, n);
}

/* ---- commands -------------------------------------------------------------------- */

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* F0 geometry for fs, from the library's own defaults. */
static emo_status_t configure(int32_t fs)
{
    emo_f0_params_t p;
    emo_status_t s = emo_f0_default_params(&p, fs);
    if (s == EMO_OK) {
        s = emo_f0_init(&f0_state, &p);
    }
    if (s != EMO_OK) {
        return s;
    }
    app.fs = fs;
    app.hop_samples = emo_f0_hop_samples(&f0_state);
    app.frame_samples = f0_state.frame_len * f0_state.dec;
    return EMO_OK;
}

static emo_status_t cmd_start(void)
{
    emo_status_t s;
    if (app.streaming) {
        return EMO_ERR_STATE;
    }
    s = configure(app.fs); /* fresh F0 state: frame indices restart at 0 */
    if (s != EMO_OK) {
        return s;
    }
    emo_sample_ring_clear(&sample_ring);
    app.head_base = sample_ring.head;
    app.dropped_base = sample_ring.dropped;
    app.stream_pos = 0;
    app.replay_next = 0;
    app.samples_lost = 0;
    app.hops = 0;
    app.cost_last = 0;
    app.cost_max = 0;
    app.cost_sum = 0;
    app.f0_sent = 0;
#ifdef EMO_APP_MODEL
    emotion_start();
#endif
    s = board_sampling(!app.replay_source, app.fs); /* fed by the host: only the rate is checked */
    if (s == EMO_OK) {
        app.streaming = 1;
    }
    return s;
}

/* Stop, analyse what is left, release the open F0 segment. */
static emo_status_t cmd_stop(void)
{
    if (!app.streaming) {
        return EMO_ERR_STATE;
    }
    board_sampling(0, app.fs);
    app.streaming = 0;
    process_hops(1);
    if (app.mode & EMO_MODE_F0) {
        int32_t got = 0;
        emo_f0_flush(&f0_state, f0_out, &got);
        send_f0(f0_out, got);
#ifdef EMO_APP_MODEL
        classify_frames(f0_out, got);
        if (emotion_stop(&emotion_msg)) {
            app_send(EMO_MSG_EMOTION, emotion_msg.payload, emotion_msg.len);
        }
#endif
    }
    return EMO_OK;
}

static emo_status_t cmd_replay(const emo_proto_frame_t *f)
{
    uint32_t first;
    int32_t i, n;
    int16_t x[EMO_APP_REPLAY_CHUNK];

    if (board_has_adc() && !app.replay_source) {
        return EMO_ERR_UNSUPPORTED; /* this stream's samples come from the ADC */
    }
    if (!app.streaming) {
        return EMO_ERR_STATE;
    }
    if (f->len < 4 || ((f->len - 4) & 1) != 0) {
        return EMO_ERR_FORMAT;
    }
    first = get_u32(f->payload);
    n = (f->len - 4) / 2;
    if (first < app.replay_next) {
        return EMO_ERR_PARAM; /* overlaps samples already taken */
    }
    app.samples_lost += first - app.replay_next;
    app.replay_next = first + (uint32_t)n;
    for (i = 0; i < n; i += EMO_APP_REPLAY_CHUNK) {
        int32_t k = n - i < EMO_APP_REPLAY_CHUNK ? n - i : EMO_APP_REPLAY_CHUNK, j;
        const uint8_t *p = f->payload + 4 + 2 * i;
        for (j = 0; j < k; j++) {
            x[j] = (int16_t)(uint16_t)(p[2 * j] | (p[2 * j + 1] << 8));
        }
        app_samples(x, k);
    }
    return EMO_OK;
}

/* Where the board's classifier takes its normalisation statistics, from the next START on. A
 * payload it cannot use (a length, a mode, a statistic outside its range: emo_proto_unpack_set_norm)
 * is refused in any state, so an acknowledged setting always classifies; a board without a model has
 * no classifier. *reason is the EMO_NACK_* of a refusal. */
static emo_status_t cmd_set_norm(const emo_proto_frame_t *f, int32_t *reason)
{
#ifdef EMO_APP_MODEL
    emo_proto_set_norm_t n;
    emo_feat_stats_t st;
    emo_status_t s = emo_proto_unpack_set_norm(f->payload, f->len, &n, reason);
    if (s != EMO_OK) {
        return s;
    }
    if (app.streaming) {
        *reason = EMO_NACK_STREAMING;
        return EMO_ERR_STATE; /* one stream, one normalisation: the host stops first */
    }
    if (n.mode != EMO_FEAT_NORM_FIXED) {
        return emotion_set_norm(n.mode, NULL);
    }
    memset(&st, 0, sizeof(st));
    st.mu = n.mu;
    st.sigma = n.sigma;
    st.e_mu = n.e_mu;
    st.e_sigma = n.e_sigma;
    return emotion_set_norm(n.mode, &st);
#else
    (void)f;
    *reason = EMO_NACK_NO_MODEL;
    return EMO_ERR_UNSUPPORTED;
#endif
}

static void handle(const emo_proto_frame_t *f)
{
    emo_status_t s;
    switch (f->type) {
    case EMO_CMD_REPLAY:
        s = cmd_replay(f);
        if (s != EMO_OK) {
            send_ack(f, s); /* only refusals are acknowledged: replay is the bulk path */
        }
        process_hops(0);
        return;
    case EMO_CMD_GET_STATUS:
        if (f->len != 0) {
            send_ack(f, EMO_ERR_FORMAT);
            return;
        }
        send_status();
        return;
    case EMO_CMD_GET_HELLO:
        if (f->len != 0) {
            send_ack(f, EMO_ERR_FORMAT);
            return;
        }
        send_hello();
        return;
    case EMO_CMD_START:
        send_ack(f, f->len != 0 ? EMO_ERR_FORMAT : cmd_start());
        return;
    case EMO_CMD_STOP:
        if (f->len != 0) {
            send_ack(f, EMO_ERR_FORMAT);
            return;
        }
        s = cmd_stop();
        send_ack(f, s);
        if (s == EMO_OK) {
            send_status(); /* after every F0 frame: the stream's final account */
        }
        return;
    case EMO_CMD_SET_MODE:
        /* RAW and/or F0, optionally fed by REPLAY frames (EMO_MODE_REPLAY) */
        if (f->len != 1 || (f->payload[0] & (EMO_MODE_RAW | EMO_MODE_F0)) == 0 ||
            (f->payload[0] & ~(EMO_MODE_RAW | EMO_MODE_F0 | EMO_MODE_REPLAY)) != 0) {
            send_ack(f, f->len != 1 ? EMO_ERR_FORMAT : EMO_ERR_PARAM);
        } else if (app.streaming) {
            send_ack(f, EMO_ERR_STATE);
        } else {
            app.mode = f->payload[0] & (EMO_MODE_RAW | EMO_MODE_F0);
            app.replay_source = (f->payload[0] & EMO_MODE_REPLAY) != 0;
            send_ack(f, EMO_OK);
        }
        return;
    case EMO_CMD_SET_RATE: {
        int32_t fs = f->len == 4 ? (int32_t)get_u32(f->payload) : 0;
        if (f->len != 4) {
            s = EMO_ERR_FORMAT;
        } else if (app.streaming) {
            s = EMO_ERR_STATE;
        } else if (fs != 8000 && fs != 16000) {
            s = EMO_ERR_RATE;
        } else {
            s = configure(fs);
        }
        send_ack(f, s);
        return;
    }
    case EMO_CMD_SET_NORM: {
        int32_t reason = 0;
        s = cmd_set_norm(f, &reason);
        if (s != EMO_OK && reason != 0) {
            send_nack(f, s, reason);
        } else {
            send_ack(f, s);
        }
        return;
    }
    case EMO_CMD_EXIT:
        if (f->len != 4) {
            send_ack(f, EMO_ERR_FORMAT);
            return;
        }
        send_ack(f, board_exit((int32_t)get_u32(f->payload)));
        return;
    case EMO_CMD_STALL:
        if (f->len != 4) {
            send_ack(f, EMO_ERR_FORMAT);
            return;
        }
        app.stall_left = get_u32(f->payload);
        app.stalled = app.stall_left > 0;
        send_ack(f, EMO_OK);
        return;
    default:
        send_ack(f, EMO_ERR_UNSUPPORTED);
        return;
    }
}

/* ---- main loop ------------------------------------------------------------------- */

int32_t app_rx_byte(uint8_t b)
{
    app.rx_bytes++;
    if (app.stall_left > 0) {
        app.stall_left--;
    }
    emo_byte_ring_push(&rx_ring, b);
    /* A STALL stands for a main loop blocked on a link without flow control: while one is
     * in force the ring overflows and counts, so that path stays testable under QEMU. */
    if (app.rx_flow && app.stall_left == 0 && emo_byte_ring_count(&rx_ring) > rx_ring.mask) {
        app.rx_paused = 1;
        return 1;
    }
    return 0;
}

/* After the main loop took bytes from the ring: let a paused RX interrupt go on. */
static void rx_made_room(void)
{
    if (app.rx_paused && emo_byte_ring_count(&rx_ring) <= rx_ring.mask) {
        app.rx_paused = 0;
        board_rx_resume();
    }
}

int32_t app_pending(void)
{
    if (app.stalled) {
        return app.stall_left == 0;
    }
    return app.chunk_pos < app.chunk_len || emo_byte_ring_count(&rx_ring) > 0 ||
           (app.streaming && emo_sample_ring_count(&sample_ring) >= (uint32_t)app.hop_samples);
}

void app_init(void)
{
    memset(&app, 0, sizeof(app));
    emo_byte_ring_init(&rx_ring, rx_buf, EMO_APP_RX_RING);
    emo_sample_ring_init(&sample_ring, sample_buf, EMO_APP_SAMPLE_RING);
    emo_proto_decoder_init(&decoder);
    app.mode = EMO_MODE_F0;
    app.rx_flow = board_rx_flow_control();
    configure(EMO_APP_DEFAULT_FS);
    /* a leading delimiter ends whatever the host's decoder saw before */
    board_write((const uint8_t *)"\0", 1);
    send_hello();
}

int32_t app_poll(void)
{
    emo_proto_frame_t frame;
    int32_t used, got;

    if (app.stalled) {
        if (app.stall_left > 0) {
            return 0; /* blocked on purpose: the RX interrupt keeps filling the ring */
        }
        app.stalled = 0;
        send_status(); /* the host waits for this before it sends again */
        return 1;
    }
    if (app.streaming && process_hops(0)) {
        return 1;
    }
    if (app.chunk_pos >= app.chunk_len) {
        app.chunk_len = emo_byte_ring_pop(&rx_ring, rx_chunk, EMO_APP_RX_CHUNK);
        app.chunk_pos = 0;
        rx_made_room();
        if (app.chunk_len == 0) {
            return 0;
        }
    }
    emo_proto_feed(&decoder, rx_chunk + app.chunk_pos, app.chunk_len - app.chunk_pos, &used,
                   &frame, &got);
    app.chunk_pos += used;
    if (got) {
        handle(&frame);
    }
    return 1;
}
