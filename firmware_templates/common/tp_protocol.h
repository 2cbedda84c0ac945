/*
 * tp_protocol.h - the framed binary protocol the host uses to validate a model on the board.
 *
 * Frame (all integers little-endian):
 *
 *   magic   2 bytes  0xA5 0x5A
 *   type    1 byte   TP_FRAME_*
 *   length  4 bytes  payload length
 *   payload length bytes
 *   crc     4 bytes  CRC-32 (IEEE 802.3, as zlib.crc32) over type, length and payload
 *
 * The host sends requests; the board answers every request with exactly one frame: the
 * matching reply type (request | TP_FRAME_REPLY) or TP_FRAME_ERROR. Bytes outside frames are
 * skipped, so line noise before a frame is harmless. tinypipe/protocol.py is the host side
 * and must stay in step with this file.
 */
#ifndef TP_PROTOCOL_H
#define TP_PROTOCOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TP_PROTOCOL_VERSION 1u

#define TP_MAGIC_0 0xA5u
#define TP_MAGIC_1 0x5Au
#define TP_HEADER_BYTES 5u /* type + length, after the magic */
#define TP_CRC_BYTES 4u

/* Requests. */
#define TP_FRAME_INFO 0x01u  /* empty -> u32 n_in, u32 n_out, u32 input sizes, u32 output sizes */
#define TP_FRAME_INFER 0x02u /* all input tensors back to back -> u64 ticks, u64 units, outputs */
#define TP_FRAME_BYE 0x03u   /* empty -> empty; the board then ends the session */
#define TP_FRAME_RESET 0x04u /* empty -> empty; the model's state (resource variables) is reset */
/* Replies. */
#define TP_FRAME_REPLY 0x80u
#define TP_FRAME_ERROR 0xFFu /* u8 error code, then an ASCII message */

/* Error codes carried by TP_FRAME_ERROR. */
#define TP_ERR_BAD_CRC 1u
#define TP_ERR_BAD_LENGTH 2u
#define TP_ERR_UNKNOWN_TYPE 3u
#define TP_ERR_TIMEOUT 4u /* a frame stopped arriving half-way (never under TP_QEMU) */
#define TP_ERR_INVOKE 5u  /* the runtime reported a failure */
#define TP_ERR_RESET 6u   /* the runtime could not reset the model's state */

/* CRC-32 (IEEE, reflected, polynomial 0xEDB88320). Start with crc = 0 and feed chunks. */
uint32_t tp_crc32(uint32_t crc, const void *data, uint32_t len);

/* Serve requests until a BYE frame or until no byte arrived for idle_ms. Returns 1 after a
 * BYE, 0 after the idle timeout. */
int tp_protocol_serve(uint32_t idle_ms);

/* Time one inference on the current inputs; the harness implements it (ticks elapsed). */
int tp_timed_invoke(uint64_t *ticks);

#ifdef __cplusplus
}
#endif

#endif /* TP_PROTOCOL_H */
