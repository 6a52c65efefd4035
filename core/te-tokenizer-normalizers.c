/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer-normalizers.c — the "normalizer" of tokenizer.json: BertNormalizer, Lowercase,
 * NFD, NFKD, NFC, NFKC, Nmt, StripAccents, Precompiled (SentencePiece), Replace, Strip and
 * Sequence,
 * compiled into a list of operations with HF's alignments. */
#include <utf8proc.h>

#include "te-tokenizer-private.h"

static const char *const op_names[] = {
  "clean_text", "handle_chinese_chars", "nfd", "strip_mn", "strip_marks", "lowercase",
  "precompiled", "replace", "strip", "nfkd", "nfc", "nfkc", "nmt"
};

/* ---- parsing: one entry per normalizer type ---------------------------------------------- */

typedef gboolean (*ParseFunc) (JsonObject * o, GArray * ops, guint depth, GError ** error);

static gboolean parse_any (JsonObject * o, GArray * ops, guint depth, GError ** error);
static void pc_build_ascii (TePrecompiled * pc);

static void
push_op (GArray * ops, TeNormOp op)
{
  TeNormStep st = { 0 };

  st.op = op;
  g_array_append_val (ops, st);
}

static void
step_clear (TeNormStep * st)
{
  if (st->pc) {
    g_free (st->pc->units);
    g_free (st->pc->normalized);
    g_free (st->pc);
  }
  if (st->rep) {
    g_free (st->rep->pattern);
    g_free (st->rep->content);
    g_free (st->rep);
  }
  memset (st, 0, sizeof (*st));
}

/* Precompiled: {"precompiled_charsmap": base64}. The charsmap is untrusted: a little-endian
 * u32 trie size in bytes, the trie's 32-bit units, then the replacements (valid UTF-8). */
static gboolean
parse_precompiled (JsonObject * o, GArray * ops, guint depth, GError ** error)
{
  const char *what = "normalizer Precompiled", *b64;
  TeNormStep st = { 0 };
  guchar *raw;
  gsize len = 0, n_units;
  guint32 trie_size;

  (void) depth;
  if (!te_json_get_string (o, what, "precompiled_charsmap", TRUE, &b64, error))
    return FALSE;
  raw = g_base64_decode (b64, &len);
  if (len < 4) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: precompiled_charsmap is too short (%" G_GSIZE_FORMAT " bytes)", what, len);
    g_free (raw);
    return FALSE;
  }
  trie_size = (guint32) raw[0] | (guint32) raw[1] << 8 | (guint32) raw[2] << 16
      | (guint32) raw[3] << 24;
  n_units = trie_size / 4;
  if (n_units > (len - 4) / 4) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: precompiled_charsmap declares a %u-byte trie but has %" G_GSIZE_FORMAT " bytes",
        what, trie_size, len - 4);
    g_free (raw);
    return FALSE;
  }
  st.op = TE_NORM_PRECOMPILED;
  st.pc = g_new0 (TePrecompiled, 1);
  st.pc->n_units = n_units;
  st.pc->units = g_new (guint32, n_units ? n_units : 1);
  for (gsize i = 0; i < n_units; i++) {
    const guchar *u = raw + 4 + 4 * i;
    st.pc->units[i] = (guint32) u[0] | (guint32) u[1] << 8 | (guint32) u[2] << 16
        | (guint32) u[3] << 24;
  }
  st.pc->normalized_len = len - 4 - 4 * n_units;
  st.pc->normalized = g_malloc (st.pc->normalized_len + 1);
  memcpy (st.pc->normalized, raw + 4 + 4 * n_units, st.pc->normalized_len);
  st.pc->normalized[st.pc->normalized_len] = '\0';
  {
    gchar *d = g_compute_checksum_for_data (G_CHECKSUM_SHA256, raw, len);
    g_strlcpy (st.pc->digest, d, sizeof (st.pc->digest));
    g_free (d);
  }
  g_free (raw);
  if (!te_utf8_validate ((const guint8 *) st.pc->normalized, st.pc->normalized_len, NULL)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: the replacements of precompiled_charsmap are not valid UTF-8", what);
    step_clear (&st);
    return FALSE;
  }
  pc_build_ascii (st.pc);
  g_array_append_val (ops, st);
  return TRUE;
}

