/*
 * conv_s8_mve.c - CONV_2D, Helium variant (Armv8.1-M MVE): one output channel x a block of pixels
 * at a time with VMLADAVA.S8 (16 MACs per instruction, tail-predicated; each weight load feeds every
 * pixel of the block), the sums requantized as vectors with VQRDMULH + VRSHL (exactly the
 * ties-upward rule) and scattered to their pixels. Rows of 7 pixels with interleaved patches where
 * they fit (conv_rows: pointwise layers, filter rows of whole 16-byte slots, 8+ output channels),
 * else blocks of 4 with a patch per pixel (im2col into scratch, or the input itself for an unpadded
 * 1x1 convolution). The channel loops are written in assembly (row_channels, quad_channels). Same
 * bytes as conv_s8.c.
 */
#include "conv_s8_patch.h"

#include <stddef.h>

#if defined(TP_USE_MVE)

/* What every output channel of a block of 4 output pixels shares: the pixels' patches, the
 * filter's shape in 16-byte blocks, where the outputs go and the requantization's constants. */
typedef struct {
    const int8_t *x[4];  /* the patches (a missing pixel repeats x[0]) */
    int32_t blocks;      /* k_size / 16 */
    uint32_t rest;       /* k_size % 16: the tail's bytes, loaded predicated */
    int32_t output_offset;
    int32x4_t lo, hi;    /* activation range */
    uint32x4_t at;       /* pixel j's output byte: j * output_c; a missing pixel's 0 (x[0]'s byte,
                          * rewritten with the value it already holds) */
} tp_conv_quad_t;

#if defined(__OPTIMIZE__) && !defined(TP_TFLM_ROUNDING)
/* The assembly below reads the struct's fields at these offsets. */
typedef char tp_conv_quad_layout_ok[(offsetof(tp_conv_quad_t, blocks) == 16 && offsetof(tp_conv_quad_t, rest) == 20)
                                        ? 1 : -1];

/* `count` consecutive output channels of a block (weights from *w, advanced past them; bias,
 * multiplier and shift from their pointers, advanced; outputs at out, out + 1, ...): per channel
 * the 4 pixels' sums over the filter's 16-byte blocks (4 + 1 loads, 4 VMLADAVA.S8: 64 MACs), the
 * tail predicated, then tp_requantize_upward_x4's ties-upward rule as one vector (VSHL, VQRDMULH,
 * VRSHL by registers, + output offset, clamp) scattered to the pixels by one unpredicated VSTRB.32.
 * In assembly: GCC kept sums and pointers on the stack around its own loop. */
