/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextembedmodel.h — process-wide, reference-counted sharing of loaded models between the
 * elements of one process, so a pipeline of four elements naming the same directory holds its
 * weights once and parses its tokenizer.json once. Keyed by the canonical directory path: the
 * text-side elements load the model without weights, the first encoder adds them. */
#pragma once

#include <gst/gst.h>
#include "te-model.h"

G_BEGIN_DECLS

/* @dir NULL or "" means the default model (te_default_model_dir()). @with_weights FALSE loads
 * only the tokenizer and configs (what the text-side elements need); TRUE adds the weights to
 * the shared model if it has none yet (an error leaves it without). */
TeModel *gst_text_embed_model_acquire (const gchar * dir, gboolean with_weights,
    GError ** error);
void gst_text_embed_model_release (TeModel * model);

/* Acquire the model named by @element's "model" property (NULL = default); on failure post a
 * RESOURCE/OPEN_READ error on @element naming the directory and the problem, and return NULL. */
TeModel *gst_text_embed_model_acquire_for_element (GstElement * element, gboolean with_weights);

/* SHA-256 (hex) of the config.json, tokenizer.json and model.safetensors of the model directory
 * @dir, the same key the export cache uses (te_export_model_hash()); computed once per directory
 * and process. Newly allocated; NULL with @error when a file cannot be read. */
gchar *gst_text_embed_model_content_hash (const gchar * dir, GError ** error);

G_END_DECLS
