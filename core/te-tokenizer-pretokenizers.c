/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer-pretokenizers.c — the "pre_tokenizer" of tokenizer.json (BertPreTokenizer,
 * WhitespaceSplit, Metaspace, Split, a Sequence of them, or none): splits a normalised piece
 * into words and hands each to the model. */
#include "te-tokenizer-private.h"

#ifdef TE_HAVE_ONIG
#include <oniguruma.h>
#endif

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

static void
step_clear (TePreTokStep * st)
{
#ifdef TE_HAVE_ONIG
  if (st->regex)
    onig_free (st->regex);
#endif
  g_free (st->pattern);
  st->regex = NULL;
  st->pattern = NULL;
}

#ifdef TE_HAVE_ONIG
static gpointer
onig_init_once (gpointer data)
{
  OnigEncoding enc[] = { ONIG_ENCODING_UTF8 };
  (void) data;
  return GINT_TO_POINTER (onig_initialize (enc, 1) == ONIG_NORMAL);
}
#endif

/* Split: {"pattern": {"String": s} | {"Regex": r}, "behavior": ..., "invert": bool}. HF
 * compiles both with the onig crate (Oniguruma, its default Ruby syntax, no options), a String
 * after escaping it as Rust's regex::escape does; so do we. */
static gboolean
parse_split (JsonObject * o, GArray * steps, guint depth, GError ** error)
{
  static const char *const behaviors[] = { "Removed", "Isolated", "MergedWithPrevious",
    "MergedWithNext", "Contiguous"
  };
  const char *what = "pre_tokenizer Split", *beh, *str = NULL, *rx = NULL;
  TePreTokStep st = { 0 };
  JsonObject *pat = te_json_object (o, "pattern");
  guint i;

  (void) depth;
  if (!pat) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: field \"pattern\" must be an object "
        "({\"String\": ...} or {\"Regex\": ...})", what);
    return FALSE;
  }
  if (!te_json_get_string (pat, what, "String", FALSE, &str, error)
      || !te_json_get_string (pat, what, "Regex", FALSE, &rx, error)
      || !te_json_get_string (o, what, "behavior", TRUE, &beh, error)
      || !te_json_get_bool (o, what, "invert", FALSE, FALSE, &st.invert, error))
    return FALSE;
  if ((str == NULL) == (rx == NULL)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: \"pattern\" must have exactly one of "
        "\"String\" and \"Regex\"", what);
    return FALSE;
  }
  for (i = 0; i < G_N_ELEMENTS (behaviors); i++)
    if (strcmp (beh, behaviors[i]) == 0)
      break;
  if (i == G_N_ELEMENTS (behaviors)) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED, "%s: behavior \"%s\" is not supported "
        "(supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)", what,
        beh);
    return FALSE;
  }
  st.behavior = (TeSplitBehavior) i;
  st.kind = TE_PRE_SPLIT;
  st.pattern_is_regex = rx != NULL;
  st.pattern = g_strdup (rx ? rx : str);
#ifdef TE_HAVE_ONIG
  static GOnce once = G_ONCE_INIT;
  GString *re = g_string_new (NULL);
  if (rx) {
    g_string_assign (re, rx);
  } else {
    for (const char *p = str; *p; p++) {
      if (strchr ("\\.+*?()|[]{}^$#&-~", *p))
        g_string_append_c (re, '\\');
      g_string_append_c (re, *p);
    }
  }
  OnigErrorInfo einfo;
  OnigRegex reg = NULL;
  int r = GPOINTER_TO_INT (g_once (&once, onig_init_once, NULL)) ? onig_new (&reg,
      (const OnigUChar *) re->str, (const OnigUChar *) re->str + re->len, ONIG_OPTION_NONE,
      ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &einfo) : ONIGERR_MEMORY;
  g_string_free (re, TRUE);
  if (r != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str (msg, r, &einfo);
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: %s \"%s\" does not compile: %s", what,
        rx ? "regex" : "string pattern", st.pattern, (const char *) msg);
    step_clear (&st);
    return FALSE;
  }
  st.regex = reg;
  g_array_append_val (steps, st);
  return TRUE;
#else
  g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED, "%s: this build has no regex engine "
      "(rebuild with Oniguruma: apt install libonig-dev)", what);
  step_clear (&st);
  return FALSE;
#endif
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

/* Extension points (HF names): Whitespace, Punctuation, Digits, ByteLevel — each a
 * TePreTokKind, a parser here and a case in run_step(). */
