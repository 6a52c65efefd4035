/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer.c — Hugging Face `tokenizers` 0.23 (tokenizer.json) in plain C: loading, and the
 * pipeline driver (added-token split → normalizer → pre-tokenizer → model → post-processor).
 * The stages live in te-tokenizer-*.c (te-tokenizer-private.h). Reproduces HF's token ids AND
 * offsets exactly; see te-tokenizer.h for the supported subset. */

#include "te-tokenizer-private.h"

/* ---- encoding output and work buffers ---------------------------------------------------- */

void
te_encoding_init (TeEncoding * enc)
{
  memset (enc, 0, sizeof (*enc));
}

void
te_encoding_clear (TeEncoding * enc)
{
  g_free (enc->ids);
  g_free (enc->type_ids);
  g_free (enc->starts);
  g_free (enc->ends);
  g_free (enc->special);
  memset (enc, 0, sizeof (*enc));
}

void
te_encoding_reserve (TeEncoding * enc, guint need)
{
  guint c;

  if (need <= enc->capacity)
    return;
  c = MAX (need, enc->capacity * 2);
  c = MAX (c, 64);
  enc->ids = g_renew (gint32, enc->ids, c);
  enc->type_ids = g_renew (gint32, enc->type_ids, c);
  enc->starts = g_renew (guint32, enc->starts, c);
  enc->ends = g_renew (guint32, enc->ends, c);
  enc->special = g_renew (guint8, enc->special, c);
  enc->capacity = c;
}

void
te_work_clear (TeWork * w)
{
  g_free (w->a);
  g_free (w->b);
  g_free (w->run_ccc);
  g_free (w->run_first);
  g_free (w->run_fl);
  g_free (w->run_tmp);
  g_free (w->word);
  g_free (w->wcb);
  g_free (w->b2c);
  g_free (w->vscore);
  g_free (w->vstart);
  g_free (w->vid);
  g_free (w->pieces);
  g_free (w->pt);
  g_free (w->pt2);
  g_free (w->pt_seg);
  g_free (w->pt_seg2);
  g_free (w->unk_ws);
  g_free (w->tr_c);
  g_free (w->tr_ch);
  g_free (w->sp_text);
  g_free (w->sp_b2c);
  g_free (w->sp_cut);
  memset (w, 0, sizeof (*w));
}

gsize
te_work_load (TeWork * w, const guint8 * text, gsize len, gsize base)
{
  gsize i = 0, n = 0;

  TE_GROW (w->a, w->cap_a, len + 1);
  while (i < len) {
    gunichar c;
    guint l = te_utf8_decode (text + i, &c);
    w->a[n].c = c;
    w->a[n].s = (guint32) (base + i);
    w->a[n].e = (guint32) (base + i + l);
    n++;
    i += l;
  }
  return n;
}

/* ---- helpers for the stage parsers ---------------------------------------------------------- */

const char *
te_tokenizer_component_type (JsonObject * o, const char *what, GError ** error)
{
  const char *type;

  return te_json_get_string (o, what, "type", TRUE, &type, error) ? type : NULL;
}

void
te_tokenizer_unsupported (GError ** error, const char *what, const char *type,
    const char *const *supported, guint n_supported)
{
  GString *list = g_string_new (NULL);

  for (guint i = 0; i < n_supported; i++)
    g_string_append_printf (list, "%s%s", i ? ", " : "", supported[i]);
  g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
      "%s type \"%s\" is not supported (supported: %s)", what, type, list->str);
  g_string_free (list, TRUE);
}

/* ---- the pipeline --------------------------------------------------------------------------- */

static inline gboolean
is_all_ascii (const guint8 * s, gsize n)
{
  guint64 acc = 0, v;
  gsize i = 0;

  for (; i + 8 <= n; i += 8) {
    memcpy (&v, s + i, 8);
    acc |= v;
  }
  for (; i < n; i++)
    acc |= s[i];
  return (acc & 0x8080808080808080ull) == 0;
}

