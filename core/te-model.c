/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-model.c — loads a Hugging Face / sentence-transformers encoder model directory: config.json,
 * tokenizer.json, model.safetensors (checked against the config) and the sentence configs.
 * The encoder family (BERT, XLM-RoBERTa) comes from config.json's model_type. */
#include "te-model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "te-json.h"

#ifndef TE_DEFAULT_MODEL_DIR
#define TE_DEFAULT_MODEL_DIR "/usr/local/share/textembed/models/all-MiniLM-L6-v2"
#endif

struct _TeModel {
  char *dir;
  TeBertConfig config;
  TeSentenceConfig sentence;
  TeTokenizer *tokenizer;
  GHashTable *prompts;      /* name -> prompt text, from config_sentence_transformers.json */
  char *default_prompt_name;

  /* Weights (NULL / empty for a tokenizer-only model). F32 tensors may point straight into
   * the mapping of @st, which therefore stays open as long as the model. */
  TeSafetensors *st;
  TeBertWeights *weights;
  GPtrArray *owned;         /* buffers we allocated (converted or fused tensors) */
  gsize weights_size;
};

/* ---- small JSON helpers ---- */

static JsonNode *
load_json_file (const char *path, JsonParser ** parser_out, GError ** error)
{
  JsonParser *parser;
  GError *err = NULL;
  char *data = NULL;
  gsize len;

  if (!g_file_get_contents (path, &data, &len, &err)) {
    g_set_error (error, TE_ERROR, TE_ERROR_IO, "%s: %s", path, err->message);
    g_error_free (err);
    return NULL;
  }
  /* Config files are a few hundred bytes; these limits only stop hostile ones. */
  if (len > 16 * 1024 * 1024 || !te_json_nesting_ok (data, len, 64)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: %s", path,
        len > 16 * 1024 * 1024 ? "too large for a configuration file" : "JSON nested too deeply");
    g_free (data);
    return NULL;
  }
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, (gssize) len, &err)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: not valid JSON: %s", path, err->message);
    g_error_free (err);
    g_free (data);
    g_object_unref (parser);
    return NULL;
  }
  g_free (data);
  /* json-glib accepts an empty (or all-whitespace) document and gives no root */
  if (json_parser_get_root (parser) == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: empty, expected a JSON document", path);
    g_object_unref (parser);
    return NULL;
  }
  *parser_out = parser;
  return json_parser_get_root (parser);
}

/* Integer member @name of @obj in [min, max] (te_json_get_int() narrowed to int). */
static gboolean
get_int (const char *path, JsonObject * obj, const char *name, gboolean required, int def,
    gint64 min, gint64 max, int *out, GError ** error)
{
  gint64 v;

  g_assert (min >= G_MININT && max <= G_MAXINT);
  if (!te_json_get_int (obj, path, name, required, def, min, max, &v, error))
    return FALSE;
  *out = (int) v;
  return TRUE;
}

/* ---- config.json ---- */

/* The encoder families, looked up by config.json's model_type. Adding one whose layers are
 * BERT's is an entry here (and its embeddings in te-bert.c and tools/te-export.py). */
typedef struct {
  const char *model_type;
  TeModelFamily family;
  const char *arch_prefix;    /* architectures[] of configs without a model_type */
  const char *weight_prefix;  /* task-head checkpoints name the encoder "<prefix>embeddings..." */
  int default_pad_token_id;   /* the transformers config class's default */
} FamilyInfo;

static const FamilyInfo families[] = {
  {"bert", TE_FAMILY_BERT, "Bert", "bert.", 0},
  {"xlm-roberta", TE_FAMILY_XLM_ROBERTA, "XLMRoberta", "roberta.", 1},
};

/* "\"bert\", \"xlm-roberta\"", for error messages; free with g_free(). */
static char *
supported_model_types (void)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    g_string_append_printf (s, "%s\"%s\"", i ? ", " : "", families[i].model_type);
  return g_string_free (s, FALSE);
}

static const FamilyInfo *
family_by_type (const char *model_type)
{
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    if (strcmp (families[i].model_type, model_type) == 0)
      return &families[i];
  return NULL;
}

