/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-chunker.c — streaming, token-budgeted text chunking with paragraph > sentence > word
 * boundaries and a bounded window (see te-chunker.h for the contract). */
#include "te-chunker.h"

#include <string.h>
#include <utf8proc.h>

#include "te-unicode.h"
#include "te-utf8.h"

/* Bytes of text considered for one chunk: enough for max_tokens of ordinary text (English
 * WordPiece averages ~4.5 bytes a token, CJK 3) with a wide margin. A window that holds fewer
 * tokens than the budget (very long "words" that become one [UNK]) yields a shorter chunk in
 * tokens, never a longer one in bytes: this is what bounds memory on input without boundaries. */
#define TE_CHUNK_BYTES_PER_TOKEN 16
#define TE_CHUNK_MIN_WINDOW 4096
#define TE_CHUNK_SMALLEST_WINDOW 16     /* te_chunker_set_window()'s floor: 4 code points */

typedef struct
{
  guint64 at;
  gint64 delta;
} TeShift;

struct _TeChunker
{
  const TeTokenizer *tok;
  guint max_tokens;
  guint budget;                 /* max_tokens minus the special tokens */
  guint text_budget;            /* budget minus the prompt's tokens: what the text may take */
  guint overlap;
  guint overlap_asked;          /* overlap_tokens as given (re-clamped when a prompt is set) */
  GByteArray *joint;            /* the prompt, then (while verifying) a chunk's text after it */
  gsize prompt_len;             /* bytes of the prompt at the start of @joint; 0 = none */
  gsize window;

  GByteArray *buf;              /* pending complete UTF-8 text */
  guint64 buf_start;            /* text offset of buf->data[0] (source_offset() maps it) */
  gsize min_end;                /* next chunk must end after this (overlap progress) */
  guint64 next_index;

  guint8 partial[4];            /* incomplete UTF-8 sequence at the end of the last push */
  guint partial_len;
  guint64 consumed;             /* source bytes seen, for error positions */
  TeInvalidUtf8 invalid;        /* what invalid UTF-8 becomes */
  /* Replacement (TE_INVALID_UTF8_REPLACE) makes the text differ in length from the source: from
   * text offset `at` on, source offset = text offset + delta. Only shifts that can still apply to
   * a pending byte are kept, so this stays small. */
  GArray *shifts;               /* TeShift, ascending */

  TeEncoding enc;               /* reused scratch encodings */
  TeEncoding enc2;
};

/* ---- UTF-8 -------------------------------------------------------------------------------- */

/* Code point ending just before byte @pos (pos > 0), and its start in *@start. */
static gint32
char_before (const char *text, gsize pos, gsize * start)
{
  gsize p = pos - 1;
  while (p > 0 && ((guint8) text[p] & 0xC0) == 0x80)
    p--;
  utf8proc_int32_t cp = -1;
  utf8proc_iterate ((const utf8proc_uint8_t *) text + p, pos - p, &cp);
  if (start)
    *start = p;
  return cp;
}

static gint32
char_at (const char *text, gsize len, gsize pos)
{
  utf8proc_int32_t cp = -1;
  utf8proc_iterate ((const utf8proc_uint8_t *) text + pos, MIN (len - pos, 4), &cp);
  return cp;
}

static gboolean
is_space (gint32 c)
{
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x85)
    return TRUE;
  if (c < 0x80)
    return FALSE;
  utf8proc_category_t cat = utf8proc_category (c);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

/* CJK ideographs: the tokenizer isolates each one, so a boundary beside one is a token boundary
 * (the table is the tokenizer's, te-unicode.h). */
static gboolean
is_cjk (gint32 c)
{
  return c > 0 && te_unichar_is_cjk_ideograph ((gunichar) c);
}

/* Sentence terminals, one table for every script. TERM_SPACED: the sentence ends only where
 * white space follows (Latin "e.g." does not end one); TERM_CLOSED: the sentence ends right after
 * it, space or not (scripts written without spaces), and the position after it is a word break. */