/* Normalise original bytes text[start..end) (absolute offsets) and tokenise them. */
static gboolean
encode_range (const TeTokenizer * tok, TeWork * w, const guint8 * text, gsize start, gsize end,
    TeEncoding * out, GError ** error)
{
  const TeNormalizer *nz = &tok->normalizer;
  gsize n = 0;

  if (nz->ascii_local && is_all_ascii (text + start, end - start)) {
    /* The normalizer maps each ASCII char on its own (ASCII chars are starters that never
     * decompose), so the precomposed table gives exactly HF's result and alignment. */
    TE_GROW (w->a, w->cap_a, end - start + 1);
    for (gsize i = start; i < end; i++) {
      gint16 m = nz->ascii_map[text[i]];
      if (m < 0)
        continue;
      w->a[n].c = (gunichar) m;
      w->a[n].s = (guint32) i;
      w->a[n].e = (guint32) (i + 1);
      n++;
    }
  } else {
    n = te_work_load (w, text + start, end - start, start);
    n = te_normalizer_run (nz, w, n);
  }
  if (tok->added.n_norm)
    return te_tokenizer_split_normalized (tok, w, w->a, n, out, error);
  return te_tokenizer_pre_tokenize_and_model (tok, w, w->a, n, out, error);
}

#define CHUNK_BYTES 2048

/* A piece of original text between raw added tokens. When the pre-tokenizer always splits at
 * ASCII whitespace, the normalizer keeps it whitespace, and no normalized added token could
 * span a cut, pieces are cut right after an ASCII space/tab/CR/LF: a cut there cannot change
 * the result. Small chunks keep the work buffers small and let pure-ASCII stretches of a
 * mostly-ASCII text take the fast path in encode_range(). */
static gboolean
encode_piece (const TeTokenizer * tok, TeWork * w, const guint8 * text, gsize start, gsize end,
    TeEncoding * out, GError ** error)
{
  gboolean chunkable = te_pre_tokenizer_splits_at_ascii_space (&tok->pre_tokenizer)
      && tok->normalizer.ascii_local && tok->added.n_norm == 0;

  while (chunkable && end - start > 2 * CHUNK_BYTES) {
    gsize cut = start + CHUNK_BYTES, lim = end - 1;
    while (cut < lim && text[cut] != ' ' && text[cut] != '\n' && text[cut] != '\t'
        && text[cut] != '\r')
      cut++;
    if (cut >= lim)
      break;
    if (!encode_range (tok, w, text, start, cut + 1, out, error))
      return FALSE;
    start = cut + 1;
  }
  return encode_range (tok, w, text, start, end, out, error);
}

static void trim_offsets (const TeTokenizer * tok, const TeWork * w, const guint8 * text,
    guint seq_start, TeEncoding * out);

/* Work buffers are kept in the tokenizer between encodes (a few, for concurrent callers), so
 * that short texts (a query, a line, a chunk) do not pay for allocating and faulting them in
 * each time; more than TE_WORK_KEEP_BYTES of them are freed after the encode (memory stays
 * bounded). The tokenizer is otherwise immutable: the slots are taken and returned atomically. */
#define TE_WORK_KEEP_BYTES (4u << 20)

static void
work_free (TeWork * w)
{
  te_work_clear (w);
  g_free (w);
}

static TeWork *
work_take (const TeTokenizer * tok)
{
  gpointer *slots = (gpointer *) tok->work_cache;
  for (guint i = 0; i < G_N_ELEMENTS (tok->work_cache); i++) {
    TeWork *w = g_atomic_pointer_get (&slots[i]);
    if (w && g_atomic_pointer_compare_and_exchange (&slots[i], w, NULL)) {
      w->n_unk_ws = 0;
      return w;
    }
  }
  return g_new0 (TeWork, 1);
}

static void
work_give_back (const TeTokenizer * tok, TeWork * w)
{
  gpointer *slots = (gpointer *) tok->work_cache;
  gsize bytes = (w->cap_a + w->cap_b + w->cap_run_tmp + w->cap_pt + w->cap_pt2) * sizeof (TeNChar)
      + (w->cap_word + w->cap_run_ccc + w->cap_run_first + w->cap_run_fl + w->cap_sp_text)
      + (w->cap_wcb + w->cap_b2c + w->cap_pieces + w->cap_pt_seg + w->cap_pt_seg2
      + w->cap_unk_ws + w->cap_tr_c + w->cap_tr_ch + w->cap_sp_b2c + w->cap_sp_cut) * 4
      + w->cap_v * (sizeof (double) + 2 * sizeof (gint32));
  if (bytes > TE_WORK_KEEP_BYTES)
    te_work_clear (w);
  for (guint i = 0; i < G_N_ELEMENTS (tok->work_cache); i++)
    if (g_atomic_pointer_compare_and_exchange (&slots[i], NULL, w))
      return;
  work_free (w);
}