static const FamilyInfo *
family_info (TeModelFamily family)
{
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    if (families[i].family == family)
      return &families[i];
  g_return_val_if_reached (&families[0]);
}

/* Old configs without a model_type: recognised by their architectures (BertModel,
 * BertForMaskedLM...: all carry the same encoder). */
static const FamilyInfo *
family_by_architectures (JsonObject * obj)
{
  JsonArray *arr = te_json_array (obj, "architectures");

  for (guint i = 0; arr != NULL && i < json_array_get_length (arr); i++) {
    JsonNode *e = json_array_get_element (arr, i);

    if (!te_json_node_holds (e, G_TYPE_STRING))
      continue;
    for (guint f = 0; f < G_N_ELEMENTS (families); f++)
      if (g_str_has_prefix (json_node_get_string (e), families[f].arch_prefix))
        return &families[f];
  }
  return NULL;
}

static gboolean
parse_config (const char *dir, TeBertConfig * c, GError ** error)
{
  char *path = g_build_filename (dir, "config.json", NULL);
  JsonParser *parser = NULL;
  JsonNode *root;
  JsonObject *obj;
  JsonNode *eps;
  const char *model_type, *act, *pos_type;
  const FamilyInfo *fam;
  gboolean ok = FALSE;

  root = load_json_file (path, &parser, error);
  if (root == NULL)
    goto out;
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: not a JSON object", path);
    goto out;
  }
  obj = json_node_get_object (root);

  if (!te_json_get_string (obj, path, "model_type", FALSE, &model_type, error))
    goto out;
  /* model_type decides; old configs without one are recognised by their architectures. */
  fam = model_type != NULL ? family_by_type (model_type) : family_by_architectures (obj);
  if (fam == NULL) {
    char *types = supported_model_types ();

    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "%s: model_type \"%s\" is not supported (supported model_type values: %s)",
        path, model_type ? model_type : "(none)", types);
    g_free (types);
    goto out;
  }
  c->family = fam->family;
  if (!te_json_get_string (obj, path, "hidden_act", FALSE, &act, error))
    goto out;
  if (act != NULL && strcmp (act, "gelu") != 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "%s: hidden_act \"%s\" is not supported (only \"gelu\", the exact erf form)", path, act);
    goto out;
  }
  if (!te_json_get_string (obj, path, "position_embedding_type", FALSE, &pos_type, error))
    goto out;
  if (pos_type != NULL && strcmp (pos_type, "absolute") != 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "%s: position_embedding_type \"%s\" is not supported (only \"absolute\")", path,
        pos_type);
    goto out;
  }

  /* Bounds are "sane", not tight: they keep every size product well inside gsize and int. */
  if (!get_int (path, obj, "vocab_size", TRUE, 0, 1, 10000000, &c->vocab_size, error)
      || !get_int (path, obj, "hidden_size", TRUE, 0, 1, 65536, &c->hidden_size, error)
      || !get_int (path, obj, "num_hidden_layers", TRUE, 0, 1, 1024, &c->num_layers, error)
      || !get_int (path, obj, "num_attention_heads", TRUE, 0, 1, 65536, &c->num_heads, error)
      || !get_int (path, obj, "intermediate_size", TRUE, 0, 1, 1 << 20,
          &c->intermediate_size, error)
      || !get_int (path, obj, "max_position_embeddings", TRUE, 0, 1, 1 << 20,
          &c->max_position_embeddings, error)
      || !get_int (path, obj, "type_vocab_size", FALSE, 2, 1, 1024, &c->type_vocab_size, error))
    goto out;
  if (!get_int (path, obj, "pad_token_id", FALSE, fam->default_pad_token_id, 0,
          c->vocab_size - 1, &c->pad_token_id, error))
    goto out;
  c->max_seq_len = c->max_position_embeddings;
  if (c->family == TE_FAMILY_XLM_ROBERTA) {
    /* Positions run from pad_token_id + 1 to pad_token_id + n: the table must hold them. */
    c->max_seq_len = c->max_position_embeddings - c->pad_token_id - 1;
    if (c->max_seq_len < 1) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "%s: max_position_embeddings %d leaves no position after padding_idx "
          "(pad_token_id) %d", path, c->max_position_embeddings, c->pad_token_id);
      goto out;
    }
  }
  if (c->hidden_size % c->num_heads != 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: hidden_size %d is not a multiple of num_attention_heads %d", path,
        c->hidden_size, c->num_heads);
    goto out;
  }

  c->layer_norm_eps = 1e-12f;
  eps = te_json_member (obj, "layer_norm_eps");
  if (eps != NULL) {
    double v;
    if (!te_json_node_holds (eps, G_TYPE_DOUBLE) && !te_json_node_holds (eps, G_TYPE_INT64)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: \"layer_norm_eps\" is not a number",
          path);
      goto out;
    }
    v = json_node_get_double (eps);
    /* checked as the float it becomes: 1e-50 is positive as a double, 0 as a float */
    if (!((float) v > 0.0f && v < 1.0)) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "%s: \"layer_norm_eps\" is %g, expected a small positive number", path, v);
      goto out;
    }
    c->layer_norm_eps = (float) v;
  }
  c->model_type = g_strdup (fam->model_type);
  c->hidden_act = g_strdup (act ? act : "gelu");
  ok = TRUE;

