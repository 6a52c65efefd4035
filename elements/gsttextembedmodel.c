/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gsttextembedmodel.c — the shared model cache behind gst_text_embed_model_acquire(). */
#include "gsttextembedmodel.h"
#include "te-export-cache.h"

#include <stdlib.h>

typedef struct {
  gchar *key;
  TeModel *model;
  guint refs;
} CacheEntry;

static GMutex cache_lock;
static GHashTable *by_key;      /* key -> CacheEntry */
static GHashTable *by_model;    /* TeModel* -> CacheEntry */

/* One model per directory: the text side (textchunker, texttokenizer) loads it without
 * weights, the encoder adds them (te_model_load_weights), so a pipeline parses tokenizer.json
 * once. The weights then stay until the last element releases the model. */
static gchar *
cache_key (const gchar * dir)
{
  char *real = realpath (dir, NULL);
  gchar *key = g_strdup (real ? real : dir);
  free (real);
  return key;
}

TeModel *
gst_text_embed_model_acquire (const gchar * dir, gboolean with_weights, GError ** error)
{
  if (!dir || !*dir)
    dir = te_default_model_dir ();

  gchar *key = cache_key (dir);
  g_mutex_lock (&cache_lock);
  if (!by_key) {
    by_key = g_hash_table_new (g_str_hash, g_str_equal);
    by_model = g_hash_table_new (g_direct_hash, g_direct_equal);
  }
  /* Loading under the lock keeps two elements starting together from loading twice, and
   * keeps te_model_load_weights() from racing a reader (only holders of a with_weights
   * reference read the weights, and they are taken here); loads are rare (state changes), so
   * the serialisation costs nothing in streaming. */
  CacheEntry *e = g_hash_table_lookup (by_key, key);
  if (e) {
    g_free (key);
    if (with_weights && !te_model_load_weights (e->model, error)) {
      g_mutex_unlock (&cache_lock);
      return NULL;
    }
    e->refs++;
    g_mutex_unlock (&cache_lock);
    return e->model;
  }
  TeModel *model = with_weights ? te_model_load (dir, error)
      : te_model_load_tokenizer_only (dir, error);
  if (model) {
    e = g_new0 (CacheEntry, 1);
    e->key = key;
    e->model = model;
    e->refs = 1;
    g_hash_table_insert (by_key, e->key, e);
    g_hash_table_insert (by_model, model, e);
  } else {
    g_free (key);
  }
  g_mutex_unlock (&cache_lock);
  return model;
}

void
gst_text_embed_model_release (TeModel * model)
{
  if (!model)
    return;
  g_mutex_lock (&cache_lock);
  CacheEntry *e = by_model ? g_hash_table_lookup (by_model, model) : NULL;
  g_assert (e != NULL);
  if (--e->refs == 0) {
    g_hash_table_remove (by_model, model);
    g_hash_table_remove (by_key, e->key);
    te_model_free (e->model);
    g_free (e->key);
    g_free (e);
  }
  g_mutex_unlock (&cache_lock);
}

TeModel *
gst_text_embed_model_acquire_for_element (GstElement * element, gboolean with_weights)
{
  gchar *dir = NULL;
  GError *err = NULL;

  g_object_get (element, "model", &dir, NULL);
  TeModel *model = gst_text_embed_model_acquire (dir, with_weights, &err);
  if (!model) {
    GST_ELEMENT_ERROR (element, RESOURCE, OPEN_READ,
        ("Could not load model '%s': %s", dir && *dir ? dir : te_default_model_dir (),
            err ? err->message : "unknown error"),
        ("Set the model property to a Hugging Face model directory (config.json, "
            "tokenizer.json, model.safetensors), or run tools/setup.sh to install the default "
            "model."));
    g_clear_error (&err);
  }
  g_free (dir);
  return model;
}

gchar *
gst_text_embed_model_content_hash (const gchar * dir, GError ** error)
{
  static GHashTable *hashes;    /* canonical dir -> hex, under cache_lock */
  gchar *key = cache_key (dir);
  g_mutex_lock (&cache_lock);
  if (!hashes)
    hashes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gchar *hash = g_strdup (g_hash_table_lookup (hashes, key));
  g_mutex_unlock (&cache_lock);
  if (hash) {
    g_free (key);
    return hash;
  }
  /* hashing a large model takes a while: not under the lock (a race only hashes twice) */
  hash = te_export_model_hash (dir, error);
  if (!hash) {
    g_free (key);
    return NULL;
  }
  g_mutex_lock (&cache_lock);
  g_hash_table_replace (hashes, key, g_strdup (hash));
  g_mutex_unlock (&cache_lock);
  return hash;
}
