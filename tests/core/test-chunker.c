/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-chunker.c — te_chunker: tiling, token limits, boundary preference, streaming
 * independence from buffer sizes, bounded memory, UTF-8 errors. Uses the real model's tokenizer
 * (TE_TEST_MODEL) so token counts are those the encoder will see. */
#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>

#include <utf8proc.h>

#include "te-chunker.h"
#include "te-model.h"
#include "te-utf8.h"

static TeTokenizer *tok;

typedef struct {
  GPtrArray *chunks;            /* ChunkCopy* */
  gsize max_pending;
  TeChunker *chunker;
} Collect;

typedef struct {
  guint64 index, start, end;
  gchar *text;
  gsize len;
  guint n_tokens;
} ChunkCopy;

static void
chunk_copy_free (gpointer p)
{
  ChunkCopy *c = p;
  g_free (c->text);
  g_free (c);
}

static gboolean
collect (const TeChunk * chunk, gpointer user_data)
{
  Collect *col = user_data;
  ChunkCopy *c = g_new0 (ChunkCopy, 1);
  c->index = chunk->index;
  c->start = chunk->start;
  c->end = chunk->end;
  c->text = g_memdup2 (chunk->text, chunk->len);
  c->len = chunk->len;
  c->n_tokens = chunk->n_tokens;
  g_ptr_array_add (col->chunks, c);
  return TRUE;
}

/* Chunk @text pushed in pieces of @piece bytes (0 = all at once), with @prompt before every
 * chunk (NULL = none). */
