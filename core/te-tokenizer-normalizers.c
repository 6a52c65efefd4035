/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer-normalizers.c — the "normalizer" of tokenizer.json: BertNormalizer, Lowercase,
 * NFD, StripAccents and Sequence, compiled into a list of operations with HF's alignments. */
#include "te-tokenizer-private.h"

static const char *const op_names[] = {
  "clean_text", "handle_chinese_chars", "nfd", "strip_mn", "strip_marks", "lowercase"
};

/* ---- parsing: one entry per normalizer type ---------------------------------------------- */

typedef gboolean (*ParseFunc) (JsonObject * o, GArray * ops, guint depth, GError ** error);

static gboolean parse_any (JsonObject * o, GArray * ops, guint depth, GError ** error);

static void
push_op (GArray * ops, TeNormOp op)
{
  g_array_append_val (ops, op);
}

static gboolean
parse_bert (JsonObject * o, GArray * ops, guint depth, GError ** error)
{
  const char *what = "normalizer BertNormalizer";
  gboolean clean, chinese, lower, strip;

  /* strip_accents: null means "follow lowercase" (HF: strip_accents.unwrap_or(lowercase)) */
  if (!te_json_get_bool (o, what, "clean_text", TRUE, FALSE, &clean, error)
      || !te_json_get_bool (o, what, "handle_chinese_chars", TRUE, FALSE, &chinese, error)
      || !te_json_get_bool (o, what, "lowercase", TRUE, FALSE, &lower, error)
      || !te_json_get_bool (o, what, "strip_accents", FALSE, lower, &strip, error))
    return FALSE;
  if (clean)
    push_op (ops, TE_NORM_CLEAN);
  if (chinese)
    push_op (ops, TE_NORM_CHINESE);
  if (strip) {
    push_op (ops, TE_NORM_NFD);
    push_op (ops, TE_NORM_STRIP_MN);
  }
  if (lower)
    push_op (ops, TE_NORM_LOWER);
  return TRUE;
}

/* Sequence: its normalizers' operations, in order. */
static gboolean
parse_sequence (JsonObject * o, GArray * ops, guint depth, GError ** error)
{
  JsonNode *n = te_json_member (o, "normalizers");
  JsonArray *a;

  if (depth >= 8) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "normalizer Sequence: nested more than 8 deep");
    return FALSE;
  }
  if (!n || !JSON_NODE_HOLDS_ARRAY (n)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "normalizer Sequence: field \"normalizers\" must be an array");
    return FALSE;
  }
  a = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_OBJECT (e)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
          "normalizer Sequence: element %u is not an object", i);
      return FALSE;
    }
    if (!parse_any (json_node_get_object (e), ops, depth + 1, error))
      return FALSE;
  }
  return TRUE;
}

/* Extension points (HF names): Precompiled, NFC, NFKC, NFKD, Strip, Replace, Prepend. Each
 * needs its operation (a TeNormOp and its case in te_normalizer_run()) and a parser here, or
 * just the operation for a normalizer without parameters. build_ascii_map() decides whether
 * the ASCII fast path still holds. */
static const struct
{
  const char *type;
  ParseFunc parse;              /* NULL: the normalizer is the one operation @op */
  TeNormOp op;
} types[] = {
  {"BertNormalizer", parse_bert, 0},
  {"Lowercase", NULL, TE_NORM_LOWER},
  {"NFD", NULL, TE_NORM_NFD},
  {"StripAccents", NULL, TE_NORM_STRIP_MARKS},
  {"Sequence", parse_sequence, 0},
};

static gboolean
parse_any (JsonObject * o, GArray * ops, guint depth, GError ** error)
{
  const char *type = te_tokenizer_component_type (o, "normalizer", error);
  const char *names[G_N_ELEMENTS (types)];

  if (!type)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    if (strcmp (type, types[i].type) != 0) {
      names[i] = types[i].type;
      continue;
    }
    if (types[i].parse)
      return types[i].parse (o, ops, depth, error);
    push_op (ops, types[i].op);
    return TRUE;
  }
  te_tokenizer_unsupported (error, "normalizer", type, names, G_N_ELEMENTS (types));
  return FALSE;
}