static const struct
{
  const char *type;
  gboolean (*parse) (JsonObject * o, GArray * steps, guint depth, GError ** error);
} types[] = {
  {"BertPreTokenizer", parse_bert},
  {"WhitespaceSplit", parse_whitespace_split},
  {"Metaspace", parse_metaspace},
  {"Split", parse_split},
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
    for (guint i = 0; i < steps->len; i++)
      step_clear (&g_array_index (steps, TePreTokStep, i));
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
  for (guint i = 0; i < pt->n_steps; i++)
    step_clear (&pt->steps[i]);
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
      case TE_PRE_SPLIT:
        g_string_append_printf (s, "split(%s:%s,%d,%d)", st->pattern_is_regex ? "regex"
            : "string", st->pattern, st->behavior, st->invert);
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

/* Split one word a[0..n): the pattern's matches as the onig crate's find_iter() yields them
 * (an empty match right after the previous match is skipped by one char), the (range, is_match)
 * list of HF's find_matches() (inverted with "invert"), merged by the behavior as HF's
 * NormalizedString::split() does; kept ranges become words (empty ones are dropped). */
static void
split_word (const TePreTokStep * st, TeWork * w, const TeNChar * a, gsize n, Out * o)
{
  gsize nb = 0, nc = 0;         /* bytes of UTF-8, cuts */

  TE_GROW (w->sp_text, w->cap_sp_text, 4 * n + 1);
  TE_GROW (w->sp_b2c, w->cap_sp_b2c, 4 * n + 1);
  for (gsize i = 0; i < n; i++) {
    guint l = te_utf8_encode (a[i].c, w->sp_text + nb);
    for (guint k = 0; k < l; k++)
      w->sp_b2c[nb + k] = (guint32) i;
    nb += l;
  }
  w->sp_b2c[nb] = (guint32) n;

#define CUT(s_, e_, m_) G_STMT_START { \
    TE_GROW (w->sp_cut, w->cap_sp_cut, 3 * (nc + 1)); \
    w->sp_cut[3 * nc] = (guint32) (s_); w->sp_cut[3 * nc + 1] = (guint32) (e_); \
    w->sp_cut[3 * nc + 2] = (guint32) ((m_) != st->invert); nc++; } G_STMT_END

#ifdef TE_HAVE_ONIG
  {
    OnigRegion *region = onig_region_new ();
    const OnigUChar *text = w->sp_text, *end = w->sp_text + nb;
    gsize prev = 0, last_end = 0;
    gboolean have_last = FALSE;
    gssize last_match_end = -1;
    while (last_end <= nb) {
      int r = onig_search (st->regex, text, end, text + last_end, end, region,
          ONIG_OPTION_NONE);
      if (r < 0)
        break;                  /* ONIG_MISMATCH, or an error (a retry limit): no more */
      gsize ms = (gsize) region->beg[0], me = (gsize) region->end[0];
      if (ms == me && have_last && (gsize) last_match_end == me) {
        last_end += last_end < nb ? te_utf8_seq_len (text[last_end]) : 1;
        continue;
      }
      last_end = me;
      last_match_end = (gssize) me;
      have_last = TRUE;
      if (prev != ms)
        CUT (prev, ms, FALSE);
      CUT (ms, me, TRUE);
      prev = me;
    }
    onig_region_free (region, 1);
    if (prev != nb)
      CUT (prev, nb, FALSE);
  }
#else
  CUT (0, nb, FALSE);           /* not reached: parse_split() refuses Split without onig */
#endif
#undef CUT

  /* merge by behavior; sp_cut[3k+2] becomes "remove" */
  guint32 *c = w->sp_cut;
  gsize m = 0;
  gboolean prev_match = FALSE;
  switch (st->behavior) {
    case TE_SPLIT_REMOVED:
      m = nc;                   /* matches are removed */
      break;
    case TE_SPLIT_ISOLATED:
      for (gsize k = 0; k < nc; k++)
        c[3 * k + 2] = 0;
      m = nc;
      break;
    case TE_SPLIT_CONTIGUOUS:
    case TE_SPLIT_MERGED_WITH_PREVIOUS:
      for (gsize k = 0; k < nc; k++) {
        gboolean is_match = c[3 * k + 2];
        gboolean merge = st->behavior == TE_SPLIT_CONTIGUOUS ? is_match == prev_match
            : (is_match && !prev_match);
        if (merge && m > 0) {
          c[3 * (m - 1) + 1] = c[3 * k + 1];
        } else {
          c[3 * m] = c[3 * k];
          c[3 * m + 1] = c[3 * k + 1];
          c[3 * m + 2] = 0;
          m++;
        }
        prev_match = is_match;
      }
      break;
    case TE_SPLIT_MERGED_WITH_NEXT:
      /* from the end: a match joins the split after it; written back to front */
      m = nc;
      for (gsize k = nc; k-- > 0;) {
        gboolean is_match = c[3 * k + 2];
        if (is_match && !prev_match && m < nc) {
          c[3 * m] = c[3 * k];
        } else {
          m--;
          c[3 * m] = c[3 * k];
          c[3 * m + 1] = c[3 * k + 1];
          c[3 * m + 2] = 0;
        }
        prev_match = is_match;
      }
      memmove (c, c + 3 * m, 3 * (nc - m) * sizeof (guint32));
      m = nc - m;
      break;
  }
  for (gsize k = 0; k < m; k++) {
    if (c[3 * k + 2])
      continue;
    gsize s0 = w->sp_b2c[c[3 * k]], e0 = w->sp_b2c[c[3 * k + 1]];
    gsize start = o->n_chars;
    memcpy (w->pt2 + o->n_chars, a + s0, (e0 - s0) * sizeof (TeNChar));
    o->n_chars += e0 - s0;
    seg_push (w, o, start);
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
      case TE_PRE_SPLIT:
        split_word (st, w, a, n, o);
        break;
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
