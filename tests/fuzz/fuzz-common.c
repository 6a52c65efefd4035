/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-common.c — helpers shared by the libFuzzer targets (see fuzz-common.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "fuzz-common.h"
#include "te-model.h"

void
fuzz_fail (const char *file, int line, const char *cond, const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "\n==FUZZ INVARIANT== %s:%d: %s: ", file, line, cond);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\n");
  abort ();
}

static char *scratch;

static void
remove_tree (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  const char *name;

  if (d != NULL) {
    while ((name = g_dir_read_name (d)) != NULL) {
      char *p = g_build_filename (path, name, NULL);
      if (g_file_test (p, G_FILE_TEST_IS_DIR) && !g_file_test (p, G_FILE_TEST_IS_SYMLINK))
        remove_tree (p);
      else
        g_unlink (p);
      g_free (p);
    }
    g_dir_close (d);
  }
  g_rmdir (path);
}

static void
remove_scratch (void)
{
  if (scratch != NULL)
    remove_tree (scratch);
}

void
fuzz_init (void)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
}

const char *
fuzz_scratch_dir (void)
{
  GError *err = NULL;

  if (scratch == NULL) {
    scratch = g_dir_make_tmp ("te-fuzz-XXXXXX", &err);
    if (scratch == NULL)
      fuzz_fail (__FILE__, __LINE__, "scratch", "%s", err->message);
    atexit (remove_scratch);
  }
  return scratch;
}

void
fuzz_write_file (const char *path, const void *data, gsize len)
{
  FILE *f = fopen (path, "wb");

  if (f == NULL || (len > 0 && fwrite (data, 1, len, f) != len) || fclose (f) != 0)
    fuzz_fail (__FILE__, __LINE__, "write", "%s: %s", path, g_strerror (errno));
}

static TeTokenizer *
load_or_die (const char *path)
{
  GError *err = NULL;
  TeTokenizer *tok = te_tokenizer_new_from_file (path, &err);

  if (tok == NULL)
    fuzz_fail (__FILE__, __LINE__, "load", "%s", err->message);
  return tok;
}

static char *
default_tokenizer_path (void)
{
  const char *dir = g_getenv ("TE_TEST_MODEL");

  if (dir == NULL || *dir == '\0')
    dir = te_default_model_dir ();
  return g_build_filename (dir, "tokenizer.json", NULL);
}

const TeTokenizer *
fuzz_default_tokenizer (void)
{
  static TeTokenizer *tok;

  if (tok == NULL) {
    char *path = default_tokenizer_path ();
    tok = load_or_die (path);
    g_free (path);
  }
  return tok;
}

static gint
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

const FuzzTokenizer *
fuzz_tokenizers (guint * n)
{
  static GArray *list;

  if (list == NULL) {
    const char *dir = g_getenv ("TE_FUZZ_TOKENIZERS");
    GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
    GError *err = NULL;

    list = g_array_new (FALSE, TRUE, sizeof (FuzzTokenizer));
    if (dir != NULL && *dir != '\0') {
      GDir *d = g_dir_open (dir, 0, &err);
      const char *name;
      if (d == NULL)
        fuzz_fail (__FILE__, __LINE__, "TE_FUZZ_TOKENIZERS", "%s", err->message);
      while ((name = g_dir_read_name (d)) != NULL)
        if (g_str_has_suffix (name, ".json"))
          g_ptr_array_add (names, g_strdup (name));
      g_dir_close (d);
      g_ptr_array_sort (names, cmp_str);
      for (guint i = 0; i < names->len; i++) {
        char *path = g_build_filename (dir, names->pdata[i], NULL);
        FuzzTokenizer ft = { g_strdup (names->pdata[i]), load_or_die (path) };
        g_array_append_val (list, ft);
        g_free (path);
      }
      if (list->len == 0)
        fuzz_fail (__FILE__, __LINE__, "TE_FUZZ_TOKENIZERS", "%s has no *.json", dir);
    } else {
      char *path = default_tokenizer_path ();
      FuzzTokenizer ft = { g_strdup ("default"), load_or_die (path) };
      g_array_append_val (list, ft);
      g_free (path);
    }
    g_ptr_array_unref (names);
    fprintf (stderr, "fuzz: %u tokenizer(s):", list->len);
    for (guint i = 0; i < list->len; i++)
      fprintf (stderr, " %s", g_array_index (list, FuzzTokenizer, i).name);
    fprintf (stderr, "\n");
  }
  *n = list->len;
  return (const FuzzTokenizer *) list->data;
}