/* ---- operations ----------------------------------------------------------------------------
 * Each stage mirrors one NormalizedString operation of HF. HF tracks an alignment per
 * normalised byte; every stage here produces, for each output char, the original byte range
 * HF would assign to it:
 *   - map/filter (clean_text, strip, lowercase's first char): the char keeps its alignment;
 *   - inserted chars (change = +1: CJK padding, extra chars of a decomposition or of a
 *     multi-char lowercase) take the alignment of the last consumed input char;
 *   - NFD's canonical reordering permutes (char, change) pairs, and HF then hands out
 *     alignments positionally (see op_nfd). */

/* BertNormalizer clean_text: removed code points (NUL, U+FFFD, Cc/Cf/Co except \t \n \r).
 * Note: HF's comment mentions Cn, but unicode_categories' is_other() is Cc|Cf|Co only, so
 * unassigned code points are kept. */
static inline gboolean
is_clean_removed (gunichar c)
{
  if (c < 0x80)
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F;
  if (c <= 0x9F || c == 0xFFFD)
    return TRUE;                /* C1 controls, replacement char */
  if ((c >= 0xE000 && c <= 0xF8FF) || (c >= 0xF0000 && c <= 0xFFFFD)
      || (c >= 0x100000 && c <= 0x10FFFD))
    return TRUE;                /* private use */
  return (te_hf_u9_flags (c) & TE_U9_CF) != 0;
}

/* clean_text: filter + whitespace map, in place. */
static gsize
op_clean (TeNChar * a, gsize n)
{
  gsize i, o = 0;

  for (i = 0; i < n; i++) {
    gunichar c = a[i].c;
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
        continue;
      if (c < 0x20)
        c = ' ';
    } else {
      if (is_clean_removed (c))
        continue;
      if (te_hf_is_whitespace (c))
        c = ' ';
    }
    a[o] = a[i];
    a[o].c = c;
    o++;
  }
  return o;
}

static gsize
op_strip (TeNChar * a, gsize n, guint flag)
{
  gsize i, o = 0;

  for (i = 0; i < n; i++) {
    gunichar c = a[i].c;
    if (c >= 0x300 && (te_hf_u9_flags (c) & flag))
      continue;
    a[o++] = a[i];
  }
  return o;
}

static gsize
op_chinese (const TeNChar * a, gsize n, TeNChar * d)
{
  gsize i, o = 0;

  for (i = 0; i < n; i++) {
    if (te_unichar_is_cjk_ideograph (a[i].c)) {
      d[o] = a[i];
      d[o++].c = ' ';
      d[o++] = a[i];
      d[o] = a[i];
      d[o++].c = ' ';
    } else {
      d[o++] = a[i];
    }
  }
  return o;
}

static gsize
op_lower (const TeNChar * a, gsize n, TeNChar * d)
{
  gsize i, o = 0;

  for (i = 0; i < n; i++) {
    gunichar c = a[i].c;
    d[o] = a[i];
    if (c == 0x130) {
      /* Rust: 'İ'.to_lowercase() == "i\u{307}"; the second char is inserted (+1) and
       * shares the alignment of İ. */
      d[o++].c = 'i';
      d[o] = a[i];
      d[o++].c = 0x307;
    } else if (c < 0x80) {
      d[o++].c = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    } else {
      d[o++].c = te_hf_lower1 (c);
    }
  }
  return o;
}

/* Finish an NFD run of non-starters w->b[rs .. rs+n): stable sort by combining class (as the
 * unicode-normalization-alignments crate does), then redo the alignments positionally like
 * HF's transform(): items that were the first char of a decomposition ("change 0") consume
 * the input alignments in input order; the others ("change +1") take the alignment of the
 * last consumed one (@prev when none was consumed yet in this run). Runs are almost always
 * already sorted, which costs one comparison per mark. */