/* The single sequence: raw added-token split → normalizer → pre-tokenizer → model. */
static gboolean
encode_sequence (const TeTokenizer * tok, const guint8 * text, gsize len, guint seq_start,
    TeEncoding * out, GError ** error)
{
  TeWork *w = work_take (tok);
  gsize pos = 0, start_offset = 0, start, stop;
  gboolean ok = TRUE;
  gint ti;

  while ((ti = te_added_vocab_next_raw (&tok->added, text, len, pos, start_offset, &start,
              &stop, &pos)) >= 0) {
    if (start_offset < start
        && !(ok = encode_piece (tok, w, text, start_offset, start, out, error)))
      goto done;
    te_encoding_push (out, tok->added.tokens[ti].id, (guint32) start, (guint32) stop);
    start_offset = stop;
  }
  if (start_offset < len)
    ok = encode_piece (tok, w, text, start_offset, len, out, error);
  if (ok && tok->post.trim_offsets)
    trim_offsets (tok, w, text, seq_start, out);
done:
  work_give_back (tok, w);
  return ok;
}

/* RobertaProcessing's trim_offsets, as HF's Python binding (and transformers) report it: the
 * binding converts offsets to chars before post-processing, so leading and trailing chars of
 * the token that are whitespace or U+0120 ('Ġ') move the offsets inwards by whole chars. The
 * token's text is its vocabulary entry, or for an unknown piece the piece (w->unk_ws). */
static void
trim_offsets (const TeTokenizer * tok, const TeWork * w, const guint8 * text, guint seq_start,
    TeEncoding * out)
{
  gsize u = 0;

  for (guint i = seq_start; i < out->n; i++) {
    guint lead = 0, trail = 0;
    guint32 st = out->starts[i], en = out->ends[i], k;
    while (u < w->n_unk_ws && w->unk_ws[3 * u] < i)
      u++;
    if (u < w->n_unk_ws && w->unk_ws[3 * u] == i) {
      lead = w->unk_ws[3 * u + 1];
      trail = w->unk_ws[3 * u + 2];
    } else {
      const char *t = te_tokenizer_id_to_token (tok, out->ids[i]);
      gsize len = t ? strlen (t) : 0, p = 0, q;
      gunichar c;
      while (p < len) {
        p += te_utf8_decode ((const guint8 *) t + p, &c);
        if (c != 0x120 && !te_hf_is_whitespace (c))
          break;
        lead++;
      }
      for (q = len; q > 0;) {
        gsize b = q - 1;
        while (b > 0 && ((guint8) t[b] & 0xC0) == 0x80)
          b--;
        te_utf8_decode ((const guint8 *) t + b, &c);
        if (c != 0x120 && !te_hf_is_whitespace (c))
          break;
        trail++;
        q = b;
      }
    }
    if (lead > 0) {
      gboolean is_first = i == seq_start || st == 0;
      if (is_first && tok->post.add_prefix_space && lead == 1)
        lead = 0;
      for (k = 0; k < lead && st < en; k++)
        st += te_utf8_seq_len (text[st]);
    }
    if (trail > 0) {
      /* HF: only when the end (in chars) is at least @trail */
      guint32 e2 = en, n_back = 0;
      while (n_back < trail && e2 > 0) {
        e2--;
        while (e2 > 0 && (text[e2] & 0xC0) == 0x80)
          e2--;
        n_back++;
      }
      if (n_back == trail)
        en = MAX (e2, st);
    }
    out->starts[i] = st;
    out->ends[i] = en;
  }
}

gboolean
te_tokenizer_encode (const TeTokenizer * tok, const char *text, gsize len,
    gboolean add_special_tokens, TeEncoding * out, GError ** error)
{
  gsize bad = 0;
  guint prefix;

  g_return_val_if_fail (tok != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (text != NULL || len == 0, FALSE);

  out->n = 0;
  if (len > G_MAXUINT32) {
    g_set_error (error, TE_ERROR, TE_ERROR_TOO_LONG,
        "text of %" G_GSIZE_FORMAT " bytes is too long to tokenize (max 4 GiB)", len);
    return FALSE;
  }
  if (!te_utf8_validate ((const guint8 *) text, len, &bad)) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "invalid UTF-8 in text at byte offset %" G_GSIZE_FORMAT, bad);
    return FALSE;
  }

  /* room for the special tokens the template puts first; the sequence is encoded after */
  prefix = te_post_processor_prefix (&tok->post, add_special_tokens);
  te_encoding_reserve (out, prefix + 16);
  out->n = prefix;
  if (!encode_sequence (tok, (const guint8 *) text, len, prefix, out, error)) {
    out->n = 0;
    return FALSE;
  }
  te_post_processor_apply (&tok->post, prefix, add_special_tokens, out);
  return TRUE;
}