typedef enum { TERM_SPACED, TERM_CLOSED } TermKind;

static const struct
{
  gunichar c;
  TermKind kind;
} sentence_terminals[] = {
  {'.', TERM_SPACED}, {'!', TERM_SPACED}, {'?', TERM_SPACED},
  {0x037E, TERM_SPACED},        /* Greek question mark ; */
  {0x0589, TERM_SPACED},        /* Armenian full stop ։ (its ՜ ՞ sit on a word, not at the end) */
  {0x061F, TERM_SPACED},        /* Arabic question mark ؟ */
  {0x06D4, TERM_SPACED},        /* Arabic (Urdu) full stop ۔ */
  {0x0700, TERM_SPACED}, {0x0701, TERM_SPACED}, {0x0702, TERM_SPACED},  /* Syriac */
  {0x0964, TERM_SPACED}, {0x0965, TERM_SPACED},  /* danda । ॥ (Devanagari, Bengali...) */
  {0x0DF4, TERM_SPACED},        /* Sinhala kunddaliya */
  /* Tibetan shad ། nyis shad ༎: the lowest closed terminal (is_closed_terminal relies on it) */
  {0x0F0D, TERM_CLOSED}, {0x0F0E, TERM_CLOSED},
  {0x104A, TERM_CLOSED}, {0x104B, TERM_CLOSED},  /* Myanmar ၊ ။ */
  {0x1362, TERM_CLOSED}, {0x1367, TERM_CLOSED}, {0x1368, TERM_CLOSED},  /* Ethiopic ። ፧ ፨ */
  {0x166E, TERM_SPACED},        /* Canadian syllabics full stop */
  {0x17D4, TERM_CLOSED}, {0x17D5, TERM_CLOSED},  /* Khmer khan ។ bariyoosan ៕ */
  {0x1803, TERM_CLOSED}, {0x1809, TERM_CLOSED},  /* Mongolian full stops */
  {0x2026, TERM_SPACED}, {0x203C, TERM_SPACED}, {0x2047, TERM_SPACED},  /* … ‼ ⁇ */
  {0x2048, TERM_SPACED}, {0x2049, TERM_SPACED},  /* ⁈ ⁉ */
  {0x3002, TERM_CLOSED},        /* ideographic full stop 。 */
  {0xA4FF, TERM_SPACED},        /* Lisu */
  {0xA60E, TERM_SPACED}, {0xA60F, TERM_SPACED},  /* Vai */
  {0xA6F3, TERM_SPACED}, {0xA6F7, TERM_SPACED},  /* Bamum */
  {0xFE52, TERM_CLOSED}, {0xFE56, TERM_CLOSED}, {0xFE57, TERM_CLOSED},  /* small forms */
  {0xFF01, TERM_CLOSED}, {0xFF0E, TERM_CLOSED}, {0xFF1F, TERM_CLOSED},  /* full width ！ ． ？ */
  {0xFF61, TERM_CLOSED},        /* half width ideographic full stop ｡ */
};

/* The kind of sentence terminal @c is; FALSE when it is none. */
static gboolean
terminal_kind (gint32 c, TermKind * kind)
{
  if (c < 0x80) {               /* the common case, without the table walk */
    *kind = TERM_SPACED;
    return c == '.' || c == '!' || c == '?';
  }
  for (guint i = 0; i < G_N_ELEMENTS (sentence_terminals); i++)
    if ((gint32) sentence_terminals[i].c == c) {
      *kind = sentence_terminals[i].kind;
      return TRUE;
    }
  return FALSE;
}

static gboolean
is_closed_terminal (gint32 c)
{
  TermKind k;
  if (c < 0x0F0D)               /* below the table's first closed terminal */
    return FALSE;
  return terminal_kind (c, &k) && k == TERM_CLOSED;
}