/* Unicode's table 3-7 of well-formed byte sequences, written out rather than shared with core:
 * for lead byte @b, how many continuation bytes follow and the range of the first of them.
 * FALSE for a byte that starts no sequence. */
static gboolean
lead_info (guint8 b, guint * need, guint8 * lo, guint8 * hi)
{
  *lo = 0x80;
  *hi = 0xBF;
  if (b < 0x80)
    *need = 0;
  else if (b >= 0xC2 && b <= 0xDF)
    *need = 1;
  else if (b >= 0xE0 && b <= 0xEF)
    *need = 2;
  else if (b >= 0xF0 && b <= 0xF4)
    *need = 3;
  else
    return FALSE;
  if (b == 0xE0)
    *lo = 0xA0;
  else if (b == 0xED)
    *hi = 0x9F;
  else if (b == 0xF0)
    *lo = 0x90;
  else if (b == 0xF4)
    *hi = 0x8F;
  return TRUE;
}

/* Bytes of the longest prefix of a well-formed sequence at @s: the sequence's length when it is
 * complete, else the maximal ill-formed subpart (at least 1) with *@complete FALSE. */
gsize
fuzz_utf8_prefix (const guint8 * s, gsize avail, gboolean * complete)
{
  guint need;
  guint8 lo, hi;
  gsize k = 1;

  *complete = FALSE;
  if (!lead_info (s[0], &need, &lo, &hi))
    return 1;
  if (need > 0 && k < avail && s[1] >= lo && s[1] <= hi) {
    k = 2;
    while (k <= need && k < avail && s[k] >= 0x80 && s[k] <= 0xBF)
      k++;
  }
  *complete = k == need + 1;
  return k;
}

gboolean
fuzz_utf8_valid (const guint8 * s, gsize len, gsize * bad)
{
  gsize i = 0;

  while (i < len) {
    gboolean complete;
    gsize k = fuzz_utf8_prefix (s + i, len - i, &complete);
    if (!complete) {
      if (bad != NULL)
        *bad = i;
      return FALSE;
    }
    i += k;
  }
  return TRUE;
}

static gboolean
is_char_boundary (const char *text, gsize len, gsize at)
{
  return at == 0 || at >= len || ((guint8) text[at] & 0xC0) != 0x80;
}

/* @ordered: the text's tokens come in text order (true without the post-processor, whose
 * template may repeat the sequence). */
static void
check_one (const TeTokenizer * tok, const char *text, gsize len, const TeEncoding * e,
    gboolean ordered, gboolean strict)
{
  guint vocab = te_tokenizer_vocab_size (tok);
  gsize prev_start = 0;

  FUZZ_CHECK (e->n <= e->capacity, "n %u > capacity %u", e->n, e->capacity);
  for (guint i = 0; i < e->n; i++) {
    FUZZ_CHECK (e->ids[i] >= 0 && (guint) e->ids[i] < vocab, "token %u: id %d, vocab %u", i,
        e->ids[i], vocab);
    /* (a loaded tokenizer's post-processor may name ids its vocabulary lacks, as in HF) */
    FUZZ_CHECK (!strict || te_tokenizer_id_to_token (tok, e->ids[i]) != NULL, "token %u: id "
        "%d has no string", i, e->ids[i]);
    FUZZ_CHECK (e->special[i] <= 1, "token %u: special %u", i, e->special[i]);
    FUZZ_CHECK (e->starts[i] <= e->ends[i] && e->ends[i] <= len, "token %u: [%u, %u) in %"
        G_GSIZE_FORMAT " bytes", i, e->starts[i], e->ends[i], len);
    FUZZ_CHECK (is_char_boundary (text, len, e->starts[i])
        && is_char_boundary (text, len, e->ends[i]), "token %u: [%u, %u) splits a character",
        i, e->starts[i], e->ends[i]);
    if (ordered) {
      FUZZ_CHECK (e->starts[i] >= prev_start, "token %u starts at %u before %" G_GSIZE_FORMAT,
          i, e->starts[i], prev_start);
      prev_start = e->starts[i];
    }
  }
}