out:
  g_clear_object (&parser);
  g_free (path);
  return ok;
}

/* ---- sentence-transformers configs ---- */

static gboolean
parse_pooling_config (const char *path, const TeBertConfig * c, TeSentenceConfig * s,
    GError ** error)
{
  JsonParser *parser = NULL;
  JsonNode *root;
  JsonObject *obj;
  gboolean mean, cls, max, sqrt_len, weighted, last, ok = FALSE;
  int dim, n_modes;

  root = load_json_file (path, &parser, error);
  if (root == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: not a JSON object", path);
    goto out;
  }
  obj = json_node_get_object (root);
  if (!te_json_get_bool (obj, path, "include_prompt", FALSE, TRUE, &s->include_prompt, error)
      || !te_json_get_bool (obj, path, "pooling_mode_mean_tokens", FALSE, FALSE, &mean, error)
      || !te_json_get_bool (obj, path, "pooling_mode_cls_token", FALSE, FALSE, &cls, error)
      || !te_json_get_bool (obj, path, "pooling_mode_max_tokens", FALSE, FALSE, &max, error)
      || !te_json_get_bool (obj, path, "pooling_mode_mean_sqrt_len_tokens", FALSE, FALSE,
          &sqrt_len, error)
      || !te_json_get_bool (obj, path, "pooling_mode_weightedmean_tokens", FALSE, FALSE,
          &weighted, error)
      || !te_json_get_bool (obj, path, "pooling_mode_lasttoken", FALSE, FALSE, &last, error)
      || !get_int (path, obj, "word_embedding_dimension", FALSE, c->hidden_size, 1, G_MAXINT,
          &dim, error))
    goto out;
  if (sqrt_len || weighted || last) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "%s: pooling mode %s is not supported (only mean, cls, max)", path,
        sqrt_len ? "mean_sqrt_len_tokens" : weighted ? "weightedmean_tokens" : "lasttoken");
    goto out;
  }
  n_modes = !!mean + !!cls + !!max;
  if (n_modes != 1) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "%s: %s pooling modes are set; exactly one of mean, cls, max is supported", path,
        n_modes == 0 ? "no" : "several");
    goto out;
  }
  if (dim != c->hidden_size) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: word_embedding_dimension %d differs from config.json hidden_size %d", path, dim,
        c->hidden_size);
    goto out;
  }
  s->pooling = mean ? TE_POOL_MEAN : cls ? TE_POOL_CLS : TE_POOL_MAX;
  ok = TRUE;

out:
  g_clear_object (&parser);
  return ok;
}

/* modules.json lists the sentence-transformers pipeline. We implement Transformer → Pooling →
 * optional Normalize; any other module would change the embedding, so it is refused. */