/* Scripts written without spaces between words, where a space separates phrases or sentences
 * (Thai, Lao, Khmer): white space between two of their letters ends a sentence. */
static gboolean
is_phrase_spaced_script (gint32 c)
{
  return (c >= 0x0E01 && c <= 0x0E5B) || (c >= 0x0E81 && c <= 0x0EDF)
      || (c >= 0x1780 && c <= 0x17F9);
}

/* Word separators that are not white space: Ethiopic wordspace ፡, Tibetan tsheg ་. */
static gboolean
is_word_separator (gint32 c)
{
  return c == 0x1361 || c == 0x0F0B;
}

/* Whether a grapheme cluster may end between @a and @b, judged from the pair alone (enough beside
 * the characters break positions are chosen at: spaces, ideographs, terminals). */
static gboolean
pair_is_grapheme_break (gint32 a, gint32 b)
{
  return a < 0 || b < 0 || utf8proc_grapheme_break (a, b);
}

/* Closing punctuation that may follow a sentence terminal: .) ." .” .’ .»  */
static gboolean
is_closer (gint32 c)
{
  if (c == '"' || c == '\'' || c == ')' || c == ']' || c == '}')
    return TRUE;
  if (c < 0x80)
    return FALSE;
  utf8proc_category_t cat = utf8proc_category (c);
  return cat == UTF8PROC_CATEGORY_PE || cat == UTF8PROC_CATEGORY_PF;
}

gboolean
te_text_is_word_break (const char *text, gsize len, gsize pos)
{
  if (pos == 0 || pos >= len)
    return FALSE;
  gint32 before = char_before (text, pos, NULL);
  gint32 at = char_at (text, len, pos);
  if (is_space (at) || !pair_is_grapheme_break (before, at))
    return FALSE;
  return is_space (before) || is_cjk (before) || is_cjk (at) || is_closed_terminal (before)
      || is_word_separator (before);
}

/* Start of the whitespace run that ends at @pos. */
static gsize
space_run_start (const char *text, gsize pos)
{
  while (pos > 0) {
    gsize s;
    gint32 c = char_before (text, pos, &s);
    if (!is_space (c))
      break;
    pos = s;
  }
  return pos;
}

gboolean
te_text_is_paragraph_break (const char *text, gsize len, gsize pos)
{
  if (!te_text_is_word_break (text, len, pos))
    return FALSE;
  guint newlines = 0;
  for (gsize p = space_run_start (text, pos); p < pos;) {
    gint32 c = char_at (text, len, p);
    if (c == '\n' || c == 0x85 || c == 0x0C || c == 0x2029 || (c == '\r' && (p + 1 >= len
                || text[p + 1] != '\n')))
      newlines += (c == 0x2029 || c == 0x0C) ? 2 : 1;
    p += te_utf8_seq_len ((guint8) text[p]) ? te_utf8_seq_len ((guint8) text[p]) : 1;
  }
  return newlines >= 2;
}

gboolean
te_text_is_sentence_break (const char *text, gsize len, gsize pos)
{
  if (!te_text_is_word_break (text, len, pos))
    return FALSE;
  gsize p = space_run_start (text, pos);
  if (p == 0)
    return FALSE;
  gboolean had_space = p < pos;
  gsize s;
  gint32 c = char_before (text, p, &s);
  /* skip closing quotes / brackets after the terminal */
  for (int i = 0; i < 3 && is_closer (c) && s > 0; i++) {
    p = s;
    c = char_before (text, p, &s);
  }
  TermKind kind;
  if (!terminal_kind (c, &kind)) {
    /* Thai, Lao, Khmer: a space between two letters of the script separates phrases */
    return had_space && is_phrase_spaced_script (c)
        && is_phrase_spaced_script (char_at (text, len, pos));
  }
  if (kind == TERM_CLOSED)
    return TRUE;                /* CJK, Myanmar, Ethiopic...: no space needed after the terminal */
  if (!had_space)
    return FALSE;
  if (c == '.') {
    /* "e.g. the", "approx. 5": a period before a lowercase letter is not taken as the end of a
     * sentence; one before an uppercase letter, digit, quote or other script is. */
    gint32 next = char_at (text, len, pos);
    if (utf8proc_category (next) == UTF8PROC_CATEGORY_LL)
      return FALSE;
    /* single-letter initials ("J. Smith") */
    if (s > 0) {
      gsize s2;
      gint32 prev = char_before (text, s, &s2);
      if (utf8proc_category (prev) == UTF8PROC_CATEGORY_LU
          && (s2 == 0 || is_space (char_before (text, s2, NULL))))
        return FALSE;
    }
  }
  return TRUE;
}

