/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer-pretokenizers.c — the "pre_tokenizer" of tokenizer.json (BertPreTokenizer,
 * WhitespaceSplit, Metaspace, a Sequence of them, or none): splits a normalised piece into
 * words and hands each to the model. */
#include "te-tokenizer-private.h"

/* ---- parsing ------------------------------------------------------------------------------ */

static gboolean parse_any (JsonObject * o, GArray * steps, guint depth, GError ** error);

static gboolean
parse_simple (JsonObject * o, GArray * steps, TePreTokKind kind)
{
  TePreTokStep st = { 0 };

  (void) o;
  st.kind = kind;
  g_array_append_val (steps, st);
  return TRUE;
}

static gboolean
parse_bert (JsonObject * o, GArray * steps, guint depth, GError ** error)
{
  (void) depth;
  (void) error;
  return parse_simple (o, steps, TE_PRE_BERT);
}

static gboolean
parse_whitespace_split (JsonObject * o, GArray * steps, guint depth, GError ** error)
{
  (void) depth;
  (void) error;
  return parse_simple (o, steps, TE_PRE_WHITESPACE_SPLIT);
}

/* Metaspace: {"replacement": one char, "prepend_scheme": "always"|"first"|"never",
 * "split": bool}; files written before prepend_scheme existed say "add_prefix_space". */
static gboolean
parse_metaspace (JsonObject * o, GArray * steps, guint depth, GError ** error)
{
  const char *what = "pre_tokenizer Metaspace", *rep, *scheme;
  TePreTokStep st = { 0 };
  gboolean add_prefix;
  gsize l;

  (void) depth;
  if (!te_json_get_string (o, what, "replacement", TRUE, &rep, error)
      || !te_json_get_string (o, what, "prepend_scheme", FALSE, &scheme, error)
      || !te_json_get_bool (o, what, "add_prefix_space", FALSE, TRUE, &add_prefix, error)
      || !te_json_get_bool (o, what, "split", FALSE, TRUE, &st.split, error))
    return FALSE;
  l = strlen (rep);
  if (l == 0 || te_utf8_seq_len ((guint8) rep[0]) != l) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: \"replacement\" must be exactly one character", what);
    return FALSE;
  }
  te_utf8_decode ((const guint8 *) rep, &st.replacement);
  if (!scheme)
    st.prepend = add_prefix ? TE_PREPEND_ALWAYS : TE_PREPEND_NEVER;
  else if (strcmp (scheme, "always") == 0)
    st.prepend = TE_PREPEND_ALWAYS;
  else if (strcmp (scheme, "first") == 0)
    st.prepend = TE_PREPEND_FIRST;
  else if (strcmp (scheme, "never") == 0)
    st.prepend = TE_PREPEND_NEVER;
  else {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "%s: prepend_scheme \"%s\" is not supported (supported: always, first, never)", what,
        scheme);
    return FALSE;
  }
  st.kind = TE_PRE_METASPACE;
  g_array_append_val (steps, st);
  return TRUE;
}

static gboolean
parse_sequence (JsonObject * o, GArray * steps, guint depth, GError ** error)
{
  JsonArray *a = te_json_array (o, "pretokenizers");

  if (depth >= 8) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "pre_tokenizer Sequence: nested more than 8 deep");
    return FALSE;
  }
  if (!a) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "pre_tokenizer Sequence: field \"pretokenizers\" must be an array");
    return FALSE;
  }
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_OBJECT (e)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
          "pre_tokenizer Sequence: element %u is not an object", i);
      return FALSE;
    }
    if (!parse_any (json_node_get_object (e), steps, depth + 1, error))
      return FALSE;
  }
  return TRUE;
}

/* Extension points (HF names): Whitespace, Split, Punctuation, Digits, ByteLevel — each a
 * TePreTokKind, a parser here and a case in run_step(). */
