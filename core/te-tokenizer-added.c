/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer-added.c — the added vocabulary of tokenizer.json ("added_tokens"), as HF's
 * AddedVocabulary: ids, raw (normalized=false) tokens split out of the original text, and
 * normalized tokens split out of the normalised text, with single_word / lstrip / rstrip. */
#include "te-tokenizer-private.h"

static gint
cmp_raw_idx (gconstpointer pa, gconstpointer pb, gpointer user)
{
  const TeAddedToken *added = user;
  const TeAddedToken *a = &added[*(const guint *) pa], *b = &added[*(const guint *) pb];
  guint8 fa = (guint8) a->content[0], fb = (guint8) b->content[0];

  if (fa != fb)
    return fa < fb ? -1 : 1;
  if (a->len != b->len)
    return a->len > b->len ? -1 : 1;    /* longest first */
  return 0;
}

static gint
cmp_norm_idx (gconstpointer pa, gconstpointer pb, gpointer user)
{
  const TeAddedToken *added = user;
  const TeAddedToken *a = &added[*(const guint *) pa], *b = &added[*(const guint *) pb];

  if (a->pattern_len != b->pattern_len)
    return a->pattern_len > b->pattern_len ? -1 : 1;
  return 0;
}

static gint
cmp_added_id (gconstpointer pa, gconstpointer pb)
{
  const TeAddedToken *a = pa, *b = pb;
  return a->id < b->id ? -1 : a->id > b->id;
}

/* HF AddedVocabulary::add_tokens on the "added_tokens" array: the "id" field of the file is
 * ignored; a token gets its id from the vocab, else the next id after the vocab size. */
static gboolean
parse_tokens (TeAddedVocab * av, JsonArray * arr, const TeWordModel * model,
    GError ** error)
{
  GHashTable *by_content = g_hash_table_new (g_str_hash, g_str_equal);   /* -> index + 1 */
  GArray *toks = g_array_new (FALSE, TRUE, sizeof (TeAddedToken));
  guint32 next_id = model->n_vocab;
  guint i, len = arr ? json_array_get_length (arr) : 0;
  gboolean ok = TRUE;

  for (i = 0; i < len; i++) {
    JsonNode *e = json_array_get_element (arr, i);
    JsonObject *o;
    const char *content;
    TeAddedToken t = { 0 };
    gpointer found;
    char what[64];

    g_snprintf (what, sizeof (what), "added_tokens[%u]", i);
    if (!JSON_NODE_HOLDS_OBJECT (e)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s is not an object", what);
      ok = FALSE;
      break;
    }
    o = json_node_get_object (e);
    if (!te_json_get_string (o, what, "content", TRUE, &content, error)
        || !te_json_get_bool (o, what, "single_word", TRUE, FALSE, &t.single_word, error)
        || !te_json_get_bool (o, what, "lstrip", TRUE, FALSE, &t.lstrip, error)
        || !te_json_get_bool (o, what, "rstrip", TRUE, FALSE, &t.rstrip, error)
        || !te_json_get_bool (o, what, "normalized", TRUE, FALSE, &t.normalized, error)
        || !te_json_get_bool (o, what, "special", TRUE, FALSE, &t.special, error)) {
      ok = FALSE;
      break;
    }
    if (!*content)
      continue;                 /* HF ignores empty tokens */
    found = g_hash_table_lookup (by_content, content);
    if (found) {
      /* same content again: HF keeps the id and takes the new properties */
      TeAddedToken *old = &g_array_index (toks, TeAddedToken, GPOINTER_TO_UINT (found) - 1);
      old->single_word = t.single_word;
      old->lstrip = t.lstrip;
      old->rstrip = t.rstrip;
      old->normalized = t.normalized;
      old->special = t.special;
      continue;
    }
    t.content = g_strdup (content);
    t.len = strlen (content);
    t.id = te_word_model_token_to_id (model, content, t.len);
    if (t.id < 0)
      t.id = (gint32) next_id++;
    g_array_append_val (toks, t);
    g_hash_table_insert (by_content, t.content, GUINT_TO_POINTER (toks->len));
  }
  g_hash_table_destroy (by_content);
  av->n = toks->len;
  av->tokens = (TeAddedToken *) g_array_free (toks, FALSE);
  if (!ok)
    return FALSE;
  if (av->n > 1)
    qsort (av->tokens, av->n, sizeof (TeAddedToken), cmp_added_id);
  return TRUE;
}