static void quad_channels(const tp_conv_quad_t *q, const int8_t **w, const int32_t *bias,
                          const int32_t *multiplier, const int32_t *shift, int8_t *out, int32_t count) {
    int32_t a0, a1, a2, a3;
    const int8_t *u0, *u1, *u2, *u3;
    const int32_t *const end = bias + count; /* count >= 1 */
    int8x16_t wv, xv;
    int32x4_t acc;
    __asm__ volatile(
        "0:\n\t"
        "ldr    %[a0], [%[bias]], #4\n\t"
        "mov    %[a1], %[a0]\n\t"
        "mov    %[a2], %[a0]\n\t"
        "mov    %[a3], %[a0]\n\t"
        "ldrd   %[u0], %[u1], [%[q]]\n\t"
        "ldrd   %[u2], %[u3], [%[q], #8]\n\t"
        "ldr    lr, [%[q], #16]\n\t" /* blocks */
        "wls    lr, lr, 2f\n"
        "1:\n\t"
        "vldrb.8 %q[wv], [%[w]], #16\n\t"
        "vldrb.8 %q[xv], [%[u0]], #16\n\t"
        "vmladava.s8 %[a0], %q[xv], %q[wv]\n\t"
        "vldrb.8 %q[xv], [%[u1]], #16\n\t"
        "vmladava.s8 %[a1], %q[xv], %q[wv]\n\t"
        "vldrb.8 %q[xv], [%[u2]], #16\n\t"
        "vmladava.s8 %[a2], %q[xv], %q[wv]\n\t"
        "vldrb.8 %q[xv], [%[u3]], #16\n\t"
        "vmladava.s8 %[a3], %q[xv], %q[wv]\n\t"
        "le     lr, 1b\n"
        "2:\n\t"
        "ldr    lr, [%[q], #20]\n\t" /* rest */
        "cmp    lr, #0\n\t"
        "beq    3f\n\t"
        "vctp.8 lr\n\t" /* the tail: inactive lanes load as 0 */
        "vpstt\n\t"
        "vldrbt.8 %q[wv], [%[w]]\n\t"
        "vldrbt.8 %q[xv], [%[u0]]\n\t"
        "add    %[w], %[w], lr\n\t"
        "vmladava.s8 %[a0], %q[xv], %q[wv]\n\t"
        "vpst\n\t"
        "vldrbt.8 %q[xv], [%[u1]]\n\t"
        "vmladava.s8 %[a1], %q[xv], %q[wv]\n\t"
        "vpst\n\t"
        "vldrbt.8 %q[xv], [%[u2]]\n\t"
        "vmladava.s8 %[a2], %q[xv], %q[wv]\n\t"
        "vpst\n\t"
        "vldrbt.8 %q[xv], [%[u3]]\n\t"
        "vmladava.s8 %[a3], %q[xv], %q[wv]\n"
        "3:\n\t"
        "vdup.32 %q[acc], %[a0]\n\t"
        "vmov.32 %q[acc][1], %[a1]\n\t"
        "vmov.32 %q[acc][2], %[a2]\n\t"
        "vmov.32 %q[acc][3], %[a3]\n\t"
        "ldr    %[u0], [%[mult]], #4\n\t"
        "ldr    %[u1], [%[shift]], #4\n\t"
        "bic    %[u2], %[u1], %[u1], asr #31\n\t" /* left shift: max(shift, 0) */
        "and    %[u1], %[u1], %[u1], asr #31\n\t" /* right shift: min(shift, 0) */
        "vshl.s32 %q[acc], %[u2]\n\t"
        "vqrdmulh.s32 %q[acc], %q[acc], %[u0]\n\t"
        "vrshl.s32 %q[acc], %[u1]\n\t"
        "vadd.i32 %q[acc], %q[acc], %q[zo]\n\t"
        "vmax.s32 %q[acc], %q[acc], %q[lo]\n\t"
        "vmin.s32 %q[acc], %q[acc], %q[hi]\n\t"
        "ldr    %[u0], %[out]\n\t"
        "vstrb.32 %q[acc], [%[u0], %q[at]]\n\t"
        "add    %[u0], %[u0], #1\n\t"
        "str    %[u0], %[out]\n\t"
        "ldr    %[u0], %[end]\n\t"
        "cmp    %[bias], %[u0]\n\t"
        "bne    0b"
        : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [w] "+r"(*w),
          [bias] "+r"(bias), [mult] "+r"(multiplier), [shift] "+r"(shift), [out] "+m"(out),
          [u0] "=&r"(u0), [u1] "=&r"(u1), [u2] "=&r"(u2), [u3] "=&r"(u3),
          [wv] "=&w"(wv), [xv] "=&w"(xv), [acc] "=&w"(acc)
        : [q] "r"(q), [end] "m"(end), [lo] "w"(q->lo), [hi] "w"(q->hi), [at] "w"(q->at),
          [zo] "w"(vdupq_n_s32(q->output_offset))
        : "lr", "cc", "memory");
}
#else /* unoptimized builds (no registers to spare) and TFLite Micro's rounding: the same in C */
/* The 4 pixels' sums of one channel as one vector. */
static inline int32x4_t lanes4(int32_t a0, int32_t a1, int32_t a2, int32_t a3) {
    int32x4_t acc = vdupq_n_s32(a0);
    acc = vsetq_lane_s32(a1, acc, 1);
    acc = vsetq_lane_s32(a2, acc, 2);
    return vsetq_lane_s32(a3, acc, 3);
}

static void quad_channels(const tp_conv_quad_t *q, const int8_t **w, const int32_t *bias,
                          const int32_t *multiplier, const int32_t *shift, int8_t *out, int32_t count) {
    const mve_pred16_t tail = vctp8q(q->rest);
    for (; count > 0; --count, ++out) {
        int32_t a0 = *bias++, a1 = a0, a2 = a0, a3 = a0;
        const int8_t *u0 = q->x[0], *u1 = q->x[1], *u2 = q->x[2], *u3 = q->x[3];
        for (int32_t b = q->blocks; b > 0; --b, *w += 16, u0 += 16, u1 += 16, u2 += 16, u3 += 16) {
            const int8x16_t wv = vldrbq_s8(*w);
            a0 = vmladavaq_s8(a0, vldrbq_s8(u0), wv);
            a1 = vmladavaq_s8(a1, vldrbq_s8(u1), wv);
            a2 = vmladavaq_s8(a2, vldrbq_s8(u2), wv);
            a3 = vmladavaq_s8(a3, vldrbq_s8(u3), wv);
        }
        if (q->rest) {
            const int8x16_t wv = vldrbq_z_s8(*w, tail);
            a0 = vmladavaq_s8(a0, vldrbq_z_s8(u0, tail), wv);
            a1 = vmladavaq_s8(a1, vldrbq_z_s8(u1, tail), wv);
            a2 = vmladavaq_s8(a2, vldrbq_z_s8(u2, tail), wv);
            a3 = vmladavaq_s8(a3, vldrbq_z_s8(u3, tail), wv);
            *w += q->rest;
        }
        const int32x4_t r = tp_requantize_upward_x4(lanes4(a0, a1, a2, a3), vdupq_n_s32(*multiplier++),
                                                    vdupq_n_s32(*shift++), q->output_offset,
                                                    vgetq_lane_s32(q->lo, 0), vgetq_lane_s32(q->hi, 0));
        vstrbq_scatter_offset_s32(out, q->at, r);
    }
}
#endif

/* Pointwise layers in blocks of TP_CONV_MVE_ROW pixels: their patches (input pixels) interleaved in
 * scratch, slot (b * ROW + j) holding bytes 16b.. of pixel j, so one pointer with immediate offsets
 * reaches every pixel and each weight load feeds ROW VMLADAVA.S8 (7 accumulators take the 7 even
 * registers r0-r12 VMLADAVA needs). The filter's last partial block is tail-predicated: a slot's
 * bytes past the patch are never loaded, so a filter of at most 8 bytes takes 8-byte slots, and
 * where the slot is the patch (k_size 8 or 16) the input pixels are the slots themselves. */
