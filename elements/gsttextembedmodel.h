/* gsttextembedmodel.h — process-wide, reference-counted sharing of loaded models between the
 * elements of one process, so a pipeline of four elements naming the same directory holds its
 * weights once. Keyed by the canonical directory path (and whether weights are needed). */
#pragma once

#include <gst/gst.h>
#include "te-model.h"

G_BEGIN_DECLS

/* @dir NULL or "" means the default model (te_default_model_dir()). @with_weights FALSE loads
 * only the tokenizer and configs (what the text-side elements need). */
TeModel *gst_text_embed_model_acquire (const gchar * dir, gboolean with_weights,
    GError ** error);
void gst_text_embed_model_release (TeModel * model);

/* Post a RESOURCE/OPEN_READ error on @element for a model that failed to load. */
void gst_text_embed_model_post_error (GstElement * element, const gchar * dir,
    const GError * error);

G_END_DECLS