static void
nfd_finish_run (TeWork * w, gsize rs, gsize n, const TeNChar * prev)
{
  TeNChar *d = w->b + rs, *tmp;
  const guint8 *ccc = w->run_ccc, *first = w->run_first;
  guint8 *fl;
  gsize i, j, count[257];

  for (i = 1; i < n; i++)
    if (ccc[i] < ccc[i - 1])
      break;
  if (i >= n)
    return;

  TE_GROW (w->run_tmp, w->cap_run_tmp, 2 * n);
  TE_GROW (w->run_fl, w->cap_run_fl, n);
  tmp = w->run_tmp;
  fl = w->run_fl;
  /* input alignments of the change-0 items, in input order, go to tmp[n ..) */
  for (i = 0, j = 0; i < n; i++)
    if (first[i])
      tmp[n + j++] = d[i];
  /* counting sort by class: stable, O(n + 256) even for pathological runs of marks */
  memset (count, 0, sizeof (count));
  for (i = 0; i < n; i++)
    count[ccc[i] + 1]++;
  for (i = 1; i < 257; i++)
    count[i] += count[i - 1];
  for (i = 0; i < n; i++) {
    gsize pos = count[ccc[i]]++;
    tmp[pos] = d[i];
    fl[pos] = first[i];
  }
  for (i = 0, j = 0; i < n; i++) {
    const TeNChar *al;
    if (fl[i])
      al = &tmp[n + j++];
    else if (j > 0)
      al = &tmp[n + j - 1];
    else
      al = prev;
    d[i].c = tmp[i].c;
    d[i].s = al ? al->s : 0;
    d[i].e = al ? al->e : 0;
  }
}

/* NFD from w->a[0..n) into w->b; returns the output length. */
static gsize
op_nfd (TeWork * w, gsize n)
{
  const TeNChar *a = w->a;
  gsize i, o = 0, rs = 0, rn = 0;
  TeNChar last0 = { 0, 0, 0 };    /* input char of the last "change 0" item emitted */
  TeNChar run_prev = { 0, 0, 0 };
  gboolean have_last0 = FALSE, run_have_prev = FALSE;

  TE_GROW (w->b, w->cap_b, n + n / 4 + 64);
  for (i = 0; i < n; i++) {
    gunichar dec[8];
    guint k, nd;

    if (G_UNLIKELY (o + 8 > w->cap_b))
      TE_GROW (w->b, w->cap_b, o + 8 + (n - i));
    if (a[i].c < 0xC0) {
      /* no decomposition and class 0: closes any pending run */
      if (rn) {
        nfd_finish_run (w, rs, rn, run_have_prev ? &run_prev : NULL);
        rn = 0;
      }
      w->b[o++] = a[i];
      last0 = a[i];
      have_last0 = TRUE;
      continue;
    }
    nd = te_hf_decompose (a[i].c, dec);
    for (k = 0; k < nd; k++) {
      guint8 cc = te_hf_ccc (dec[k]);
      if (cc == 0) {
        if (rn) {
          nfd_finish_run (w, rs, rn, run_have_prev ? &run_prev : NULL);
          rn = 0;
        }
      } else {
        if (rn == 0) {
          rs = o;
          run_prev = last0;
          run_have_prev = have_last0;
        }
        TE_GROW (w->run_ccc, w->cap_run_ccc, rn + 1);
        TE_GROW (w->run_first, w->cap_run_first, rn + 1);
        w->run_ccc[rn] = cc;
        w->run_first[rn] = k == 0;
        rn++;
      }
      w->b[o] = a[i];
      w->b[o].c = dec[k];
      o++;
      if (k == 0) {
        last0 = a[i];
        have_last0 = TRUE;
      }
    }
  }
  if (rn)
    nfd_finish_run (w, rs, rn, run_have_prev ? &run_prev : NULL);
  return o;
}