static gunichar *
utf8_to_chars (const char *s, guint * n_out)
{
  gsize len = strlen (s), i = 0;
  guint n = 0;
  gunichar *out = g_new (gunichar, len + 1);

  while (i < len) {
    i += te_utf8_decode ((const guint8 *) s + i, &out[n]);
    n++;
  }
  *n_out = n;
  return out;
}

/* The regex subset Replace accepts: one char (a literal, or escaped with a backslash) and a
 * quantifier {m,} {m,n} or +, with m >= 1 (what SentencePiece converters write: " {2,}").
 * Returns FALSE for anything else. */
static gboolean
parse_repeat_regex (const char *re, TeReplace * r)
{
  gunichar c;
  const char *p = re;
  guint64 m, mx = G_MAXUINT;
  char *end;

  if (!*p)
    return FALSE;
  if (*p == '\\') {
    p++;
    if (!*p || g_ascii_isalnum (*p))
      return FALSE;             /* \s, \d ...: classes are not supported */
  } else if (strchr (".[]()|^$*+?{}", *p)) {
    return FALSE;
  }
  p += te_utf8_decode ((const guint8 *) p, &c);
  if (strcmp (p, "+") == 0) {
    m = 1;
  } else if (*p == '{') {
    m = g_ascii_strtoull (p + 1, &end, 10);
    if (end == p + 1 || *end != ',')
      return FALSE;
    p = end + 1;
    if (*p != '}') {
      mx = g_ascii_strtoull (p, &end, 10);
      if (end == p || mx < m)
        return FALSE;
      p = end;
    }
    if (strcmp (p, "}") != 0 || m < 1 || m > G_MAXUINT || mx > G_MAXUINT)
      return FALSE;
  } else {
    return FALSE;
  }
  r->pattern = g_new (gunichar, 1);
  r->pattern[0] = c;
  r->pattern_len = 1;
  r->min_rep = (guint) m;
  r->max_rep = (guint) mx;
  return TRUE;
}

/* Replace: {"pattern": {"String": s} | {"Regex": r}, "content": s}. */
static gboolean
parse_replace (JsonObject * o, GArray * ops, guint depth, GError ** error)
{
  const char *what = "normalizer Replace", *content, *lit;
  JsonObject *pat;
  TeNormStep st = { 0 };

  (void) depth;
  if (!te_json_get_object (o, what, "pattern", TRUE, &pat, error)
      || !te_json_get_string (o, what, "content", TRUE, &content, error))
    return FALSE;
  st.op = TE_NORM_REPLACE;
  st.rep = g_new0 (TeReplace, 1);
  if ((lit = te_json_string (pat, "String"))) {
    if (!*lit) {
      g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED, "%s: an empty pattern", what);
      goto fail;
    }
    st.rep->pattern = utf8_to_chars (lit, &st.rep->pattern_len);
  } else if ((lit = te_json_string (pat, "Regex"))) {
    if (!parse_repeat_regex (lit, st.rep)) {
      g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
          "%s: regex pattern \"%s\" is not supported (supported: one character with {m,}, "
          "{m,n} or +, m >= 1; or a String pattern)", what, lit);
      goto fail;
    }
  } else {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: field \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}", what);
    goto fail;
  }
  st.rep->content = utf8_to_chars (content, &st.rep->content_len);
  g_array_append_val (ops, st);
  return TRUE;
fail:
  step_clear (&st);
  return FALSE;
}

