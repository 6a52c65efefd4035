/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-model.h — a Hugging Face model directory: config.json, tokenizer.json, model.safetensors
 * and sentence-transformers' modules.json / 1_Pooling/config.json / sentence_bert_config.json.
 * Weights are untrusted input: every offset, size, dtype and shape is checked. */
#pragma once

#include <glib.h>
#include "te-common.h"
#include "te-tokenizer.h"

G_BEGIN_DECLS

typedef enum {
  TE_POOL_MEAN,   /* mean over real (unmasked) tokens */
  TE_POOL_CLS,    /* first token */
  TE_POOL_MAX,    /* element-wise max over real tokens */
} TePoolMode;

/* Encoder families: the same layers (te-bert.c), different embeddings. Chosen by config.json's
 * model_type ("bert", "xlm-roberta"); see docs/models.md. */
typedef enum {
  TE_FAMILY_BERT,         /* position ids are the columns 0..n-1 */
  TE_FAMILY_XLM_ROBERTA,  /* position ids count non-pad tokens from padding_idx + 1 */
} TeModelFamily;

/* Encoder hyper-parameters from config.json. */
typedef struct {
  int vocab_size;
  int hidden_size;
  int num_layers;
  int num_heads;
  int intermediate_size;
  int max_position_embeddings;
  int type_vocab_size;
  float layer_norm_eps;
  char *model_type;    /* "bert", "xlm-roberta" */
  char *hidden_act;    /* "gelu" (exact erf) is what we implement */
  TeModelFamily family;
  /* config.json pad_token_id (default 0 for BERT, 1 for XLM-R). For XLM-R it is the
   * padding_idx of the position ids: a token with id != pad_token_id at column s gets position
   * pad_token_id + (number of non-pad ids in columns 0..s), a pad id gets pad_token_id. */
  int pad_token_id;
  /* The longest sequence the position table allows: max_position_embeddings for BERT,
   * max_position_embeddings - pad_token_id - 1 for XLM-R (512 for 514 and padding_idx 1). */
  int max_seq_len;
} TeBertConfig;

/* Defaults a sentence-transformers directory declares (or plain-transformers fallbacks). */
typedef struct {
  TePoolMode pooling;       /* from 1_Pooling/config.json; MEAN when absent */
  gboolean normalize;       /* a sentence_transformers.models.Normalize module in modules.json */
  int max_seq_length;       /* sentence_bert_config.json, clamped to the config's max_seq_len */
  gboolean include_prompt;  /* 1_Pooling/config.json include_prompt (default TRUE): FALSE = the
                             * prompt's tokens are left out of the pooling */
} TeSentenceConfig;

/* fp32 weights of one encoder layer (row-major, PyTorch Linear layout [out, in]). */
typedef struct {
  const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
  const float *ao_w, *ao_b, *ln1_g, *ln1_b;
  const float *i_w, *i_b, *o_w, *o_b, *ln2_g, *ln2_b;
  /* q | k | v concatenated, [3 * hidden, hidden] and [3 * hidden], so the forward pass does one
   * fused linear; q_w/k_w/v_w (and the biases) point into these. */
  const float *qkv_w, *qkv_b;
} TeBertLayer;

typedef struct {
  const float *word_emb;    /* [vocab, hidden] */
  const float *pos_emb;     /* [max_pos, hidden] */
  const float *type_emb;    /* [type_vocab, hidden] */
  const float *emb_ln_g, *emb_ln_b;
  TeBertLayer *layers;      /* num_layers entries */
} TeBertWeights;

typedef struct _TeModel TeModel;

/* Load a model directory. The tokenizer is loaded too. Errors name the file and the problem. */
TeModel *te_model_load (const char *dir, GError ** error);
/* Load only what the text side needs (tokenizer + sentence config), no weights. */
TeModel *te_model_load_tokenizer_only (const char *dir, GError ** error);
/* Add the weights to a model loaded with te_model_load_tokenizer_only() (TRUE at once when it
 * has them), so that the text side and the encoder can share one model and parse
 * tokenizer.json once. Not thread-safe against a concurrent te_model_weights() of the same
 * model. On error the model stays as it was. */
gboolean te_model_load_weights (TeModel * model, GError ** error);
void te_model_free (TeModel * model);