/* ---- loading ------------------------------------------------------------------------------ */

static void
build_id_table (TeTokenizer * tok)
{
  gint64 max = te_word_model_max_id (&tok->model);

  for (guint i = 0; i < tok->added.n; i++)
    max = MAX (max, (gint64) tok->added.tokens[i].id);
  /* the post-processor's ids are produced too, whether or not the vocabulary names them (found
   * by fuzz-tokenizer-load: an id past vocab_size slipped by the model's vocab_size check) */
  for (guint i = 0; i < tok->post.n_pieces; i++)
    for (guint j = 0; j < tok->post.pieces[i].n_ids && !tok->post.pieces[i].is_sequence; j++)
      max = MAX (max, (gint64) tok->post.pieces[i].ids[j]);
  tok->n_ids = (guint) (max + 1);
  tok->id_to_tok = g_new0 (char *, tok->n_ids ? tok->n_ids : 1);
  te_word_model_fill_ids (&tok->model, tok->id_to_tok);
  for (guint i = 0; i < tok->added.n; i++)
    tok->id_to_tok[tok->added.tokens[i].id] = tok->added.tokens[i].content;
}

/* SHA-256 over a canonical, length-prefixed description of everything that decides ids. */
static void
compute_fingerprint (TeTokenizer * tok)
{
  GChecksum *cs = g_checksum_new (G_CHECKSUM_SHA256);
  GString *s = g_string_new ("te-tokenizer/1\n");

  te_normalizer_describe (&tok->normalizer, s);
  g_string_append (s, "\npre_tokenizer:");
  te_pre_tokenizer_describe (&tok->pre_tokenizer, s);
  g_string_append_c (s, '\n');
  te_word_model_describe (&tok->model, s, cs);
  te_added_vocab_describe (&tok->added, s);
  te_post_processor_describe (&tok->post, s);
  g_checksum_update (cs, (const guchar *) s->str, s->len);
  g_strlcpy (tok->fingerprint, g_checksum_get_string (cs), sizeof (tok->fingerprint));
  g_string_free (s, TRUE);
  g_checksum_free (cs);
}

static TeTokenizer *
parse_tokenizer (const char *json, gsize len, GError ** error)
{
  JsonParser *parser = json_parser_new_immutable ();
  GError *err = NULL;
  JsonNode *root, *n;
  JsonObject *o, *sub;
  TeTokenizer *tok = NULL;
  const char *v;
  gint32 pad = -1;

  if (len > G_MAXSSIZE || !te_json_nesting_ok (json, len, 64)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "invalid JSON: %s",
        len > G_MAXSSIZE ? "too large" : "nested more than 64 levels deep");
    goto out;
  }
  if (!json_parser_load_from_data (parser, json, (gssize) len, &err)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "invalid JSON: %s",
        err ? err->message : "unknown error");
    g_clear_error (&err);
    goto out;
  }
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "the top level is not a JSON object");
    goto out;
  }
  o = json_node_get_object (root);

  if (!te_json_get_string (o, "tokenizer", "version", FALSE, &v, error))
    goto out;
  if (v && strcmp (v, "1.0") != 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "tokenizer.json version \"%s\" is not supported (supported: 1.0)", v);
    goto out;
  }

  tok = g_new0 (TeTokenizer, 1);

  /* model first: added-token ids depend on the vocab; normalizer before the added vocabulary,
   * whose normalized tokens are matched in normalised form */
  if (!te_json_get_object (o, "tokenizer", "model", TRUE, &sub, error)
      || !te_word_model_parse (&tok->model, sub, error))
    goto fail;
  if (!te_json_get_object (o, "tokenizer", "normalizer", FALSE, &sub, error)
      || !te_normalizer_parse (&tok->normalizer, sub, error))
    goto fail;
  if (!te_json_get_object (o, "tokenizer", "pre_tokenizer", FALSE, &sub, error)
      || !te_pre_tokenizer_parse (&tok->pre_tokenizer, sub, error))
    goto fail;
  if (!te_json_get_object (o, "tokenizer", "post_processor", FALSE, &sub, error)
      || !te_post_processor_parse (&tok->post, sub, error))
    goto fail;

  n = te_json_member (o, "added_tokens");
  if (n && !JSON_NODE_HOLDS_ARRAY (n)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "\"added_tokens\" must be an array");
    goto fail;
  }
  if (!te_added_vocab_parse (&tok->added, n ? json_node_get_array (n) : NULL, &tok->model,
          &tok->normalizer, error))
    goto fail;
  build_id_table (tok);

  /* the padding id: tokenizer.json's "padding" settings, else the conventional names */
  {
    JsonObject *padding = te_json_object (o, "padding");
    gint64 pv;
    if (padding && te_json_int (padding, "pad_id", &pv) && pv >= 0 && pv < tok->n_ids)
      pad = (gint32) pv;
  }
  for (guint k = 0; pad < 0 && k < 2; k++) {
    const char *name = k == 0 ? "[PAD]" : "<pad>";
    for (guint i = 0; pad < 0 && i < tok->added.n; i++)
      if (strcmp (tok->added.tokens[i].content, name) == 0)
        pad = tok->added.tokens[i].id;
    if (pad < 0)
      pad = te_word_model_token_to_id (&tok->model, name, strlen (name));
  }
  tok->pad_id = pad < 0 ? 0 : pad;
  compute_fingerprint (tok);
  goto out;