#define TP_CONV_MVE_ROW 7
#define TP_CONV_MVE_SLOT 16 /* 8 when k_size <= 8 */

typedef struct {
    int32_t sums[TP_CONV_MVE_ROW];  /* a channel's 7 sums, stored below `zeros` (row_channels' STMDB) */
    int32_t zeros[TP_CONV_MVE_ROW]; /* the sums' start (its LDM); row_channels' base address */
    const int8_t *x;     /* the block's interleaved patches */
    int32_t k_size;      /* elements per channel: the tail-predicated loop's count */
    int32_t back;        /* 16 * ceil(k_size / 16) - k_size: the weight pointer's overshoot */
    int8_t *out;         /* the next channel's output byte in pixel 0 */
    const int32_t *end;  /* the bias past the last channel */
    int32_t slot;        /* TP_CONV_MVE_SLOT, or 8 */
    int left;            /* some channel's shift is positive */
    int32_t output_offset;
    int32x4_t lo, hi;    /* activation range */
    uint32x4_t at, at_hi; /* pixel j's output byte, j * output_c: j = 0..3, and 3..6 */
} tp_conv_row_t;

TP_INLINE int32_t tp_conv_row_slot(int32_t k_size) { return k_size <= 8 ? 8 : TP_CONV_MVE_SLOT; }

/* The bytes of a block's interleaved slots, up to the end of the last 16-byte store. */
TP_INLINE int32_t tp_conv_row_bytes(int32_t k_size) {
    const int32_t slot = tp_conv_row_slot(k_size), blocks = (k_size + TP_CONV_MVE_SLOT - 1) / TP_CONV_MVE_SLOT;
    return ((blocks - 1) * TP_CONV_MVE_ROW + TP_CONV_MVE_ROW - 1) * slot + TP_CONV_MVE_SLOT;
}

/* One pixel's patch (k_size bytes from src) into its slots from d: per 16 bytes one VLDRB
 * (predicated: nothing read past the patch) and one VSTRB of 16 bytes. An 8-byte slot's store
 * spills into the next slot, which the next pixel then writes; the last one's stays within
 * tp_conv_row_bytes. */
TP_INLINE void put_patch(int8_t *d, const int8_t *src, int32_t k_size, int32_t slot) {
    for (int32_t k = 0; k < k_size; k += TP_CONV_MVE_SLOT, d += TP_CONV_MVE_ROW * slot) {
        vstrbq_s8(d, vldrbq_z_s8(src + k, vctp8q((uint32_t)(k_size - k))));
    }
}

#if defined(__OPTIMIZE__) && !defined(TP_TFLM_ROUNDING)
/* The assembly below reads the struct's fields at these offsets from `zeros`. */
#define TP_ROW_FIELD(f) ((int)offsetof(tp_conv_row_t, f) - (int)offsetof(tp_conv_row_t, zeros))
typedef char tp_conv_row_layout_ok[(TP_ROW_FIELD(sums) == -28 && TP_ROW_FIELD(x) == 28 &&
                                    TP_ROW_FIELD(k_size) == 32 && TP_ROW_FIELD(back) == 36 &&
                                    TP_ROW_FIELD(out) == 40 && TP_ROW_FIELD(end) == 44) ? 1 : -1];

/* The requantization of the vector acc (tp_requantize_upward_x4 of acc + bias r0: left shift r6 when
 * LEFT, multiplier r2, right shift r4, output offset, clamp) in row_channels' assembly. */
#define TP_CONV_ROW_REQUANTIZE_ASM(LEFT)        \
    "vadd.i32 %q[acc], %q[acc], r0\n\t"          \
    LEFT("vshl.s32 %q[acc], r6\n\t")            \
    "vqrdmulh.s32 %q[acc], %q[acc], r2\n\t"     \
    "vrshl.s32 %q[acc], r4\n\t"                 \
    "vadd.i32 %q[acc], %q[acc], %q[zo]\n\t"     \
    "vmax.s32 %q[acc], %q[acc], %q[lo]\n\t"     \
    "vmin.s32 %q[acc], %q[acc], %q[hi]\n\t"
#define TP_ASM_WITH(text) text
#define TP_ASM_WITHOUT(text)

/* The consecutive output channels of a ROW-pixel block (as quad_channels; q->out the first's byte,
 * q->end the bias past the last) with slots of `slot` bytes (its multiples 1..7 as immediate
 * offsets: string literals S1..S7): per channel the 7 sums start at 0 (one LDM of q->zeros), a
 * tail-predicated loop over the filter's 16-byte blocks (1 + 7 loads, 7 VMLADAVA.S8: 112 MACs), the
 * sums stored by one STMDB and reloaded as two vectors (pixels 0-3 and 3-6), each + bias,
 * requantized and scattered. Pixel j's sum is r(2j) (VMLADAVA takes even registers; STMDB stores
 * them in pixel order); the pointers take the odd ones. LEFT (TP_ASM_WITH or TP_ASM_WITHOUT): the
 * layer has positive shifts. */