/* ---- chunker ------------------------------------------------------------------------------- */

TeChunker *
te_chunker_new (const TeTokenizer * tok, guint max_tokens, guint overlap_tokens)
{
  guint special = te_tokenizer_num_special_tokens (tok);
  g_return_val_if_fail (max_tokens > special, NULL);

  TeChunker *c = g_new0 (TeChunker, 1);
  c->tok = tok;
  c->max_tokens = max_tokens;
  c->budget = max_tokens - special;
  c->text_budget = c->budget;
  c->overlap_asked = overlap_tokens;
  c->overlap = MIN (overlap_tokens, c->budget / 2);
  c->joint = g_byte_array_new ();
  c->window = MAX ((gsize) c->budget * TE_CHUNK_BYTES_PER_TOKEN, TE_CHUNK_MIN_WINDOW);
  c->buf = g_byte_array_sized_new (c->window * 2);
  c->shifts = g_array_new (FALSE, FALSE, sizeof (TeShift));
  te_encoding_init (&c->enc);
  te_encoding_init (&c->enc2);
  return c;
}

void
te_chunker_free (TeChunker * c)
{
  if (!c)
    return;
  g_byte_array_unref (c->buf);
  g_byte_array_unref (c->joint);
  g_array_unref (c->shifts);
  te_encoding_clear (&c->enc);
  te_encoding_clear (&c->enc2);
  g_free (c);
}

void
te_chunker_reset (TeChunker * c)
{
  g_byte_array_set_size (c->buf, 0);
  c->buf_start = 0;
  c->min_end = 0;
  c->next_index = 0;
  c->partial_len = 0;
  c->consumed = 0;
  g_array_set_size (c->shifts, 0);
}

void
te_chunker_set_invalid_utf8 (TeChunker * c, TeInvalidUtf8 mode)
{
  c->invalid = mode;
}

void
te_chunker_set_window (TeChunker * c, gsize bytes)
{
  g_return_if_fail (c->buf->len == 0);
  c->window = MAX (bytes, TE_CHUNK_SMALLEST_WINDOW);
}

gboolean
te_chunker_set_prompt (TeChunker * c, const char *prompt, GError ** error)
{
  gsize len = prompt ? strlen (prompt) : 0;
  guint n = 0;
  if (len > 0) {
    if (!te_tokenizer_encode (c->tok, prompt, len, FALSE, &c->enc2, error))
      return FALSE;
    n = c->enc2.n;
    if (n >= c->budget) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "the prompt takes %u tokens: chunks of %u tokens (%u of them special) leave no room "
          "for text", n, c->max_tokens, c->max_tokens - c->budget);
      return FALSE;
    }
  }
  g_byte_array_set_size (c->joint, 0);
  g_byte_array_append (c->joint, (const guint8 *) prompt, len);
  c->prompt_len = len;
  c->text_budget = c->budget - n;
  c->overlap = MIN (c->overlap_asked, c->text_budget / 2);
  return TRUE;
}

guint
te_chunker_overlap (const TeChunker * c)
{
  return c->overlap;
}

