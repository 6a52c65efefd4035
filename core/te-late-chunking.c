/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-late-chunking.c — window planning and token spans for late chunking (te-late-chunking.h). */
#include "te-late-chunking.h"
#include "te-common.h"

#include <math.h>
#include <string.h>

typedef struct {
  char *text;
  gsize len, overlap_len;
  gpointer data;
  guint est_full;        /* its tokens, encoded alone */
  guint est_rest;        /* those that start after its overlap */
  gint64 owner;          /* sequence number of the window that gives its vector; -1 undecided */
} Chunk;

typedef struct {
  gint64 seq;
  guint64 a, b;          /* the chunks it holds, [a, b] */
  TeEncoding enc;
  guint lead, content_end;  /* rows of its text: [lead, content_end) */
  gsize text_len;
  TeLateSpan *spans;     /* b - a + 1 */
} Window;

struct _TeLateWindows {
  const TeTokenizer *tok;
  char *prompt;
  gsize prompt_len;
  guint prompt_rows;     /* te_tokenizer_prompt_length(), 0 without a prompt */
  guint window_len, capacity;  /* tokens; capacity: what the text may take */
  GDestroyNotify free_data;
  GPtrArray *chunks;     /* Chunk *, the first is chunk number @base */
  guint64 base, total;   /* total: chunks pushed */
  guint64 next_a;        /* where the next window starts */
  gint64 next_seq;
  gint64 last_owner;     /* the window that gives the last chunk decided */
  GQueue windows;        /* Window *, formed and not handed out */
  gboolean finished;
  TeEncoding scratch;
  GString *buf;
};

static Chunk *
chunk_at (TeLateWindows * w, guint64 i)
{
  return g_ptr_array_index (w->chunks, i - w->base);
}

static void
window_free (Window * win)
{
  te_encoding_clear (&win->enc);
  g_free (win->spans);
  g_free (win);
}

TeLateWindows *
te_late_windows_new (const TeTokenizer * tok, const char *prompt, guint window_len,
    GDestroyNotify free_data, GError ** error)
{
  TeLateWindows *w = g_new0 (TeLateWindows, 1);
  w->tok = tok;
  w->prompt = g_strdup (prompt && *prompt ? prompt : "");
  w->prompt_len = strlen (w->prompt);
  w->window_len = window_len;
  w->free_data = free_data;
  w->chunks = g_ptr_array_new ();
  g_queue_init (&w->windows);
  te_encoding_init (&w->scratch);
  w->buf = g_string_new (NULL);
  /* what the window takes besides the text: the special tokens and the prompt */
  if (!te_tokenizer_encode (tok, w->prompt, w->prompt_len, TRUE, &w->scratch, error)
      || (w->prompt_len > 0 && !te_tokenizer_prompt_length (tok, w->prompt, &w->prompt_rows,
              error))) {
    te_late_windows_free (w);
    return NULL;
  }
  if (w->scratch.n >= window_len) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "a late-chunking window of %u tokens "
        "leaves no room for text: the special tokens and the prompt take %u", window_len,
        w->scratch.n);
    te_late_windows_free (w);
    return NULL;
  }
  w->capacity = window_len - w->scratch.n;
  return w;
}

void
te_late_windows_free (TeLateWindows * w)
{
  if (!w)
    return;
  for (guint i = 0; i < w->chunks->len; i++) {
    Chunk *c = g_ptr_array_index (w->chunks, i);
    if (c->data && w->free_data)
      w->free_data (c->data);
    g_free (c->text);
    g_free (c);
  }
  g_ptr_array_unref (w->chunks);
  g_queue_clear_full (&w->windows, (GDestroyNotify) window_free);
  te_encoding_clear (&w->scratch);
  g_string_free (w->buf, TRUE);
  g_free (w->prompt);
  g_free (w);
}

/* Encodes the prompt and chunks [a, b] into @enc; @pos gets each chunk's first byte in the
 * window's text (after the prompt). */
static gboolean
encode_window (TeLateWindows * w, guint64 a, guint64 b, TeEncoding * enc, gsize * pos,
    GError ** error)
{
  g_string_truncate (w->buf, 0);
  g_string_append_len (w->buf, w->prompt, w->prompt_len);
  for (guint64 i = a; i <= b; i++) {
    Chunk *c = chunk_at (w, i);
    gsize text_len = w->buf->len - w->prompt_len;
    /* after the window's first chunk, the overlap is already there: the previous chunk's end */
    gsize skip = i == a ? 0 : MIN (c->overlap_len, MIN (c->len, text_len));
    pos[i - a] = text_len - skip;
    g_string_append_len (w->buf, c->text + skip, c->len - skip);
  }
  return te_tokenizer_encode (w->tok, w->buf->str, w->buf->len, TRUE, enc, error);
}