static gboolean
parse_sentence_config (const char *dir, const TeBertConfig * c, TeSentenceConfig * s,
    GError ** error)
{
  char *modules_path = g_build_filename (dir, "modules.json", NULL);
  char *pooling_path = NULL;
  char *sbert_path = g_build_filename (dir, "sentence_bert_config.json", NULL);
  JsonParser *parser = NULL;
  gboolean ok = FALSE;

  s->pooling = TE_POOL_MEAN;
  s->normalize = FALSE;
  s->max_seq_length = c->max_seq_len;
  s->include_prompt = TRUE;

  if (g_file_test (modules_path, G_FILE_TEST_EXISTS)) {
    JsonNode *root = load_json_file (modules_path, &parser, error);
    JsonArray *arr;
    guint i;

    if (root == NULL)
      goto out;
    if (!JSON_NODE_HOLDS_ARRAY (root)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: not a JSON array", modules_path);
      goto out;
    }
    arr = json_node_get_array (root);
    for (i = 0; i < json_array_get_length (arr); i++) {
      JsonNode *m = json_array_get_element (arr, i);
      const char *type, *mpath;
      JsonObject *mo;

      if (!JSON_NODE_HOLDS_OBJECT (m)) {
        g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: module %u is not an object",
            modules_path, i);
        goto out;
      }
      mo = json_node_get_object (m);
      if (!te_json_get_string (mo, modules_path, "type", FALSE, &type, error)
          || !te_json_get_string (mo, modules_path, "path", FALSE, &mpath, error))
        goto out;
      if (g_strcmp0 (type, "sentence_transformers.models.Transformer") == 0) {
        continue;
      } else if (g_strcmp0 (type, "sentence_transformers.models.Pooling") == 0) {
        /* Module paths are relative; refuse anything that would leave the model directory. */
        if (mpath == NULL || g_path_is_absolute (mpath) || strstr (mpath, "..") != NULL) {
          g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
              "%s: Pooling module has a bad path \"%s\"", modules_path, mpath ? mpath : "");
          goto out;
        }
        g_free (pooling_path);
        pooling_path = g_build_filename (dir, mpath, "config.json", NULL);
      } else if (g_strcmp0 (type, "sentence_transformers.models.Normalize") == 0) {
        s->normalize = TRUE;
      } else {
        g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
            "%s: module type \"%s\" is not supported (only Transformer, Pooling, Normalize)",
            modules_path, type ? type : "(none)");
        goto out;
      }
    }
  } else {
    /* No modules.json: a plain transformers directory, or an old sentence-transformers one. */
    pooling_path = g_build_filename (dir, "1_Pooling", "config.json", NULL);
    if (!g_file_test (pooling_path, G_FILE_TEST_EXISTS))
      g_clear_pointer (&pooling_path, g_free);
  }

  if (pooling_path != NULL && !parse_pooling_config (pooling_path, c, s, error))
    goto out;

  if (g_file_test (sbert_path, G_FILE_TEST_EXISTS)) {
    JsonNode *root;
    int len;

    g_clear_object (&parser);
    root = load_json_file (sbert_path, &parser, error);
    if (root == NULL)
      goto out;
    if (!JSON_NODE_HOLDS_OBJECT (root)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: not a JSON object", sbert_path);
      goto out;
    }
    if (!get_int (sbert_path, json_node_get_object (root), "max_seq_length", FALSE,
            c->max_position_embeddings, 1, G_MAXINT, &len, error))
      goto out;
    s->max_seq_length = MIN (len, c->max_seq_len);
  }
  ok = TRUE;

out:
  g_clear_object (&parser);
  g_free (modules_path);
  g_free (pooling_path);
  g_free (sbert_path);
  return ok;
}

/* ---- weights ---- */

typedef struct {
  TeModel *model;
  const char *prefix;   /* "" or the family's prefix ("bert.", "roberta.") */
} WeightLoader;

static char *
format_shape (const gint64 * shape, int ndim)
{
  GString *s = g_string_new ("[");
  int i;

  for (i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* Find tensor @name (with the loader's prefix) and check its shape. */
static const TeTensorInfo *
find_tensor (WeightLoader * wl, const char *name, int ndim, gint64 d0, gint64 d1,
    GError ** error)
{
  TeSafetensors *st = wl->model->st;
  char *full = g_strconcat (wl->prefix, name, NULL);
  const TeTensorInfo *t = te_safetensors_find (st, full);
  gint64 want[2] = { d0, d1 };

  if (t == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "%s: tensor %s is missing",
        te_safetensors_path (st), full);
  } else if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
    char *have = format_shape (t->shape, t->ndim), *exp = format_shape (want, ndim);
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: %s has shape %s, config.json implies %s", te_safetensors_path (st), full, have,
        exp);
    g_free (have);
    g_free (exp);
    t = NULL;
  }
  g_free (full);
  return t;
}