static const struct
{
  const char *type;
  gboolean (*parse) (JsonObject * o, GArray * steps, guint depth, GError ** error);
} types[] = {
  {"BertPreTokenizer", parse_bert},
  {"WhitespaceSplit", parse_whitespace_split},
  {"Metaspace", parse_metaspace},
  {"Sequence", parse_sequence},
};

static gboolean
parse_any (JsonObject * o, GArray * steps, guint depth, GError ** error)
{
  const char *type, *names[G_N_ELEMENTS (types)];

  if (!(type = te_tokenizer_component_type (o, "pre_tokenizer", error)))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    if (strcmp (type, types[i].type) == 0)
      return types[i].parse (o, steps, depth, error);
    names[i] = types[i].type;
  }
  te_tokenizer_unsupported (error, "pre_tokenizer", type, names, G_N_ELEMENTS (types));
  return FALSE;
}

gboolean
te_pre_tokenizer_parse (TePreTokenizer * pt, JsonObject * o, GError ** error)
{
  GArray *steps = g_array_new (FALSE, TRUE, sizeof (TePreTokStep));

  memset (pt, 0, sizeof (*pt));
  if (o && !parse_any (o, steps, 0, error)) {
    g_array_free (steps, TRUE);
    return FALSE;
  }
  pt->n_steps = steps->len;
  pt->steps = (TePreTokStep *) g_array_free (steps, FALSE);
  pt->kind = pt->n_steps == 1 ? pt->steps[0].kind : TE_PRE_NONE;
  return TRUE;
}

void
te_pre_tokenizer_clear (TePreTokenizer * pt)
{
  g_free (pt->steps);
  memset (pt, 0, sizeof (*pt));
}

gboolean
te_pre_tokenizer_splits_at_ascii_space (const TePreTokenizer * pt)
{
  /* the first step removes ASCII whitespace and splits there; later steps see words only
   * (Metaspace's "first" looks at offset 0, which a cut piece never starts at) */
  return pt->n_steps > 0 && (pt->steps[0].kind == TE_PRE_BERT
      || pt->steps[0].kind == TE_PRE_WHITESPACE_SPLIT);
}

void
te_pre_tokenizer_describe (const TePreTokenizer * pt, GString * s)
{
  static const char *const scheme[] = { "always", "first", "never" };

  if (pt->n_steps == 0)
    g_string_append (s, "none");
  for (guint i = 0; i < pt->n_steps; i++) {
    const TePreTokStep *st = &pt->steps[i];
    if (i)
      g_string_append_c (s, '+');
    switch (st->kind) {
      case TE_PRE_BERT:
        g_string_append (s, "bert");
        break;
      case TE_PRE_WHITESPACE_SPLIT:
        g_string_append (s, "whitespace_split");
        break;
      case TE_PRE_METASPACE:
        g_string_append_printf (s, "metaspace(%X,%s,%d)", st->replacement,
            scheme[st->prepend], st->split);
        break;
      case TE_PRE_NONE:
        g_string_append (s, "none");
        break;
    }
  }
}

/* ---- running -------------------------------------------------------------------------------- */

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

/* The general path: the words of each step are (start, len) segments of a char buffer; a step
 * reads w->pt / w->pt_seg and writes w->pt2 / w->pt_seg2, then the buffers swap. Empty words
 * are dropped, as HF drops empty splits. */
typedef struct
{
  gsize n_chars, n_segs;
} Out;

static inline void
seg_begin (TeWork * w, Out * o, gsize max_chars)
{
  TE_GROW (w->pt2, w->cap_pt2, o->n_chars + max_chars + 1);
}

static inline void
seg_push (TeWork * w, Out * o, gsize start)
{
  if (o->n_chars > start) {
    TE_GROW (w->pt_seg2, w->cap_pt_seg2, 2 * (o->n_segs + 1));
    w->pt_seg2[2 * o->n_segs] = (guint32) start;
    w->pt_seg2[2 * o->n_segs + 1] = (guint32) (o->n_chars - start);
    o->n_segs++;
  }
}

