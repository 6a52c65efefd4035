/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-chunker.c — libFuzzer target: the chunker with the default model's tokenizer. Input:
 * byte 0 picks max-tokens, byte 1 the overlap, the invalid-UTF-8 mode and the window (the
 * default, or 16 to 512 bytes so that chunks go out while text still arrives, the streaming
 * path, which the default 4096-byte window never reaches with inputs this short), bytes 2-3
 * seed the split points, the rest is the document (any bytes). The document is chunked twice with one
 * chunker: pushed whole, then pushed in pieces cut at seeded points (inside UTF-8 sequences
 * too). Checked, not just "no crash":
 *   - chunks are numbered 0, 1, ... and have start < end <= the document's length;
 *   - each chunk's text is valid UTF-8 and is exactly the source bytes of its range (in replace
 *     mode, where the range holds ill-formed bytes: those replaced by U+FFFD);
 *   - n_tokens is what te_tokenizer_encode() gives for the chunk's text with special tokens,
 *     and is at most max-tokens;
 *   - chunks cover the text in order: without overlap each starts where the previous ended,
 *     with overlap each starts inside the previous and ends after it; bytes in no chunk (before
 *     the first, after the last) encode to no token at all;
 *   - error mode: an error exactly when the document is not valid UTF-8, TE_ERROR_INVALID,
 *     after chunks reaching no further than the first bad byte; replace mode: never an error;
 *   - pushing in pieces gives the same chunks and the same error as pushing whole;
 *   - a third pass, with flushes after some pieces (live input), keeps every invariant above
 *     but the equality, and leaves nothing unemitted after a flush that emitted. */
#include <stdio.h>
#include <string.h>

#include "fuzz-common.h"
#include "te-chunker.h"

static const guint max_tokens_choice[] = { 3, 4, 6, 9, 16, 32, 128, 512 };
static const guint overlap_choice[] = { 0, 1, 5, 64 };
static const gsize window_choice[] = { 0 /* default */ , 16, 24, 40, 64, 100, 256, 512 };

typedef struct {
  guint64 index, start, end;
  char *text;
  gsize len;
  guint n_tokens;
} Chunk;

typedef struct {
  GArray *chunks;
  gboolean ok;
  char *error;
} Run;

static void
chunk_clear (gpointer p)
{
  g_free (((Chunk *) p)->text);
}

static gboolean
collect (const TeChunk * chunk, gpointer user_data)
{
  Run *r = user_data;
  Chunk c = { chunk->index, chunk->start, chunk->end, g_memdup2 (chunk->text, chunk->len),
    chunk->len, chunk->n_tokens
  };
  g_array_append_val (r->chunks, c);
  return TRUE;
}

static void
run_init (Run * r)
{
  r->chunks = g_array_new (FALSE, FALSE, sizeof (Chunk));
  g_array_set_clear_func (r->chunks, chunk_clear);
  r->ok = TRUE;
  r->error = NULL;
}

static void
run_clear (Run * r)
{
  g_array_unref (r->chunks);
  g_free (r->error);
}

/* Push @text in pieces ending at @cuts (ascending, the last == len), then finish. With
 * @flush_seed, a flush follows some pieces (chosen by it), as live input does. */
static void
run_chunker (TeChunker * c, const char *text, gsize len, const gsize * cuts, guint n_cuts,
    guint64 flush_seed, Run * r)
{
  GError *err = NULL;
  gsize off = 0;

  run_init (r);
  for (guint i = 0; i < n_cuts && r->ok; i++) {
    r->ok = te_chunker_push (c, text + off, cuts[i] - off, collect, r, &err);
    if (r->ok)
      FUZZ_CHECK (te_chunker_consumed (c) == cuts[i], "consumed %" G_GUINT64_FORMAT " after %"
          G_GSIZE_FORMAT " bytes", te_chunker_consumed (c), cuts[i]);
    if (r->ok && flush_seed != 0 && fuzz_rand (&flush_seed) % 4 == 0) {
      guint before = r->chunks->len;
      r->ok = te_chunker_flush (c, collect, r, &err);
      if (r->ok && r->chunks->len > before) {
        /* what was pending went out, but for an incomplete sequence (and the overlap tail) */
        FUZZ_CHECK (te_chunker_unemitted (c) <= 3, "%" G_GSIZE_FORMAT " bytes unemitted after "
            "a flush", te_chunker_unemitted (c));
      }
    }
    off = cuts[i];
  }
  if (r->ok) {
    r->ok = te_chunker_finish (c, collect, r, &err);
    if (r->ok)
      FUZZ_CHECK (te_chunker_pending (c) == 0, "%" G_GSIZE_FORMAT " bytes pending after "
          "finish", te_chunker_pending (c));
  }
  if (!r->ok) {
    FUZZ_CHECK (err != NULL, "push/finish failed without an error (the callback never stops)");
    r->error = g_strdup (err->message);
    FUZZ_CHECK (g_error_matches (err, TE_ERROR, TE_ERROR_INVALID), "error: %s", err->message);
    g_clear_error (&err);
    te_chunker_reset (c);
  }
}

