/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-late-chunking.h — late chunking: a document's chunks are encoded together, in windows of
 * up to the encoder's limit, and each chunk's vector is pooled from its own tokens' hidden
 * states in the window, so that it carries the text around it (Günther et al., "Late Chunking:
 * Contextual Chunk Embeddings Using Long-Context Embedding Models", 2024).
 *
 * TeLateWindows plans the windows over one document's chunks as they stream in:
 *
 * - a window is the prompt (if any) and the text of consecutive chunks, tokenized as one text
 *   with the special tokens, at most @window_len tokens; it holds as many chunks as fit, and no
 *   more chunks than it has tokens for text (chunks of control characters have none);
 * - the next window starts at the first chunk that starts in the second half of the window's
 *   text (at the chunk after a one-chunk window), so windows overlap by up to half;
 * - a chunk held by several windows takes its vector from the one where it sits most centrally
 *   (the least distance, in tokens, between the middle of its tokens and the middle of the
 *   window's text; the earlier window on a tie), among those no earlier than the previous
 *   chunk's, so that chunks come out in order;
 * - a chunk's tokens are those that start in its bytes. The window's first chunk also pools the
 *   leading special and prompt tokens, its last the trailing special tokens: a window holding a
 *   single chunk gives exactly the vector of that chunk encoded alone. A chunk none of whose
 *   tokens starts in its bytes pools the token that covers its start (a split inside a word),
 *   or, when none does (whitespace only), the whole window;
 * - chunks that overlap (textchunker overlap-tokens) are not repeated: a chunk after the first
 *   of a window adds its text from the end of its overlap on, and its overlap's tokens are the
 *   previous chunk's last ones (shared by both spans).
 *
 * Memory: the chunks of the windows not yet handed out, about two windows' worth, whatever the
 * document's length. Not thread-safe. */
#pragma once

#include <glib.h>
#include "te-tokenizer.h"

G_BEGIN_DECLS

/* A chunk's place in a window; rows are token positions of the window's encoding. */
typedef struct {
  gpointer data;            /* the caller's, from te_late_windows_push() (now the caller's again) */
  guint64 index;            /* the chunk's number in the document, from 0 */
  guint span_first, span_n; /* the rows its vector pools (edges included for the first and
                             * last chunk of the window) */
  guint own_first, own_n;   /* the rows of the tokens that start in its text (or the one
                             * covering its start); own_n 0: none (the span is the window) */
  guint overlap_first, n_overlap;  /* the rows of the tokens that start in its first overlap_len
                                    * bytes (0 and 0: none) */
  gsize text_pos;           /* where its text starts in the window's text (the prompt not
                             * counted) */
  guint n_prompt_tokens;    /* rows from span_first that are [CLS] and the prompt's tokens, as
                             * te_tokenizer_prompt_length() counts them; 0 unless the span starts
                             * the window and there is a prompt */
} TeLateSpan;

typedef struct {
  TeEncoding enc;           /* the window's tokens, special tokens and prompt included */
  guint64 first_chunk, last_chunk;  /* the chunks it holds (document numbering) */
  gsize text_len;           /* bytes of its text: the chunks' once each, the prompt not counted */
  guint n_spans;            /* the chunks whose vectors it gives (>= 1), in document order */
  TeLateSpan *spans;
} TeLateWindow;

typedef struct _TeLateWindows TeLateWindows;

/* One document: @prompt (NULL or "" = none) leads every window; windows of at most
 * @window_len tokens. @free_data releases the data of chunks not handed out when the planner is
 * freed (may be NULL). TE_ERROR_INVALID when the prompt leaves no room for text. */
TeLateWindows *te_late_windows_new (const TeTokenizer * tok, const char *prompt,
    guint window_len, GDestroyNotify free_data, GError ** error);
void te_late_windows_free (TeLateWindows * w);

/* The document's next chunk: @len bytes of @text, whose first @overlap_len bytes the previous
 * chunk also holds, at its end. @data is the planner's from now on, even on error (handed back
 * in a window's span, or freed with free_data). Windows that this completes become ready.
 * TE_ERROR_TOO_LONG when a chunk alone does not fit in a window, TE_ERROR_INVALID for text that
 * is not UTF-8; the planner is then unusable. */
gboolean te_late_windows_push (TeLateWindows * w, const char *text, gsize len,
    gsize overlap_len, gpointer data, GError ** error);
/* The document ended: every remaining window becomes ready. Same errors as push. */
gboolean te_late_windows_finish (TeLateWindows * w, GError ** error);
/* The next ready window, or NULL. Every chunk pushed is in exactly one window's spans. */
TeLateWindow *te_late_windows_pop (TeLateWindows * w);
void te_late_window_free (TeLateWindow * win);

G_END_DECLS