#define TP_CONV_ROW_CHANNELS(S1, S2, S3, S4, S5, S6, S7, LEFT)                                                \
    do {                                                                                                      \
        register int32_t a0 __asm__("r0"), a1 __asm__("r2"), a2 __asm__("r4"), a3 __asm__("r6");             \
        register int32_t a4 __asm__("r8"), a5 __asm__("r10"), a6 __asm__("r12");                              \
        const int8_t *x;                                                                                      \
        int8x16_t wv, xv;                                                                                     \
        int32x4_t acc;                                                                                        \
        __asm__ volatile(                                                                                     \
            "0:\n\t"                                                                                          \
            "ldm    %[q], {r0, r2, r4, r6, r8, r10, r12}\n\t"                                                 \
            "ldrd   %[x], lr, [%[q], #28]\n\t" /* x, k_size */                                                \
            "dlstp.8 lr, lr\n"                                                                                \
            "1:\n\t"                                                                                          \
            "vldrb.8 %q[wv], [%[w]], #16\n\t"                                                                 \
            "vldrb.8 %q[xv], [%[x], #" S1 "]\n\t"                                                             \
            "vmladava.s8 r2, %q[xv], %q[wv]\n\t"                                                              \
            "vldrb.8 %q[xv], [%[x], #" S2 "]\n\t"                                                             \
            "vmladava.s8 r4, %q[xv], %q[wv]\n\t"                                                              \
            "vldrb.8 %q[xv], [%[x], #" S3 "]\n\t"                                                             \
            "vmladava.s8 r6, %q[xv], %q[wv]\n\t"                                                              \
            "vldrb.8 %q[xv], [%[x], #" S4 "]\n\t"                                                             \
            "vmladava.s8 r8, %q[xv], %q[wv]\n\t"                                                              \
            "vldrb.8 %q[xv], [%[x], #" S5 "]\n\t"                                                             \
            "vmladava.s8 r10, %q[xv], %q[wv]\n\t"                                                             \
            "vldrb.8 %q[xv], [%[x], #" S6 "]\n\t"                                                             \
            "vmladava.s8 r12, %q[xv], %q[wv]\n\t"                                                             \
            "vldrb.8 %q[xv], [%[x]], #" S7 "\n\t"                                                             \
            "vmladava.s8 r0, %q[xv], %q[wv]\n\t"                                                              \
            "letp   lr, 1b\n\t"                                                                               \
            "ldr    lr, [%[q], #36]\n\t" /* back */                                                           \
            "sub    %[w], %[w], lr\n\t"                                                                       \
            "stmdb  %[q], {r0, r2, r4, r6, r8, r10, r12}\n\t"                                                 \
            "vldrw.u32 %q[acc], [%[q], #-28]\n\t"                                                             \
            "ldr    r0, [%[bias]], #4\n\t"                                                                    \
            "ldr    r2, [%[mult]], #4\n\t"                                                                    \
            "ldr    r4, [%[shift]], #4\n\t"                                                                   \
            LEFT("bic    r6, r4, r4, asr #31\n\t") /* left shift: max(shift, 0) */                            \
            LEFT("and    r4, r4, r4, asr #31\n\t") /* right shift: min(shift, 0) */                           \
            TP_CONV_ROW_REQUANTIZE_ASM(LEFT)                                                                  \
            "ldrd   %[x], lr, [%[q], #40]\n\t" /* out, end */                                                 \
            "vstrb.32 %q[acc], [%[x], %q[at]]\n\t"                                                            \
            "vldrw.u32 %q[acc], [%[q], #-16]\n\t"                                                             \
            TP_CONV_ROW_REQUANTIZE_ASM(LEFT)                                                                  \
            "vstrb.32 %q[acc], [%[x], %q[at_hi]]\n\t"                                                         \
            "add    %[x], %[x], #1\n\t"                                                                       \
            "str    %[x], [%[q], #40]\n\t"                                                                    \
            "cmp    %[bias], lr\n\t"                                                                          \
            "bne    0b"                                                                                       \
            : "=&r"(a0), "=&r"(a1), "=&r"(a2), "=&r"(a3), "=&r"(a4), "=&r"(a5), "=&r"(a6), [w] "+r"(*w),      \
              [x] "=&r"(x), [bias] "+r"(bias), [mult] "+r"(multiplier), [shift] "+r"(shift), [wv] "=&w"(wv), \
              [xv] "=&w"(xv), [acc] "=&w"(acc)                                                                \
            : [q] "r"(q->zeros), [lo] "w"(q->lo), [hi] "w"(q->hi), [at] "w"(q->at), [at_hi] "w"(q->at_hi),    \
              [zo] "w"(vdupq_n_s32(q->output_offset))                                                         \
            : "lr", "cc", "memory");                                                                          \
    } while (0)