const char *te_model_dir (const TeModel * model);
const TeBertConfig *te_model_config (const TeModel * model);
const TeSentenceConfig *te_model_sentence_config (const TeModel * model);
const TeTokenizer *te_model_tokenizer (const TeModel * model);
/* NULL for a tokenizer-only model. */
const TeBertWeights *te_model_weights (const TeModel * model);
/* Bytes of fp32 weights held (after any fp16/bf16 conversion). */
gsize te_model_weights_size (const TeModel * model);
/* Whether the model says it was trained for Matryoshka truncation (a prefix of its embedding is
 * itself an embedding): its README.md (the model card sentence-transformers and the hub keep
 * next to the weights) mentions "Matryoshka" (MatryoshkaLoss, Matryoshka Representation
 * Learning). FALSE when it does not, or has no README.md. A hint for a warning, not a check. */
gboolean te_model_says_matryoshka (const TeModel * model);

/* ---- prompts (config_sentence_transformers.json "prompts" and "default_prompt_name") ---- */

/* The prompt named @name, NULL when the model declares none of that name. */
const char *te_model_prompt (const TeModel * model, const char *name);
/* The declared prompt names, sorted (NULL-terminated; free with g_strfreev). */
char **te_model_prompt_names (const TeModel * model);
/* "default_prompt_name", NULL when unset. */
const char *te_model_default_prompt_name (const TeModel * model);

/* What a text is embedded as: sentence-transformers' encode_document() / encode_query(). */
typedef enum {
  TE_PROMPT_DOCUMENT,   /* default prompt name: "document", "passage", "corpus" (first declared) */
  TE_PROMPT_QUERY,      /* default prompt name: "query" */
} TePromptRole;

/* The text prepended to every input before tokenization, resolved as sentence-transformers
 * does, newly allocated in *@out ("" = none):
 *   - @prompt (a literal, "" = explicitly none) when not NULL;
 *   - else "Instruct: @instruction\nQuery: " when @instruction is not NULL (the E5-instruct /
 *     gte-Qwen query template);
 *   - else the model's prompt named @name when @name is not NULL (an unknown name is
 *     TE_ERROR_INVALID listing the declared names);
 *   - else the role's first declared candidate name (see TePromptRole), else the model's
 *     default_prompt_name, else none.
 * Giving more than one of @prompt, @instruction, @name is TE_ERROR_INVALID. */
gboolean te_model_resolve_prompt (const TeModel * model, TePromptRole role, const char *prompt,
    const char *instruction, const char *name, char **out, GError ** error);

/* The directory used when no model is named: $TEXTEMBED_DEFAULT_MODEL if set, else the path
 * configured at build time (the setup script points it at the PyPI-installed
 * all-MiniLM-L6-v2). Never NULL. */
const char *te_default_model_dir (void);

/* ---- safetensors, exposed for tests and tools ---- */
typedef enum { TE_DTYPE_F32, TE_DTYPE_F16, TE_DTYPE_BF16, TE_DTYPE_I64, TE_DTYPE_OTHER } TeDType;

typedef struct {
  char *name;
  TeDType dtype;
  int ndim;
  gint64 shape[8];
  gsize offset;   /* from the start of the file */
  gsize nbytes;
} TeTensorInfo;

typedef struct _TeSafetensors TeSafetensors;

/* Maps @path and validates its header: header length within the file, JSON object, every
 * tensor's data_offsets inside the data section, nbytes == product(shape) * dtype size. */
TeSafetensors *te_safetensors_open (const char *path, GError ** error);
void te_safetensors_close (TeSafetensors * st);
const TeTensorInfo *te_safetensors_find (const TeSafetensors * st, const char *name);
guint te_safetensors_n_tensors (const TeSafetensors * st);
const TeTensorInfo *te_safetensors_tensor (const TeSafetensors * st, guint i);
/* Newly allocated fp32 copy of a F32/F16/BF16 tensor; other dtypes are TE_ERROR_UNSUPPORTED. */
float *te_safetensors_read_f32 (const TeSafetensors * st, const TeTensorInfo * t, GError ** error);
/* The path given to te_safetensors_open(). */
const char *te_safetensors_path (const TeSafetensors * st);
/* The dtype string as written in the header ("F32", "I64", "Q4"...), also for TE_DTYPE_OTHER. */
const char *te_safetensors_dtype_name (const TeTensorInfo * t);
/* Raw little-endian bytes of @t inside the mapping (t->nbytes of them; no alignment promised).
 * Valid until te_safetensors_close(). */
const void *te_safetensors_data (const TeSafetensors * st, const TeTensorInfo * t);
/* Bytes per element of F32/F16/BF16/I64; 0 for TE_DTYPE_OTHER. */
gsize te_dtype_size (TeDType dtype);
/* Exact conversions (subnormals, infinities and NaN included). */
float te_f16_to_f32 (guint16 h);
float te_bf16_to_f32 (guint16 h);

G_END_DECLS