static gboolean
is_text_row (const TeLateWindows * w, const TeEncoding * enc, guint r)
{
  return !enc->special[r] && enc->starts[r] >= w->prompt_len;
}

/* Spans of the chunks of @win from their first bytes @pos (window text coordinates). */
static void
window_spans (TeLateWindows * w, Window * win, const gsize * pos)
{
  const TeEncoding *enc = &win->enc;
  guint n_chunks = (guint) (win->b - win->a + 1);
  guint lead = 0, end = 0;
  while (lead < enc->n && !is_text_row (w, enc, lead))
    lead++;
  for (guint r = 0; r < enc->n; r++)
    if (is_text_row (w, enc, r))
      end = r + 1;
  if (end < lead)
    end = lead;
  win->lead = lead;
  win->content_end = end;
  win->spans = g_new0 (TeLateSpan, n_chunks);

  guint r = lead;
  for (guint k = 0; k < n_chunks; k++) {
    Chunk *c = chunk_at (w, win->a + k);
    TeLateSpan *s = &win->spans[k];
    gsize from = w->prompt_len + pos[k], to = from + c->len;
    gsize ov_to = from + MIN (c->overlap_len, c->len);
    s->data = NULL;
    s->index = win->a + k;
    s->text_pos = pos[k];
    /* the tokens starting before this chunk belong to earlier ones; with overlap the scan
     * goes back to the first token of the overlap */
    while (r > lead && enc->starts[r - 1] >= from)
      r--;
    while (r < end && enc->starts[r] < from)
      r++;
    s->own_first = r;
    guint e = r;
    while (e < end && enc->starts[e] < to)
      e++;
    s->own_n = e - r;
    gboolean whole = FALSE;
    if (s->own_n == 0) {
      if (r > lead && enc->ends[r - 1] > from) {
        /* no token starts in its bytes: the one that covers its start (a split inside a word) */
        s->own_first = r - 1;
        s->own_n = 1;
      } else {
        whole = TRUE;           /* nothing but whitespace: the window's context */
      }
    }
    guint o = s->own_first;
    s->overlap_first = s->n_overlap = 0;
    while (o < s->own_first + s->own_n && enc->starts[o] < ov_to && c->overlap_len > 0) {
      if (s->n_overlap == 0)
        s->overlap_first = o;
      s->n_overlap++;
      o++;
    }
    guint first = s->own_first, last = s->own_first + s->own_n;
    if (k == 0)
      first = 0;
    if (k == n_chunks - 1)
      last = enc->n;
    if (whole || last <= first) {
      first = 0;
      last = enc->n;
    }
    s->span_first = first;
    s->span_n = last - first;
    s->n_prompt_tokens = first == 0 ? MIN (w->prompt_rows, s->span_n) : 0;
    r = e;
  }
}

/* Forms every window that the chunks pushed so far decide. */
static gboolean
form_windows (TeLateWindows * w, GError ** error)
{
  while (w->next_a < w->total) {
    guint64 a = w->next_a, b = a;
    /* at most as many chunks as the window has tokens for text: chunks of no token (control
     * characters only) must not make a window, and what the planner holds, grow without end */
    guint64 max_b = a + w->capacity - 1;
    guint sum = chunk_at (w, a)->est_full;
    while (b + 1 < w->total && b < max_b
        && sum + chunk_at (w, b + 1)->est_rest <= w->capacity) {
      b++;
      sum += chunk_at (w, b)->est_rest;
    }
    if (b + 1 == w->total && b < max_b && !w->finished)
      return TRUE;              /* more chunks may still fit */

    Window *win = g_new0 (Window, 1);
    te_encoding_init (&win->enc);
    gsize *pos = g_new (gsize, b - a + 1);
    for (;;) {
      /* tokenizing the joined text may differ from the chunks' own counts at their seams */
      if (!encode_window (w, a, b, &win->enc, pos, error)) {
        g_free (pos);
        window_free (win);
        return FALSE;
      }
      if (win->enc.n <= w->window_len)
        break;
      if (b == a) {
        g_set_error (error, TE_ERROR, TE_ERROR_TOO_LONG, "chunk %" G_GUINT64_FORMAT " takes "
            "%u tokens with the special tokens and the prompt, more than the late-chunking "
            "window of %u: lower textchunker's max-tokens or raise the window", a,
            win->enc.n, w->window_len);
        g_free (pos);
        window_free (win);
        return FALSE;
      }
      b--;
    }
    win->seq = w->next_seq++;
    win->a = a;
    win->b = b;
    win->text_len = w->buf->len - w->prompt_len;
    window_spans (w, win, pos);
    g_free (pos);
    g_queue_push_tail (&w->windows, win);

    if (b + 1 == w->total && w->finished) {
      w->next_a = w->total;
      break;
    }
    /* the next window starts at the first chunk starting in this one's second half */
    guint half = win->lead + (win->content_end - win->lead) / 2;
    guint64 next = b + 1;
    for (guint64 i = a + 1; i <= b; i++)
      if (win->spans[i - a].own_first >= half) {
        next = i;
        break;
      }
    if (next == b + 1 && b > a)
      next = b;
    w->next_a = next;
  }
  return TRUE;
}