/* Source offset of text offset @t. */
static guint64
source_offset (const TeChunker * c, guint64 t)
{
  gint64 delta = 0;
  for (guint i = c->shifts->len; i > 0; i--) {
    const TeShift *sh = &g_array_index (c->shifts, TeShift, i - 1);
    if (sh->at <= t) {
      delta = sh->delta;
      break;
    }
  }
  return (guint64) ((gint64) t + delta);
}

/* Forget shifts that no pending byte needs: all but the last one at or before buf_start. */
static void
prune_shifts (TeChunker * c)
{
  guint keep_from = 0;
  for (guint i = 0; i < c->shifts->len; i++)
    if (g_array_index (c->shifts, TeShift, i).at <= c->buf_start)
      keep_from = i;
  if (keep_from > 0)
    g_array_remove_range (c->shifts, 0, keep_from);
}

gsize
te_chunker_pending (const TeChunker * c)
{
  return c->buf->len + c->partial_len;
}

gsize
te_chunker_unemitted (const TeChunker * c)
{
  return (c->buf->len > c->min_end ? c->buf->len - c->min_end : 0) + c->partial_len;
}

guint64
te_chunker_pending_start (const TeChunker * c)
{
  return source_offset (c, c->buf_start);
}

guint64
te_chunker_consumed (const TeChunker * c)
{
  /* c->consumed stops before a sequence still waiting for its next bytes (it is where an error
   * about that sequence points); those bytes were accepted all the same */
  return c->consumed + c->partial_len;
}