static void __attribute__((noinline)) row_channels(tp_conv_row_t *q, const int8_t **w, const int32_t *bias,
                                                   const int32_t *multiplier, const int32_t *shift, int8_t *out,
                                                   int32_t count) { /* inlined, its asm finds no registers */
    q->out = out;
    q->end = bias + count;
    if (q->slot == 8) {
        if (q->left) {
            TP_CONV_ROW_CHANNELS("8", "16", "24", "32", "40", "48", "56", TP_ASM_WITH);
        } else {
            TP_CONV_ROW_CHANNELS("8", "16", "24", "32", "40", "48", "56", TP_ASM_WITHOUT);
        }
    } else if (q->left) {
        TP_CONV_ROW_CHANNELS("16", "32", "48", "64", "80", "96", "112", TP_ASM_WITH);
    } else {
        TP_CONV_ROW_CHANNELS("16", "32", "48", "64", "80", "96", "112", TP_ASM_WITHOUT);
    }
}
#else /* unoptimized builds and TFLite Micro's rounding: the same in C */
static void row_channels(tp_conv_row_t *q, const int8_t **w, const int32_t *bias, const int32_t *multiplier,
                         const int32_t *shift, int8_t *out, int32_t count) {
    for (; count > 0; --count, ++out) {
        for (int32_t j = 0; j < TP_CONV_MVE_ROW; ++j) {
            q->sums[j] = *bias;
            for (int32_t k = 0; k < q->k_size; k += TP_CONV_MVE_SLOT) {
                const mve_pred16_t lanes = vctp8q((uint32_t)(q->k_size - k));
                const int8_t *x = q->x + (k / TP_CONV_MVE_SLOT * TP_CONV_MVE_ROW + j) * q->slot;
                q->sums[j] = vmladavaq_p_s8(q->sums[j], vldrbq_z_s8(x, lanes), vldrbq_z_s8(*w + k, lanes), lanes);
            }
        }
        *w += q->k_size;
        ++bias;
        const int32x4_t m = vdupq_n_s32(*multiplier++), sh = vdupq_n_s32(*shift++);
        const int32_t lo = vgetq_lane_s32(q->lo, 0), hi = vgetq_lane_s32(q->hi, 0);
        vstrbq_scatter_offset_s32(out, q->at,
                                  tp_requantize_upward_x4(vldrwq_s32(q->sums), m, sh, q->output_offset, lo, hi));
        vstrbq_scatter_offset_s32(out, q->at_hi, tp_requantize_upward_x4(vldrwq_s32(q->sums + 3), m, sh,
                                                                         q->output_offset, lo, hi));
    }
}
#endif

/* The int8 patch of output pixel (oy, ox): inside the input with contiguous rows (dilation_w 1),
 * each filter row is copied 16 bytes per predicated VLDRB / VSTRB pair (nothing read past the row);
 * else, and for a 1x1 filter (the input itself), tp_conv_patch_s8. */
TP_INLINE const int8_t *patch_mve(const tp_conv_params_t *p, const int8_t *in_b, int32_t oy, int32_t ox,
                                  int8_t *col) {
    const int32_t ic = p->input_c, fw = p->filter_w, fh = p->filter_h;
    const int32_t at = fh * fw == 1 ? -1 : tp_conv_patches_inside(p, oy, ox, 1);
    if (at < 0) {
        return tp_conv_patch_s8(p, in_b, oy, ox, col);
    }
    const int32_t run = fw * ic, row_step = p->dilation_h * p->input_w * ic;
    const int8_t *src = in_b + at;
    int8_t *d = col;
    if (run <= 16) { /* a row per predicated pair */
        const mve_pred16_t lanes = vctp8q((uint32_t)run);
        for (int32_t ky = 0; ky < fh; ++ky, src += row_step, d += run) {
            vstrbq_p_s8(d, vldrbq_z_s8(src, lanes), lanes);
        }
        return col;
    }
    for (int32_t ky = 0; ky < fh; ++ky, src += row_step, d += run) {
        for (int32_t k = 0; k < run; k += 16) {
            const mve_pred16_t lanes = vctp8q((uint32_t)(run - k));
            vstrbq_p_s8(d + k, vldrbq_z_s8(src + k, lanes), lanes);
        }
    }
    return col;
}

/* Every live output channel of a block of `pixels` pixels whose outputs start at `out`, by
 * CHANNELS_FN (row_channels or quad_channels on the block's struct q): the elided channels'
 * constants first, then the live ones in one call, or a call per run of consecutive positions. */
#define TP_CONV_MVE_CHANNELS(CHANNELS_FN, out, pixels)                                                  \
    do {                                                                                              \
        int8_t *const out_ = (out);                                                                   \
        const int8_t *w = filter;                                                                     \
        tp_conv_fill_pixels(fill, out_, p->output_c, (pixels));                                       \
        if (channels == NULL) {                                                                       \
            CHANNELS_FN(&q, &w, bias, multiplier, shift, out_, p->live_c);                            \
        } else {                                                                                      \
            for (int32_t c = 0, run; c < p->live_c; c += run) {                                       \
                for (run = 1; c + run < p->live_c && channels[c + run] == channels[c] + run; ++run) { \
                }                                                                                     \
                CHANNELS_FN(&q, &w, bias + c, multiplier + c, shift + c, out_ + channels[c], run);    \
            }                                                                                         \
        }                                                                                             \
    } while (0)