static gboolean
parse_strip (JsonObject * o, GArray * ops, guint depth, GError ** error)
{
  TeNormStep st = { 0 };

  (void) depth;
  st.op = TE_NORM_STRIP;
  if (!te_json_get_bool (o, "normalizer Strip", "strip_left", FALSE, TRUE, &st.left, error)
      || !te_json_get_bool (o, "normalizer Strip", "strip_right", FALSE, TRUE, &st.right,
          error))
    return FALSE;
  g_array_append_val (ops, st);
  return TRUE;
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

/* Extension point (HF names): Prepend. A new type needs its operation (a TeNormOp and its
 * case in te_normalizer_run()) and a parser here, or just the operation for a normalizer
 * without parameters. build_ascii_map() decides whether the ASCII fast path still holds. */
static const struct
{
  const char *type;
  ParseFunc parse;              /* NULL: the normalizer is the one operation @op */
  TeNormOp op;
} types[] = {
  {"BertNormalizer", parse_bert, 0},
  {"Lowercase", NULL, TE_NORM_LOWER},
  {"NFD", NULL, TE_NORM_NFD},
  {"NFKD", NULL, TE_NORM_NFKD},
  {"NFC", NULL, TE_NORM_NFC},
  {"NFKC", NULL, TE_NORM_NFKC},
  {"Nmt", NULL, TE_NORM_NMT},
  {"StripAccents", NULL, TE_NORM_STRIP_MARKS},
  {"Precompiled", parse_precompiled, 0},
  {"Replace", parse_replace, 0},
  {"Strip", parse_strip, 0},
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

/* Nmt (SentencePiece's NMT normalisation as HF has it): a filter, then a map; kept chars keep
 * their alignment. */
static gsize
op_nmt (TeNChar * a, gsize n)
{
  gsize o = 0;

  for (gsize i = 0; i < n; i++) {
    gunichar c = a[i].c;
    if ((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F
        || c == 0x8F || c == 0x9F)
      continue;
    if (c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680
        || (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581
        || c == 0xFEFF || c == 0xFFFD)
      c = ' ';
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


/* ---- HF's transform() ------------------------------------------------------------------------
 * NormalizedString::transform(dest, 0) over the whole string: each (char, change) of
 * w->tr_c/tr_ch[0..m) is aligned positionally against the old chars w->a[0..n):
 *   change <= 0: takes the alignment of the next old char and consumes it, then consumes
 *                -change more;
 *   change  > 0: inserted, takes the alignment of the last consumed old char ((0, 0) when none).
 * Old chars never consumed are dropped. The result goes to w->b; returns m. */
static gsize
apply_transform (TeWork * w, gsize n, gsize m)
{
  gsize p = 0, i;

  TE_GROW (w->b, w->cap_b, m + 1);
  for (i = 0; i < m; i++) {
    gint32 ch = w->tr_ch[i];
    TeNChar *d = &w->b[i];
    d->c = w->tr_c[i];
    if (ch > 0) {
      d->s = p ? w->a[p - 1].s : 0;
      d->e = p ? w->a[p - 1].e : 0;
    } else {
      /* HF would index past its alignments (a panic) when nothing is left to consume */
      const TeNChar *al = p < n ? &w->a[p] : (n ? &w->a[n - 1] : NULL);
      d->s = al ? al->s : 0;
      d->e = al ? al->e : 0;
      p = MIN (n, p + 1 + (gsize) (-(gint64) ch));
    }
  }
  return m;
}

static inline void
tr_push (TeWork * w, gsize * m, gunichar c, gint32 ch)
{
  TE_GROW (w->tr_c, w->cap_tr_c, *m + 1);
  TE_GROW (w->tr_ch, w->cap_tr_ch, *m + 1);
  w->tr_c[*m] = c;
  w->tr_ch[*m] = ch;
  (*m)++;
}

/* ---- NFKD, NFC, NFKC ------------------------------------------------------------------------
 * As HF's unicode-normalization-alignments crate iterates them, into (char, change) pairs that
 * apply_transform() aligns. NFD keeps its own direct path (op_nfd), which BERT tokenizers run
 * on every text. */

/* Stable sort of the pairs [s, e) by combining class (w->run_ccc, parallel to the pairs). */
static void
sort_pairs_by_ccc (TeWork * w, gsize s, gsize e)
{
  gsize i, n = e - s, count[257];

  for (i = s + 1; i < e; i++)
    if (w->run_ccc[i] < w->run_ccc[i - 1])
      break;
  if (i >= e)
    return;                     /* almost always: marks come in canonical order */
  /* counting sort: O(n + 256) even for a pathological run of marks */
  TE_GROW (w->run_tmp, w->cap_run_tmp, n);
  TE_GROW (w->run_fl, w->cap_run_fl, n);
  memset (count, 0, sizeof (count));
  for (i = s; i < e; i++)
    count[w->run_ccc[i] + 1]++;
  for (i = 1; i < 257; i++)
    count[i] += count[i - 1];
  for (i = s; i < e; i++) {
    gsize pos = count[w->run_ccc[i]]++;
    w->run_tmp[pos].c = w->tr_c[i];
    w->run_tmp[pos].s = (guint32) w->tr_ch[i];
    w->run_fl[pos] = w->run_ccc[i];
  }
  for (i = 0; i < n; i++) {
    w->tr_c[s + i] = w->run_tmp[i].c;
    w->tr_ch[s + i] = (gint32) w->run_tmp[i].s;
    w->run_ccc[s + i] = w->run_fl[i];
  }
}

/* Decompose w->a[0..n) into (char, change) pairs in w->tr_c/tr_ch, their classes in w->run_ccc:
 * change 0 for the first char of each input char's decomposition, +1 for the others; before
 * each starter, the pending marks are stably sorted by class, pairs moving with their chars
 * (the crate's Decompositions). Returns the number of pairs. */
static gsize
decompose_pairs (TeWork * w, gsize n, gboolean compat)
{
  gsize m = 0, pending = 0;     /* pairs [pending, m) are not sorted yet */

  for (gsize i = 0; i < n; i++) {
    gunichar dec[TE_HF_DECOMP_MAX];
    guint nd = compat ? te_hf_decompose_compat (w->a[i].c, dec)
        : te_hf_decompose (w->a[i].c, dec);
    TE_GROW (w->run_ccc, w->cap_run_ccc, m + nd);
    for (guint k = 0; k < nd; k++) {
      guint8 cc = te_hf_ccc (dec[k]);
      if (cc == 0) {
        sort_pairs_by_ccc (w, pending, m);
        pending = m;
      }
      w->run_ccc[m] = cc;
      tr_push (w, &m, dec[k], k == 0 ? 0 : 1);
    }
  }
  sort_pairs_by_ccc (w, pending, m);
  return m;
}

/* Canonical composition of the pairs [0, m), in place (the crate's Recompositions): a composite
 * takes change(starter) + change(mark) - 1; a mark blocked from the starter keeps its place
 * after it. Returns the new number of pairs. */
static gsize
compose_pairs (TeWork * w, gsize m)
{
  gsize o = 0, k_slot = 0;      /* the starter (composee) is written to k_slot when final */
  gboolean have_k = FALSE;
  gunichar kc = 0;
  gint32 kch = 0;
  gint last_ccc = -1;           /* class of the last mark kept after the starter; -1: none */

  for (gsize i = 0; i < m; i++) {
    gunichar c = w->tr_c[i];
    gint32 ch = w->tr_ch[i];
    guint8 cc = w->run_ccc[i];
    gunichar r;

    if (!have_k) {
      if (cc != 0) {
        w->tr_c[o] = c;         /* marks before the first starter go out as they are */
        w->tr_ch[o++] = ch;
        continue;
      }
      have_k = TRUE;
      k_slot = o++;
      kc = c;
      kch = ch;
      last_ccc = -1;
      continue;
    }
    if (last_ccc >= 0 && last_ccc >= cc) {
      /* blocked from the starter */
      if (cc == 0) {
        w->tr_c[k_slot] = kc;
        w->tr_ch[k_slot] = kch;
        k_slot = o++;
        kc = c;
        kch = ch;
        last_ccc = -1;
      } else {
        w->tr_c[o] = c;
        w->tr_ch[o++] = ch;
        last_ccc = cc;
      }
      continue;
    }
    if ((r = te_hf_compose (kc, c)) != 0) {
      kc = r;
      kch = kch + ch - 1;
      continue;
    }
    if (cc == 0) {              /* (last_ccc < 0 here: nothing kept after the starter) */
      w->tr_c[k_slot] = kc;
      w->tr_ch[k_slot] = kch;
      k_slot = o++;
      kc = c;
      kch = ch;
      continue;
    }
    w->tr_c[o] = c;
    w->tr_ch[o++] = ch;
    last_ccc = cc;
  }
  if (have_k) {
    w->tr_c[k_slot] = kc;
    w->tr_ch[k_slot] = kch;
  }
  return o;
}

/* NFKD (@compose FALSE, @compat TRUE), NFC, NFKC of w->a[0..n) into w->b. */
static gsize
op_unicode_normalize (TeWork * w, gsize n, gboolean compat, gboolean compose)
{
  gsize m = decompose_pairs (w, n, compat);
  if (compose)
    m = compose_pairs (w, m);
  return apply_transform (w, n, m);
}

/* ---- Precompiled ---------------------------------------------------------------------------- */

/* darts-clone unit fields */
#define PC_HAS_LEAF(u) (((u) >> 8) & 1)
#define PC_VALUE(u) ((u) & 0x7FFFFFFFu)
#define PC_LABEL(u) ((u) & 0x800000FFu)
#define PC_OFFSET(u) ((gsize) ((u) >> 10) << (((u) & (1u << 9)) >> 6))

/* The replacement of the shortest key that prefixes @key[0..len) (stopping at a NUL byte), as
 * spm_precompiled's transform() returns it (its first common-prefix result); NULL when there
 * is none, or when the charsmap points outside its replacements (where HF would panic). */
static const char *
pc_transform (const TePrecompiled * pc, const guint8 * key, gsize len, gsize * out_len)
{
  gsize pos, i, idx, end;
  guint32 unit;

  if (pc->n_units == 0)
    return NULL;
  unit = pc->units[0];
  pos = PC_OFFSET (unit);
  for (i = 0; i < len && key[i]; i++) {
    pos ^= key[i];
    if (pos >= pc->n_units)
      return NULL;
    unit = pc->units[pos];
    if (PC_LABEL (unit) != key[i])
      return NULL;
    pos ^= PC_OFFSET (unit);
    if (PC_HAS_LEAF (unit)) {
      if (pos >= pc->n_units)
        return NULL;
      idx = PC_VALUE (pc->units[pos]);
      if (idx > pc->normalized_len)
        return NULL;
      if (idx < pc->normalized_len && (((guint8) pc->normalized[idx]) & 0xC0) == 0x80)
        return NULL;            /* not a char boundary */
      end = idx;
      while (end < pc->normalized_len && pc->normalized[end])
        end++;
      *out_len = end - idx;
      return pc->normalized + idx;
    }
  }
  return NULL;
}

/* spm_precompiled's replace(): the new chars (change 0), the last `diff` of the list marked
 * inserted when the replacement is longer, or the removal added to the last entry of the list
 * (whatever it is) when shorter. */
static void
pc_replace (TeWork * w, gsize * m, gsize old_count, const char *rep, gsize rep_len)
{
  gsize i = 0, new_count = 0;
  gint64 diff;

  while (i < rep_len) {
    gunichar c;
    i += te_utf8_decode ((const guint8 *) rep + i, &c);
    tr_push (w, m, c, 0);
    new_count++;
  }
  diff = (gint64) new_count - (gint64) old_count;
  if (diff > 0) {
    for (gint64 k = 0; k < diff && (gsize) k < *m; k++)
      w->tr_ch[*m - 1 - k] = 1;
  } else if (diff < 0 && *m > 0) {
    w->tr_ch[*m - 1] += (gint32) MAX (diff, -(gint64) G_MAXINT32 / 2);
  }
}

/* The replacement of each ASCII char alone, for the fast path of op_precompiled(). */
static void
pc_build_ascii (TePrecompiled * pc)
{
  for (guint c = 0; c < 128; c++) {
    guint8 key = (guint8) c;
    gsize rl = 0;
    const char *rep = pc_transform (pc, &key, 1, &rl);
    pc->ascii_rep[c] = rep ? (gint32) (rep - pc->normalized) : -1;
    pc->ascii_rep_len[c] = (guint32) rl;
  }
}

/* HF's Precompiled::normalize: per extended grapheme cluster, the cluster's replacement when it
 * is shorter than 6 bytes and has one, else each char's replacement or the char itself. An
 * ASCII char followed by an ASCII char (or nothing) is a cluster of its own but for CR LF
 * (UAX #29 breaks between any two other ASCII chars), so it takes its precomputed replacement
 * without the grapheme and trie walks: the same result, for most of the text of most
 * documents. */
static gsize
op_precompiled (TeWork * w, const TePrecompiled * pc, gsize n)
{
  gsize i = 0, m = 0;
  gboolean modified = FALSE;
  utf8proc_int32_t state = 0;
  guint8 buf[8];

  while (i < n) {
    gsize j = i + 1, glen, rl;
    const char *rep;
    gunichar c0 = w->a[i].c;
    if (c0 < 0x80 && c0 != '\r' && (j == n || w->a[j].c < 0x80)) {
      if (pc->ascii_rep[c0] < 0) {
        tr_push (w, &m, c0, 0);
      } else {
        modified = TRUE;
        pc_replace (w, &m, 1, pc->normalized + pc->ascii_rep[c0], pc->ascii_rep_len[c0]);
      }
      i = j;
      continue;
    }
    /* cluster [i, j) */
    state = 0;
    while (j < n && !utf8proc_grapheme_break_stateful ((utf8proc_int32_t) w->a[j - 1].c,
            (utf8proc_int32_t) w->a[j].c, &state))
      j++;
    glen = 0;
    for (gsize k = i; k < j && glen < 6; k++)
      glen += w->a[k].c < 0x80 ? 1 : w->a[k].c < 0x800 ? 2 : w->a[k].c < 0x10000 ? 3 : 4;
    if (glen < 6) {
      guint8 g[8];
      gsize gl = 0;
      for (gsize k = i; k < j; k++)
        gl += te_utf8_encode (w->a[k].c, g + gl);
      if ((rep = pc_transform (pc, g, gl, &rl))) {
        modified = TRUE;
        pc_replace (w, &m, j - i, rep, rl);
        i = j;
        continue;
      }
    }
    for (gsize k = i; k < j; k++) {
      gsize cl = te_utf8_encode (w->a[k].c, buf);
      if ((rep = pc_transform (pc, buf, cl, &rl))) {
        modified = TRUE;
        pc_replace (w, &m, 1, rep, rl);
      } else {
        tr_push (w, &m, w->a[k].c, 0);
      }
    }
    i = j;
  }
  if (!modified) {
    /* no transform in HF: the string and its alignments stay as they are */
    TE_GROW (w->b, w->cap_b, n + 1);
    memcpy (w->b, w->a, n * sizeof (TeNChar));
    return n;
  }
  return apply_transform (w, n, m);
}

/* ---- Replace, Strip ------------------------------------------------------------------------- */

/* Length in chars of the match at a[i..n), 0 for none (leftmost-first, greedy, no overlap). */
static inline gsize
replace_match (const TeReplace * r, const TeNChar * a, gsize i, gsize n)
{
  if (r->min_rep == 0) {
    if (n - i < r->pattern_len)
      return 0;
    for (guint k = 0; k < r->pattern_len; k++)
      if (a[i + k].c != r->pattern[k])
        return 0;
    return r->pattern_len;
  } else {
    gsize k = i;
    while (k < n && k - i < r->max_rep && a[k].c == r->pattern[0])
      k++;
    return k - i >= r->min_rep ? k - i : 0;
  }
}

/* NormalizedString::replace: each match becomes the content, every content char inserted with
 * the alignment of the match's last char. */
static gsize
op_replace (TeWork * w, const TeReplace * r, gsize n)
{
  gsize i = 0, o = 0;

  TE_GROW (w->b, w->cap_b, n * MAX (1, r->content_len) + 1);
  while (i < n) {
    gsize ml = replace_match (r, w->a, i, n);
    if (!ml) {
      w->b[o++] = w->a[i++];
      continue;
    }
    for (guint k = 0; k < r->content_len; k++) {
      w->b[o] = w->a[i + ml - 1];
      w->b[o++].c = r->content[k];
    }
    i += ml;
  }
  return o;
}

/* Strip: leading/trailing Rust whitespace removed; the rest keeps its alignments. */
static gsize
op_strip_ws (TeNChar * a, gsize n, gboolean left, gboolean right)
{
  gsize s = 0, e = n;

  if (left)
    while (s < e && te_hf_is_whitespace (a[s].c))
      s++;
  if (right)
    while (e > s && te_hf_is_whitespace (a[e - 1].c))
      e--;
  if (s)
    memmove (a, a + s, (e - s) * sizeof (TeNChar));
  return e - s;
}

/* ---- the normalizer ----------------------------------------------------------------------- */

gsize
te_normalizer_run (const TeNormalizer * nz, TeWork * w, gsize n)
{
  for (guint i = 0; i < nz->n_ops; i++) {
    const TeNormStep *st = &nz->ops[i];
    TeNChar *t;
    gsize tc;
    switch (st->op) {
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
      case TE_NORM_PRECOMPILED:
        n = op_precompiled (w, st->pc, n);
        break;
      case TE_NORM_REPLACE:
        n = op_replace (w, st->rep, n);
        break;
      case TE_NORM_STRIP:
        n = op_strip_ws (w->a, n, st->left, st->right);
        continue;
      case TE_NORM_NFKD:
        n = op_unicode_normalize (w, n, TRUE, FALSE);
        break;
      case TE_NORM_NFC:
        n = op_unicode_normalize (w, n, FALSE, TRUE);
        break;
      case TE_NORM_NFKC:
        n = op_unicode_normalize (w, n, TRUE, TRUE);
        break;
      case TE_NORM_NMT:
        n = op_nmt (w->a, n);
        continue;
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
    case TE_NORM_NFKD:
    case TE_NORM_NFC:             /* (a mark can compose with an ASCII char before it, but */
    case TE_NORM_NFKC:            /*  the fast path takes only all-ASCII ranges, cut after
                                   *  whitespace, which composes with nothing) */
    case TE_NORM_NMT:
    case TE_NORM_STRIP_MN:
    case TE_NORM_STRIP_MARKS:
    case TE_NORM_LOWER:
      return TRUE;
    case TE_NORM_PRECOMPILED:    /* grapheme clusters (CR LF is one) */
    case TE_NORM_REPLACE:        /* matches span chars */
    case TE_NORM_STRIP:          /* depends on the position */
      return FALSE;
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
    if (!op_ascii_is_context_free (nz->ops[i].op))
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
  GArray *ops = g_array_new (FALSE, FALSE, sizeof (TeNormStep));

  if (o && !parse_any (o, ops, 0, error)) {
    for (guint i = 0; i < ops->len; i++)
      step_clear (&g_array_index (ops, TeNormStep, i));
    g_array_free (ops, TRUE);
    return FALSE;
  }
  nz->n_ops = ops->len;
  nz->ops = (TeNormStep *) g_array_free (ops, FALSE);
  build_ascii_map (nz);
  return TRUE;
}

void
te_normalizer_clear (TeNormalizer * nz)
{
  for (guint i = 0; i < nz->n_ops; i++)
    step_clear (&nz->ops[i]);
  g_free (nz->ops);
  memset (nz, 0, sizeof (*nz));
}

void
te_normalizer_describe (const TeNormalizer * nz, GString * s)
{
  g_string_append (s, "normalizer:");
  for (guint i = 0; i < nz->n_ops; i++) {
    const TeNormStep *st = &nz->ops[i];
    g_string_append_printf (s, "%s", op_names[st->op]);
    if (st->pc)
      g_string_append_printf (s, "(%s)", st->pc->digest);
    if (st->rep) {
      g_string_append_printf (s, "(%u-%u:", st->rep->min_rep, st->rep->max_rep);
      for (guint k = 0; k < st->rep->pattern_len; k++)
        g_string_append_printf (s, "%X.", st->rep->pattern[k]);
      g_string_append_c (s, '>');
      for (guint k = 0; k < st->rep->content_len; k++)
        g_string_append_printf (s, "%X.", st->rep->content[k]);
      g_string_append_c (s, ')');
    }
    if (st->op == TE_NORM_STRIP)
      g_string_append_printf (s, "(%d,%d)", st->left, st->right);
    g_string_append_c (s, ',');
  }
}