/* fp32 view of tensor @t: straight into the mapping for aligned little-endian F32, else a
 * converted copy owned by the model. */
static const float *
tensor_f32 (WeightLoader * wl, const TeTensorInfo * t, GError ** error)
{
  TeModel *m = wl->model;
  float *copy;

#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  if (t->dtype == TE_DTYPE_F32) {
    const void *p = te_safetensors_data (m->st, t);
    if (((guintptr) p % G_ALIGNOF (float)) == 0) {
      m->weights_size += t->nbytes;
      return p;
    }
  }
#endif
  copy = te_safetensors_read_f32 (m->st, t, error);
  if (copy == NULL)
    return NULL;
  g_ptr_array_add (m->owned, copy);
  m->weights_size += t->nbytes / te_dtype_size (t->dtype) * sizeof (float);
  return copy;
}

static const float *
load_tensor (WeightLoader * wl, const char *name, int ndim, gint64 d0, gint64 d1,
    GError ** error)
{
  const TeTensorInfo *t = find_tensor (wl, name, ndim, d0, d1, error);
  return t ? tensor_f32 (wl, t, error) : NULL;
}

/* LayerNorm parameters: "weight"/"bias", or "gamma"/"beta" in old TF-converted checkpoints. */
static gboolean
load_layernorm (WeightLoader * wl, const char *base, int h, const float **g, const float **b,
    GError ** error)
{
  char *gname = g_strconcat (base, ".weight", NULL), *bname = g_strconcat (base, ".bias", NULL);
  char *full = g_strconcat (wl->prefix, gname, NULL);
  gboolean ok;

  if (te_safetensors_find (wl->model->st, full) == NULL) {
    char *alt = g_strconcat (wl->prefix, base, ".gamma", NULL);
    if (te_safetensors_find (wl->model->st, alt) != NULL) {
      g_free (gname);
      g_free (bname);
      gname = g_strconcat (base, ".gamma", NULL);
      bname = g_strconcat (base, ".beta", NULL);
    }
    g_free (alt);
  }
  ok = (*g = load_tensor (wl, gname, 1, h, 0, error)) != NULL
      && (*b = load_tensor (wl, bname, 1, h, 0, error)) != NULL;
  g_free (full);
  g_free (gname);
  g_free (bname);
  return ok;
}

/* Concatenate the query, key and value projections of layer @i into one [3h, h] matrix and a
 * [3h] bias, so the forward pass does a single sgemm for all three. */
static gboolean
load_qkv (WeightLoader * wl, int i, TeBertLayer * L, GError ** error)
{
  TeModel *m = wl->model;
  const char *parts[3] = { "query", "key", "value" };
  gsize h = (gsize) m->config.hidden_size;
  float *w = g_new (float, 3 * h * h);
  float *b = g_new (float, 3 * h);
  int p;

  g_ptr_array_add (m->owned, w);
  g_ptr_array_add (m->owned, b);

  for (p = 0; p < 3; p++) {
    char *wname = g_strdup_printf ("encoder.layer.%d.attention.self.%s.weight", i, parts[p]);
    char *bname = g_strdup_printf ("encoder.layer.%d.attention.self.%s.bias", i, parts[p]);
    const TeTensorInfo *wt = find_tensor (wl, wname, 2, h, h, error);
    const TeTensorInfo *bt = wt ? find_tensor (wl, bname, 1, h, 0, error) : NULL;
    gboolean ok = FALSE;

    g_free (wname);
    g_free (bname);
    if (bt != NULL) {
      float *wf = te_safetensors_read_f32 (m->st, wt, error);
      float *bf = wf ? te_safetensors_read_f32 (m->st, bt, error) : NULL;
      if (bf != NULL) {
        memcpy (w + p * h * h, wf, h * h * sizeof (float));
        memcpy (b + p * h, bf, h * sizeof (float));
        ok = TRUE;
      }
      g_free (wf);
      g_free (bf);
    }
    if (!ok)
      return FALSE;
  }
  m->weights_size += (3 * h * h + 3 * h) * sizeof (float);
  L->qkv_w = w;
  L->qkv_b = b;
  L->q_w = w;
  L->k_w = w + h * h;
  L->v_w = w + 2 * h * h;
  L->q_b = b;
  L->k_b = b + h;
  L->v_b = b + 2 * h;
  return TRUE;
}