/* Bytes [k, k + n) of a patch into its slots from d (column j of the block): from src (put_run)
 * or the zero point (put_zp), in pieces that end at the 16-byte blocks, one predicated VLDRB /
 * VSTRB pair each. They return k + n. */
TP_INLINE int32_t slot_offset(int32_t slot, uint32_t k) {
    return (int32_t)((k / TP_CONV_MVE_SLOT) * TP_CONV_MVE_ROW * (uint32_t)slot + k % TP_CONV_MVE_SLOT);
}

TP_INLINE int8_t *slot_at(int8_t *d, int32_t slot, uint32_t k) { return d + slot_offset(slot, k); }

TP_INLINE int32_t put_run(int8_t *d, int32_t slot, int32_t k, const int8_t *src, int32_t n) {
    for (int32_t piece; n > 0; src += piece, k += piece, n -= piece) {
        piece = tp_min(TP_CONV_MVE_SLOT - (k & (TP_CONV_MVE_SLOT - 1)), n);
        const mve_pred16_t lanes = vctp8q((uint32_t)piece);
        vstrbq_p_s8(slot_at(d, slot, (uint32_t)k), vldrbq_z_s8(src, lanes), lanes);
    }
    return k;
}

static int32_t __attribute__((noinline)) put_zp(int8_t *d, int32_t slot, int32_t k, int32_t n, int8x16_t zp) {
    for (int32_t piece; n > 0; k += piece, n -= piece) {
        piece = tp_min(TP_CONV_MVE_SLOT - (k & (TP_CONV_MVE_SLOT - 1)), n);
        vstrbq_p_s8(slot_at(d, slot, (uint32_t)k), zp, vctp8q((uint32_t)piece));
    }
    return k;
}

/* Output pixel (oy, ox)'s patch into its slots from d, the raw input zero point where padded:
 * inside the input with filter rows of whole 16-byte blocks, a VLDRB / VSTRB pair per block;
 * else row by row, each row's padded and inside runs by put_zp and put_run. */
static void __attribute__((noinline)) gather_patch(const tp_conv_params_t *p, const int8_t *in_b, int32_t oy,
                                                   int32_t ox, int8_t *d, int32_t slot, int8x16_t zp) {
    const int32_t ic = p->input_c, fw = p->filter_w, fh = p->filter_h, iw = p->input_w, run = fw * ic;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t at = tp_conv_patches_inside(p, oy, ox, 1);
    if (at >= 0 && run % TP_CONV_MVE_SLOT == 0) {
        const int32_t row_step = p->dilation_h * iw * ic;
        const int8_t *row = in_b + at;
        for (int32_t ky = 0; ky < fh; ++ky, row += row_step) {
            for (int32_t k = 0; k < run; k += TP_CONV_MVE_SLOT, d += TP_CONV_MVE_ROW * TP_CONV_MVE_SLOT) {
                vstrbq_s8(d, vldrbq_s8(row + k));
            }
        }
        return;
    }
    /* the filter columns inside the input, [kx0, kx1) (contiguous: dilation_w 1, conv_rows_fit) */
    const int32_t kx0 = tp_clamp(-ix0, 0, fw), kx1 = tp_clamp(iw - ix0, kx0, fw);
    int32_t k = 0;
    for (int32_t ky = 0; ky < fh; ++ky) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        if (iy < 0 || iy >= p->input_h) {
            k = put_zp(d, slot, k, run, zp);
            continue;
        }
        k = kx0 > 0 ? put_zp(d, slot, k, kx0 * ic, zp) : k; /* out of line: padding is rare */
        k = put_run(d, slot, k, in_b + (iy * iw + ix0 + kx0) * ic, (kx1 - kx0) * ic);
        k = kx1 < fw ? put_zp(d, slot, k, (fw - kx1) * ic, zp) : k;
    }
}

/* A patch inside the input whose filter rows are not whole 16-byte blocks, gathered 8 bytes at a
 * time: VLDRB.S16 gathers at 16-bit offsets from the patch's first byte (`groups`, per layer; past
 * k_size the first byte again, never loaded by row_channels' tail predication), one VSTRB.16 to
 * the slot each. At most TP_CONV_MVE_GROUPS groups; patches spanning 64 KiB are not planned. */
#define TP_CONV_MVE_GROUPS 16

/* Whether a layer's inside patches can be gathered: at most TP_CONV_MVE_GROUPS groups, every byte
 * within 16-bit offsets of the first. */
TP_INLINE int gatherable(const tp_conv_params_t *p, int32_t k_size) {
    const int32_t row_step = p->dilation_h * p->input_w * p->input_c;
    return (k_size + 7) / 8 <= TP_CONV_MVE_GROUPS &&
           (p->filter_h - 1) * row_step + p->filter_w * p->input_c <= 65536;
}

/* The gather offsets of a layer's inside patches into `groups`: how many, 0 if they cannot be
 * gathered or the filter rows are whole slots (gather_patch's fast path). */