/* ---- the normalizer ----------------------------------------------------------------------- */

gsize
te_normalizer_run (const TeNormalizer * nz, TeWork * w, gsize n)
{
  for (guint i = 0; i < nz->n_ops; i++) {
    TeNChar *t;
    gsize tc;
    switch (nz->ops[i]) {
      case TE_NORM_CLEAN:
        n = op_clean (w->a, n);
        continue;
      case TE_NORM_STRIP_MN:
        n = op_strip (w->a, n, TE_U9_MN);
        continue;
      case TE_NORM_STRIP_MARKS:
        n = op_strip (w->a, n, TE_U9_MK);
        continue;
      case TE_NORM_CHINESE:
        TE_GROW (w->b, w->cap_b, 3 * n + 1);
        n = op_chinese (w->a, n, w->b);
        break;
      case TE_NORM_LOWER:
        TE_GROW (w->b, w->cap_b, 2 * n + 1);
        n = op_lower (w->a, n, w->b);
        break;
      case TE_NORM_NFD:
        n = op_nfd (w, n);
        break;
    }
    t = w->a;
    w->a = w->b;
    w->b = t;
    tc = w->cap_a;
    w->cap_a = w->cap_b;
    w->cap_b = tc;
  }
  return n;
}

/* Whether @op's result for an ASCII char never depends on the chars around it (every case is
 * listed so that a new operation has to answer). */
static gboolean
op_ascii_is_context_free (TeNormOp op)
{
  switch (op) {
    case TE_NORM_CLEAN:
    case TE_NORM_CHINESE:
    case TE_NORM_NFD:             /* reorders marks only; ASCII chars are starters */
    case TE_NORM_STRIP_MN:
    case TE_NORM_STRIP_MARKS:
    case TE_NORM_LOWER:
      return TRUE;
  }
  return FALSE;
}

/* Precompose the normalizer for ASCII input (the driver's fast path). Every operation so far
 * maps an ASCII char on its own (ASCII chars are starters that never decompose) to at most
 * one ASCII char, and keeps ASCII whitespace whitespace. */
static void
build_ascii_map (TeNormalizer * nz)
{
  TeWork w = { 0 };

  nz->ascii_local = TRUE;
  for (guint i = 0; i < nz->n_ops; i++)
    if (!op_ascii_is_context_free (nz->ops[i]))
      nz->ascii_local = FALSE;
  TE_GROW (w.a, w.cap_a, 1);
  for (guint c = 0; c < 128; c++) {
    gsize n;
    w.a[0].c = c;
    w.a[0].s = 0;
    w.a[0].e = 1;
    n = te_normalizer_run (nz, &w, 1);
    if (n > 1 || (n == 1 && w.a[0].c >= 128)
        || (n == 1 && te_hf_is_whitespace (c) && !te_hf_is_whitespace (w.a[0].c)))
      nz->ascii_local = FALSE;
    nz->ascii_map[c] = n == 1 ? (gint16) w.a[0].c : -1;
  }
  te_work_clear (&w);
}

gboolean
te_normalizer_parse (TeNormalizer * nz, JsonObject * o, GError ** error)
{
  GArray *ops = g_array_new (FALSE, FALSE, sizeof (TeNormOp));

  if (o && !parse_any (o, ops, 0, error)) {
    g_array_free (ops, TRUE);
    return FALSE;
  }
  nz->n_ops = ops->len;
  nz->ops = (TeNormOp *) g_array_free (ops, FALSE);
  build_ascii_map (nz);
  return TRUE;
}

void
te_normalizer_clear (TeNormalizer * nz)
{
  g_free (nz->ops);
  memset (nz, 0, sizeof (*nz));
}

void
te_normalizer_describe (const TeNormalizer * nz, GString * s)
{
  g_string_append (s, "normalizer:");
  for (guint i = 0; i < nz->n_ops; i++)
    g_string_append_printf (s, "%s,", op_names[nz->ops[i]]);
}
