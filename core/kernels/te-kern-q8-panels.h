/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-kern-q8-panels.h — the loop over panels and row tiles shared by the int8 kernels.
 * Included by each te-kern-q8-*.c after its tile (MRC, w, A, sa, B, n0, C, nr, epi), with NR (panel
 * width) and MR (rows per tile, <= 12) defined; defines panels (), the TeKernQOps entry.
 * The tile applies the GELU epilogue itself, in registers before its stores (a pass over the
 * whole output afterwards read FFN-up's 6 MB again from L3). */

/* Rows in blocks of TE_Q8_BLOCK_BYTES (te-kern-private.h). */
static void
panels (const TeKernQ * w, const int8_t * Aq, const float *sa, float *C, int m, int p0, int p1,
    TeKernEpilogue epi)
{
  int block = TE_Q8_BLOCK_BYTES / w->kp / MR * MR;

  if (block < MR)
    block = MR;
  for (int b0 = 0; b0 < m; b0 += block) {
    int b1 = m - b0 < block ? m : b0 + block;

    for (int p = p0; p < p1; p++) {
      const int8_t *B = w->data + (size_t) p * w->kp * NR;
      int n0 = p * NR, nr = w->n - n0 < NR ? w->n - n0 : NR;

      for (int i0 = b0; i0 < b1; i0 += MR) {
        const int8_t *a = Aq + (size_t) i0 * w->kp;
        float *c = C + (size_t) i0 * w->n + n0;
        /* each row count gets its own fully unrolled tile */
#define CASE(r) case r: tile (r, w, a, sa + (size_t) i0 * w->ng, B, n0, c, nr, epi); break;
        switch (b1 - i0 < MR ? b1 - i0 : MR) {
          CASE (1)
#if MR >= 2
          CASE (2)
#endif
#if MR >= 3
          CASE (3)
#endif
#if MR >= 4
          CASE (4)
#endif
#if MR >= 6
          CASE (5) CASE (6)
#endif
#if MR >= 12
          CASE (7) CASE (8) CASE (9) CASE (10) CASE (11) CASE (12)
#endif
          default: break;
        }
#undef CASE
      }
    }
  }
}