/* Number of tokens of @enc that end at or before @pos. */
static guint
tokens_before (const TeEncoding * enc, gsize pos)
{
  guint lo = 0, hi = enc->n;
  while (lo < hi) {
    guint mid = (lo + hi) / 2;
    if (enc->ends[mid] <= pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

typedef gboolean (*BreakFunc) (const char *text, gsize len, gsize pos);

/* Last position in (lo, hi] where @is_break holds, 0 when none. */
static gsize
last_break (const char *text, gsize len, gsize lo, gsize hi, BreakFunc is_break)
{
  for (gsize p = hi; p > lo; p--) {
    if (((guint8) text[p] & 0xC0) == 0x80)
      continue;
    if (is_break (text, len, p))
      return p;
  }
  return 0;
}

/* The last grapheme cluster boundary in (@lo, @pos] of the buffer, found by walking the clusters
 * from its start (always a boundary: chunks start where one ended or at a word break); @pos
 * itself when there is none (a single cluster longer than a chunk is split between code points
 * rather than held without bound). */
static gsize
grapheme_floor (const char *text, gsize len, gsize lo, gsize pos)
{
  utf8proc_int32_t state = 0, prev = -1;
  gsize best = 0, p = 0;
  while (p < pos) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate ((const utf8proc_uint8_t *) text + p,
        MIN (len - p, 4), &cp);
    if (n <= 0)
      return pos;               /* not reached: the buffer holds valid UTF-8 */
    if (prev >= 0 && utf8proc_grapheme_break_stateful (prev, cp, &state) && p > lo)
      best = p;
    prev = cp;
    p += n;
  }
  /* is @pos itself a boundary? */
  if (p == pos && prev >= 0) {
    utf8proc_int32_t cp = -1;
    if (pos < len)
      utf8proc_iterate ((const utf8proc_uint8_t *) text + pos, MIN (len - pos, 4), &cp);
    if (cp < 0 || utf8proc_grapheme_break_stateful (prev, cp, &state))
      return pos;
  }
  return best > lo ? best : pos;
}

/* Tokenize the prompt followed by the first @len bytes of @text into c->enc2 (offsets count the
 * prompt's bytes first). */
static gboolean
encode_with_prompt (TeChunker * c, const char *text, gsize len, GError ** error)
{
  if (c->prompt_len == 0)
    return te_tokenizer_encode (c->tok, text, len, FALSE, &c->enc2, error);
  g_byte_array_set_size (c->joint, c->prompt_len);
  g_byte_array_append (c->joint, (const guint8 *) text, len);
  return te_tokenizer_encode (c->tok, (const char *) c->joint->data, c->joint->len, FALSE,
      &c->enc2, error);
}

/* Choose where the chunk at the front of the buffer ends. */
static gsize
choose_end (TeChunker * c, gsize view, gboolean text_complete)
{
  const char *text = (const char *) c->buf->data;
  gsize len = c->buf->len;
  const TeEncoding *enc = &c->enc;

  if (text_complete && enc->n <= c->text_budget)
    return view;

  /* the chunk must end at or before the first token that no longer fits */
  gsize limit = enc->n > c->text_budget ? enc->starts[c->text_budget] : view;
  if (limit <= c->min_end)
    limit = view;

  static const BreakFunc levels[] = {
    te_text_is_paragraph_break, te_text_is_sentence_break, te_text_is_word_break
  };
  gsize best = 0;
  for (guint i = 0; i < G_N_ELEMENTS (levels); i++) {
    gsize p = last_break (text, len, c->min_end, limit, levels[i]);
    if (p == 0)
      continue;
    /* a coarser boundary wins only if it does not leave the chunk less than half full */
    if (tokens_before (enc, p) * 2 >= c->text_budget)
      return p;
    best = MAX (best, p);
  }
  if (best)
    return best;
  /* a run without any boundary: split hard, at a token start or the window's end */
  return limit;
}

/* Emit the chunk at the front of the buffer. @final: no more text follows for now (end of
 * document or flush), so the whole buffer may form the chunk; @keep_overlap: even the chunk that
 * takes the rest of the buffer leaves its overlap tail for the next chunk (flush). */
static gboolean
emit_one (TeChunker * c, gboolean final, gboolean keep_overlap, TeChunkFunc func,
    gpointer user_data, GError ** error)
{
  const char *text = (const char *) c->buf->data;
  gsize view = MIN (c->buf->len, c->window);
  while (view < c->buf->len && view > 0 && ((guint8) text[view] & 0xC0) == 0x80)
    view--;
  gboolean text_complete = final && view == c->buf->len;

  if (!te_tokenizer_encode (c->tok, text, view, FALSE, &c->enc, error))
    return FALSE;

  gsize end = choose_end (c, view, text_complete);

  /* Verify with the tokenizer on exactly what the encoder will see, the prompt then the chunk's
   * text: a hard split inside a word can tokenize differently than in context, so shrink until
   * it fits. A cut that is not at a word break moves back to a grapheme cluster boundary. */
  guint first = 0;              /* first token of the chunk's text in c->enc2 */
  for (;;) {
    if (!(text_complete && end == view) && !te_text_is_word_break (text, c->buf->len, end))
      end = grapheme_floor (text, c->buf->len, c->min_end, end);
    if (!encode_with_prompt (c, text, end, error))
      return FALSE;
    if (c->enc2.n <= c->budget)
      break;
    guint32 s = c->enc2.starts[c->budget];
    gsize shorter = s > c->prompt_len ? s - c->prompt_len : 0;
    if (shorter <= c->min_end && c->min_end > 0) {
      /* The previous chunk's overlap tail leaves no room for a single new token here (a word
       * that tokenizes to more tokens alone than in context): this chunk gives up the overlap
       * and starts where the previous one ended, rather than repeat text without progress. */
      g_byte_array_remove_range (c->buf, 0, c->min_end);
      c->buf_start += c->min_end;
      if (c->shifts->len)
        prune_shifts (c);
      c->min_end = 0;
      return emit_one (c, final, keep_overlap, func, user_data, error);
    }
    if (shorter == 0 || shorter >= end) {
      /* cannot happen for tokenizers whose tokens cover distinct bytes; refuse rather than loop */
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "cannot split text at byte %" G_GUINT64_FORMAT " into chunks of %u tokens",
          source_offset (c, c->buf_start), c->max_tokens);
      return FALSE;
    }
    end = shorter;
  }
  while (first < c->enc2.n && c->enc2.starts[first] < c->prompt_len)
    first++;

  TeChunk chunk = {
    .index = c->next_index++,
    .start = source_offset (c, c->buf_start),
    .end = source_offset (c, c->buf_start + end),
    .text = text,
    .len = end,
    .n_tokens = c->enc2.n + te_tokenizer_num_special_tokens (c->tok),
    .overlap_len = MIN (c->min_end, end),
  };

  /* where the next chunk starts: @overlap tokens back, moved forward to a word start, and near
   * enough to @end that the next chunk's window reaches at least one code point past it (else it
   * could only repeat this chunk's end: a chunk of a few bytes then a long word of 4-byte
   * characters filling the window) */
  gsize next = end;
  if (c->overlap > 0 && !(final && !keep_overlap && end == c->buf->len)
      && c->enc2.n - first > c->overlap) {
    for (guint j = c->enc2.n - c->overlap; j < c->enc2.n; j++) {
      gsize s = c->enc2.starts[j] - c->prompt_len;
      if (s > 0 && end - s + 4 <= c->window && te_text_is_word_break (text, c->buf->len, s)) {
        next = s;
        break;
      }
    }
  }

  gboolean ok = func (&chunk, user_data);

  g_byte_array_remove_range (c->buf, 0, next);
  c->buf_start += next;
  if (c->shifts->len)
    prune_shifts (c);
  c->min_end = end - next;
  return ok;
}

static gboolean
append_valid (TeChunker * c, const guint8 * data, gsize len, TeChunkFunc func,
    gpointer user_data, GError ** error)
{
  while (len > 0) {
    gsize room = c->window > c->buf->len ? c->window - c->buf->len : 0;
    gsize take = MIN (len, MAX (room, 1));
    /* whole characters only: emit_one may shrink the buffer (dropping an overlap tail) and then
     * view all of it, which must not end inside a sequence (found by fuzz-chunker) */
    while (take < len && (data[take] & 0xC0) == 0x80)
      take++;
    g_byte_array_append (c->buf, data, take);
    data += take;
    len -= take;
    while (c->buf->len >= c->window + 4) {
      if (!emit_one (c, FALSE, FALSE, func, user_data, error))
        return FALSE;
    }
  }
  return TRUE;
}

/* @n source bytes that are not UTF-8 become U+FFFD (TE_INVALID_UTF8_REPLACE). */
static gboolean
append_replacement (TeChunker * c, gsize n, TeChunkFunc func, gpointer user_data,
    GError ** error)
{
  static const guint8 fffd[3] = { 0xEF, 0xBF, 0xBD };
  gint64 delta = c->shifts->len ? g_array_index (c->shifts, TeShift, c->shifts->len - 1).delta : 0;
  /* buf_start + buf->len (the text offset of the end) does not change when chunks go out */
  TeShift sh = { c->buf_start + c->buf->len + 3, delta + (gint64) n - 3 };
  g_array_append_val (c->shifts, sh);
  c->consumed += n;
  return append_valid (c, fffd, 3, func, user_data, error);
}

/* TE_INVALID_UTF8_ERROR: everything before the bad byte goes out as chunks, then the error. */
static gboolean
fail_invalid (TeChunker * c, gboolean truncated, TeChunkFunc func, gpointer user_data,
    GError ** error)
{
  guint64 at = c->consumed;
  gboolean ok = TRUE;
  c->partial_len = 0;
  while (ok && c->buf->len > c->min_end)
    ok = emit_one (c, TRUE, FALSE, func, user_data, error);
  if (ok && truncated)
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "document ends inside a UTF-8 sequence at byte %" G_GUINT64_FORMAT, at);
  else if (ok)
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "input is not valid UTF-8 at byte %"
        G_GUINT64_FORMAT " of the document; convert it first (e.g. with iconv)", at);
  te_chunker_reset (c);
  return FALSE;
}