static gboolean
load_weights (TeModel * m, GError ** error)
{
  const TeBertConfig *c = &m->config;
  char *path = g_build_filename (m->dir, "model.safetensors", NULL);
  TeBertWeights *W;
  WeightLoader wl = { m, "" };
  gint64 h = c->hidden_size, inter = c->intermediate_size;
  gboolean ok = FALSE;
  int i;

  m->st = te_safetensors_open (path, error);
  if (m->st == NULL)
    goto out;
  /* Some checkpoints (BertForMaskedLM, XLMRobertaForMaskedLM and friends) name everything
   * "bert.embeddings...", "roberta.embeddings...". */
  if (te_safetensors_find (m->st, "embeddings.word_embeddings.weight") == NULL) {
    const char *prefix = family_info (c->family)->weight_prefix;
    char *name = g_strconcat (prefix, "embeddings.word_embeddings.weight", NULL);

    if (te_safetensors_find (m->st, name) != NULL)
      wl.prefix = prefix;
    g_free (name);
  }

  m->owned = g_ptr_array_new_with_free_func (g_free);
  m->weights = W = g_new0 (TeBertWeights, 1);
  W->layers = g_new0 (TeBertLayer, c->num_layers);

  if (!(W->word_emb = load_tensor (&wl, "embeddings.word_embeddings.weight", 2,
              c->vocab_size, h, error))
      || !(W->pos_emb = load_tensor (&wl, "embeddings.position_embeddings.weight", 2,
              c->max_position_embeddings, h, error))
      || !(W->type_emb = load_tensor (&wl, "embeddings.token_type_embeddings.weight", 2,
              c->type_vocab_size, h, error))
      || !load_layernorm (&wl, "embeddings.LayerNorm", h, &W->emb_ln_g, &W->emb_ln_b, error))
    goto out;

  for (i = 0; i < c->num_layers; i++) {
    TeBertLayer *L = &W->layers[i];
    char *ao_w = g_strdup_printf ("encoder.layer.%d.attention.output.dense.weight", i);
    char *ao_b = g_strdup_printf ("encoder.layer.%d.attention.output.dense.bias", i);
    char *ln1 = g_strdup_printf ("encoder.layer.%d.attention.output.LayerNorm", i);
    char *i_w = g_strdup_printf ("encoder.layer.%d.intermediate.dense.weight", i);
    char *i_b = g_strdup_printf ("encoder.layer.%d.intermediate.dense.bias", i);
    char *o_w = g_strdup_printf ("encoder.layer.%d.output.dense.weight", i);
    char *o_b = g_strdup_printf ("encoder.layer.%d.output.dense.bias", i);
    char *ln2 = g_strdup_printf ("encoder.layer.%d.output.LayerNorm", i);
    gboolean lok;

    lok = load_qkv (&wl, i, L, error)
        && (L->ao_w = load_tensor (&wl, ao_w, 2, h, h, error))
        && (L->ao_b = load_tensor (&wl, ao_b, 1, h, 0, error))
        && load_layernorm (&wl, ln1, h, &L->ln1_g, &L->ln1_b, error)
        && (L->i_w = load_tensor (&wl, i_w, 2, inter, h, error))
        && (L->i_b = load_tensor (&wl, i_b, 1, inter, 0, error))
        && (L->o_w = load_tensor (&wl, o_w, 2, h, inter, error))
        && (L->o_b = load_tensor (&wl, o_b, 1, h, 0, error))
        && load_layernorm (&wl, ln2, h, &L->ln2_g, &L->ln2_b, error);
    g_free (ao_w);
    g_free (ao_b);
    g_free (ln1);
    g_free (i_w);
    g_free (i_b);
    g_free (o_w);
    g_free (o_b);
    g_free (ln2);
    if (!lok)
      goto out;
  }
  ok = TRUE;

out:
  g_free (path);
  return ok;
}