static void
run_step (const TePreTokStep * st, TeWork * w, gsize n_segs, Out * o)
{
  for (gsize k = 0; k < n_segs; k++) {
    const TeNChar *a = w->pt + w->pt_seg[2 * k];
    gsize n = w->pt_seg[2 * k + 1], start;

    seg_begin (w, o, n + 1);
    switch (st->kind) {
      case TE_PRE_WHITESPACE_SPLIT:
      case TE_PRE_BERT:
        start = o->n_chars;
        for (gsize i = 0; i < n; i++) {
          gunichar c = a[i].c;
          if (te_hf_is_whitespace (c)) {
            seg_push (w, o, start);
            start = o->n_chars;
          } else if (st->kind == TE_PRE_BERT && te_hf_is_bert_punct (c)) {
            seg_push (w, o, start);
            start = o->n_chars;
            w->pt2[o->n_chars++] = a[i];
            seg_push (w, o, start);
            start = o->n_chars;
          } else {
            w->pt2[o->n_chars++] = a[i];
          }
        }
        seg_push (w, o, start);
        break;
      case TE_PRE_METASPACE:{
        /* replace ' ' (keeping its alignment), prepend (aligned with the first char), then
         * split with the replacement merged with what follows it */
        gboolean prepend = n > 0 && a[0].c != st->replacement && a[0].c != ' '
            && (st->prepend == TE_PREPEND_ALWAYS
            || (st->prepend == TE_PREPEND_FIRST && a[0].s == 0));
        start = o->n_chars;
        if (prepend) {
          w->pt2[o->n_chars] = a[0];
          w->pt2[o->n_chars++].c = st->replacement;
        }
        for (gsize i = 0; i < n; i++) {
          TeNChar ch = a[i];
          if (ch.c == ' ')
            ch.c = st->replacement;
          if (st->split && ch.c == st->replacement && !(prepend && i == 0 && o->n_chars
                  == start + 1)) {
            seg_push (w, o, start);
            start = o->n_chars;
          }
          w->pt2[o->n_chars++] = ch;
        }
        seg_push (w, o, start);
        break;
      }
      case TE_PRE_NONE:
        start = o->n_chars;
        memcpy (w->pt2 + o->n_chars, a, n * sizeof (TeNChar));
        o->n_chars += n;
        seg_push (w, o, start);
        break;
    }
  }
}

static gboolean
run_steps (const TeTokenizer * tok, TeWork * w, const TeNChar * a, gsize n, TeEncoding * out,
    GError ** error)
{
  const TePreTokenizer *pt = &tok->pre_tokenizer;
  gsize n_segs = 1;

  TE_GROW (w->pt, w->cap_pt, n + 1);
  TE_GROW (w->pt_seg, w->cap_pt_seg, 2);
  memcpy (w->pt, a, n * sizeof (TeNChar));
  w->pt_seg[0] = 0;
  w->pt_seg[1] = (guint32) n;
  for (guint i = 0; i < pt->n_steps; i++) {
    Out o = { 0, 0 };
    gpointer t;
    gsize tc;
    run_step (&pt->steps[i], w, n_segs, &o);
    n_segs = o.n_segs;
    t = w->pt, w->pt = w->pt2, w->pt2 = t;
    tc = w->cap_pt, w->cap_pt = w->cap_pt2, w->cap_pt2 = tc;
    t = w->pt_seg, w->pt_seg = w->pt_seg2, w->pt_seg2 = t;
    tc = w->cap_pt_seg, w->cap_pt_seg = w->cap_pt_seg2, w->cap_pt_seg2 = tc;
  }
  for (gsize k = 0; k < n_segs; k++)
    if (!te_word_model_tokenize (&tok->model, w, w->pt + w->pt_seg[2 * k],
            w->pt_seg[2 * k + 1], out, error))
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
      if (tok->pre_tokenizer.n_steps == 0)
        return te_word_model_tokenize (&tok->model, w, a, n, out, error);
      /* fall through */
    default:
      return run_steps (tok, w, a, n, out, error);
  }
}
