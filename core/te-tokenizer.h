/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer.h — Hugging Face tokenizer.json, reimplemented exactly.
 * The pipeline mirrors `tokenizers`: added-token split → normaliser → pre-tokeniser → model →
 * post-processor. Every token carries the byte range of the original text it came from. */
#pragma once

#include <glib.h>
#include "te-common.h"

G_BEGIN_DECLS

typedef struct _TeTokenizer TeTokenizer;

/* One encoded sequence. Arrays have @n valid entries. Offsets are byte offsets into the text
 * passed to te_tokenizer_encode(); tokens added by the post-processor have start == end == 0
 * and special == 1 (as HF reports (0, 0) for them). */
typedef struct {
  guint n;
  guint capacity;
  gint32 *ids;
  gint32 *type_ids;
  guint32 *starts;
  guint32 *ends;
  guint8 *special;
} TeEncoding;

void te_encoding_init (TeEncoding * enc);
void te_encoding_clear (TeEncoding * enc);   /* frees arrays, leaves an empty encoding */

/* Load from a tokenizer.json file / from its contents. Supported today (the BERT and the
 * XLM-RoBERTa / SentencePiece families):
 *   normalizer      BertNormalizer, Precompiled (SentencePiece charsmap), Replace (a String, or a
 *                   Regex of one char with {m,} {m,n} or +), Strip, Lowercase, NFD, NFKD, NFC,
 *                   NFKC (HF's Unicode 9.0 tables and alignments), Nmt, StripAccents, Sequence
 *                   of these, or null;
 *   pre_tokenizer   BertPreTokenizer, WhitespaceSplit, Metaspace (prepend_scheme always / first /
 *                   never or the older add_prefix_space, split), Split (String or Regex pattern,
 *                   every behavior, invert; regexes need a build with Oniguruma, HF's engine),
 *                   Sequence of these, or null;
 *   model           WordPiece, Unigram (unk_id, byte_fallback);
 *   post_processor  TemplateProcessing, BertProcessing, RobertaProcessing (trim_offsets as HF's
 *                   Python binding reports offsets), or null.
 * Anything else is a TE_ERROR_UNSUPPORTED error naming the component and its "type". Where HF
 * would panic on a malformed Precompiled charsmap (a value outside its replacements), that
 * entry is treated as absent.
 * Also accepted: added_tokens with any lstrip/rstrip/single_word/normalized flags
 * (single_word's regex \w test relies on utf8proc's categories, so it is exact only for code
 * points utf8proc knows). "truncation" is ignored and "padding" gives only the pad id: this
 * tokenizer never truncates or pads (callers chunk long texts themselves). "decoder" is ignored too (it does not affect ids).
 * Malformed JSON or missing/mistyped fields are TE_ERROR_PARSE; an unreadable file TE_ERROR_IO. */
TeTokenizer *te_tokenizer_new_from_file (const char *path, GError ** error);
TeTokenizer *te_tokenizer_new_from_data (const char *json, gsize len, GError ** error);
void te_tokenizer_free (TeTokenizer * tok);

/* Encode @len bytes of UTF-8 @text (need not be NUL terminated). Invalid UTF-8 is a
 * TE_ERROR_INVALID error naming the byte offset. No truncation ever happens here. @out is
 * reset first (its arrays are reused and grown as needed). Ids and offsets equal those of
 * Hugging Face tokenizers 0.23 (Tokenizer.encode), offsets converted to bytes.
 * Thread-safe: several threads may encode with one tokenizer concurrently. */
gboolean te_tokenizer_encode (const TeTokenizer * tok, const char *text, gsize len,
    gboolean add_special_tokens, TeEncoding * out, GError ** error);

/* Number of tokens the post-processor adds to a single sequence ([CLS] + [SEP] = 2 for BERT). */
guint te_tokenizer_num_special_tokens (const TeTokenizer * tok);

/* Largest id encoding can produce + 1 (vocabulary, added tokens and the post-processor's ids). */
guint te_tokenizer_vocab_size (const TeTokenizer * tok);
gint32 te_tokenizer_pad_id (const TeTokenizer * tok);      /* [PAD] or 0 */
/* Token string for @id, or NULL when out of range. */
const char *te_tokenizer_id_to_token (const TeTokenizer * tok, gint32 id);
/* Id of @token (added tokens first, then the model vocabulary), or -1. */
gint32 te_tokenizer_token_to_id (const TeTokenizer * tok, const char *token);
/* Tokens of @prompt that lead every sequence it is prepended to, as sentence-transformers
 * counts them to leave a prompt out of the pooling (include_prompt=false): the prompt encoded
 * alone with special tokens, minus a trailing special token ([CLS] + prompt tokens for BERT). */
gboolean te_tokenizer_prompt_length (const TeTokenizer * tok, const char *prompt,
    guint * n_tokens, GError ** error);
/* Stable hex digest of everything that decides the token ids (vocabulary, normaliser, ...).
 * Two tokenizers with equal fingerprints produce equal ids. */
const char *te_tokenizer_fingerprint (const TeTokenizer * tok);

G_END_DECLS