gboolean
te_late_windows_push (TeLateWindows * w, const char *text, gsize len, gsize overlap_len,
    gpointer data, GError ** error)
{
  g_return_val_if_fail (!w->finished, FALSE);
  if (!te_tokenizer_encode (w->tok, text, len, FALSE, &w->scratch, error)) {
    if (data && w->free_data)
      w->free_data (data);
    return FALSE;
  }
  Chunk *c = g_new0 (Chunk, 1);
  c->text = g_memdup2 (text, len);
  c->len = len;
  c->overlap_len = MIN (overlap_len, len);
  c->data = data;
  c->owner = -1;
  for (guint i = 0; i < w->scratch.n; i++) {
    if (w->scratch.special[i])
      continue;
    c->est_full++;
    if (w->scratch.starts[i] >= c->overlap_len)
      c->est_rest++;
  }
  g_ptr_array_add (w->chunks, c);
  w->total++;
  return form_windows (w, error);
}

gboolean
te_late_windows_finish (TeLateWindows * w, GError ** error)
{
  w->finished = TRUE;
  return form_windows (w, error);
}

static double
centrality (const Window * win, const TeLateSpan * s)
{
  double mid = s->own_first + s->own_n / 2.0;
  double centre = win->lead + (win->content_end - win->lead) / 2.0;
  return fabs (mid - centre);
}

TeLateWindow *
te_late_windows_pop (TeLateWindows * w)
{
  Window *win;
  while ((win = g_queue_peek_head (&w->windows))) {
    /* ready once every window holding its chunks is formed */
    Window *last = g_queue_peek_tail (&w->windows);
    if (!(last->a > win->b || (w->finished && w->next_a >= w->total)))
      return NULL;
    g_queue_pop_head (&w->windows);

    guint n_owned = 0;
    for (guint64 i = win->a; i <= win->b; i++) {
      Chunk *c = chunk_at (w, i);
      if (c->owner < 0) {
        /* among the windows holding it, no earlier than the previous chunk's (so that chunks
         * come out in order), the one where it is most central; the earlier on a tie */
        const Window *best = NULL, *o = win;
        double best_d = 0;
        GList *l = w->windows.head;
        while (o && o->a <= i) {
          if (o->b >= i && o->seq >= w->last_owner) {
            double d = centrality (o, &o->spans[i - o->a]);
            if (!best || d < best_d) {
              best = o;
              best_d = d;
            }
          }
          o = l ? l->data : NULL;
          l = l ? l->next : NULL;
        }
        g_assert (best != NULL);
        c->owner = best->seq;
        w->last_owner = best->seq;
      }
      if (c->owner == win->seq)
        n_owned++;
    }

    TeLateWindow *out = NULL;
    if (n_owned > 0) {
      out = g_new0 (TeLateWindow, 1);
      out->enc = win->enc;
      te_encoding_init (&win->enc);
      out->first_chunk = win->a;
      out->last_chunk = win->b;
      out->text_len = win->text_len;
      out->spans = g_new (TeLateSpan, n_owned);
      for (guint64 i = win->a; i <= win->b; i++) {
        Chunk *c = chunk_at (w, i);
        if (c->owner != win->seq)
          continue;
        TeLateSpan *s = &out->spans[out->n_spans++];
        *s = win->spans[i - win->a];
        s->data = c->data;
        c->data = NULL;
      }
    }
    /* chunks that no window still to come holds are done */
    Window *next = g_queue_peek_head (&w->windows);
    guint64 keep = next ? next->a : w->next_a;
    while (w->base < keep && w->chunks->len > 0) {
      Chunk *c = g_ptr_array_index (w->chunks, 0);
      g_assert (c->data == NULL);
      g_free (c->text);
      g_free (c);
      g_ptr_array_remove_index (w->chunks, 0);
      w->base++;
    }
    window_free (win);
    if (out)
      return out;
  }
  return NULL;
}

void
te_late_window_free (TeLateWindow * win)
{
  if (!win)
    return;
  te_encoding_clear (&win->enc);
  g_free (win->spans);
  g_free (win);
}
