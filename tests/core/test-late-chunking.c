/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Late-chunking windows (core/te-late-chunking): which window gives each chunk's vector, and
 * which tokens it pools, with the test model's tokenizer (TE_TEST_MODEL). Spans are checked
 * against Hugging Face's offsets in tests/test_late_chunking.py; here the planning rules. */
#include <string.h>
#include "te-late-chunking.h"

static TeTokenizer *tok;

/* eight words, each one token of the BERT uncased vocabulary */
static const char *eight = "one two three four five six seven eight ";

typedef struct {
  guint64 index;
  guint window;
} Owned;

/* Pushes @n chunks (all @text), returns in @owned which window (by order of output) gives
 * each chunk and checks the invariants on the way. */
static void
run (const char *const *texts, guint n, const gsize * overlaps, const char *prompt,
    guint window_len, Owned * owned, guint * n_windows)
{
  GError *err = NULL;
  TeLateWindows *w = te_late_windows_new (tok, prompt, window_len, NULL, &err);
  g_assert_no_error (err);
  guint got = 0, windows = 0;
  TeEncoding alone;
  te_encoding_init (&alone);
  for (guint i = 0; i <= n; i++) {
    gboolean ok = i < n ? te_late_windows_push (w, texts[i], strlen (texts[i]),
        overlaps ? overlaps[i] : 0, GUINT_TO_POINTER (i + 1), &err)
        : te_late_windows_finish (w, &err);
    g_assert_no_error (err);
    g_assert_true (ok);
    TeLateWindow *win;
    while ((win = te_late_windows_pop (w))) {
      g_assert_cmpuint (win->enc.n, <=, window_len);
      g_assert_cmpuint (win->n_spans, >=, 1);
      for (guint k = 0; k < win->n_spans; k++) {
        const TeLateSpan *s = &win->spans[k];
        /* every chunk once, in order, with its own data */
        g_assert_cmpuint (s->index, ==, got);
        g_assert_cmpuint (GPOINTER_TO_UINT (s->data), ==, got + 1);
        g_assert_cmpuint (s->index, >=, win->first_chunk);
        g_assert_cmpuint (s->index, <=, win->last_chunk);
        g_assert_cmpuint (s->span_first + s->span_n, <=, win->enc.n);
        g_assert_cmpuint (s->own_first, >=, s->span_first);
        g_assert_cmpuint (s->own_first + s->own_n, <=, s->span_first + s->span_n);
        g_assert_true ((s->span_first == 0) == (s->index == win->first_chunk));
        g_assert_true ((s->span_first + s->span_n == win->enc.n)
            == (s->index == win->last_chunk));
        if (win->first_chunk == win->last_chunk) {
          /* alone in its window: the chunk encoded alone, every token pooled */
          gchar *joint = g_strconcat (prompt ? prompt : "", texts[s->index], NULL);
          g_assert_true (te_tokenizer_encode (tok, joint, strlen (joint), TRUE, &alone, NULL));
          g_assert_cmpuint (alone.n, ==, win->enc.n);
          g_assert_cmpmem (alone.ids, alone.n * 4, win->enc.ids, win->enc.n * 4);
          g_assert_cmpuint (s->span_first, ==, 0);
          g_assert_cmpuint (s->span_n, ==, win->enc.n);
          g_free (joint);
        }
        if (owned) {
          owned[got].index = s->index;
          owned[got].window = windows;
        }
        got++;
      }
      windows++;
      te_late_window_free (win);
    }
  }
  g_assert_cmpuint (got, ==, n);
  *n_windows = windows;
  te_encoding_clear (&alone);
  te_late_windows_free (w);
}

/* Equal chunks of 8 tokens, windows of 4 chunks: the windows are [0..3], [2..5], [4..7], [6..9]
 * (each starts at the chunk that starts its predecessor's second half). In a window the middles
 * of its four chunks are 12, 4, 4 and 12 tokens from the window's middle. Chunk 2: 4 in window 0,
 * 12 in window 1: window 0. Chunk 3: 12 vs 4: window 1. Chunk 4: 4 in window 1, 12 in window 2:
 * window 1. And so on; the last window gives its last three. */
static void
test_centrality (void)
{
  const char *texts[10];
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    texts[i] = eight;
  Owned owned[G_N_ELEMENTS (texts)];
  guint n_windows;
  run (texts, G_N_ELEMENTS (texts), NULL, NULL, 2 + 32, owned, &n_windows);
  /* windows [0..3] [2..5] [4..7] [6..9]: owners 0 0 0 1 1 2 2 3 3 3 */
  static const guint expect[] = { 0, 0, 0, 1, 1, 2, 2, 3, 3, 3 };
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    g_assert_cmpuint (owned[i].window, ==, expect[i]);
  g_assert_cmpuint (n_windows, ==, 4);
}

