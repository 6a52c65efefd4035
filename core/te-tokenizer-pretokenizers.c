/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer-pretokenizers.c — the "pre_tokenizer" of tokenizer.json (BertPreTokenizer, or
 * none): splits a normalised piece into words and hands each to the model. */
#include "te-tokenizer-private.h"

/* Extension points (HF names): Whitespace, WhitespaceSplit, Metaspace, Split, Punctuation,
 * Digits, ByteLevel, Sequence — each a TePreTokKind, a name here and a loop in
 * te_tokenizer_pre_tokenize_and_model(). */
static const struct
{
  const char *type;
  TePreTokKind kind;
} types[] = {
  {"BertPreTokenizer", TE_PRE_BERT},
};

gboolean
te_pre_tokenizer_parse (TePreTokenizer * pt, JsonObject * o, GError ** error)
{
  const char *type, *names[G_N_ELEMENTS (types)];

  pt->kind = TE_PRE_NONE;
  if (o == NULL)
    return TRUE;
  if (!(type = te_tokenizer_component_type (o, "pre_tokenizer", error)))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    if (strcmp (type, types[i].type) == 0) {
      pt->kind = types[i].kind;
      return TRUE;
    }
    names[i] = types[i].type;
  }
  te_tokenizer_unsupported (error, "pre_tokenizer", type, names, G_N_ELEMENTS (types));
  return FALSE;
}

gboolean
te_pre_tokenizer_splits_at_ascii_space (const TePreTokenizer * pt)
{
  return pt->kind == TE_PRE_BERT;
}

const char *
te_pre_tokenizer_describe (const TePreTokenizer * pt)
{
  return pt->kind == TE_PRE_BERT ? "bert" : "none";
}

/* BertPreTokenizer: split on whitespace (removed), then isolate each punctuation char. */
static gboolean
bert_split (const TeTokenizer * tok, TeWork * w, const TeNChar * a, gsize n, TeEncoding * out,
    GError ** error)
{
  const TeWordModel *m = &tok->model;
  gsize ws = 0;
  gboolean in_word = FALSE;

  for (gsize i = 0; i < n; i++) {
    gunichar c = a[i].c;
    gboolean ws_c, pu_c;
    if (c < 0x80) {
      ws_c = c == ' ' || (c >= 0x09 && c <= 0x0D);
      pu_c = !ws_c && te_hf_is_ascii_punct (c);
    } else {
      ws_c = te_hf_is_whitespace (c);
      pu_c = !ws_c && te_hf_is_bert_punct (c);
    }
    if (ws_c || pu_c) {
      if (in_word && !te_word_model_tokenize (m, w, a + ws, i - ws, out, error))
        return FALSE;
      in_word = FALSE;
      if (pu_c && !te_word_model_tokenize (m, w, a + i, 1, out, error))
        return FALSE;
    } else if (!in_word) {
      in_word = TRUE;
      ws = i;
    }
  }
  if (in_word && !te_word_model_tokenize (m, w, a + ws, n - ws, out, error))
    return FALSE;
  return TRUE;
}

gboolean
te_tokenizer_pre_tokenize_and_model (const TeTokenizer * tok, TeWork * w, const TeNChar * a,
    gsize n, TeEncoding * out, GError ** error)
{
  if (n == 0)
    return TRUE;
  switch (tok->pre_tokenizer.kind) {
    case TE_PRE_BERT:
      return bert_split (tok, w, a, n, out, error);
    case TE_PRE_NONE:
    default:
      return te_word_model_tokenize (&tok->model, w, a, n, out, error);
  }
}