/* Build the matchers once the normaliser is known (normalized tokens are matched by their
 * normalised form, as HF does). */
static void
build_matchers (TeAddedVocab * av, const TeNormalizer * nz)
{
  guint i, n_raw = 0;
  TeWork w = { 0 };

  for (i = 0; i < av->n; i++) {
    TeAddedToken *t = &av->tokens[i];
    if (!t->normalized) {
      n_raw++;
      continue;
    }
    {
      /* normalise the content with our own pipeline (json-glib strings are valid UTF-8) */
      gsize n = te_work_load (&w, (const guint8 *) t->content, t->len, 0), k;
      n = te_normalizer_run (nz, &w, n);
      t->pattern = g_new (gunichar, n ? n : 1);
      for (k = 0; k < n; k++)
        t->pattern[k] = w.a[k].c;
      t->pattern_len = (guint) n;
      if (n)
        av->n_norm++;
    }
  }
  te_work_clear (&w);

  if (n_raw) {
    guint k = 0;
    av->raw_idx = g_new (guint, n_raw);
    for (i = 0; i < av->n; i++)
      if (!av->tokens[i].normalized)
        av->raw_idx[k++] = i;
    g_qsort_with_data (av->raw_idx, n_raw, sizeof (guint), cmp_raw_idx, av->tokens);
    memset (av->raw_first, 0, sizeof (av->raw_first));
    for (k = 0; k < n_raw; k++)
      av->raw_first[(guint8) av->tokens[av->raw_idx[k]].content[0] + 1]++;
    for (k = 1; k < 257; k++)
      av->raw_first[k] += av->raw_first[k - 1];
  }
  if (av->n_norm) {
    guint k = 0;
    av->norm_idx = g_new (guint, av->n_norm);
    for (i = 0; i < av->n; i++)
      if (av->tokens[i].normalized && av->tokens[i].pattern_len)
        av->norm_idx[k++] = i;
    g_qsort_with_data (av->norm_idx, av->n_norm, sizeof (guint), cmp_norm_idx, av->tokens);
  }
}

gboolean
te_added_vocab_parse (TeAddedVocab * av, JsonArray * arr, const TeWordModel * model,
    const TeNormalizer * nz, GError ** error)
{
  memset (av, 0, sizeof (*av));
  if (!parse_tokens (av, arr, model, error)) {
    te_added_vocab_clear (av);
    return FALSE;
  }
  build_matchers (av, nz);
  return TRUE;
}

void
te_added_vocab_clear (TeAddedVocab * av)
{
  for (guint i = 0; i < av->n; i++) {
    g_free (av->tokens[i].content);
    g_free (av->tokens[i].pattern);
  }
  g_free (av->tokens);
  g_free (av->raw_idx);
  g_free (av->norm_idx);
  memset (av, 0, sizeof (*av));
}

void
te_added_vocab_describe (const TeAddedVocab * av, GString * s)
{
  g_string_append_printf (s, "added:%u\n", av->n);
  for (guint i = 0; i < av->n; i++) {
    const TeAddedToken *t = &av->tokens[i];
    g_string_append_printf (s, "%d=", t->id);
    te_describe_str (s, t->content, t->len);
    g_string_append_printf (s, " %d%d%d%d%d\n", t->single_word, t->lstrip, t->rstrip,
        t->normalized, t->special);
  }
}

/* ---- splitting ------------------------------------------------------------------------------ */

/* ---------- added tokens ---------- */

/* Does the normalised pattern of added token @t match a[pos ..]? */
static gboolean
nchar_match (const TeNChar * a, gsize n, gsize pos, const TeAddedToken * t)
{
  guint k;

  if (pos + t->pattern_len > n)
    return FALSE;
  for (k = 0; k < t->pattern_len; k++)
    if (a[pos + k].c != t->pattern[k])
      return FALSE;
  return TRUE;
}

/* Split the normalised piece a[0..n) on normalized=true added tokens; everything between
 * goes through pre-tokenisation and the model. */