static int32_t gather_plan(const tp_conv_params_t *p, int32_t k_size, uint16x8_t *groups) {
    const int32_t run = p->filter_w * p->input_c, row_step = p->dilation_h * p->input_w * p->input_c;
    const int32_t n = (k_size + 7) / 8;
    for (int32_t g = 0; g < 4; ++g) { /* gather_block holds the first four */
        groups[g] = vdupq_n_u16(0);
    }
    if (run % TP_CONV_MVE_SLOT == 0 || !gatherable(p, k_size)) {
        return 0;
    }
    for (int32_t g = 0; g < n; ++g) {
        uint16_t at[8];
        for (int32_t i = 0, k = 8 * g; i < 8; ++i, ++k) {
            at[i] = (uint16_t)(k < k_size ? k / run * row_step + k % run : 0);
        }
        groups[g] = vldrhq_u16(at);
    }
    return n;
}

/* The output columns (or rows) whose patches lie inside the input along x (or y): [first, end). */
typedef struct {
    int32_t first, end;
} tp_conv_span_t;

static tp_conv_span_t inside_span(int32_t out, int32_t stride, int32_t pad, int32_t taps, int32_t dilation,
                                  int32_t in) {
    tp_conv_span_t span = {0, 0};
    for (int32_t o = 0; o < out; ++o) {
        const int32_t i0 = o * stride - pad;
        if (i0 >= 0 && i0 + (taps - 1) * dilation < in) {
            span.end = o + 1;
        } else if (span.end == 0) {
            span.first = o + 1;
        }
    }
    span.end = tp_max(span.end, span.first);
    return span;
}

/* How a layer's patches are gathered: the 8-byte groups of an inside patch (gather_plan; none:
 * gather_patch) and the output columns / rows whose patches lie inside. */
typedef struct {
    uint16x8_t groups[TP_CONV_MVE_GROUPS];
    int32_t n_groups;
    tp_conv_span_t xs, ys;
} tp_conv_gather_t;

/* The patches of the ROW pixels from pix into their slots from s: inside ones by gt's groups (the
 * first four unrolled, in registers: a slot's halves, then the next block's), the others by
 * gather_patch. */
static void __attribute__((noinline)) gather_block(const tp_conv_params_t *p, const tp_conv_gather_t *gt,
                                                   const int8_t *in_b, int32_t pix, int8_t *s, int32_t slot,
                                                   int8x16_t zp) {
    const int32_t ow = p->output_w, ic = p->input_c, step = p->stride_w * ic, n = gt->n_groups;
    const uint32_t x0 = (uint32_t)gt->xs.first, nx = (uint32_t)(gt->xs.end - gt->xs.first);
    const uint32_t y0 = (uint32_t)gt->ys.first, ny = (uint32_t)(gt->ys.end - gt->ys.first);
    const uint16x8_t g0 = gt->groups[0], g1 = gt->groups[1], g2 = gt->groups[2], g3 = gt->groups[3];
    const int32_t next_block = TP_CONV_MVE_ROW * TP_CONV_MVE_SLOT;
    int32_t oy = pix / ow, ox = pix - oy * ow;
    int32_t at = ((oy * p->stride_h - p->pad_top) * p->input_w + ox * p->stride_w - p->pad_left) * ic;
    int in_y = n > 0 && (uint32_t)oy - y0 < ny;
    for (int8_t *d = s, *const end = s + TP_CONV_MVE_ROW * slot; d < end; d += slot, at += step) {
        if (in_y && (uint32_t)ox - x0 < nx) {
            const int8_t *const src = in_b + at;
            vstrbq_s16(d, vldrbq_gather_offset_s16(src, g0));
            if (n > 1) {
                vstrbq_s16(d + 8, vldrbq_gather_offset_s16(src, g1));
            }
            if (n > 2) {
                vstrbq_s16(d + next_block, vldrbq_gather_offset_s16(src, g2));
            }
            if (n > 3) {
                vstrbq_s16(d + next_block + 8, vldrbq_gather_offset_s16(src, g3));
            }
            for (int32_t g = 4; g < n; ++g) {
                vstrbq_s16(d + (g >> 1) * next_block + (g & 1) * 8, vldrbq_gather_offset_s16(src, gt->groups[g]));
            }
        } else {
            gather_patch(p, in_b, oy, ox, d, slot, zp);
        }
        if (++ox == ow) {
            ox = 0;
            ++oy;
            in_y = n > 0 && (uint32_t)oy - y0 < ny;
            at = ((oy * p->stride_h - p->pad_top) * p->input_w - p->pad_left) * ic - step;
        }
    }
}

/* Whether a layer takes rows, its slots fitting in the scratch every conv layer reserves: a
 * pointwise one; another whose filter rows are whole 16-byte blocks (copied straight from the
 * input); with 8 output channels or more whose patches can be gathered (gather_block), or 32 or
 * more (patches copied in pieces by gather_patch: that many channels repay it). */
TP_INLINE int conv_rows_fit(const tp_conv_params_t *p, int32_t k_size, int pointwise) {
    return tp_conv_row_bytes(k_size) <= TP_CONV_SCRATCH_BYTES(TP_CONV_DSP_PIXELS, 1, 1, k_size) &&
           (p->dilation_w == 1 || p->filter_w == 1) &&
           (pointwise || (p->filter_w * p->input_c) % TP_CONV_MVE_SLOT == 0 || p->live_c >= 32 ||
            (p->live_c >= 8 && gatherable(p, k_size)));
}