static GPtrArray *
run_chunker_prompt (const gchar * text, gsize len, guint max_tokens, guint overlap, gsize piece,
    const gchar * prompt, gsize * max_pending)
{
  Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, max_tokens, overlap);
  g_assert_true (te_chunker_set_prompt (c, prompt, &err));
  g_assert_no_error (err);
  gsize off = 0;
  if (piece == 0)
    piece = len ? len : 1;
  while (off < len) {
    gsize n = MIN (piece, len - off);
    g_assert_true (te_chunker_push (c, text + off, n, collect, &col, &err));
    g_assert_no_error (err);
    col.max_pending = MAX (col.max_pending, te_chunker_pending (c));
    off += n;
  }
  g_assert_true (te_chunker_finish (c, collect, &col, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (te_chunker_pending (c), ==, 0);
  te_chunker_free (c);
  if (max_pending)
    *max_pending = col.max_pending;
  return col.chunks;
}

static GPtrArray *
run_chunker (const gchar * text, gsize len, guint max_tokens, guint overlap, gsize piece,
    gsize * max_pending)
{
  return run_chunker_prompt (text, len, max_tokens, overlap, piece, NULL, max_pending);
}

/* Every chunk: exact source bytes, <= max tokens by an independent encode, sequential index. */
static void
check_chunks (GPtrArray * chunks, const gchar * text, gsize len, guint max_tokens,
    gboolean tiling)
{
  TeEncoding enc;
  te_encoding_init (&enc);
  guint64 prev_start = 0, prev_end = 0;
  g_assert_cmpuint (chunks->len, >, 0);
  for (guint i = 0; i < chunks->len; i++) {
    ChunkCopy *c = chunks->pdata[i];
    g_assert_cmpuint (c->index, ==, i);
    g_assert_cmpuint (c->end, >, c->start);
    g_assert_cmpuint (c->end, <=, len);
    g_assert_cmpuint (c->len, ==, c->end - c->start);
    g_assert_true (memcmp (c->text, text + c->start, c->len) == 0);
    g_assert_true (te_tokenizer_encode (tok, c->text, c->len, TRUE, &enc, NULL));
    g_assert_cmpuint (enc.n, ==, c->n_tokens);
    g_assert_cmpuint (enc.n, <=, max_tokens);
    if (i == 0) {
      g_assert_cmpuint (c->start, ==, 0);
    } else if (tiling) {
      g_assert_cmpuint (c->start, ==, prev_end);
    } else {
      g_assert_cmpuint (c->start, >, prev_start);
      g_assert_cmpuint (c->start, <=, prev_end);
      g_assert_cmpuint (c->end, >, prev_end);
    }
    prev_start = c->start;
    prev_end = c->end;
  }
  g_assert_cmpuint (prev_end, ==, len);
  te_encoding_clear (&enc);
}

static gchar *
read_gpl (gsize * len)
{
  gchar *text = NULL;
  GError *err = NULL;
  g_file_get_contents ("/usr/share/common-licenses/GPL-3", &text, len, &err);
  g_assert_no_error (err);
  return text;
}

static void
test_tiling_gpl (void)
{
  gsize len;
  gchar *text = read_gpl (&len);
  guint limits[] = { 16, 64, 128, 256 };
  for (guint i = 0; i < G_N_ELEMENTS (limits); i++) {
    GPtrArray *chunks = run_chunker (text, len, limits[i], 0, 0, NULL);
    check_chunks (chunks, text, len, limits[i], TRUE);
    /* chunks are well filled: all but the last at least a quarter of the budget */
    for (guint j = 0; j + 1 < chunks->len; j++)
      g_assert_cmpuint (((ChunkCopy *) chunks->pdata[j])->n_tokens, >=, limits[i] / 4);
    g_ptr_array_unref (chunks);
  }
  g_free (text);
}

/* The chunks must not depend on how the input was cut into buffers. */
static void
test_piece_independence (void)
{
  gsize len;
  gchar *text = read_gpl (&len);
  GPtrArray *whole = run_chunker (text, len, 128, 16, 0, NULL);
  gsize pieces[] = { 1, 3, 7, 4096 };
  for (guint i = 0; i < G_N_ELEMENTS (pieces); i++) {
    GPtrArray *other = run_chunker (text, len, 128, 16, pieces[i], NULL);
    g_assert_cmpuint (other->len, ==, whole->len);
    for (guint j = 0; j < whole->len; j++) {
      ChunkCopy *a = whole->pdata[j], *b = other->pdata[j];
      g_assert_cmpuint (a->start, ==, b->start);
      g_assert_cmpuint (a->end, ==, b->end);
    }
    g_ptr_array_unref (other);
  }
  g_ptr_array_unref (whole);
  g_free (text);
}

static void
test_overlap (void)
{
  gsize len;
  gchar *text = read_gpl (&len);
  GPtrArray *chunks = run_chunker (text, len, 128, 16, 0, NULL);
  check_chunks (chunks, text, len, 128, FALSE);
  TeEncoding enc;
  te_encoding_init (&enc);
  for (guint i = 1; i < chunks->len; i++) {
    ChunkCopy *a = chunks->pdata[i - 1], *b = chunks->pdata[i];
    g_assert_cmpuint (b->start, <, a->end);     /* there is an overlap ... */
    g_assert_true (te_tokenizer_encode (tok, text + b->start, a->end - b->start, FALSE, &enc,
            NULL));
    g_assert_cmpuint (enc.n, <=, 16);   /* ... of at most overlap-tokens tokens */
  }
  te_encoding_clear (&enc);
  g_ptr_array_unref (chunks);
  g_free (text);
}

static void
test_paragraph_preference (void)
{
  GString *s = g_string_new (NULL);
  for (int p = 0; p < 30; p++) {
    for (int w = 0; w < 30; w++)
      g_string_append_printf (s, "word%d ", w % 7);
    g_string_append (s, "end.\n\n");
  }
  GPtrArray *chunks = run_chunker (s->str, s->len, 128, 0, 0, NULL);
  check_chunks (chunks, s->str, s->len, 128, TRUE);
  for (guint i = 0; i + 1 < chunks->len; i++) {
    ChunkCopy *c = chunks->pdata[i];
    if (c->len < 6 || memcmp (c->text + c->len - 6, "end.\n\n", 6) != 0)
      g_error ("chunk %u does not end at a paragraph: ...%.*s", i, 20,
          c->text + c->len - MIN (c->len, 20));
  }
  g_ptr_array_unref (chunks);
  g_string_free (s, TRUE);
}

static void
test_sentence_preference (void)
{
  GString *s = g_string_new (NULL);
  for (int i = 0; i < 200; i++)
    g_string_append_printf (s, "This is sentence number %d with a few words. ", i);
  GPtrArray *chunks = run_chunker (s->str, s->len, 64, 0, 0, NULL);
  check_chunks (chunks, s->str, s->len, 64, TRUE);
  for (guint i = 0; i + 1 < chunks->len; i++) {
    ChunkCopy *c = chunks->pdata[i];
    g_assert_true (c->len >= 2 && c->text[c->len - 2] == '.' && c->text[c->len - 1] == ' ');
  }
  g_ptr_array_unref (chunks);
  g_string_free (s, TRUE);
}

static void
test_break_helpers (void)
{
  const char *t = "It ended. The next one e.g. this and J. Smith went home.\n\nNew para";
  gsize len = strlen (t);
  g_assert_true (te_text_is_sentence_break (t, len, strstr (t, "The") - t));
  g_assert_false (te_text_is_sentence_break (t, len, strstr (t, "this") - t));
  g_assert_false (te_text_is_sentence_break (t, len, strstr (t, "Smith") - t));
  g_assert_true (te_text_is_word_break (t, len, strstr (t, "next") - t));
  g_assert_false (te_text_is_word_break (t, len, strstr (t, "ext") - t));
  g_assert_true (te_text_is_paragraph_break (t, len, strstr (t, "New") - t));
  g_assert_false (te_text_is_paragraph_break (t, len, strstr (t, "The") - t));
  const char *cjk = "我们今天去公园。明天下雨";
  g_assert_true (te_text_is_sentence_break (cjk, strlen (cjk), strstr (cjk, "明") - cjk));
  /* Beside a CJK ideograph is a word break, with the tokenizer's exact table: U+2B81F and
   * U+2B920 are isolated by BertNormalizer, U+2B820..U+2B91F (HF's gap) are not. */
  const char *ext = "a\xf0\xab\xa0\x9f" "b\xf0\xab\xa4\xa0"
      "c\xf0\xab\xa0\xa0" "d\xf0\xab\xa4\x9f" "e";
  gsize elen = strlen (ext);
  g_assert_true (te_text_is_word_break (ext, elen, 1));        /* a|U+2B81F */
  g_assert_true (te_text_is_word_break (ext, elen, 5));        /* U+2B81F|b */
  g_assert_true (te_text_is_word_break (ext, elen, 6));        /* b|U+2B920 */
  g_assert_false (te_text_is_word_break (ext, elen, 12));      /* c|U+2B820 */
  g_assert_false (te_text_is_word_break (ext, elen, 16));      /* U+2B820|d */
  g_assert_false (te_text_is_word_break (ext, elen, 17));      /* d|U+2B91F */
}

/* A long run without any boundary: split hard, every piece within limits, memory bounded. */
static void
test_no_boundary_run (void)
{
  gsize len = 2 * 1024 * 1024;
  gchar *text = g_malloc (len);
  memset (text, 'a', len);
  gsize max_pending = 0;
  GPtrArray *chunks = run_chunker (text, len, 128, 0, 65536, &max_pending);
  check_chunks (chunks, text, len, 128, TRUE);
  g_assert_cmpuint (max_pending, <, 64 * 1024);
  g_ptr_array_unref (chunks);

  /* punctuation run: every character a token, hard split at token starts */
  for (gsize i = 0; i < len; i++)
    text[i] = (i % 2) ? '.' : 'b';
  chunks = run_chunker (text, 200000, 128, 8, 4096, &max_pending);
  check_chunks (chunks, text, 200000, 128, FALSE);
  g_assert_cmpuint (max_pending, <, 64 * 1024);
  g_ptr_array_unref (chunks);
  g_free (text);
}

static void
test_cjk (void)
{
  GString *s = g_string_new (NULL);
  const char *base = "我们今天去公园散步天气很好";
  for (int i = 0; i < 300; i++)
    g_string_append (s, base);
  GPtrArray *chunks = run_chunker (s->str, s->len, 50, 0, 5, NULL);
  check_chunks (chunks, s->str, s->len, 50, TRUE);
  /* ideographs are one token each: chunks are full */
  for (guint i = 0; i + 1 < chunks->len; i++)
    g_assert_cmpuint (((ChunkCopy *) chunks->pdata[i])->n_tokens, ==, 50);
  g_ptr_array_unref (chunks);
  g_string_free (s, TRUE);
}

static void
test_multibyte_split_across_pushes (void)
{
  const char *text = "naïve café — déjà vu 😀 ok";
  gsize len = strlen (text);
  GPtrArray *whole = run_chunker (text, len, 32, 0, 0, NULL);
  GPtrArray *bytewise = run_chunker (text, len, 32, 0, 1, NULL);
  g_assert_cmpuint (whole->len, ==, 1);
  g_assert_cmpuint (bytewise->len, ==, 1);
  ChunkCopy *c = bytewise->pdata[0];
  g_assert_cmpuint (c->len, ==, len);
  g_assert_true (memcmp (c->text, text, len) == 0);
  g_ptr_array_unref (whole);
  g_ptr_array_unref (bytewise);
}

static void
test_invalid_utf8 (void)
{
  Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, 64, 0);
  g_assert_true (te_chunker_push (c, "hello ", 6, collect, &col, &err));
  g_assert_false (te_chunker_push (c, "wor\xffld", 6, collect, &col, &err));
  g_assert_error (err, TE_ERROR, TE_ERROR_INVALID);
  g_assert_nonnull (strstr (err->message, "byte 9"));
  g_clear_error (&err);

  te_chunker_reset (c);
  g_assert_true (te_chunker_push (c, "abc \xe2\x82", 6, collect, &col, &err));
  g_assert_false (te_chunker_finish (c, collect, &col, &err));
  g_assert_error (err, TE_ERROR, TE_ERROR_INVALID);
  g_clear_error (&err);

  /* overlong encoding and surrogates are invalid too */
  te_chunker_reset (c);
  g_assert_false (te_chunker_push (c, "\xc0\xaf", 2, collect, &col, &err));
  g_clear_error (&err);
  te_chunker_reset (c);
  g_assert_false (te_chunker_push (c, "\xed\xa0\x80", 3, collect, &col, &err));
  g_clear_error (&err);
  te_chunker_free (c);
  g_ptr_array_unref (col.chunks);
}