void
fuzz_check_encode (const TeTokenizer * tok, const char *text, gsize len, gboolean must_encode,
    TeEncoding * with, TeEncoding * without)
{
  GError *err = NULL;
  gsize bad = 0;
  gboolean valid = fuzz_utf8_valid ((const guint8 *) text, len, &bad);
  gboolean ok = te_tokenizer_encode (tok, text, len, FALSE, without, &err);

  if (!valid) {
    char *want = g_strdup_printf ("byte offset %" G_GSIZE_FORMAT, bad);
    FUZZ_CHECK (!ok, "invalid UTF-8 at %" G_GSIZE_FORMAT " accepted", bad);
    FUZZ_CHECK (g_error_matches (err, TE_ERROR, TE_ERROR_INVALID)
        && strstr (err->message, want) != NULL, "invalid UTF-8 at %" G_GSIZE_FORMAT
        ": error \"%s\"", bad, err ? err->message : "(none)");
    g_free (want);
    g_clear_error (&err);
    FUZZ_CHECK (!te_tokenizer_encode (tok, text, len, TRUE, with, &err), "invalid UTF-8 "
        "accepted with special tokens");
    g_clear_error (&err);
    return;
  }
  if (!ok && !must_encode) {
    /* e.g. a WordPiece whose unk_token is missing from the vocabulary meets an unknown word:
     * HF loads such a tokenizer too and fails the same way, at encode time */
    FUZZ_CHECK (err != NULL && err->domain == TE_ERROR && err->message[0] != '\0',
        "encode failed without a TE_ERROR");
    g_clear_error (&err);
    return;
  }
  FUZZ_CHECK (ok, "valid text refused: %s", err ? err->message : "(no error)");
  FUZZ_CHECK (te_tokenizer_encode (tok, text, len, TRUE, with, &err), "valid text refused "
      "with special tokens: %s", err ? err->message : "(no error)");
  /* Without special tokens the template still places the sequence as often as it names it
   * (HF does the same: "[SEP] A [CLS] A" gives A A): @without is k copies of one sequence S,
   * S in text order. */
  guint p = without->n;
  for (guint cand = 1; cand < without->n; cand++) {
    gboolean periodic = without->n % cand == 0;
    for (guint i = cand; i < without->n && periodic; i++)
      periodic = without->ids[i] == without->ids[i % cand]
          && without->starts[i] == without->starts[i % cand]
          && without->ends[i] == without->ends[i % cand];
    if (periodic) {
      p = cand;
      break;
    }
  }
  TeEncoding seq = *without;
  seq.n = p;
  check_one (tok, text, len, without, FALSE, must_encode);
  check_one (tok, text, len, &seq, TRUE, must_encode);
  check_one (tok, text, len, with, FALSE, must_encode);

  /* with = the same template with its special tokens: those (special, empty range at 0) and
   * as many copies of S as without them */
  guint added = 0, j = 0, copies = 0;
  for (guint i = 0; i < with->n; i++) {
    if (j == 0 && with->special[i] && with->starts[i] == 0 && with->ends[i] == 0
        && !(p > 0 && without->ids[0] == with->ids[i] && without->special[0]
            && without->starts[0] == 0 && without->ends[0] == 0)) {
      added++;
      continue;
    }
    FUZZ_CHECK (p > 0 && with->ids[i] == without->ids[j]
        && with->starts[i] == without->starts[j] && with->ends[i] == without->ends[j],
        "token %u with special tokens (%d [%u, %u)) is neither the post-processor's nor token "
        "%u of the sequence", i, with->ids[i], with->starts[i], with->ends[i], j);
    if (++j == p) {
      j = 0;
      copies++;
    }
  }
  FUZZ_CHECK (j == 0, "with special tokens: a partial copy of the %u-token sequence", p);
  FUZZ_CHECK (p == 0 || copies == without->n / p, "the sequence %u times with special tokens, "
      "%u times without", copies, without->n / p);
  FUZZ_CHECK (added == te_tokenizer_num_special_tokens (tok), "%u tokens added, the "
      "post-processor announces %u", added, te_tokenizer_num_special_tokens (tok));
}