/* Windows no larger than a chunk: one chunk each, exactly the chunk encoded alone. */
static void
test_single_chunk_windows (void)
{
  const char *texts[] = { eight, "Grüße aus Köln — naïve café. ", "短い文です。", eight };
  guint n_windows;
  run (texts, G_N_ELEMENTS (texts), NULL, NULL, 12, NULL, &n_windows);
  g_assert_cmpuint (n_windows, ==, G_N_ELEMENTS (texts));
  run (texts, G_N_ELEMENTS (texts), NULL, "query: ", 14, NULL, &n_windows);
  g_assert_cmpuint (n_windows, ==, G_N_ELEMENTS (texts));
}

/* Overlapping chunks are not repeated: the window is the document's text once. */
static void
test_overlap_not_repeated (void)
{
  const char *doc = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu ";
  /* chunk 1 repeats "gamma delta " of chunk 0 */
  gchar *c0 = g_strndup (doc, 29);  /* "alpha beta gamma delta epsil" ... up to byte 29 */
  const char *c1_start = strstr (doc, "gamma");
  gsize ov = (gsize) (doc + 29 - c1_start);
  gchar *c1 = g_strdup (c1_start);
  const char *texts[] = { c0, c1 };
  const gsize overlaps[] = { 0, ov };
  GError *err = NULL;
  TeLateWindows *w = te_late_windows_new (tok, NULL, 128, NULL, &err);
  g_assert_no_error (err);
  g_assert_true (te_late_windows_push (w, texts[0], strlen (texts[0]), 0, NULL, &err));
  g_assert_true (te_late_windows_push (w, texts[1], strlen (texts[1]), overlaps[1], NULL, &err));
  g_assert_true (te_late_windows_finish (w, &err));
  TeLateWindow *win = te_late_windows_pop (w);
  g_assert_nonnull (win);
  g_assert_null (te_late_windows_pop (w));
  TeEncoding whole;
  te_encoding_init (&whole);
  g_assert_true (te_tokenizer_encode (tok, doc, strlen (doc), TRUE, &whole, NULL));
  g_assert_cmpuint (whole.n, ==, win->enc.n);
  g_assert_cmpmem (whole.ids, whole.n * 4, win->enc.ids, win->enc.n * 4);
  g_assert_cmpuint (win->n_spans, ==, 2);
  /* chunk 1's own tokens start at "gamma" and its overlap tokens end before "epsilon"'s
   * remainder; they are chunk 0's last ones */
  const TeLateSpan *s0 = &win->spans[0], *s1 = &win->spans[1];
  g_assert_cmpuint (whole.starts[s1->own_first], ==, (guint) (c1_start - doc));
  g_assert_cmpuint (s1->n_overlap, >=, 2);
  g_assert_cmpuint (s1->overlap_first, ==, s1->own_first);
  g_assert_cmpuint (s0->own_first + s0->own_n, >, s1->own_first);
  g_assert_cmpuint (s1->own_first + s1->own_n, ==, whole.n - 1);
  te_encoding_clear (&whole);
  te_late_window_free (win);
  te_late_windows_free (w);
  g_free (c0);
  g_free (c1);
}

/* Spans tile the window's text tokens with multi-byte text, and each starts at its chunk. */
static void
test_spans_tile (void)
{
  const char *texts[] = { "Ça va? ", "Très bien, merci. ", "日本語のテキスト。", "Ende. ",
    "x ", "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich. "
  };
  GError *err = NULL;
  TeLateWindows *w = te_late_windows_new (tok, NULL, 512, NULL, &err);
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    g_assert_true (te_late_windows_push (w, texts[i], strlen (texts[i]), 0, NULL, &err));
  g_assert_true (te_late_windows_finish (w, &err));
  TeLateWindow *win = te_late_windows_pop (w);
  g_assert_nonnull (win);
  g_assert_cmpuint (win->n_spans, ==, G_N_ELEMENTS (texts));
  guint row = 1;
  gsize at = 0;
  for (guint k = 0; k < win->n_spans; k++) {
    const TeLateSpan *s = &win->spans[k];
    g_assert_cmpuint (s->own_first, ==, row);
    g_assert_cmpuint (s->own_n, >=, 1);
    g_assert_cmpuint (win->enc.starts[s->own_first], ==, at);
    for (guint r = s->own_first; r < s->own_first + s->own_n; r++) {
      g_assert_cmpuint (win->enc.starts[r], >=, at);
      g_assert_cmpuint (win->enc.starts[r], <, at + strlen (texts[k]));
    }
    row += s->own_n;
    at += strlen (texts[k]);
  }
  g_assert_cmpuint (row, ==, win->enc.n - 1);
  te_late_window_free (win);
  te_late_windows_free (w);
}

/* A chunk with no token of its own: inside a word (a hard split), the token covering its start;
 * whitespace only, the whole window. Chunks still come out in order. */