/* Error mode: the text before the bad byte still comes out as chunks, then the error. */
static void
test_invalid_utf8_emits_before (void)
{
  Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, 64, 0);
  g_assert_true (te_chunker_push (c, "First sentence. Second one", 26, collect, &col, &err));
  g_assert_cmpuint (col.chunks->len, ==, 0);
  g_assert_false (te_chunker_push (c, " here.\xff tail", 14, collect, &col, &err));
  g_assert_error (err, TE_ERROR, TE_ERROR_INVALID);
  g_assert_nonnull (strstr (err->message, "byte 32"));
  g_clear_error (&err);
  g_assert_cmpuint (col.chunks->len, ==, 1);
  ChunkCopy *ch = g_ptr_array_index (col.chunks, 0);
  g_assert_cmpuint (ch->start, ==, 0);
  g_assert_cmpuint (ch->end, ==, 32);
  g_assert_cmpmem (ch->text, ch->len, "First sentence. Second one here.", 32);
  /* and a document cut inside a sequence: the text before it, then the error */
  g_ptr_array_set_size (col.chunks, 0);
  g_assert_true (te_chunker_push (c, "abc \xe2\x82", 6, collect, &col, &err));
  g_assert_false (te_chunker_finish (c, collect, &col, &err));
  g_assert_error (err, TE_ERROR, TE_ERROR_INVALID);
  g_clear_error (&err);
  g_assert_cmpuint (col.chunks->len, ==, 1);
  ch = g_ptr_array_index (col.chunks, 0);
  g_assert_cmpmem (ch->text, ch->len, "abc ", 4);
  te_chunker_free (c);
  g_ptr_array_unref (col.chunks);
}

/* Replace mode against Unicode's "maximal subpart" rule, written out by hand from the
 * standard's table (Unicode 15, section 3.9, U+FFFD substitution), for single-chunk inputs. */
