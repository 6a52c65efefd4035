/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-chunker.h — streaming text → token-sized chunks. Text arrives in arbitrary byte pieces
 * (UTF-8 sequences may be split across pieces); chunks come out with their byte range in the
 * source. Breaks fall at paragraph, then sentence (terminals of many scripts, one table), then
 * word boundaries; only a run with none of them is split hard, at a grapheme cluster boundary
 * (never inside an emoji sequence, a flag, a syllable with its marks). Memory is bounded by a window of a few times the
 * chunk size, whatever the document length. */
#pragma once

#include <glib.h>
#include "te-common.h"
#include "te-tokenizer.h"

G_BEGIN_DECLS

typedef struct {
  guint64 index;        /* 0-based within the document */
  guint64 start, end;   /* byte range [start, end) in the source document */
  const char *text;     /* @len bytes, valid UTF-8, exactly the source bytes of the range */
  gsize len;
  guint n_tokens;       /* tokens the encoder will see: prompt, text and special tokens */
  gsize overlap_len;    /* the first bytes of @text that the previous chunk of the document also
                         * holds (its overlap tail; 0 without overlap) */
} TeChunk;

/* Return FALSE to stop (e.g. downstream refused the chunk); the chunker then returns FALSE
 * from push/finish without setting an error. */
typedef gboolean (*TeChunkFunc) (const TeChunk * chunk, gpointer user_data);

typedef struct _TeChunker TeChunker;

/* What bytes that are not UTF-8 become. */
typedef enum {
  /* An error (TE_ERROR_INVALID, naming the byte offset) from the push or finish that meets them,
   * after every chunk of the text before them has been emitted; the document is then over. */
  TE_INVALID_UTF8_ERROR,
  /* U+FFFD for each maximal ill-formed subpart (as Python's and WHATWG's decoders do). The
   * chunk text then holds U+FFFD while its [start, end) still counts source bytes. */
  TE_INVALID_UTF8_REPLACE,
} TeInvalidUtf8;

/* @max_tokens counts special tokens; @overlap_tokens is how many tokens of the end of a chunk
 * the next chunk repeats (0 = chunks tile the input exactly). Caller clamps both. */
TeChunker *te_chunker_new (const TeTokenizer * tok, guint max_tokens, guint overlap_tokens);
void te_chunker_free (TeChunker * c);
/* Default TE_INVALID_UTF8_ERROR. */
void te_chunker_set_invalid_utf8 (TeChunker * c, TeInvalidUtf8 mode);
/* Text the encoder sees before every chunk ("passage: ", "Instruct: ...\nQuery: "; NULL or "" =
 * none), set before the first push. Its tokens count against max_tokens: each chunk is verified
 * with the tokenizer on the prompt followed by the chunk's text, and TeChunk.n_tokens counts
 * them; the chunk's text and byte range stay the source's. The overlap is re-clamped to half of
 * what the prompt leaves. TE_ERROR_INVALID when the prompt leaves no room for text. */
gboolean te_chunker_set_prompt (TeChunker * c, const char *prompt, GError ** error);
/* Bytes of pending text considered for one chunk (default: 16 per token of the budget, at least
 * 4096), set before the first push; at least 16 (smaller values are raised to it). A window that
 * holds fewer tokens than the budget gives shorter chunks in tokens, never longer ones in bytes.
 * The default suits every use; a small window lets tests and fuzzers reach the streaming path
 * (chunks going out while text still arrives) with short inputs. */
void te_chunker_set_window (TeChunker * c, gsize bytes);
/* The overlap in tokens actually used (after clamping). */
guint te_chunker_overlap (const TeChunker * c);

gboolean te_chunker_push (TeChunker * c, const char *data, gsize len, TeChunkFunc func,
    gpointer user_data, GError ** error);
/* End of document: emit what remains. Afterwards the chunker is ready for a new document. */
gboolean te_chunker_finish (TeChunker * c, TeChunkFunc func, gpointer user_data,
    GError ** error);
/* Emit the pending text now, as a chunk shorter than the budget if need be, without ending the
 * document (live input that must not wait for a chunk to fill). Indices and offsets continue;
 * with overlap the next chunk still starts with the tail of this one; an incomplete UTF-8
 * sequence at the end stays pending. Pending text that is only whitespace is not emitted (it
 * stays, to lead the next chunk), so a flush never makes a chunk without content. */
gboolean te_chunker_flush (TeChunker * c, TeChunkFunc func, gpointer user_data,
    GError ** error);
/* Drop pending text and start a new document (flush). */
void te_chunker_reset (TeChunker * c);
/* Bytes accepted but not yet released: not emitted, or kept as the next chunk's overlap. */
gsize te_chunker_pending (const TeChunker * c);
/* Bytes accepted but not yet part of any emitted chunk (what a flush or finish would emit). */
gsize te_chunker_unemitted (const TeChunker * c);
/* Source offset of the first byte a later chunk may contain: every later chunk starts at or
 * after it (with overlap it is where the next chunk's repeated tail starts). Callers that map
 * offsets to something (e.g. timestamps) can forget everything before it. */
guint64 te_chunker_pending_start (const TeChunker * c);
/* Source bytes accepted so far in this document (valid or not). */
guint64 te_chunker_consumed (const TeChunker * c);

/* Sentence-boundary helpers, exposed for tests: is there a paragraph / sentence break
 * ending exactly at byte @pos of @text (the next chunk would start at @pos)? */
gboolean te_text_is_paragraph_break (const char *text, gsize len, gsize pos);
gboolean te_text_is_sentence_break (const char *text, gsize len, gsize pos);
gboolean te_text_is_word_break (const char *text, gsize len, gsize pos);

G_END_DECLS
