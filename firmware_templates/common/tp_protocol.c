/*
 * tp_protocol.c - the board side of the validation protocol (see tp_protocol.h).
 *
 * Inputs are received straight into the runtime's input tensors, so the protocol needs no
 * buffer of its own beyond a small scratch area for discarding rejected payloads.
 */
#include "tp_protocol.h"

#include "tp_glue.h"
#include "tp_hal.h"

#define TP_WAIT_FOREVER_MS 0xFFFFFFFFu /* tp_hal_read() timeout that never expires in practice */
/* Longest silence tolerated inside a frame before the board answers TP_ERR_TIMEOUT. On a real
 * board it catches lost bytes. Under emulation (TP_QEMU) the guest clock counts instructions and
 * races ahead whenever the host is descheduled, so a guest-time limit there measures host load,
 * not the link (and TCP loses no bytes): the board waits for the rest of the frame, and the host,
 * which owns a real clock, decides when to give up. -DTP_FRAME_TIMEOUT_MS=... overrides it. */
#ifndef TP_FRAME_TIMEOUT_MS
#ifdef TP_QEMU
#define TP_FRAME_TIMEOUT_MS TP_WAIT_FOREVER_MS
#else
#define TP_FRAME_TIMEOUT_MS 500u
#endif
#endif
/* Discarding a rejected payload stops after this much silence on every build: a corrupt length
 * field may promise far more bytes than will ever come, and stopping early is harmless (what
 * is left over is skipped as noise between frames). */
#define TP_DRAIN_TIMEOUT_MS 500u
#define TP_POLL_MS 100u /* read timeout while waiting for the next frame */
#define TP_DRAIN_CHUNK_BYTES 64u
#define TP_INFER_REPLY_HEADER_BYTES 16u /* u64 ticks, u64 units */

/* CRC-32 with a 16-entry table: one nibble per step, 64 bytes of flash. */
static const uint32_t crc_nibble_table[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t tp_crc32(uint32_t crc, const void *data, uint32_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ crc_nibble_table[crc & 0x0Fu];
        crc = (crc >> 4) ^ crc_nibble_table[crc & 0x0Fu];
    }
    return ~crc;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* --- sending ------------------------------------------------------------------------- */

/* Frames are streamed: header first, then payload chunks, then the CRC of all of it. */
static uint32_t send_begin(uint8_t type, uint32_t len)
{
    const uint8_t magic[2] = {TP_MAGIC_0, TP_MAGIC_1};
    uint8_t header[TP_HEADER_BYTES];
    header[0] = type;
    put_u32(header + 1, len);
    tp_hal_write(magic, sizeof magic);
    tp_hal_write(header, sizeof header);
    return tp_crc32(0, header, sizeof header);
}

static uint32_t send_chunk(uint32_t crc, const void *data, uint32_t len)
{
    tp_hal_write(data, len);
    return tp_crc32(crc, data, len);
}

static void send_end(uint32_t crc)
{
    uint8_t trailer[TP_CRC_BYTES];
    put_u32(trailer, crc);
    tp_hal_write(trailer, sizeof trailer);
}

static void send_error(uint8_t code, const char *message)
{
    uint32_t len = 0;
    while (message[len] != '\0') {
        len++;
    }
    uint32_t crc = send_begin(TP_FRAME_ERROR, 1u + len);
    crc = send_chunk(crc, &code, 1u);
    crc = send_chunk(crc, message, len);
    send_end(crc);
}

static void reply_info(void)
{
    const uint32_t n_in = tp_glue_num_inputs();
    const uint32_t n_out = tp_glue_num_outputs();
    uint8_t word[4];
    uint32_t crc = send_begin(TP_FRAME_INFO | TP_FRAME_REPLY, 4u * (2u + n_in + n_out));
    put_u32(word, n_in);
    crc = send_chunk(crc, word, sizeof word);
    put_u32(word, n_out);
    crc = send_chunk(crc, word, sizeof word);
    for (uint32_t i = 0; i < n_in; i++) {
        put_u32(word, tp_glue_input_bytes(i));
        crc = send_chunk(crc, word, sizeof word);
    }
    for (uint32_t i = 0; i < n_out; i++) {
        put_u32(word, tp_glue_output_bytes(i));
        crc = send_chunk(crc, word, sizeof word);
    }
    send_end(crc);
}

static void reply_infer(void)
{
    uint64_t ticks = 0;
    if (tp_timed_invoke(&ticks) != 0) {
        send_error(TP_ERR_INVOKE, "the runtime failed to run the model");
        return;
    }
    uint32_t out_bytes = 0;
    for (uint32_t i = 0; i < tp_glue_num_outputs(); i++) {
        out_bytes += tp_glue_output_bytes(i);
    }
    uint8_t timing[TP_INFER_REPLY_HEADER_BYTES];
    put_u64(timing, ticks);
    put_u64(timing + 8, ticks * tp_hal_units_per_tick());
    uint32_t crc = send_begin(TP_FRAME_INFER | TP_FRAME_REPLY, sizeof timing + out_bytes);
    crc = send_chunk(crc, timing, sizeof timing);
    for (uint32_t i = 0; i < tp_glue_num_outputs(); i++) {
        crc = send_chunk(crc, tp_glue_output(i), tp_glue_output_bytes(i));
    }
    send_end(crc);
}

static void reply_reset(void)
{
    if (tp_glue_reset() != 0) {
        send_error(TP_ERR_RESET, "the runtime failed to reset the model's state");
        return;
    }
    send_end(send_begin(TP_FRAME_RESET | TP_FRAME_REPLY, 0));
}

/* --- receiving ----------------------------------------------------------------------- */

static int read_exact(void *data, uint32_t len)
{
    return tp_hal_read(data, len, TP_FRAME_TIMEOUT_MS) == len;
}

/* Discard a rejected payload and its CRC; stop early if the sender goes quiet. */
static void drain(uint32_t len)
{
    uint8_t scratch[TP_DRAIN_CHUNK_BYTES];
    uint64_t left = (uint64_t)len + TP_CRC_BYTES;
    while (left > 0) {
        uint32_t want = left < sizeof scratch ? (uint32_t)left : (uint32_t)sizeof scratch;
        uint32_t got = tp_hal_read(scratch, want, TP_DRAIN_TIMEOUT_MS);
        left -= got;
        if (got < want) {
            return;
        }
    }
}

/* Read the trailing CRC and compare; returns 0 or a TP_ERR_* code. */
static int check_crc(uint32_t crc)
{
    uint8_t trailer[TP_CRC_BYTES];
    if (!read_exact(trailer, sizeof trailer)) {
        return TP_ERR_TIMEOUT;
    }
    return get_u32(trailer) == crc ? 0 : TP_ERR_BAD_CRC;
}

static int receive_inputs(uint32_t crc)
{
    for (uint32_t i = 0; i < tp_glue_num_inputs(); i++) {
        int8_t *tensor = tp_glue_input(i);
        uint32_t len = tp_glue_input_bytes(i);
        if (!read_exact(tensor, len)) {
            return TP_ERR_TIMEOUT;
        }
        crc = tp_crc32(crc, tensor, len);
    }
    return check_crc(crc);
}

static uint32_t total_input_bytes(void)
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < tp_glue_num_inputs(); i++) {
        total += tp_glue_input_bytes(i);
    }
    return total;
}