gboolean
te_chunker_push (TeChunker * c, const char *data, gsize len, TeChunkFunc func,
    gpointer user_data, GError ** error)
{
  const guint8 *s = (const guint8 *) data;
  gsize i = 0;

  /* complete a sequence split across the previous push and this one */
  while (c->partial_len > 0 && i < len) {
    c->partial[c->partial_len++] = s[i++];
    int r = te_utf8_check (c->partial, c->partial_len);
    if (r == 0) {
      /* the bytes before this one were a valid prefix: they are the ill-formed subpart, and
       * this byte is looked at again on its own */
      gsize bad = c->partial_len - 1;
      i--;
      if (c->invalid != TE_INVALID_UTF8_REPLACE)
        return fail_invalid (c, FALSE, func, user_data, error);
      c->partial_len = 0;
      if (!append_replacement (c, bad, func, user_data, error))
        return FALSE;
      break;
    }
    if (r > 0) {
      guint8 tmp[4];
      memcpy (tmp, c->partial, r);
      c->partial_len = 0;
      c->consumed += r;
      if (!append_valid (c, tmp, r, func, user_data, error))
        return FALSE;
    }
  }

  if (c->partial_len > 0)
    return TRUE;                /* all of @data went into a still incomplete sequence */

  gsize run = i, tail = 0;
  while (i < len) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    int r = te_utf8_check (s + i, len - i);
    if (r > 0) {
      i += r;
      continue;
    }
    if (r < 0) {                /* cut by the end of this buffer: keep for the next one */
      tail = len - i;
      break;
    }
    /* ill-formed: the valid run before it goes in first */
    c->consumed += i - run;
    if (!append_valid (c, s + run, i - run, func, user_data, error))
      return FALSE;
    if (c->invalid != TE_INVALID_UTF8_REPLACE)
      return fail_invalid (c, FALSE, func, user_data, error);
    gsize bad = te_utf8_invalid_len (s + i, len - i);
    if (!append_replacement (c, bad, func, user_data, error))
      return FALSE;
    i += bad;
    run = i;
  }
  gsize valid_end = len - tail;
  c->consumed += valid_end - run;
  if (!append_valid (c, s + run, valid_end - run, func, user_data, error))
    return FALSE;
  memcpy (c->partial, s + valid_end, tail);
  c->partial_len = tail;
  return TRUE;
}