fail:
  te_tokenizer_free (tok);
  tok = NULL;
out:
  g_object_unref (parser);
  return tok;
}

TeTokenizer *
te_tokenizer_new_from_data (const char *json, gsize len, GError ** error)
{
  TeTokenizer *tok;
  GError *err = NULL;

  g_return_val_if_fail (json != NULL, NULL);
  tok = parse_tokenizer (json, len, &err);
  if (!tok) {
    g_prefix_error (&err, "tokenizer.json: ");
    g_propagate_error (error, err);
  }
  return tok;
}

TeTokenizer *
te_tokenizer_new_from_file (const char *path, GError ** error)
{
  gchar *data = NULL;
  gsize len = 0;
  GError *err = NULL;
  TeTokenizer *tok;

  g_return_val_if_fail (path != NULL, NULL);
  if (!g_file_get_contents (path, &data, &len, &err)) {
    g_set_error (error, TE_ERROR, TE_ERROR_IO, "cannot read tokenizer %s: %s", path,
        err->message);
    g_error_free (err);
    return NULL;
  }
  tok = parse_tokenizer (data, len, &err);
  g_free (data);
  if (!tok) {
    g_prefix_error (&err, "%s: ", path);
    g_propagate_error (error, err);
  }
  return tok;
}

void
te_tokenizer_free (TeTokenizer * tok)
{
  if (!tok)
    return;
  te_normalizer_clear (&tok->normalizer);
  te_pre_tokenizer_clear (&tok->pre_tokenizer);
  te_word_model_clear (&tok->model);
  te_post_processor_clear (&tok->post);
  te_added_vocab_clear (&tok->added);
  g_free (tok->id_to_tok);
  for (guint i = 0; i < G_N_ELEMENTS (tok->work_cache); i++)
    if (tok->work_cache[i])
      work_free (tok->work_cache[i]);
  g_free (tok);
}

guint
te_tokenizer_num_special_tokens (const TeTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->post.n_special;
}

guint
te_tokenizer_vocab_size (const TeTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->n_ids;
}

gint32
te_tokenizer_pad_id (const TeTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->pad_id;
}

const char *
te_tokenizer_id_to_token (const TeTokenizer * tok, gint32 id)
{
  g_return_val_if_fail (tok != NULL, NULL);
  if (id < 0 || (guint32) id >= tok->n_ids)
    return NULL;
  return tok->id_to_tok[id];
}

gint32
te_tokenizer_token_to_id (const TeTokenizer * tok, const char *token)
{
  guint i;

  g_return_val_if_fail (tok != NULL, -1);
  g_return_val_if_fail (token != NULL, -1);
  for (i = 0; i < tok->added.n; i++)
    if (strcmp (tok->added.tokens[i].content, token) == 0)
      return tok->added.tokens[i].id;
  return te_word_model_token_to_id (&tok->model, token, strlen (token));
}

const char *
te_tokenizer_fingerprint (const TeTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, NULL);
  return tok->fingerprint;
}

gboolean
te_tokenizer_prompt_length (const TeTokenizer * tok, const char *prompt, guint * n_tokens,
    GError ** error)
{
  g_return_val_if_fail (tok != NULL && prompt != NULL && n_tokens != NULL, FALSE);
  TeEncoding enc;
  te_encoding_init (&enc);
  gboolean ok = te_tokenizer_encode (tok, prompt, strlen (prompt), TRUE, &enc, error);
  if (ok)
    *n_tokens = enc.n - (enc.n > 0 && enc.special[enc.n - 1] ? 1 : 0);
  te_encoding_clear (&enc);
  return ok;
}
