/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-pooling.h — token embeddings to one sentence embedding: mean (mask-aware), cls, max;
 * optional L2 normalisation (a zero vector stays zero, never NaN). */
#pragma once

#include <glib.h>
#include "te-model.h"

G_BEGIN_DECLS

/* @tokens: [n, h] embeddings of the n real tokens of one sequence (padding already dropped). */
void te_pool (const float *tokens, int n, int h, TePoolMode mode, float *out);
/* te_pool() over the rows [0, n) but [skip_first, skip_first + skip_n) (a chunk's overlap
 * tokens): mean and max over the rest, cls its first row. All rows skipped: a zero vector. */
void te_pool_except (const float *tokens, int n, int h, int skip_first, int skip_n,
    TePoolMode mode, float *out);
void te_l2_normalize (float *v, int h);

/* "mean" / "cls" / "max" <-> TePoolMode. */
gboolean te_pool_mode_from_string (const char *s, TePoolMode * mode);
const char *te_pool_mode_to_string (TePoolMode mode);

G_END_DECLS