static void
test_invalid_utf8_replace (void)
{
  static const struct { const char *in; gsize len; const char *out; } cases[] = {
    {"a\xff" "b", 3, "a\xef\xbf\xbd" "b"},
    {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},                 /* C0 never starts one */
    {"\xed\xa0\x80x", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx"}, /* surrogate: 3 */
    {"\xe2\x82x", 3, "\xef\xbf\xbdx"},                                /* truncated: 1 */
    {"\xf0\x90\x80", 3, "\xef\xbf\xbd"},                             /* cut by the end */
    {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"ok \xe2\x82\xac \x80\x80 end", 13, "ok \xe2\x82\xac \xef\xbf\xbd\xef\xbf\xbd end"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    /* whole, and byte by byte (sequences split across pushes) */
    for (gsize piece = 0; piece <= 1; piece++) {
      Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
      GError *err = NULL;
      TeChunker *c = te_chunker_new (tok, 64, 0);
      te_chunker_set_invalid_utf8 (c, TE_INVALID_UTF8_REPLACE);
      gsize step = piece ? 1 : cases[i].len;
      for (gsize off = 0; off < cases[i].len; off += step)
        g_assert_true (te_chunker_push (c, cases[i].in + off, MIN (step, cases[i].len - off),
                collect, &col, &err));
      g_assert_true (te_chunker_finish (c, collect, &col, &err));
      g_assert_no_error (err);
      g_assert_cmpuint (col.chunks->len, ==, 1);
      ChunkCopy *ch = g_ptr_array_index (col.chunks, 0);
      g_assert_cmpmem (ch->text, ch->len, cases[i].out, strlen (cases[i].out));
      /* offsets count source bytes */
      g_assert_cmpuint (ch->start, ==, 0);
      g_assert_cmpuint (ch->end, ==, cases[i].len);
      te_chunker_free (c);
      g_ptr_array_unref (col.chunks);
    }
  }
}

/* Replace mode over many chunks: the chunks tile the source bytes exactly, are valid UTF-8, and
 * do not depend on how the bytes were split into pushes (sequences and ill-formed runs cut
 * anywhere). The exact substitution is checked against Python's decoder in tests/test_corpus.py. */
static GPtrArray *
run_replace (const GString * src, gsize piece)
{
  Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, 32, 0);
  te_chunker_set_invalid_utf8 (c, TE_INVALID_UTF8_REPLACE);
  for (gsize off = 0; off < src->len; off += piece)
    g_assert_true (te_chunker_push (c, src->str + off, MIN (piece, src->len - off), collect,
            &col, &err));
  g_assert_true (te_chunker_finish (c, collect, &col, &err));
  g_assert_no_error (err);
  te_chunker_free (c);
  return col.chunks;
}

static void
test_invalid_utf8_replace_offsets (void)
{
  GRand *rand = g_rand_new_with_seed (7);
  GString *src = g_string_new (NULL);
  static const char *words[] = { "alpha ", "beta. ", "\xc3\xa9t\xc3\xa9 ", "\xff", "\xe2\x82",
    "x\xed\xa0\x80 ", "\n\n", "word ", "\xf0\x9f\x98\x80 " };
  while (src->len < 20000)
    g_string_append (src, words[g_rand_int_range (rand, 0, G_N_ELEMENTS (words))]);
  GPtrArray *whole = run_replace (src, src->len);
  guint64 expect_start = 0;
  for (guint i = 0; i < whole->len; i++) {
    ChunkCopy *ch = g_ptr_array_index (whole, i);
    g_assert_cmpuint (ch->start, ==, expect_start);
    g_assert_cmpuint (ch->end, >, ch->start);
    g_assert_true (te_utf8_validate ((const guint8 *) ch->text, ch->len, NULL));
    expect_start = ch->end;
  }
  g_assert_cmpuint (expect_start, ==, src->len);
  for (gsize piece = 1; piece <= 4096; piece *= 8) {
    GPtrArray *split = run_replace (src, piece);
    g_assert_cmpuint (split->len, ==, whole->len);
    for (guint i = 0; i < whole->len; i++) {
      ChunkCopy *a = g_ptr_array_index (whole, i), *b = g_ptr_array_index (split, i);
      g_assert_cmpuint (a->start, ==, b->start);
      g_assert_cmpuint (a->end, ==, b->end);
      g_assert_cmpmem (a->text, a->len, b->text, b->len);
    }
    g_ptr_array_unref (split);
  }
  g_ptr_array_unref (whole);
  g_string_free (src, TRUE);
  g_rand_free (rand);
}

/* Regressions found by tests/fuzz/fuzz-chunker (inputs written by hand). */

/* te_chunker_consumed() counts the bytes of a UTF-8 sequence still waiting for its end. */
static void
test_consumed_counts_partial (void)
{
  Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, 64, 0);
  g_assert_true (te_chunker_push (c, "ab\xe4\xb8", 4, collect, &col, &err));
  g_assert_cmpuint (te_chunker_consumed (c), ==, 4);
  g_assert_true (te_chunker_push (c, "\xad", 1, collect, &col, &err));
  g_assert_cmpuint (te_chunker_consumed (c), ==, 5);
  g_assert_true (te_chunker_finish (c, collect, &col, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (col.chunks->len, ==, 1);
  g_assert_cmpmem (((ChunkCopy *) col.chunks->pdata[0])->text, 5, "ab\xe4\xb8\xad", 5);
  te_chunker_free (c);
  g_ptr_array_unref (col.chunks);
}

/* With overlap, a word that alone needs the whole budget (a Hangul syllable is three jamo
 * tokens) used to give a chunk inside the previous one: the overlap tail and nothing new. Every
 * chunk must end after the previous one; the text must still be covered. */
static void
test_overlap_progresses (void)
{
  const char *text = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e, \xed\x95\x9c\xea\xb5\xad"
      "\xec\x96\xb4, end.";           /* 日本語, 한국어, end. */
  gsize len = strlen (text);
  for (guint max_tokens = 5; max_tokens <= 9; max_tokens++) {     /* (3 tokens + 2 special) */
    GPtrArray *chunks = run_chunker (text, len, max_tokens, 2, 0, NULL);
    guint64 prev_start = 0, prev_end = 0;
    for (guint i = 0; i < chunks->len; i++) {
      ChunkCopy *ch = chunks->pdata[i];
      g_assert_cmpuint (ch->n_tokens, <=, max_tokens);
      if (i == 0) {
        g_assert_cmpuint (ch->start, ==, 0);
      } else {
        g_assert_cmpuint (ch->start, >, prev_start);
        g_assert_cmpuint (ch->start, <=, prev_end);
        g_assert_cmpuint (ch->end, >, prev_end);
      }
      prev_start = ch->start;
      prev_end = ch->end;
    }
    g_assert_cmpuint (prev_end, ==, len);
    g_ptr_array_unref (chunks);
  }
}

/* The overlap tail is chosen only where the next chunk's window reaches past the previous chunk's
 * end. Found by fuzz-chunker with a 16-byte window: after ", 中文, 日本" [78, 94) the tail
 * started at 80, and a window from there ends where that chunk did (the next character, 語, is
 * 3 bytes), so the next chunk repeated [80, 94). With the default window the same happens when
 * a chunk's tail starts within 3 bytes of its start and the chunk fills the window. */
static void
test_overlap_window_progress (void)
{
  const char *text = "Mixed: English, Fran\xc3\xa7" "ais, Deutsch, Espa\xc3\xb1ol, "
      "\xd0\xa0\xd1\x83\xd1\x81\xd1\x81\xd0\xba\xd0\xb8\xd0\xb9, "
      "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac, "
      "\xe4\xb8\xad\xe6\x96\x87, \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e, "
      "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4.";
  gsize len = strlen (text);
  for (gsize window = 16; window <= 24; window++) {
    Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
    TeChunker *c = te_chunker_new (tok, 32, 5);
    te_chunker_set_window (c, window);
    g_assert_true (te_chunker_push (c, text, len, collect, &col, NULL));
    g_assert_true (te_chunker_finish (c, collect, &col, NULL));
    te_chunker_free (c);
    check_chunks (col.chunks, text, len, 32, FALSE);    /* each chunk ends past the previous */
    g_ptr_array_unref (col.chunks);
  }
}

/* A chunk that gives up its overlap shrinks the buffer and then views all of it, so the buffer
 * must never end inside a UTF-8 sequence: pushing used to fill it to the window's byte, cutting
 * one (found by fuzz-chunker: max-tokens 6, overlap 64, replace mode, a 100-byte window; the
 * input mixes Canadian syllabics, bytes that are not UTF-8 and Armenian). */
static void
test_window_whole_characters (void)
{
  static const char text[] =
      "\xe2\x36\xb3\xf8\x5d\xce\x4b\x83\x95\xe1\x90\x83\xe1\x93\x84\xe1\x92\x83\xe1\x91\x8e"
      "\xe1\x91\x90\xe1\x91\xa6\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5"
      "\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\x63\xf5\xf5\xf5\xf5\xf5\xf5"
      "\xf5\x05\x00\x00\x00\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5"
      "\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xc2\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\x01\x00"
      "\x60\xf0\x00\x00\xb1\x0c\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xf5\xd0\x9b\x98\xc2\x05\x20\xe2"
      "\x80\xb1\x78\x20\xeb\x83\x85\x7a\xe2\xb9\x80\xef\xb9\xb6\xe2\xbc\xa2\xe0\xa1\x98\xe0"
      "\xa2\xb2\xcc\x8e\x6d\xf0\xa3\x8e\xab\xf0\xaf\xa6\x87\xc8\xbc\xe2\xbb\x88\xd5\x80\xd5"
      "\xa1\x5b\x53\x45\x50\x5d\x71\xd1\x94\xe2\x81\x82\xc4\x91\x34\xe0\xa4\x85\xf5\xf5\xf5"
      "\xf5\xf5\xf5\xf5\xf5\xf5\xf5\x80\xb6\x20\xf5\xd4\xb1\xd4\xb2\xd4\xb3\x20\xd5\xa1\xd5"
      "\x3b\xd5\xa8\x89\x08\xa3\xcc\xb2\x20\x76\xd6\x21\xaf\xef\x77\x20\x9c";
  Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, 6, 64);
  te_chunker_set_invalid_utf8 (c, TE_INVALID_UTF8_REPLACE);
  te_chunker_set_window (c, 100);
  g_assert_true (te_chunker_push (c, text, sizeof text - 1, collect, &col, &err));
  g_assert_no_error (err);
  g_assert_true (te_chunker_finish (c, collect, &col, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (col.chunks->len, >, 0);
  for (guint i = 0; i < col.chunks->len; i++) {
    ChunkCopy *ch = col.chunks->pdata[i];
    g_assert_true (te_utf8_validate ((const guint8 *) ch->text, ch->len, NULL));
    g_assert_cmpuint (ch->n_tokens, <=, 6);
  }
  te_chunker_free (c);
  g_ptr_array_unref (col.chunks);
}

/* Small windows (te_chunker_set_window): chunks go out while text still arrives, pending text
 * stays within the window, and pieces give the same chunks as one push. */
static void
test_small_window (void)
{
  gchar *text = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents ("/usr/share/common-licenses/GPL-3", &text, &len, NULL));
  len = MIN (len, 20000);
  while (len > 0 && ((guint8) text[len] & 0xC0) == 0x80)
    len--;
  static const gsize windows[] = { 16, 40, 100, 512 };
  for (guint w = 0; w < G_N_ELEMENTS (windows); w++) {
    for (guint overlap = 0; overlap <= 3; overlap += 3) {
      GPtrArray *runs[2];
      for (guint r = 0; r < 2; r++) {
        Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
        TeChunker *c = te_chunker_new (tok, 32, overlap);
        te_chunker_set_window (c, windows[w]);
        gsize piece = r == 0 ? len : 13;
        for (gsize off = 0; off < len; off += piece) {
          g_assert_true (te_chunker_push (c, text + off, MIN (piece, len - off), collect, &col,
                  NULL));
          if (r == 1 && off > 2 * windows[w] + 64)
            g_assert_cmpuint (te_chunker_pending (c), <=, windows[w] + 4 + piece);
        }
        g_assert_true (te_chunker_finish (c, collect, &col, NULL));
        te_chunker_free (c);
        check_chunks (col.chunks, text, len, 32, overlap == 0);
        for (guint i = 0; i < col.chunks->len; i++)
          g_assert_cmpuint (((ChunkCopy *) col.chunks->pdata[i])->len, <=, windows[w]);
        runs[r] = col.chunks;
      }
      g_assert_cmpuint (runs[0]->len, ==, runs[1]->len);
      g_assert_cmpuint (runs[0]->len, >, len / windows[w] / 2);
      for (guint i = 0; i < runs[0]->len; i++) {
        ChunkCopy *a = runs[0]->pdata[i], *b = runs[1]->pdata[i];
        g_assert_cmpuint (a->start, ==, b->start);
        g_assert_cmpuint (a->end, ==, b->end);
      }
      g_ptr_array_unref (runs[0]);
      g_ptr_array_unref (runs[1]);
    }
  }
  g_free (text);
}

/* "cannot split text at byte N" names a source offset also after U+FFFD replacements (which
 * are longer than the bytes they replace). */
static void
test_unsplittable_offset_replace (void)
{
  Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, 3, 0);    /* room for one token */
  te_chunker_set_invalid_utf8 (c, TE_INVALID_UTF8_REPLACE);
  /* four bad bytes, a newline, then U+C309, three jamo tokens, at source byte 5 */
  g_assert_true (te_chunker_push (c, "\xff\xff\xff\xff\n\xec\x8c\x89", 8, collect, &col, &err));
  g_assert_false (te_chunker_finish (c, collect, &col, &err));
  g_assert_error (err, TE_ERROR, TE_ERROR_INVALID);
  g_assert_nonnull (strstr (err->message, "cannot split text at byte 5 "));
  g_clear_error (&err);
  te_chunker_free (c);
  g_ptr_array_unref (col.chunks);
}

/* Push @text in @piece-byte pieces, flushing after every @flush_every pieces (0 = never);
 * records, before each push, te_chunker_pending_start() so that callers can check that no later
 * chunk starts before it. */
typedef struct {
  GPtrArray *chunks;
  GArray *marks;                /* guint64 pairs: (chunks emitted so far, pending start) */
  gsize max_retained;           /* max of bytes accepted - pending start */
} FlushRun;

static FlushRun
run_with_flushes (const gchar * text, gsize len, guint max_tokens, guint overlap, gsize piece,
    guint flush_every)
{
  Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
  FlushRun run = { NULL, g_array_new (FALSE, FALSE, sizeof (guint64)), 0 };
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, max_tokens, overlap);
  guint n = 0;
  for (gsize off = 0; off < len; off += piece) {
    gsize take = MIN (piece, len - off);
    g_assert_true (te_chunker_push (c, text + off, take, collect, &col, &err));
    g_assert_no_error (err);
    if (flush_every && ++n % flush_every == 0) {
      g_assert_true (te_chunker_flush (c, collect, &col, &err));
      g_assert_no_error (err);
      /* all complete text went out (an incomplete UTF-8 tail may stay), unless it is blank */
      g_assert_cmpuint (te_chunker_unemitted (c), <=, 3);
    }
    guint64 mark[2] = { col.chunks->len, te_chunker_pending_start (c) };
    g_array_append_vals (run.marks, mark, 2);
    g_assert_cmpuint (mark[1], <=, off + take);
    run.max_retained = MAX (run.max_retained, off + take - mark[1]);
  }
  g_assert_true (te_chunker_finish (c, collect, &col, &err));
  g_assert_no_error (err);
  te_chunker_free (c);
  run.chunks = col.chunks;
  return run;
}