/* config_sentence_transformers.json: "prompts" (an object of strings) and "default_prompt_name"
 * (a string naming one of them, or null). Absent file: no prompts. */
static gboolean
parse_prompts_config (TeModel * m, GError ** error)
{
  char *path = g_build_filename (m->dir, "config_sentence_transformers.json", NULL);
  JsonParser *parser = NULL;
  gboolean ok = FALSE;

  m->prompts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    ok = TRUE;
    goto out;
  }
  JsonNode *root = load_json_file (path, &parser, error);
  if (root == NULL)
    goto out;
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: not a JSON object", path);
    goto out;
  }
  JsonObject *obj = json_node_get_object (root), *prompts;
  const char *def;
  if (!te_json_get_object (obj, path, "prompts", FALSE, &prompts, error)
      || !te_json_get_string (obj, path, "default_prompt_name", FALSE, &def, error))
    goto out;
  if (prompts) {
    GList *names = json_object_get_members (prompts);
    for (GList * l = names; l; l = l->next) {
      const char *name = l->data, *text;
      char *what = g_strdup_printf ("%s: prompts", path);
      gboolean got = te_json_get_string (prompts, what, name, TRUE, &text, error);
      g_free (what);
      if (got && !g_utf8_validate (text, -1, NULL)) {
        g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: prompt \"%s\" is not UTF-8", path,
            name);
        got = FALSE;
      }
      if (!got) {
        g_list_free (names);
        goto out;
      }
      g_hash_table_replace (m->prompts, g_strdup (name), g_strdup (text));
    }
    g_list_free (names);
  }
  if (def && !g_hash_table_contains (m->prompts, def)) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: default_prompt_name \"%s\" is not one of its prompts", path, def);
    goto out;
  }
  m->default_prompt_name = g_strdup (def);
  ok = TRUE;

out:
  g_clear_object (&parser);
  g_free (path);
  return ok;
}

/* ---- public ---- */

static TeModel *
model_load (const char *dir, gboolean with_weights, GError ** error)
{
  TeModel *m;
  char *tok_path;

  g_return_val_if_fail (dir != NULL, NULL);

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, TE_ERROR, TE_ERROR_IO, "%s: not a model directory", dir);
    return NULL;
  }
  m = g_new0 (TeModel, 1);
  m->dir = g_strdup (dir);

  if (!parse_config (dir, &m->config, error)
      || !parse_sentence_config (dir, &m->config, &m->sentence, error)
      || !parse_prompts_config (m, error))
    goto fail;

  tok_path = g_build_filename (dir, "tokenizer.json", NULL);
  m->tokenizer = te_tokenizer_new_from_file (tok_path, error);
  if (m->tokenizer != NULL
      && te_tokenizer_vocab_size (m->tokenizer) > (guint) m->config.vocab_size) {
    /* Ids beyond the embedding table would be rejected at every forward pass: say it now. */
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: the vocabulary has %u ids but config.json vocab_size is %d", tok_path,
        te_tokenizer_vocab_size (m->tokenizer), m->config.vocab_size);
    g_free (tok_path);
    goto fail;
  }
  g_free (tok_path);
  if (m->tokenizer == NULL)
    goto fail;

  if (with_weights && !load_weights (m, error))
    goto fail;
  return m;

fail:
  te_model_free (m);
  return NULL;
}

TeModel *
te_model_load (const char *dir, GError ** error)
{
  return model_load (dir, TRUE, error);
}

TeModel *
te_model_load_tokenizer_only (const char *dir, GError ** error)
{
  return model_load (dir, FALSE, error);
}

static void
clear_weights (TeModel * m)
{
  if (m->weights) {
    g_free (m->weights->layers);
    g_free (m->weights);
    m->weights = NULL;
  }
  if (m->owned)
    g_ptr_array_free (m->owned, TRUE);
  m->owned = NULL;
  te_safetensors_close (m->st);
  m->st = NULL;
}

gboolean
te_model_load_weights (TeModel * m, GError ** error)
{
  g_return_val_if_fail (m != NULL, FALSE);
  if (m->weights != NULL)
    return TRUE;
  if (load_weights (m, error))
    return TRUE;
  clear_weights (m);
  return FALSE;
}