/* Every block of a layer that takes rows (conv_rows_fit). The last block ends at the last pixel
 * and computes again a few pixels of the one before (the same bytes: the output never overlaps
 * the input). */
static void __attribute__((noinline)) conv_rows(const tp_conv_params_t *p, const int8_t *in_b, int pointwise,
                                                const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                                const int32_t *shift, const int16_t *channels, const int8_t *fill,
                                                int8_t *out_b, int8_t *s) { /* apart: keeps the 4-pixel path's code */
    const int32_t k_size = p->filter_h * p->filter_w * p->input_c, oc = p->output_c;
    const int32_t pixels = p->output_h * p->output_w;
    const int8x16_t zp = vdupq_n_s8((int8_t)(-p->input_offset));
    tp_conv_row_t q;
    q.k_size = k_size;
    q.back = (k_size + TP_CONV_MVE_SLOT - 1) / TP_CONV_MVE_SLOT * TP_CONV_MVE_SLOT - k_size;
    q.slot = tp_conv_row_slot(k_size);
    q.output_offset = p->output_offset;
    q.lo = vdupq_n_s32(p->act_min);
    q.hi = vdupq_n_s32(p->act_max);
    q.at = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)oc);
    q.at_hi = vaddq_n_u32(q.at, 3 * (uint32_t)oc);
    q.left = 0;
    for (int32_t c = 0; c < p->live_c; ++c) {
        q.left |= shift[c] > 0;
    }
    for (int32_t j = 0; j < TP_CONV_MVE_ROW; ++j) {
        q.zeros[j] = 0;
    }
    /* patches inside the input whose filter rows are not whole slots: gathered */
    tp_conv_gather_t gt;
    gt.n_groups = pointwise ? 0 : gather_plan(p, k_size, gt.groups);
    gt.xs = inside_span(p->output_w, p->stride_w, p->pad_left, p->filter_w, p->dilation_w, p->input_w);
    gt.ys = inside_span(p->output_h, p->stride_h, p->pad_top, p->filter_h, p->dilation_h, p->input_h);
    for (int32_t next = 0; next < pixels; next += TP_CONV_MVE_ROW) {
        const int32_t pix = next + TP_CONV_MVE_ROW <= pixels ? next : pixels - TP_CONV_MVE_ROW;
        q.x = s;
        if (pointwise && k_size == q.slot) { /* the input pixels are the slots */
            q.x = in_b + pix * k_size;
        } else if (pointwise) {
            for (int32_t j = 0; j < TP_CONV_MVE_ROW; ++j) {
                put_patch(s + q.slot * j, in_b + (pix + j) * k_size, k_size, q.slot);
            }
        } else {
            gather_block(p, &gt, in_b, pix, s, q.slot, zp);
        }
        TP_CONV_MVE_CHANNELS(row_channels, out_b + pix * oc, TP_CONV_MVE_ROW);
    }
}

void tp_conv_s8_mve(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                    const int32_t *bias, const int32_t *multiplier, const int32_t *shift, const int16_t *channels,
                    const int8_t *fill, int8_t *output, void *scratch) {
    const int32_t k_size = p->filter_h * p->filter_w * p->input_c, k4 = (k_size + 3) / 4 * 4;
    const int32_t oc = p->output_c, pixels = p->output_h * p->output_w;
    int8_t *const col = (int8_t *)scratch; /* 4 patches of k4 bytes: within TP_CONV_SCRATCH_BYTES */
    tp_conv_quad_t q;
    q.blocks = k_size >> 4;
    q.rest = (uint32_t)(k_size & 15);
    q.output_offset = p->output_offset;
    q.lo = vdupq_n_s32(p->act_min);
    q.hi = vdupq_n_s32(p->act_max);
    const uint32x4_t at = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)oc);
    /* a pointwise convolution over the whole input: output pixel i's patch is input pixel i */
    const int pointwise = k_size == p->input_c && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
                          p->pad_left == 0 && p->input_w == p->output_w && p->input_h == p->output_h;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        int8_t *out_b = output + b * pixels * oc;
        if (pixels >= TP_CONV_MVE_ROW && conv_rows_fit(p, k_size, pointwise)) {
            conv_rows(p, in_b, pointwise, filter, bias, multiplier, shift, channels, fill, out_b, col);
            continue;
        }
        for (int32_t pix = 0; pix < pixels; pix += 4) {
            const int32_t n = tp_min(pixels - pix, 4);
            if (pointwise) {
                for (int32_t j = 0; j < 4; ++j) {
                    q.x[j] = in_b + (pix + (j < n ? j : 0)) * k_size;
                }
            } else {
                for (int32_t j = 0; j < 4; ++j) {
                    const int32_t oy = (pix + j) / p->output_w, ox = pix + j - oy * p->output_w;
                    q.x[j] = j < n ? patch_mve(p, in_b, oy, ox, col + j * k4) : q.x[0];
                }
            }
            q.at = n == 4 ? at : vpselq_u32(at, vdupq_n_u32(0), vctp32q((uint32_t)n));
            TP_CONV_MVE_CHANNELS(quad_channels, out_b + pix * oc, n);
        }
    }
}

#endif /* TP_USE_MVE */