static void
test_no_own_tokens (void)
{
  const char *texts[] = { "alpha unbelievab", "ly", " ", "gamma delta. " };
  GError *err = NULL;
  TeLateWindows *w = te_late_windows_new (tok, NULL, 64, NULL, &err);
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    g_assert_true (te_late_windows_push (w, texts[i], strlen (texts[i]), 0, NULL, &err));
  g_assert_true (te_late_windows_finish (w, &err));
  TeLateWindow *win = te_late_windows_pop (w);
  g_assert_nonnull (win);
  g_assert_cmpuint (win->n_spans, ==, 4);
  const TeEncoding *enc = &win->enc;
  /* "ly" starts inside "unbelievably": the token covering byte 16 */
  const TeLateSpan *ly = &win->spans[1];
  g_assert_cmpuint (ly->own_n, ==, 1);
  g_assert_cmpuint (enc->starts[ly->own_first], <, 16);
  g_assert_cmpuint (enc->ends[ly->own_first], >, 16);
  g_assert_cmpuint (ly->span_first, ==, ly->own_first);
  /* " ": nothing of its own, the whole window */
  const TeLateSpan *sp = &win->spans[2];
  g_assert_cmpuint (sp->own_n, ==, 0);
  g_assert_cmpuint (sp->span_first, ==, 0);
  g_assert_cmpuint (sp->span_n, ==, enc->n);
  for (guint k = 0; k < 4; k++)
    g_assert_cmpuint (win->spans[k].index, ==, k);
  te_late_window_free (win);
  te_late_windows_free (w);
}

/* Chunks of no token (control characters, which the normaliser removes) still form windows of
 * at most as many chunks as the window has text tokens: the planner does not hold them all. */
static void
test_tokenless_chunks_bounded (void)
{
  GError *err = NULL;
  TeLateWindows *w = te_late_windows_new (tok, NULL, 6, NULL, &err);  /* 4 for text */
  guint out = 0;
  for (guint i = 0; i < 100; i++) {
    g_assert_true (te_late_windows_push (w, "\r\x01\r", 3, 0, GUINT_TO_POINTER (i + 1), &err));
    TeLateWindow *win;
    while ((win = te_late_windows_pop (w))) {
      g_assert_cmpuint (win->last_chunk - win->first_chunk + 1, <=, 4);
      for (guint k = 0; k < win->n_spans; k++)
        g_assert_cmpuint (win->spans[k].index, ==, out++);
      te_late_window_free (win);
    }
    g_assert_cmpuint (i + 1 - out, <=, 12);
  }
  g_assert_true (te_late_windows_finish (w, &err));
  TeLateWindow *win;
  while ((win = te_late_windows_pop (w))) {
    out += win->n_spans;
    te_late_window_free (win);
  }
  g_assert_cmpuint (out, ==, 100);
  te_late_windows_free (w);
}

static void
test_errors (void)
{
  GError *err = NULL;
  g_assert_null (te_late_windows_new (tok, NULL, 2, NULL, &err));
  g_assert_error (err, TE_ERROR, TE_ERROR_INVALID);
  g_clear_error (&err);
  TeLateWindows *w = te_late_windows_new (tok, NULL, 6, g_free, &err);
  g_assert_no_error (err);
  /* fits: 4 tokens; then one of 8 does not fit alone */
  g_assert_true (te_late_windows_push (w, "one two three four", 18, 0, g_strdup ("a"), &err));
  g_assert_false (te_late_windows_push (w, eight, strlen (eight), 0, g_strdup ("b"), &err)
      && te_late_windows_finish (w, &err));
  g_assert_error (err, TE_ERROR, TE_ERROR_TOO_LONG);
  g_clear_error (&err);
  te_late_windows_free (w);     /* the data not handed out is freed (LeakSanitizer checks) */
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *dir = g_getenv ("TE_TEST_MODEL");
  if (!dir) {
    g_printerr ("TE_TEST_MODEL must name the test model directory\n");
    return 1;
  }
  gchar *path = g_build_filename (dir, "tokenizer.json", NULL);
  GError *err = NULL;
  tok = te_tokenizer_new_from_file (path, &err);
  g_assert_no_error (err);
  g_free (path);
  g_test_add_func ("/late-chunking/centrality", test_centrality);
  g_test_add_func ("/late-chunking/single-chunk-windows", test_single_chunk_windows);
  g_test_add_func ("/late-chunking/overlap-not-repeated", test_overlap_not_repeated);
  g_test_add_func ("/late-chunking/spans-tile", test_spans_tile);
  g_test_add_func ("/late-chunking/no-own-tokens", test_no_own_tokens);
  g_test_add_func ("/late-chunking/tokenless-chunks-bounded", test_tokenless_chunks_bounded);
  g_test_add_func ("/late-chunking/errors", test_errors);
  int ret = g_test_run ();
  te_tokenizer_free (tok);
  return ret;
}