void
te_model_free (TeModel * m)
{
  if (m == NULL)
    return;
  clear_weights (m);
  if (m->tokenizer)
    te_tokenizer_free (m->tokenizer);
  g_free (m->config.model_type);
  g_free (m->config.hidden_act);
  if (m->prompts)
    g_hash_table_unref (m->prompts);
  g_free (m->default_prompt_name);
  g_free (m->dir);
  g_free (m);
}

const char *
te_model_dir (const TeModel * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->dir;
}

gboolean
te_model_says_matryoshka (const TeModel * m)
{
  g_return_val_if_fail (m != NULL, FALSE);
  char *path = g_build_filename (m->dir, "README.md", NULL), *text = NULL;
  gsize len = 0;
  gboolean yes = FALSE;
  if (g_file_get_contents (path, &text, &len, NULL)) {
    /* case-insensitive search (the card is untrusted: any bytes, NULs included) */
    static const char word[] = "matryoshka";
    for (gsize i = 0; !yes && i + sizeof word - 1 <= len; i++)
      yes = g_ascii_strncasecmp (text + i, word, sizeof word - 1) == 0;
  }
  g_free (text);
  g_free (path);
  return yes;
}

const TeBertConfig *
te_model_config (const TeModel * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return &m->config;
}

const TeSentenceConfig *
te_model_sentence_config (const TeModel * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return &m->sentence;
}

const TeTokenizer *
te_model_tokenizer (const TeModel * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->tokenizer;
}

const TeBertWeights *
te_model_weights (const TeModel * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->weights;
}

gsize
te_model_weights_size (const TeModel * m)
{
  g_return_val_if_fail (m != NULL, 0);
  return m->weights_size;
}

const char *
te_model_prompt (const TeModel * m, const char *name)
{
  g_return_val_if_fail (m != NULL && name != NULL, NULL);
  return g_hash_table_lookup (m->prompts, name);
}

static int
compare_strings (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

char **
te_model_prompt_names (const TeModel * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  guint n;
  char **names = (char **) g_hash_table_get_keys_as_array (m->prompts, &n);
  char **out = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    out[i] = g_strdup (names[i]);
  g_free (names);
  qsort (out, n, sizeof (char *), compare_strings);
  return out;
}

const char *
te_model_default_prompt_name (const TeModel * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->default_prompt_name;
}

gboolean
te_model_resolve_prompt (const TeModel * m, TePromptRole role, const char *prompt,
    const char *instruction, const char *name, char **out, GError ** error)
{
  static const char *const document_names[] = { "document", "passage", "corpus", NULL };
  static const char *const query_names[] = { "query", NULL };

  g_return_val_if_fail (m != NULL && out != NULL, FALSE);
  *out = NULL;
  if ((prompt != NULL) + (instruction != NULL) + (name != NULL) > 1) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "give only one of a prompt, an instruction and a prompt name");
    return FALSE;
  }
  if (prompt) {
    *out = g_strdup (prompt);
    return TRUE;
  }
  if (instruction) {
    *out = g_strdup_printf ("Instruct: %s\nQuery: ", instruction);
    return TRUE;
  }
  if (name) {
    const char *p = g_hash_table_lookup (m->prompts, name);
    if (!p) {
      char **names = te_model_prompt_names (m);
      char *list = g_strjoinv (", ", names);
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "%s declares no prompt named \"%s\" (config_sentence_transformers.json prompts: %s)",
          m->dir, name, *list ? list : "none");
      g_free (list);
      g_strfreev (names);
      return FALSE;
    }
    *out = g_strdup (p);
    return TRUE;
  }
  for (const char *const *c = role == TE_PROMPT_QUERY ? query_names : document_names; *c; c++) {
    const char *p = g_hash_table_lookup (m->prompts, *c);
    if (p) {
      *out = g_strdup (p);
      return TRUE;
    }
  }
  const char *def = m->default_prompt_name ?
      g_hash_table_lookup (m->prompts, m->default_prompt_name) : NULL;
  *out = g_strdup (def ? def : "");
  return TRUE;
}

const char *
te_default_model_dir (void)
{
  const char *env = g_getenv ("TEXTEMBED_DEFAULT_MODEL");

  return (env != NULL && *env != '\0') ? env : TE_DEFAULT_MODEL_DIR;
}