gboolean
te_chunker_finish (TeChunker * c, TeChunkFunc func, gpointer user_data, GError ** error)
{
  if (c->partial_len > 0) {
    if (c->invalid != TE_INVALID_UTF8_REPLACE)
      return fail_invalid (c, TRUE, func, user_data, error);
    gsize bad = c->partial_len;
    c->partial_len = 0;
    if (!append_replacement (c, bad, func, user_data, error)) {
      te_chunker_reset (c);
      return FALSE;
    }
  }
  gboolean ok = TRUE;
  /* the last chunk's overlap tail is already inside it: anything left at or before min_end has
   * been emitted */
  while (ok && c->buf->len > c->min_end)
    ok = emit_one (c, TRUE, FALSE, func, user_data, error);
  te_chunker_reset (c);
  return ok;
}

gboolean
te_chunker_flush (TeChunker * c, TeChunkFunc func, gpointer user_data, GError ** error)
{
  const char *text = (const char *) c->buf->data;
  gsize len = c->buf->len;
  gboolean content = FALSE;
  for (gsize p = c->min_end; p < len && !content;) {
    content = !is_space (char_at (text, len, p));
    guint n = te_utf8_seq_len ((guint8) text[p]);
    p += n ? n : 1;
  }
  if (!content)
    return TRUE;

  gboolean ok = TRUE;
  while (ok && c->buf->len > c->min_end)
    ok = emit_one (c, TRUE, TRUE, func, user_data, error);
  return ok;
}