static void
check_marks (FlushRun * run)
{
  for (guint i = 0; i < run->marks->len; i += 2) {
    guint64 emitted = g_array_index (run->marks, guint64, i);
    guint64 start = g_array_index (run->marks, guint64, i + 1);
    for (guint j = emitted; j < run->chunks->len; j++)
      g_assert_cmpuint (((ChunkCopy *) run->chunks->pdata[j])->start, >=, start);
  }
}

/* Flushing after every sentence: chunks tile the text, each ends where a flush happened or is
 * full, and every later chunk starts at or after te_chunker_pending_start(). */
static void
test_flush_tiles (void)
{
  GString *s = g_string_new (NULL);
  for (int i = 0; i < 60; i++)
    g_string_append_printf (s, "Spoken sentence %d has some words. ", i);
  gsize piece = strlen ("Spoken sentence 10 has some words. ");
  FlushRun run = run_with_flushes (s->str, s->len, 64, 0, piece, 3);
  check_chunks (run.chunks, s->str, s->len, 64, TRUE);
  check_marks (&run);
  /* a flush every 3 pieces of ~9 tokens: no chunk is longer than 3 pieces' worth */
  g_assert_cmpuint (run.chunks->len, >=, 60 / 3);
  for (guint i = 0; i < run.chunks->len; i++)
    g_assert_cmpuint (((ChunkCopy *) run.chunks->pdata[i])->len, <=, 3 * piece + 3);
  g_ptr_array_unref (run.chunks);
  g_array_unref (run.marks);
  g_string_free (s, TRUE);
}

/* With overlap a flushed chunk's tail is repeated by the next chunk; finishing right after a
 * flush emits nothing more. */