gboolean
te_tokenizer_split_normalized (const TeTokenizer * tok, TeWork * w, const TeNChar * a,
    gsize n, TeEncoding * out, GError ** error)
{
  gsize pos = 0, start_offset = 0;

  while (pos < n) {
    gsize i, start = 0, stop = 0;
    const TeAddedToken *t = NULL;
    /* leftmost-longest match at or after pos */
    for (i = pos; i < n && !t; i++) {
      guint k;
      for (k = 0; k < tok->added.n_norm; k++) {
        const TeAddedToken *c = &tok->added.tokens[tok->added.norm_idx[k]];
        if (c->pattern[0] == a[i].c && nchar_match (a, n, i, c)) {
          t = c;
          start = i;
          stop = i + c->pattern_len;
          break;
        }
      }
    }
    if (!t)
      break;
    pos = stop;
    if (t->single_word) {
      gboolean start_space = start == 0 || !te_hf_is_regex_word (a[start - 1].c);
      gboolean stop_space = stop == n || !te_hf_is_regex_word (a[stop].c);
      if (!start_space || !stop_space)
        continue;
    }
    if (t->lstrip) {
      gsize ns = start;
      while (ns > 0 && te_hf_is_whitespace (a[ns - 1].c))
        ns--;
      start = MAX (ns, start_offset);
    }
    if (t->rstrip)
      while (stop < n && te_hf_is_whitespace (a[stop].c))
        stop++;
    if (start_offset < start
        && !te_tokenizer_pre_tokenize_and_model (tok, w, a + start_offset,
            start - start_offset, out, error))
      return FALSE;
    te_encoding_push (out, t->id, a[start].s, a[stop - 1].e);
    start_offset = stop;
  }
  if (start_offset < n)
    return te_tokenizer_pre_tokenize_and_model (tok, w, a + start_offset, n - start_offset,
        out, error);
  return TRUE;
}

/* The code point of valid UTF-8 that ends right before @end. */
static gunichar
decode_prev (const guint8 * start, const guint8 * end)
{
  gunichar c;

  te_utf8_decode (te_utf8_prev (start, end), &c);
  return c;
}

/* Leftmost-longest raw added token starting at or after @pos; returns its index or -1. */
static gint
find_raw (const TeAddedVocab * av, const guint8 * text, gsize len, gsize pos, gsize * mstart)
{
  gsize i;

  for (i = pos; i < len; i++) {
    guint b = text[i], k;
    if (av->raw_first[b] == av->raw_first[b + 1])
      continue;
    for (k = av->raw_first[b]; k < av->raw_first[b + 1]; k++) {
      const TeAddedToken *t = &av->tokens[av->raw_idx[k]];
      if (t->len <= len - i && memcmp (text + i, t->content, t->len) == 0) {
        *mstart = i;
        return (gint) av->raw_idx[k];
      }
    }
  }
  return -1;
}

gint
te_added_vocab_next_raw (const TeAddedVocab * av, const guint8 * text, gsize len, gsize pos,
    gsize floor, gsize * start_out, gsize * stop_out, gsize * next_pos)
{
  while (av->raw_idx && pos < len) {
    gsize start, stop;
    gint ti = find_raw (av, text, len, pos, &start);
    const TeAddedToken *t;
    if (ti < 0)
      return -1;
    t = &av->tokens[ti];
    stop = start + t->len;
    pos = stop;
    if (t->single_word) {
      gboolean start_space = start == 0
          || !te_hf_is_regex_word (decode_prev (text, text + start));
      gboolean stop_space = TRUE;
      if (stop < len) {
        gunichar c;
        te_utf8_decode (text + stop, &c);
        stop_space = !te_hf_is_regex_word (c);
      }
      if (!start_space || !stop_space)
        continue;
    }
    if (t->lstrip) {
      gsize ns = start;
      while (ns > 0) {
        const guint8 *p = te_utf8_prev (text, text + ns);
        gunichar c;
        te_utf8_decode (p, &c);
        if (!te_hf_is_whitespace (c))
          break;
        ns = (gsize) (p - text);
      }
      start = MAX (ns, floor);
    }
    if (t->rstrip) {
      while (stop < len) {
        gunichar c;
        guint l = te_utf8_decode (text + stop, &c);
        if (!te_hf_is_whitespace (c))
          break;
        stop += l;
      }
    }
    *start_out = start;
    *stop_out = stop;
    *next_pos = pos;
    return ti;
  }
  return -1;
}