/* Handle one frame whose magic has just been read. Returns 1 when the session ends. */
static int handle_frame(void)
{
    uint8_t header[TP_HEADER_BYTES];
    if (!read_exact(header, sizeof header)) {
        send_error(TP_ERR_TIMEOUT, "frame header timed out");
        return 0;
    }
    const uint8_t type = header[0];
    const uint32_t len = get_u32(header + 1);
    const uint32_t crc = tp_crc32(0, header, sizeof header);

    uint32_t expected_len;
    if (type == TP_FRAME_INFO || type == TP_FRAME_BYE || type == TP_FRAME_RESET) {
        expected_len = 0;
    } else if (type == TP_FRAME_INFER) {
        expected_len = total_input_bytes();
    } else {
        drain(len);
        send_error(TP_ERR_UNKNOWN_TYPE, "unknown frame type");
        return 0;
    }
    if (len != expected_len) {
        drain(len);
        send_error(TP_ERR_BAD_LENGTH, "payload length does not match the request type");
        return 0;
    }
    const int err = type == TP_FRAME_INFER ? receive_inputs(crc) : check_crc(crc);
    if (err == TP_ERR_BAD_CRC) {
        send_error(TP_ERR_BAD_CRC, "CRC mismatch, frame dropped");
        return 0;
    }
    if (err != 0) {
        send_error(TP_ERR_TIMEOUT, "frame payload timed out");
        return 0;
    }
    if (type == TP_FRAME_INFO) {
        reply_info();
    } else if (type == TP_FRAME_INFER) {
        reply_infer();
    } else if (type == TP_FRAME_RESET) {
        reply_reset();
    } else {
        send_end(send_begin(TP_FRAME_BYE | TP_FRAME_REPLY, 0));
        return 1;
    }
    return 0;
}

int tp_protocol_serve(uint32_t idle_ms)
{
    uint32_t quiet_ms = 0;
    uint8_t previous = 0;
    while (quiet_ms < idle_ms) {
        uint8_t byte;
        if (tp_hal_read(&byte, 1u, TP_POLL_MS) == 0) {
            quiet_ms += TP_POLL_MS;
            continue;
        }
        quiet_ms = 0;
        if (previous == TP_MAGIC_0 && byte == TP_MAGIC_1) {
            previous = 0;
            if (handle_frame()) {
                return 1;
            }
        } else {
            previous = byte;
        }
    }
    return 0;
}
