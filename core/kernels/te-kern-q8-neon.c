/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-q8-neon.c — the int8 kernel for aarch64 with the dot-product extension (built with
 * +dotprod; called only when te-cpu.h says the CPU has it). sdot multiplies 4 signed bytes of
 * a row with 4 of each of 4 columns, adding into 4 int32 lanes. A 2 x 16 tile: 8 int32
 * accumulators for the current group of 64 input channels, 8 float ones for the sum over
 * groups; 16 bytes of each row are loaded at once and used lane by lane. */
#include "te-kern-private.h"

#include <arm_neon.h>
#include <string.h>

#define TE_VL 4
#include "te-kern-vmath.h"      /* v_gelu */

#define NR 16
#define MR 2

static inline __attribute__ ((always_inline)) void
tile (const int MRC, const TeKernQ * w, const int8_t * A, const float *sa, const int8_t * B,
    int n0, float *C, int nr, TeKernEpilogue epi)
{
  float32x4_t facc[MR][4];
  const int kp = w->kp, ldc = w->n, ng = w->ng;

  for (int i = 0; i < MRC; i++)
    for (int v = 0; v < 4; v++)
      facc[i][v] = vdupq_n_f32 (0.0f);
  for (int g = 0; g < ng; g++) {
    int32x4_t acc[MR][4];

    for (int i = 0; i < MRC; i++)
      for (int v = 0; v < 4; v++)
        acc[i][v] = vdupq_n_s32 (0);
    for (int kg = g * (TE_Q8_GROUP / 4); kg < (g + 1) * (TE_Q8_GROUP / 4); kg += 4) {
      int8x16_t a[MR];
      for (int i = 0; i < MRC; i++)
        a[i] = vld1q_s8 (A + (size_t) i * kp + 4 * kg);
#define STEP(l) do { \
        const int8_t *bg = B + (size_t) (kg + l) * NR * 4; \
        int8x16_t w0 = vld1q_s8 (bg), w1 = vld1q_s8 (bg + 16), w2 = vld1q_s8 (bg + 32), \
            w3 = vld1q_s8 (bg + 48); \
        for (int i = 0; i < MRC; i++) { \
          acc[i][0] = vdotq_laneq_s32 (acc[i][0], w0, a[i], l); \
          acc[i][1] = vdotq_laneq_s32 (acc[i][1], w1, a[i], l); \
          acc[i][2] = vdotq_laneq_s32 (acc[i][2], w2, a[i], l); \
          acc[i][3] = vdotq_laneq_s32 (acc[i][3], w3, a[i], l); \
        } } while (0)
      STEP (0);
      STEP (1);
      STEP (2);
      STEP (3);
#undef STEP
    }
    for (int i = 0; i < MRC; i++)
      for (int v = 0; v < 4; v++)
        facc[i][v] = vfmaq_n_f32 (facc[i][v], vcvtq_f32_s32 (acc[i][v]),
            sa[(size_t) i * ng + g]);
  }
  for (int i = 0; i < MRC; i++) {
    float out[NR];
    for (int v = 0; v < 4; v++) {
      float32x4_t o = vfmaq_f32 (vld1q_f32 (w->bias + n0 + 4 * v), facc[i][v],
          vld1q_f32 (w->scale + n0 + 4 * v));
      if (epi == TE_KERN_EPI_GELU)
        o = (float32x4_t) v_gelu ((vf) o);
      vst1q_f32 (out + 4 * v, o);
    }
    memcpy (C + (size_t) i * ldc, out, (size_t) nr * sizeof (float));
  }
}

#include "te-kern-q8-panels.h"

const TeKernQOps te_kern_q8_neon_dotprod = {
  .name = "neon_dotprod",
  .nr = NR,
  .mr = MR,
  .act_u8 = 0,
  .panels = panels,
};