/* @text with each maximal ill-formed subpart replaced by U+FFFD (Unicode's best practice),
 * written out here with the naive validator rather than taken from core. */
static GString *
replace_invalid (const char *text, gsize len)
{
  GString *s = g_string_sized_new (len);
  gsize i = 0;

  while (i < len) {
    gsize bad;
    if (fuzz_utf8_valid ((const guint8 *) text + i, len - i, &bad)) {
      g_string_append_len (s, text + i, len - i);
      break;
    }
    g_string_append_len (s, text + i, bad);
    i += bad;
    gboolean complete;
    i += fuzz_utf8_prefix ((const guint8 *) text + i, len - i, &complete);
    g_string_append (s, "\xef\xbf\xbd");
  }
  return s;
}

static guint
count_tokens (const TeTokenizer * tok, const char *text, gsize len, gboolean special)
{
  static TeEncoding enc;
  GError *err = NULL;

  FUZZ_CHECK (te_tokenizer_encode (tok, text, len, special, &enc, &err), "chunk text refused "
      "by the tokenizer: %s", err ? err->message : "(none)");
  return enc.n;
}

static void
check_run (const TeTokenizer * tok, const Run * r, const char *text, gsize len, guint max_tokens,
    guint overlap, gboolean replace)
{
  gsize bad = len;
  gboolean valid = fuzz_utf8_valid ((const guint8 *) text, len, &bad);
  gsize limit = valid || replace ? len : bad;   /* where chunks must stop */
  guint64 unsplittable;

  if (!r->ok && sscanf (r->error, "cannot split text at byte %" G_GUINT64_FORMAT,
          &unsplittable) == 1) {
    /* Refused, not looped on: one character there gives more tokens than a chunk holds (a
     * Hangul syllable is three jamo tokens, say, and max-tokens 3 leaves room for one). */
    guint budget = max_tokens - te_tokenizer_num_special_tokens (tok);
    FUZZ_CHECK (unsplittable < limit, "%s, in %" G_GSIZE_FORMAT " bytes", r->error, limit);
    gboolean complete;
    gsize n = fuzz_utf8_prefix ((const guint8 *) text + unsplittable, len - unsplittable,
        &complete);
    if (complete) {             /* (a U+FFFD there, in replace mode, is one token) */
      guint tokens = count_tokens (tok, text + unsplittable, n, FALSE);
      FUZZ_CHECK (tokens > budget, "%s, but the character there is %u tokens (room for %u)",
          r->error, tokens, budget);
    }
    limit = unsplittable;
  } else if (replace) {
    FUZZ_CHECK (r->ok, "replace mode failed: %s", r->error);
  } else {
    FUZZ_CHECK (r->ok == valid, "valid UTF-8: %d, chunker ok: %d (%s)", valid, r->ok,
        r->error ? r->error : "");
  }

  gsize covered = 0;            /* end of the previous chunk */
  for (guint i = 0; i < r->chunks->len; i++) {
    const Chunk *c = &g_array_index (r->chunks, Chunk, i);
    if (g_getenv ("FUZZ_VERBOSE") != NULL)     /* to read a reproducer's chunks */
      fprintf (stderr, "chunk %u [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") %u tokens: "
          "\"%.*s\"\n", i, c->start, c->end, c->n_tokens, (int) c->len, c->text);
    FUZZ_CHECK (c->index == i, "chunk %u has index %" G_GUINT64_FORMAT, i, c->index);
    FUZZ_CHECK (c->start < c->end && c->end <= limit, "chunk %u: [%" G_GUINT64_FORMAT ", %"
        G_GUINT64_FORMAT ") in %" G_GSIZE_FORMAT " bytes", i, c->start, c->end, limit);
    FUZZ_CHECK (fuzz_utf8_valid ((const guint8 *) c->text, c->len, NULL), "chunk %u: text is "
        "not valid UTF-8", i);
    if (!replace || fuzz_utf8_valid ((const guint8 *) text + c->start, c->end - c->start,
            NULL)) {
      FUZZ_CHECK (c->len == c->end - c->start && memcmp (c->text, text + c->start, c->len) == 0,
          "chunk %u: text differs from the source bytes", i);
    } else {
      GString *want = replace_invalid (text + c->start, c->end - c->start);
      FUZZ_CHECK (c->len == want->len && memcmp (c->text, want->str, c->len) == 0,
          "chunk %u: text differs from the source with U+FFFD replacements", i);
      g_string_free (want, TRUE);
    }
    guint n = count_tokens (tok, c->text, c->len, TRUE);
    FUZZ_CHECK (n == c->n_tokens, "chunk %u: n_tokens %u, the tokenizer gives %u", i,
        c->n_tokens, n);
    FUZZ_CHECK (n <= max_tokens, "chunk %u: %u tokens > max %u", i, n, max_tokens);

    if (i == 0 || overlap == 0) {
      FUZZ_CHECK (c->start >= covered, "chunk %u starts at %" G_GUINT64_FORMAT " before %"
          G_GSIZE_FORMAT, i, c->start, covered);
      if (c->start > covered) {
        GString *gap = replace_invalid (text + covered, c->start - covered);
        FUZZ_CHECK (count_tokens (tok, gap->str, gap->len, FALSE) == 0, "bytes [%"
            G_GSIZE_FORMAT ", %" G_GUINT64_FORMAT ") before chunk %u are in no chunk", covered,
            c->start, i);
        g_string_free (gap, TRUE);
      }
    } else {
      const Chunk *p = &g_array_index (r->chunks, Chunk, i - 1);
      FUZZ_CHECK (c->start > p->start && c->start <= p->end && c->end > p->end, "chunk %u [%"
          G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") after [%" G_GUINT64_FORMAT ", %"
          G_GUINT64_FORMAT ")", i, c->start, c->end, p->start, p->end);
    }
    covered = c->end;
  }
  if (covered < limit) {
    GString *tail = replace_invalid (text + covered, limit - covered);
    FUZZ_CHECK (count_tokens (tok, tail->str, tail->len, FALSE) == 0, "bytes [%" G_GSIZE_FORMAT
        ", %" G_GSIZE_FORMAT ") after the last chunk are in no chunk", covered, limit);
    g_string_free (tail, TRUE);
  }
}

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  fuzz_default_tokenizer ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  const TeTokenizer *tok = fuzz_default_tokenizer ();

  if (size < 4)
    return 0;
  guint max_tokens = max_tokens_choice[data[0] % G_N_ELEMENTS (max_tokens_choice)];
  guint overlap = overlap_choice[data[1] % G_N_ELEMENTS (overlap_choice)];
  gboolean replace = (data[1] >> 2) & 1;
  gsize window = window_choice[(data[1] >> 3) % G_N_ELEMENTS (window_choice)];
  guint64 seed = ((guint64) data[2] << 8 | data[3]) * 0x9E3779B97F4A7C15ull + 1;
  const char *text = (const char *) data + 4;
  gsize len = size - 4;

  /* cuts: a piece length up to 1, 4, 16 or 256 bytes, by the seed's low bits */
  guint max_piece = (const guint[]) { 1, 4, 16, 256 }[data[3] & 3];
  gsize *cuts = g_new (gsize, len + 1);
  guint n_cuts = 0;
  gsize at = 0;
  while (at < len) {
    gsize step = 1 + fuzz_rand (&seed) % max_piece;     /* (MIN would draw twice) */
    at = MIN (len, at + step);
    cuts[n_cuts++] = at;
  }
  gsize whole = len;

  TeChunker *c = te_chunker_new (tok, max_tokens, overlap);
  if (replace)
    te_chunker_set_invalid_utf8 (c, TE_INVALID_UTF8_REPLACE);
  if (window)
    te_chunker_set_window (c, window);
  Run a, b;
  run_chunker (c, text, len, &whole, len > 0, 0, &a);
  check_run (tok, &a, text, len, max_tokens, overlap, replace);
  run_chunker (c, text, len, cuts, n_cuts, 0, &b);

  FUZZ_CHECK (a.ok == b.ok && g_strcmp0 (a.error, b.error) == 0, "whole: %s, in %u pieces: %s",
      a.error ? a.error : "ok", n_cuts, b.error ? b.error : "ok");
  FUZZ_CHECK (a.chunks->len == b.chunks->len, "whole: %u chunks, in %u pieces: %u",
      a.chunks->len, n_cuts, b.chunks->len);
  for (guint i = 0; i < a.chunks->len; i++) {
    const Chunk *x = &g_array_index (a.chunks, Chunk, i);
    const Chunk *y = &g_array_index (b.chunks, Chunk, i);
    FUZZ_CHECK (x->start == y->start && x->end == y->end && x->len == y->len
        && memcmp (x->text, y->text, x->len) == 0 && x->n_tokens == y->n_tokens, "chunk %u: "
        "whole [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") %u tokens, in %u pieces [%"
        G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ") %u tokens", i, x->start, x->end,
        x->n_tokens, n_cuts, y->start, y->end, y->n_tokens);
  }

  /* live input: the same pieces with flushes between some of them; chunks may be shorter, but
   * every invariant but the equality holds (the same chunker again, after finish) */
  Run f;
  run_chunker (c, text, len, cuts, n_cuts, seed | 1, &f);
  check_run (tok, &f, text, len, max_tokens, overlap, replace);
  /* (cuts differ with flushes: one run can cut a word longer than the window before a
   * character that alone is more tokens than a chunk holds, where the other run's cut kept that
   * character inside the word; each such refusal was checked by check_run) */
  FUZZ_CHECK ((f.ok == a.ok && g_strcmp0 (f.error, a.error) == 0)
      || (!f.ok && g_str_has_prefix (f.error, "cannot split text at byte "))
      || (!a.ok && g_str_has_prefix (a.error, "cannot split text at byte ")),
      "whole: %s, with flushes: %s", a.error ? a.error : "ok", f.error ? f.error : "ok");
  run_clear (&f);
  run_clear (&a);
  run_clear (&b);
  te_chunker_free (c);
  g_free (cuts);
  return 0;
}