static void
test_flush_overlap (void)
{
  Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, 64, 4);
  const char *a = "the first utterance has quite a few words in it ";
  const char *b = "and the second one follows later ";
  g_assert_true (te_chunker_push (c, a, strlen (a), collect, &col, &err));
  g_assert_cmpuint (col.chunks->len, ==, 0);
  g_assert_cmpuint (te_chunker_unemitted (c), ==, strlen (a));
  g_assert_true (te_chunker_flush (c, collect, &col, &err));
  g_assert_cmpuint (col.chunks->len, ==, 1);
  ChunkCopy *c0 = col.chunks->pdata[0];
  g_assert_cmpuint (c0->start, ==, 0);
  g_assert_cmpuint (c0->end, ==, strlen (a));
  g_assert_cmpuint (te_chunker_unemitted (c), ==, 0);
  /* the overlap tail (at most 4 tokens, at a word start) is kept for the next chunk */
  guint64 keep = te_chunker_pending_start (c);
  g_assert_cmpuint (keep, >, 0);
  g_assert_cmpuint (keep, <, strlen (a));
  g_assert_cmpstr (a + keep, ==, "few words in it ");
  g_assert_cmpuint (te_chunker_pending (c), ==, strlen (a) - keep);
  /* a second flush without new text emits nothing */
  g_assert_true (te_chunker_flush (c, collect, &col, &err));
  g_assert_cmpuint (col.chunks->len, ==, 1);

  g_assert_true (te_chunker_push (c, b, strlen (b), collect, &col, &err));
  g_assert_true (te_chunker_flush (c, collect, &col, &err));
  g_assert_cmpuint (col.chunks->len, ==, 2);
  ChunkCopy *c1 = col.chunks->pdata[1];
  g_assert_cmpuint (c1->index, ==, 1);
  g_assert_cmpuint (c1->start, ==, keep);
  g_assert_cmpuint (c1->end, ==, strlen (a) + strlen (b));
  g_assert_cmpmem (c1->text, c1->len, "few words in it and the second one follows later ",
      c1->len);
  g_assert_cmpuint (c1->len, ==, strlen ("few words in it and the second one follows later "));
  g_assert_true (te_chunker_finish (c, collect, &col, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (col.chunks->len, ==, 2);
  te_chunker_free (c);
  g_ptr_array_unref (col.chunks);
}

/* Blank pending text is not flushed; it leads the next chunk. An incomplete UTF-8 sequence stays
 * pending across a flush. */
static void
test_flush_blank_and_partial (void)
{
  Collect col = { g_ptr_array_new_with_free_func (chunk_copy_free), 0, NULL };
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, 64, 0);
  g_assert_true (te_chunker_flush (c, collect, &col, &err));     /* nothing at all */
  g_assert_true (te_chunker_push (c, "hello\n", 6, collect, &col, &err));
  g_assert_true (te_chunker_flush (c, collect, &col, &err));
  g_assert_cmpuint (col.chunks->len, ==, 1);
  g_assert_true (te_chunker_push (c, " \n\t", 3, collect, &col, &err));
  g_assert_true (te_chunker_flush (c, collect, &col, &err));
  g_assert_cmpuint (col.chunks->len, ==, 1);
  g_assert_cmpuint (te_chunker_unemitted (c), ==, 3);
  g_assert_cmpuint (te_chunker_pending_start (c), ==, 6);
  /* "caf" + the first byte of a two-byte character */
  g_assert_true (te_chunker_push (c, "caf\xc3", 4, collect, &col, &err));
  g_assert_true (te_chunker_flush (c, collect, &col, &err));
  g_assert_cmpuint (col.chunks->len, ==, 2);
  ChunkCopy *c1 = col.chunks->pdata[1];
  g_assert_cmpuint (c1->start, ==, 6);
  g_assert_cmpuint (c1->end, ==, 12);
  g_assert_cmpmem (c1->text, c1->len, " \n\tcaf", 6);
  g_assert_cmpuint (te_chunker_unemitted (c), ==, 1);
  g_assert_true (te_chunker_push (c, "\xa9!", 2, collect, &col, &err));
  g_assert_true (te_chunker_finish (c, collect, &col, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (col.chunks->len, ==, 3);
  ChunkCopy *c2 = col.chunks->pdata[2];
  g_assert_cmpuint (c2->start, ==, 12);
  g_assert_cmpmem (c2->text, c2->len, "\xc3\xa9!", 3);
  te_chunker_free (c);
  g_ptr_array_unref (col.chunks);
}

/* te_chunker_pending_start() trails the input by a bounded amount whatever the document length,
 * with and without overlap: what a caller must remember per byte is bounded. */
static void
test_pending_start_bounded (void)
{
  gsize len;
  gchar *text = read_gpl (&len);
  guint overlaps[] = { 0, 16 };
  for (guint i = 0; i < G_N_ELEMENTS (overlaps); i++) {
    FlushRun run = run_with_flushes (text, len, 128, overlaps[i], 97, 0);
    check_chunks (run.chunks, text, len, 128, overlaps[i] == 0);
    check_marks (&run);
    /* the window: MAX (16 bytes a text token, 4 KiB), plus 3 bytes of a UTF-8 sequence and one piece */
    g_assert_cmpuint (run.max_retained, <, MAX (126 * 16, 4096) + 4 + 97);
    g_ptr_array_unref (run.chunks);
    g_array_unref (run.marks);
  }
  g_free (text);
}

/* ---- scripts ---- */

/* The chunk ends right after a sentence terminal of @terminals (code points), maybe followed by
 * white space. */
static gboolean
ends_after_terminal (const ChunkCopy * c, const gunichar * terminals)
{
  const gchar *end = c->text + c->len;
  while (end > c->text && g_unichar_isspace (g_utf8_get_char (g_utf8_prev_char (end))))
    end = g_utf8_prev_char (end);
  if (end == c->text)
    return FALSE;
  gunichar last = g_utf8_get_char (g_utf8_prev_char (end));
  for (const gunichar * t = terminals; *t; t++)
    if (*t == last)
      return TRUE;
  return FALSE;
}

/* Sentences of one script, repeated, chunked with a small budget: every chunk but the last ends
 * at a sentence end (the script's terminal, or for Thai a space between phrases), never inside
 * a sentence, with the text fed 5 bytes at a time. */
static void
test_script_sentences (void)
{
  static const struct
  {
    const char *script;
    const char *sentences;      /* two or more sentences, ending with a terminal (+ space) */
    gunichar terminals[4];
  } cases[] = {
    {"Chinese", "我们今天去公园散步。天气很好吗？我们很开心！", {0x3002, 0xFF1F, 0xFF01}},
    {"Japanese", "今日は公園に行きました．天気がとても良かったです。", {0xFF0E, 0x3002}},
    {"Hindi", "आज हम बाज़ार गए। वहाँ बहुत भीड़ थी॥ ", {0x0964, 0x0965}},
    {"Arabic", "هل ذهبت إلى السوق اليوم؟ نعم ذهبت مع أخي. ", {0x061F, '.'}},
    {"Urdu", "میں آج بازار گیا۔ وہاں بہت رش تھا۔ ", {0x06D4}},
    {"Armenian", "Այսօր մենք գնացինք այգի։ Եղանակը շատ լավ էր։ ", {0x0589}},
    {"Amharic", "ዛሬ ወደ ገበያ ሄድን።ብዙ ሰዎች ነበሩ።", {0x1362}},
    {"Myanmar", "ကျွန်တော်တို့ဈေးသွားတယ်။လူအများကြီးရှိတယ်။", {0x104B}},
    {"Khmer", "ថ្ងៃនេះយើងទៅផ្សារ។ មានមនុស្សច្រើនណាស់។ ", {0x17D4}},
    {"Tibetan", "ང་ཚོ་དེ་རིང་ཁྲོམ་ལ་ཕྱིན། ", {0x0F0D}},
    {"Greek", "Πήγες στην αγορά σήμερα\xcd\xbe Ναι, πήγα. ", {0x037E, '.'}},  /* U+037E */
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    GString *s = g_string_new (NULL);
    while (s->len < 6000)
      g_string_append (s, cases[k].sentences);
    /* 96 tokens: at least twice the longest sentence, so a sentence end always leaves the chunk
     * at least half full (the rule that lets a coarser boundary win) */
    GPtrArray *chunks = run_chunker (s->str, s->len, 96, 0, 5, NULL);
    check_chunks (chunks, s->str, s->len, 96, TRUE);
    g_assert_cmpuint (chunks->len, >, 2);
    for (guint i = 0; i + 1 < chunks->len; i++) {
      ChunkCopy *c = chunks->pdata[i];
      if (!ends_after_terminal (c, cases[k].terminals))
        g_error ("%s: chunk %u does not end a sentence: %.*s", cases[k].script, i,
            (int) c->len, c->text);
    }
    g_ptr_array_unref (chunks);
    g_string_free (s, TRUE);
  }

  /* Thai: no sentence punctuation, a space separates phrases; a space between Thai letters is a
   * sentence break, one inside Latin text is not */
  const char *thai = "วันนี้เราไปตลาด ตลาดมีคนเยอะมาก ";
  g_assert_true (te_text_is_sentence_break (thai, strlen (thai), strstr (thai, "ตลาดมี") - thai));
  const char *latin = "we went to the market today";
  g_assert_false (te_text_is_sentence_break (latin, strlen (latin), 3));
  GString *s = g_string_new (NULL);
  while (s->len < 6000)
    g_string_append (s, thai);
  GPtrArray *chunks = run_chunker (s->str, s->len, 24, 0, 5, NULL);
  check_chunks (chunks, s->str, s->len, 24, TRUE);
  for (guint i = 0; i + 1 < chunks->len; i++) {
    ChunkCopy *c = chunks->pdata[i];
    g_assert_true (c->text[c->len - 1] == ' ');
  }
  g_ptr_array_unref (chunks);
  g_string_free (s, TRUE);

  /* closed terminals need no space after them; Latin ones do */
  const char *my = "သွားတယ်။လူ";
  g_assert_true (te_text_is_sentence_break (my, strlen (my), strstr (my, "လူ") - my));
  const char *abbr = "v1.2 is out";
  g_assert_false (te_text_is_sentence_break (abbr, strlen (abbr), 3));
  /* the Ethiopic wordspace separates words */
  const char *am = "ዛሬ፡ወደ";
  g_assert_true (te_text_is_word_break (am, strlen (am), strstr (am, "ወደ") - am));
}

/* Grapheme cluster boundaries of @text, computed by walking it with utf8proc's stateful
 * UAX #29 rules (TRUE at i: a cluster may start at byte i). */
static gboolean *
grapheme_boundaries (const gchar * text, gsize len)
{
  gboolean *b = g_new0 (gboolean, len + 1);
  utf8proc_int32_t state = 0, prev = -1;
  for (gsize p = 0; p < len;) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate ((const utf8proc_uint8_t *) text + p, len - p, &cp);
    g_assert_cmpint (n, >, 0);
    b[p] = prev < 0 || utf8proc_grapheme_break_stateful (prev, cp, &state);
    prev = cp;
    p += n;
  }
  b[0] = b[len] = TRUE;
  return b;
}

/* Runs without any word boundary, made of multi-code-point clusters: the hard splits fall
 * between clusters, never inside one. */
static void
test_grapheme_clusters (void)
{
  static const struct
  {
    const char *what, *unit;
  } cases[] = {
    {"emoji ZWJ family", "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d"
          "\xf0\x9f\x91\xa7\xe2\x80\x8d\xf0\x9f\x91\xa6"},
    {"flags", "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7\xf0\x9f\x87\xa9\xf0\x9f\x87\xaa"
          "\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5"},
    {"emoji + skin tone", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"},
    {"combining marks", "e\xcc\x81\xcc\xa3o\xcc\x88\xcc\x84"},
    {"Hangul jamo", "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8\xe1\x84\x82\xe1\x85\xa9"},
    {"Devanagari conjuncts", "\xe0\xa4\x95\xe0\xa5\x8d\xe0\xa4\xb7\xe0\xa4\xbf"
          "\xe0\xa4\xa4\xe0\xa5\x8d\xe0\xa4\xb0"},
    /* every character a token, half the token starts inside a cluster (! + spacing mark) */
    {"punctuation + spacing mark", "!\xe0\xa4\xbf"},
    {"Thai", "\xe0\xb8\x97\xe0\xb8\xb5\xe0\xb9\x88\xe0\xb8\x81\xe0\xb8\xb3"},
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    for (guint overlap = 0; overlap <= 4; overlap += 4) {
      GString *s = g_string_new (NULL);
      while (s->len < 20000)
        g_string_append (s, cases[k].unit);
      gboolean *b = grapheme_boundaries (s->str, s->len);
      gsize max_pending = 0;
      GPtrArray *chunks = run_chunker (s->str, s->len, 16, overlap, 7, &max_pending);
      check_chunks (chunks, s->str, s->len, 16, overlap == 0);
      g_assert_cmpuint (chunks->len, >, 2);
      g_assert_cmpuint (max_pending, <, 16 * 1024);
      for (guint i = 0; i < chunks->len; i++) {
        ChunkCopy *c = chunks->pdata[i];
        if (!b[c->start] || !b[c->end])
          g_error ("%s, overlap %u: chunk %u [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
              ") splits a grapheme cluster", cases[k].what, overlap, i, c->start, c->end);
      }
      g_ptr_array_unref (chunks);
      g_free (b);
      g_string_free (s, TRUE);
    }
  }
}

/* Mixed scripts, one paragraph each in turn, with and without spaces, clusters included: the
 * window bound holds (pending bytes stay under a fixed size however long the document), the
 * chunks cover the text within the budget, and they do not depend on how the input was cut. */
static void
test_multilingual_bounded (void)
{
  static const char *const paragraphs[] = {
    "The committee met on Tuesday. It decided nothing. ",
    "我们今天去公园散步。天气很好吗？我们很开心！",
    "今日は公園に行きました。とても楽しかったです！",
    "आज हम बाज़ार गए। वहाँ बहुत भीड़ थी। क्षत्रिय त्रिकोण। ",
    "هل ذهبت إلى السوق اليوم؟ نعم ذهبت مع أخي. ",
    "วันนี้เราไปตลาดที่ใกล้บ้าน ตลาดมีคนเยอะมาก ",
    "ကျွန်တော်တို့ဈေးသွားတယ်။လူအများကြီးရှိတယ်။",
    "ዛሬ ወደ ገበያ ሄድን።ብዙ ሰዎች ነበሩ።",
    "Այսօր մենք գնացինք այգի։ ",
    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7"
        "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"
        "e\xcc\x81\xcc\xa3\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8 ",
  };
  GString *s = g_string_new (NULL);
  for (guint i = 0; s->len < 2 * 1024 * 1024; i++) {
    for (guint k = 0; k <= i % 5; k++)
      g_string_append (s, paragraphs[i % G_N_ELEMENTS (paragraphs)]);
    g_string_append (s, "\n\n");
  }
  gsize max_pending = 0;
  GPtrArray *chunks = run_chunker (s->str, s->len, 128, 16, 65536, &max_pending);
  check_chunks (chunks, s->str, s->len, 128, FALSE);
  g_assert_cmpuint (max_pending, <, 64 * 1024 + 65536);
  g_ptr_array_unref (chunks);

  gsize prefix = 60000;
  while ((s->str[prefix] & 0xC0) == 0x80)
    prefix--;
  GPtrArray *whole = run_chunker (s->str, prefix, 64, 8, 0, NULL);
  GPtrArray *bytewise = run_chunker (s->str, prefix, 64, 8, 1, NULL);
  g_assert_cmpuint (whole->len, ==, bytewise->len);
  for (guint j = 0; j < whole->len; j++) {
    ChunkCopy *a = whole->pdata[j], *b = bytewise->pdata[j];
    g_assert_cmpuint (a->start, ==, b->start);
    g_assert_cmpuint (a->end, ==, b->end);
  }
  g_ptr_array_unref (whole);
  g_ptr_array_unref (bytewise);
  g_string_free (s, TRUE);
}

/* ---- prompts ---- */

/* With a prompt, prompt + chunk text (special tokens included) fits max_tokens, n_tokens counts
 * it, and the chunks still tile the source text exactly. */
static void
test_prompt_budget (void)
{
  gsize len;
  gchar *text = read_gpl (&len);
  const char *prompts[] = { "passage: ",
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\n"
        "Query: "
  };
  TeEncoding enc;
  te_encoding_init (&enc);
  for (guint k = 0; k < G_N_ELEMENTS (prompts); k++) {
    for (guint overlap = 0; overlap <= 8; overlap += 8) {
      GPtrArray *chunks = run_chunker_prompt (text, len, 64, overlap, 4096, prompts[k], NULL);
      guint64 prev_end = 0;
      guint full = 0;
      for (guint i = 0; i < chunks->len; i++) {
        ChunkCopy *c = chunks->pdata[i];
        g_assert_cmpuint (c->len, ==, c->end - c->start);
        g_assert_true (memcmp (c->text, text + c->start, c->len) == 0);
        if (overlap == 0)
          g_assert_cmpuint (c->start, ==, prev_end);
        else
          g_assert_cmpuint (c->start, <=, prev_end);
        prev_end = c->end;
        gchar *joint = g_strdup_printf ("%s%.*s", prompts[k], (int) c->len, c->text);
        g_assert_true (te_tokenizer_encode (tok, joint, strlen (joint), TRUE, &enc, NULL));
        g_assert_cmpuint (enc.n, ==, c->n_tokens);
        g_assert_cmpuint (enc.n, <=, 64);
        full += enc.n >= 48;
        g_free (joint);
      }
      g_assert_cmpuint (prev_end, ==, len);
      g_assert_cmpuint (full * 2, >, chunks->len);      /* the budget is used, not wasted */
      g_ptr_array_unref (chunks);
    }
  }
  te_encoding_clear (&enc);
  g_free (text);

  /* a prompt that leaves no room for text */
  GError *err = NULL;
  TeChunker *c = te_chunker_new (tok, 8, 0);
  g_assert_false (te_chunker_set_prompt (c,
          "a prompt of many more words than six tokens: ", &err));
  g_assert_error (err, TE_ERROR, TE_ERROR_INVALID);
  g_assert_nonnull (strstr (err->message, "prompt"));
  g_clear_error (&err);
  /* the overlap is clamped to half of what the prompt leaves */
  g_assert_true (te_chunker_set_prompt (c, "one two three: ", &err));
  g_assert_no_error (err);
  g_assert_cmpuint (te_chunker_overlap (c), ==, 0);
  te_chunker_free (c);
  c = te_chunker_new (tok, 32, 15);
  g_assert_cmpuint (te_chunker_overlap (c), ==, 15);
  g_assert_true (te_chunker_set_prompt (c, "one two three four five six seven eight: ", &err));
  g_assert_cmpuint (te_chunker_overlap (c), ==, (30 - 9) / 2);
  te_chunker_free (c);
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

  g_test_add_func ("/chunker/tiling-gpl", test_tiling_gpl);
  g_test_add_func ("/chunker/piece-independence", test_piece_independence);
  g_test_add_func ("/chunker/overlap", test_overlap);
  g_test_add_func ("/chunker/paragraph-preference", test_paragraph_preference);
  g_test_add_func ("/chunker/sentence-preference", test_sentence_preference);
  g_test_add_func ("/chunker/break-helpers", test_break_helpers);
  g_test_add_func ("/chunker/no-boundary-run", test_no_boundary_run);
  g_test_add_func ("/chunker/cjk", test_cjk);
  g_test_add_func ("/chunker/multibyte-split", test_multibyte_split_across_pushes);
  g_test_add_func ("/chunker/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/chunker/invalid-utf8-emits-before", test_invalid_utf8_emits_before);
  g_test_add_func ("/chunker/invalid-utf8-replace", test_invalid_utf8_replace);
  g_test_add_func ("/chunker/invalid-utf8-replace-offsets", test_invalid_utf8_replace_offsets);
  g_test_add_func ("/chunker/flush-tiles", test_flush_tiles);
  g_test_add_func ("/chunker/flush-overlap", test_flush_overlap);
  g_test_add_func ("/chunker/flush-blank-and-partial", test_flush_blank_and_partial);
  g_test_add_func ("/chunker/pending-start-bounded", test_pending_start_bounded);
  g_test_add_func ("/chunker/script-sentences", test_script_sentences);
  g_test_add_func ("/chunker/grapheme-clusters", test_grapheme_clusters);
  g_test_add_func ("/chunker/multilingual-bounded", test_multilingual_bounded);
  g_test_add_func ("/chunker/prompt-budget", test_prompt_budget);
  g_test_add_func ("/chunker/consumed-counts-partial", test_consumed_counts_partial);
  g_test_add_func ("/chunker/overlap-progresses", test_overlap_progresses);
  g_test_add_func ("/chunker/unsplittable-offset-replace", test_unsplittable_offset_replace);
  g_test_add_func ("/chunker/overlap-window-progress", test_overlap_window_progress);
  g_test_add_func ("/chunker/small-window", test_small_window);
  g_test_add_func ("/chunker/window-whole-characters", test_window_whole_characters);
  int ret = g_test_run ();
  te_tokenizer_free (tok);
  return ret;
}
