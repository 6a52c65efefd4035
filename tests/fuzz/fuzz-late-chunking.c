/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-late-chunking.c — libFuzzer target: late-chunking windows (core/te-late-chunking) over
 * the chunks the chunker makes of any bytes, with the default model's tokenizer. Input: byte 0
 * picks max-tokens and the overlap, byte 1 the window and whether there is a prompt, the rest
 * is the document (any bytes: the chunks before the first invalid UTF-8 byte are used, as
 * textchunker's default invalid-utf8=error delivers them). Checked:
 *   - every chunk comes out exactly once, in order, with its own data, from a window holding it;
 *   - a window has at most window-tokens tokens; the chunks it gives have spans inside it, their
 *     own rows inside the span, the first chunk's span from row 0 and the last's to the end
 *     exactly when it is the window's first / last chunk;
 *   - the window's text is the document's bytes from its first chunk's start to its last
 *     chunk's end (each chunk's text once), and a chunk's own rows are exactly the text tokens
 *     that start in its bytes (or, none starting there, the token covering its start, or none
 *     and the whole window);
 *   - a chunk alone in its window gets the whole window, which is the chunk encoded alone;
 *   - the planner never holds more than a bounded number of chunks (about two windows' worth);
 *   - an error is only TE_ERROR_TOO_LONG, and only when a chunk with the prompt exceeds the
 *     window. */
#include <stdio.h>
#include <string.h>

#include "fuzz-common.h"
#include "te-chunker.h"
#include "te-late-chunking.h"

static const guint max_tokens_choice[] = { 4, 6, 9, 16, 24, 32, 64, 128 };
static const guint overlap_choice[] = { 0, 0, 2, 5 };
static const guint window_choice[] = { 6, 10, 16, 24, 40, 64, 128, 512 };

typedef struct {
  GArray *chunks;               /* Chunk */
  TeLateWindows *w;
  const TeTokenizer *tok;
  const char *prompt;
  guint window;
  guint64 next_out;             /* the next chunk index expected from a window */
  guint64 pushed;
  gboolean failed;
  GError *error;
  const char *doc;              /* the document's bytes */
} Run;

typedef struct {
  guint64 start, end;
  char *text;
  gsize len, overlap_len;
} Chunk;

static void
chunk_clear (gpointer p)
{
  g_free (((Chunk *) p)->text);
}

static void
check_window (Run * r, TeLateWindow * win)
{
  const TeEncoding *enc = &win->enc;
  gsize plen = strlen (r->prompt);
  FUZZ_CHECK (enc->n <= r->window, "window of %u tokens > %u", enc->n, r->window);
  FUZZ_CHECK (win->n_spans >= 1, "empty window");
  FUZZ_CHECK (win->first_chunk <= win->last_chunk && win->last_chunk < r->chunks->len,
      "window chunks %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT, win->first_chunk,
      win->last_chunk);
  const Chunk *first = &g_array_index (r->chunks, Chunk, win->first_chunk);
  const Chunk *last = &g_array_index (r->chunks, Chunk, win->last_chunk);
  FUZZ_CHECK (win->text_len == last->end - first->start, "window text %" G_GSIZE_FORMAT
      " bytes, chunks span %" G_GUINT64_FORMAT, win->text_len, last->end - first->start);
  /* the window re-encoded from the document's bytes gives the same tokens */
  GString *text = g_string_new (r->prompt);
  g_string_append_len (text, r->doc + first->start, win->text_len);
  TeEncoding again;
  te_encoding_init (&again);
  FUZZ_CHECK (te_tokenizer_encode (r->tok, text->str, text->len, TRUE, &again, NULL),
      "window text does not encode");
  FUZZ_CHECK (again.n == enc->n && memcmp (again.ids, enc->ids, enc->n * 4) == 0,
      "window tokens differ from the document's bytes encoded");
  if (g_getenv ("FUZZ_VERBOSE")) {
    fprintf (stderr, "window chunks %" G_GUINT64_FORMAT "..%" G_GUINT64_FORMAT ", %u tokens:",
        win->first_chunk, win->last_chunk, enc->n);
    for (guint i = 0; i < enc->n; i++)
      fprintf (stderr, " %d@%u%s", enc->ids[i], enc->starts[i], enc->special[i] ? "s" : "");
    fprintf (stderr, "\n");
    for (guint k = 0; k < win->n_spans; k++)
      fprintf (stderr, "  chunk %" G_GUINT64_FORMAT " at %" G_GSIZE_FORMAT ": span %u+%u own "
          "%u+%u\n", win->spans[k].index, win->spans[k].text_pos, win->spans[k].span_first,
          win->spans[k].span_n, win->spans[k].own_first, win->spans[k].own_n);
  }
  for (guint k = 0; k < win->n_spans; k++) {
    const TeLateSpan *s = &win->spans[k];
    FUZZ_CHECK (s->index == r->next_out, "chunk %" G_GUINT64_FORMAT " out, expected %"
        G_GUINT64_FORMAT, s->index, r->next_out);
    FUZZ_CHECK (GPOINTER_TO_SIZE (s->data) == s->index + 1, "data of chunk %" G_GUINT64_FORMAT,
        s->index);
    FUZZ_CHECK (s->index >= win->first_chunk && s->index <= win->last_chunk, "chunk outside");
    FUZZ_CHECK (s->span_n > 0 && s->span_first + s->span_n <= enc->n, "span %u+%u of %u",
        s->span_first, s->span_n, enc->n);
    FUZZ_CHECK (s->own_first >= s->span_first
        && s->own_first + s->own_n <= s->span_first + s->span_n, "own rows outside the span");
    FUZZ_CHECK ((s->span_first == 0) == (s->index == win->first_chunk)
        || s->span_n == enc->n, "span start");
    FUZZ_CHECK ((s->span_first + s->span_n == enc->n) == (s->index == win->last_chunk)
        || s->span_n == enc->n, "span end");
    const Chunk *c = &g_array_index (r->chunks, Chunk, s->index);
    gsize from = plen + (c->start - first->start), to = from + c->len;
    FUZZ_CHECK (s->text_pos == c->start - first->start, "text_pos");
    /* own rows: the text tokens starting in its bytes, else one covering its start */
    guint n_in = 0, first_in = 0;
    for (guint i = 0; i < enc->n; i++) {
      if (enc->special[i] || enc->starts[i] < plen)
        continue;
      if (enc->starts[i] >= from && enc->starts[i] < to) {
        if (n_in++ == 0)
          first_in = i;
      }
    }
    if (n_in > 0)
      FUZZ_CHECK (s->own_first == first_in && s->own_n == n_in, "chunk %" G_GUINT64_FORMAT
          ": own rows %u+%u, tokens starting in it %u+%u", s->index, s->own_first, s->own_n,
          first_in, n_in);
    else if (s->own_n > 0)
      FUZZ_CHECK (s->own_n == 1 && enc->starts[s->own_first] < from
          && enc->ends[s->own_first] > from, "chunk %" G_GUINT64_FORMAT ": row %u does not "
          "cover its start", s->index, s->own_first);
    else
      FUZZ_CHECK (s->span_first == 0 && s->span_n == enc->n, "chunk %" G_GUINT64_FORMAT
          " of no token of its own: not the whole window", s->index);
    if (win->first_chunk == win->last_chunk) {
      GString *alone = g_string_new (r->prompt);
      g_string_append_len (alone, c->text, c->len);
      FUZZ_CHECK (te_tokenizer_encode (r->tok, alone->str, alone->len, TRUE, &again, NULL),
          "chunk does not encode");
      FUZZ_CHECK (s->span_first == 0 && s->span_n == enc->n && again.n == enc->n
          && memcmp (again.ids, enc->ids, enc->n * 4) == 0, "alone: not the chunk encoded");
      g_string_free (alone, TRUE);
    }
    r->next_out++;
  }
  te_encoding_clear (&again);
  g_string_free (text, TRUE);
}

static void
drain (Run * r)
{
  TeLateWindow *win;
  while ((win = te_late_windows_pop (r->w))) {
    check_window (r, win);
    te_late_window_free (win);
  }
  /* held: the chunks pushed and not given yet; bounded by the window (each chunk >= 1 token
   * except pieces of whitespace, which the chunker never emits alone) */
  guint64 held = r->pushed - r->next_out;
  FUZZ_CHECK (held <= 3 * (guint64) r->window + 4, "%" G_GUINT64_FORMAT " chunks held with "
      "windows of %u tokens", held, r->window);
}

static gboolean
on_chunk (const TeChunk * chunk, gpointer user_data)
{
  Run *r = user_data;
  if (r->failed)
    return FALSE;
  Chunk c = { chunk->start, chunk->end, g_memdup2 (chunk->text, chunk->len), chunk->len,
    chunk->overlap_len
  };
  if (g_getenv ("FUZZ_VERBOSE"))
    fprintf (stderr, "chunk %" G_GUINT64_FORMAT " [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
        ") overlap %" G_GSIZE_FORMAT ": \"%.*s\"\n", chunk->index, chunk->start, chunk->end,
        chunk->overlap_len, (int) chunk->len, chunk->text);
  g_array_append_val (r->chunks, c);
  r->pushed++;
  if (!te_late_windows_push (r->w, chunk->text, chunk->len, chunk->overlap_len,
          GSIZE_TO_POINTER (r->chunks->len), &r->error)) {
    r->failed = TRUE;
    return FALSE;
  }
  drain (r);
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  fuzz_init ();
  if (size < 2)
    return 0;
  const TeTokenizer *tok = fuzz_default_tokenizer ();
  guint max_tokens = max_tokens_choice[data[0] & 7];
  guint overlap = overlap_choice[(data[0] >> 3) & 3];
  Run r = { 0 };
  r.tok = tok;
  r.window = window_choice[data[1] & 7];
  r.prompt = data[1] & 8 ? "query: " : "";
  r.chunks = g_array_new (FALSE, FALSE, sizeof (Chunk));
  g_array_set_clear_func (r.chunks, chunk_clear);
  r.doc = (const char *) data + 2;

  TeChunker *ch = te_chunker_new (tok, max_tokens, overlap < max_tokens / 2 ? overlap : 0);
  te_chunker_set_window (ch, 64);
  r.w = te_late_windows_new (tok, r.prompt, r.window, NULL, &r.error);
  if (!r.w) {
    /* only a window the prompt fills */
    FUZZ_CHECK (g_error_matches (r.error, TE_ERROR, TE_ERROR_INVALID), "new: %s",
        r.error->message);
    goto out;
  }
  /* invalid UTF-8 ends the document after the chunks before it, as in the element */
  if (te_chunker_push (ch, (const char *) data + 2, size - 2, on_chunk, &r, NULL))
    te_chunker_finish (ch, on_chunk, &r, NULL);
  if (!r.failed) {
    if (!te_late_windows_finish (r.w, &r.error))
      r.failed = TRUE;
    else
      drain (&r);
  }
  if (r.failed) {
    FUZZ_CHECK (g_error_matches (r.error, TE_ERROR, TE_ERROR_TOO_LONG), "error: %s",
        r.error ? r.error->message : "(none)");
  } else {
    FUZZ_CHECK (r.next_out == r.chunks->len, "%" G_GUINT64_FORMAT " of %u chunks out",
        r.next_out, r.chunks->len);
  }
out:
  g_clear_error (&r.error);
  te_late_windows_free (r.w);
  te_chunker_free (ch);
  g_array_unref (r.chunks);
  return 0;
}
