/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer-private.h — the stages of the tokenizer pipeline as Hugging Face `tokenizers`
 * organises them, one file each: normalizers, pre-tokenizers, models, post-processors and the
 * added vocabulary (te-tokenizer-*.c), driven by te-tokenizer.c. Private to those files.
 *
 * Adding a component type from tokenizer.json means: a parser entry in the stage's type table
 * (which also produces the "supported: ..." list of the error for unknown types), its run-time
 * step in the stage's switch, and its description in the fingerprint. Every stage keeps the
 * contract of the pipeline: each token maps back to a byte range of the original text. */
#pragma once

#include <string.h>

#include "te-tokenizer.h"
#include "te-json.h"
#include "te-unicode.h"
#include "te-utf8.h"

G_BEGIN_DECLS

/* ---- Unicode properties as HF sees them (te-tokenizer-unicode.c) ----------------------------
 * HF mixes Unicode versions: Unicode 9.0 tables for categories, NFD and combining classes,
 * the Rust standard library's (Unicode 17) for whitespace and lowercase. */

enum
{
  TE_U9_MN = 1 << 0,            /* General_Category Mn (Unicode 9.0) */
  TE_U9_MK = 1 << 1,            /* General_Category M* (Unicode 9.0) */
  TE_U9_PU = 1 << 2,            /* General_Category P* (Unicode 9.0) */
  TE_U9_CF = 1 << 3,            /* General_Category Cf (Unicode 9.0) */
};

typedef struct
{
  guint32 lo, hi;
  guint8 flags;
} TeURange;

/* The Unicode 9.0 ranges with their TE_U9_* flags, ascending (te-tokenizer-unicode.c). */
extern const TeURange te_hf_u9_ranges[];
extern const guint te_hf_u9_n_ranges;

/* TE_U9_* flags of a non-ASCII code point (binary search; inline: the pre-tokenizer and the
 * normalizer ask for every non-ASCII char). */
static inline guint
te_hf_u9_flags (gunichar c)
{
  guint lo = 0, hi = te_hf_u9_n_ranges;

  while (lo < hi) {
    guint mid = (lo + hi) / 2;
    if (c < te_hf_u9_ranges[mid].lo)
      hi = mid;
    else if (c > te_hf_u9_ranges[mid].hi)
      lo = mid + 1;
    else
      return te_hf_u9_ranges[mid].flags;
  }
  return 0;
}
/* Canonical combining class as HF's Unicode 9.0 tables have it. */
guint8 te_hf_ccc (gunichar c);
/* Full canonical decomposition of @c into @out (at most 8); returns the count (1 = none). */
guint te_hf_decompose (gunichar c, gunichar out[8]);
/* The longest compatibility decomposition (U+FDFA is 18 chars), with room to spare. */
#define TE_HF_DECOMP_MAX 32
/* Full compatibility decomposition of @c (NFKD of one char) as HF's Unicode 9.0 tables have it;
 * returns the count (1 = none). */
guint te_hf_decompose_compat (gunichar c, gunichar out[TE_HF_DECOMP_MAX]);
/* The primary composite of starter @a and @b in HF's Unicode 9.0 tables (Hangul included), or
 * 0 when there is none. */
gunichar te_hf_compose (gunichar a, gunichar b);
/* Rust char::to_lowercase for the chars that map to one char (all but U+0130). */
gunichar te_hf_lower1 (gunichar c);
/* Rust regex \w (added tokens with single_word). */
gboolean te_hf_is_regex_word (gunichar c);

static inline gboolean
te_hf_is_ascii_punct (gunichar c)
{
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60)
      || (c >= 0x7B && c <= 0x7E);
}

/* Rust char::is_whitespace (the White_Space property). */
static inline gboolean
te_hf_is_whitespace (gunichar c)
{
  if (c < 0x80)
    return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028
      || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* BertPreTokenizer's is_bert_punc: ASCII punctuation (incl. symbols such as $ + < = > ^ ` | ~)
 * or Unicode 9.0 P*. */
static inline gboolean
te_hf_is_bert_punct (gunichar c)
{
  if (c < 0x80)
    return te_hf_is_ascii_punct (c);
  return (te_hf_u9_flags (c) & TE_U9_PU) != 0;
}

/* ---- Work buffers (per encode call; the tokenizer itself is immutable) --------------------- */

/* A normalised code point and the byte range of the original text it comes from. */
typedef struct
{
  gunichar c;
  guint32 s, e;
} TeNChar;

typedef struct
{
  TeNChar *a, *b;               /* ping-pong buffers for the normaliser stages */
  gsize cap_a, cap_b;
  guint8 *run_ccc;              /* NFD: combining classes of the pending run of marks */
  guint8 *run_first;            /* NFD: "first char of its decomposition" flags of the run */
  guint8 *run_fl;               /* NFD: the same flags, sorted */
  TeNChar *run_tmp;             /* NFD: sorted run + input alignments */
  gsize cap_run_ccc, cap_run_first, cap_run_fl, cap_run_tmp;
  guint8 *word;                 /* WordPiece, Unigram: current word as UTF-8 */
  guint32 *wcb;                 /* WordPiece, Unigram: byte offset of each char of the word */
  gsize cap_word, cap_wcb;
  guint32 *b2c;                 /* Unigram: char index of each byte of the word */
  double *vscore;               /* Unigram lattice: best score of a path ending at each byte */
  gint32 *vstart, *vid;         /* ... its last piece's start byte (-1: none) and id */
  guint32 *pieces;              /* Unigram: (start, end, id or ~0 unknown) of the best path,
                                 * reversed */
  TeNChar *pt;                  /* pre-tokenizer: the words of the current step */
  guint32 *pt_seg, *pt_seg2;    /* pre-tokenizer: (start, len) of each word */
  TeNChar *pt2;
  guint32 *unk_ws;              /* Unigram: (token index, leading, trailing whitespace chars)
                                 * of each unknown piece, for RobertaProcessing's trimming */
  gsize n_unk_ws, cap_unk_ws;
  guint8 *sp_text;              /* Split: a word as UTF-8 */
  guint32 *sp_b2c;              /* Split: char index of each byte of sp_text (and its end) */
  guint32 *sp_cut;              /* Split: (start, end, keep) char ranges of the word */
  gsize cap_sp_text, cap_sp_b2c, cap_sp_cut;
  gunichar *tr_c;               /* HF transform(): (char, change) pairs */
  gint32 *tr_ch;
  gsize cap_tr_c, cap_tr_ch;
  gsize cap_b2c, cap_v, cap_pieces, cap_pt, cap_pt2, cap_pt_seg, cap_pt_seg2;
} TeWork;

void te_work_clear (TeWork * w);

static inline void
te_grow (gpointer * p, gsize * cap, gsize need, gsize elem)
{
  if (need > *cap) {
    gsize c = MAX (need, *cap * 2);
    c = MAX (c, 64);
    *p = g_realloc_n (*p, c, elem);
    *cap = c;
  }
}

#define TE_GROW(ptr, cap, need) te_grow ((gpointer *) &(ptr), &(cap), (need), sizeof (*(ptr)))

/* Load the code points of @len bytes of valid UTF-8 into w->a, each with its byte range
 * (offset by @base); returns their number. */
gsize te_work_load (TeWork * w, const guint8 * text, gsize len, gsize base);

/* ---- Encoding output --------------------------------------------------------------------- */

void te_encoding_reserve (TeEncoding * enc, guint need);

static inline void
te_encoding_push (TeEncoding * enc, gint32 id, guint32 s, guint32 e)
{
  if (G_UNLIKELY (enc->n == enc->capacity))
    te_encoding_reserve (enc, enc->n + 1);
  enc->ids[enc->n] = id;
  enc->type_ids[enc->n] = 0;
  enc->starts[enc->n] = s;
  enc->ends[enc->n] = e;
  enc->special[enc->n] = 0;
  enc->n++;
}

/* ---- Normalizers (te-tokenizer-normalizers.c) ------------------------------------------------
 * A normalizer is compiled into a flat list of operations, each one NormalizedString operation
 * of HF with HF's alignments. Sequence flattens into the list. */

typedef enum
{
  TE_NORM_CLEAN,                /* BertNormalizer clean_text */
  TE_NORM_CHINESE,              /* BertNormalizer handle_chinese_chars */
  TE_NORM_NFD,                  /* NFD (BertNormalizer strip_accents, or NFD normalizer) */
  TE_NORM_STRIP_MN,             /* drop Mn (BertNormalizer strip_accents, after NFD) */
  TE_NORM_STRIP_MARKS,          /* drop M* (StripAccents normalizer) */
  TE_NORM_LOWER,                /* char-wise Rust to_lowercase */
  TE_NORM_PRECOMPILED,          /* SentencePiece's precompiled charsmap, per grapheme cluster */
  TE_NORM_REPLACE,              /* Replace: a literal, or one char repeated (regex "c{m,}") */
  TE_NORM_STRIP,                /* Strip: whitespace on the left and/or right */
  TE_NORM_NFKD,                 /* NFKD normalizer */
  TE_NORM_NFC,                  /* NFC normalizer */
  TE_NORM_NFKC,                 /* NFKC normalizer */
  TE_NORM_NMT,                  /* Nmt: drop some controls, map others and U+2581 to space */
  /* Extension point: Prepend. build_ascii_map() clears ascii_local when an
   * operation maps an ASCII char to anything but at most one ASCII char, or when
   * op_ascii_is_context_free() says its result depends on neighbouring chars. */
} TeNormOp;

/* A SentencePiece precompiled charsmap: a darts-clone double-array trie over UTF-8 keys whose
 * values index NUL-terminated replacements in @normalized. */
typedef struct
{
  guint32 *units;
  gsize n_units;
  char *normalized;
  gsize normalized_len;
  char digest[65];              /* SHA-256 of the charsmap bytes (fingerprint) */
  gint32 ascii_rep[128];        /* an ASCII char alone: offset of its replacement, -1 none */
  guint32 ascii_rep_len[128];
} TePrecompiled;

typedef struct
{
  gunichar *pattern;            /* literal: the chars; repeat: the one char */
  guint pattern_len;
  guint min_rep, max_rep;       /* repeat (regex "c{m,}", "c{m,n}", "c+"); 0: a literal */
  gunichar *content;
  guint content_len;
} TeReplace;

typedef struct
{
  TeNormOp op;
  gboolean left, right;         /* Strip */
  TePrecompiled *pc;            /* Precompiled */
  TeReplace *rep;               /* Replace */
} TeNormStep;

typedef struct
{
  TeNormStep *ops;
  guint n_ops;
  /* Every operation maps each ASCII char on its own to at most one ASCII char, and keeps
   * ASCII whitespace as whitespace: then ascii_map is the whole normalizer for ASCII text. */
  gboolean ascii_local;
  gint16 ascii_map[128];        /* -1: removed */
} TeNormalizer;

/* @o: the "normalizer" object, or NULL for none. */
gboolean te_normalizer_parse (TeNormalizer * nz, JsonObject * o, GError ** error);
void te_normalizer_clear (TeNormalizer * nz);
/* Normalise w->a[0..n); the result is in w->a, its length returned. */
gsize te_normalizer_run (const TeNormalizer * nz, TeWork * w, gsize n);
void te_normalizer_describe (const TeNormalizer * nz, GString * s);

/* ---- Pre-tokenizers (te-tokenizer-pretokenizers.c) --------------------------------------- */

typedef enum
{
  TE_PRE_NONE,                  /* the whole normalised piece is one word */
  TE_PRE_BERT,                  /* BertPreTokenizer: split on whitespace, isolate punctuation */
  TE_PRE_WHITESPACE_SPLIT,      /* WhitespaceSplit: split on whitespace (removed) */
  TE_PRE_METASPACE,             /* Metaspace: ' ' -> replacement, prepend, split before it */
  TE_PRE_SPLIT,                 /* Split: a String or Regex pattern (Oniguruma), a behavior */
  /* Extension points: Whitespace, Punctuation, Digits, ByteLevel. */
} TePreTokKind;

/* Split's SplitDelimiterBehavior */
typedef enum
{
  TE_SPLIT_REMOVED,
  TE_SPLIT_ISOLATED,
  TE_SPLIT_MERGED_WITH_PREVIOUS,
  TE_SPLIT_MERGED_WITH_NEXT,
  TE_SPLIT_CONTIGUOUS,
} TeSplitBehavior;

typedef enum
{
  TE_PREPEND_ALWAYS,
  TE_PREPEND_FIRST,
  TE_PREPEND_NEVER,
} TePrependScheme;

typedef struct
{
  TePreTokKind kind;
  gunichar replacement;         /* Metaspace */
  TePrependScheme prepend;      /* Metaspace */
  gboolean split;               /* Metaspace */
  gpointer regex;               /* Split: the compiled pattern (an OnigRegex) */
  char *pattern;                /* Split: as given (a String pattern is escaped into a regex) */
  gboolean pattern_is_regex;    /* Split */
  TeSplitBehavior behavior;     /* Split */
  gboolean invert;              /* Split */
} TePreTokStep;

/* A pre-tokenizer is a list of steps (Sequence flattens into it); kind is the single step's
 * kind, or TE_PRE_NONE for none, used by the driver's fast paths. */
typedef struct
{
  TePreTokKind kind;
  TePreTokStep *steps;
  guint n_steps;
} TePreTokenizer;

gboolean te_pre_tokenizer_parse (TePreTokenizer * pt, JsonObject * o, GError ** error);
void te_pre_tokenizer_clear (TePreTokenizer * pt);
/* Whether cutting the text right after an ASCII space, tab, CR or LF cannot change the words
 * (the pre-tokenizer always splits there), so the driver may encode long texts in pieces. */
gboolean te_pre_tokenizer_splits_at_ascii_space (const TePreTokenizer * pt);
void te_pre_tokenizer_describe (const TePreTokenizer * pt, GString * s);

/* ---- Models (te-tokenizer-models.c) ------------------------------------------------------ */

/* Vocabulary hash table: open addressing over a string pool, no NUL-terminated keys needed,
 * so WordPiece can look up sub-slices of a word without copying them. */
typedef struct
{
  guint32 hash;
  guint32 entry;                /* index + 1 into TeVocabTable.entries; 0 = empty slot */
} TeVocabSlot;

typedef struct
{
  guint32 off, len;             /* key = pool[off .. off+len) */
  gint32 id;
} TeVocabEntry;

typedef struct
{
  TeVocabSlot *slots;
  guint32 mask;
  TeVocabEntry *entries;
  guint32 n_entries;
  guint32 max_len;              /* longest key in bytes */
} TeVocabTable;

typedef enum
{
  TE_MODEL_WORDPIECE,
  TE_MODEL_UNIGRAM,
  /* Extension points: BPE, WordLevel. */
} TeWordModelKind;

/* A byte trie over the vocabulary keys (Unigram's common-prefix search): the edge
 * (node, byte) -> child in an open-addressing table. */
typedef struct
{
  guint32 key;                  /* (node << 8 | byte) + 1; 0 = empty */
  guint32 child;
} TeTrieSlot;

/* Frozen trie node: its children are edges[first .. next node's first), and the key ending
 * here, if any, with its score (what the Viterbi step reads, in one cache line). */
typedef struct
{
  guint32 first;
  gint32 value;                 /* the id of the key ending here, or -1 */
  double score;                 /* its log probability */
} TeTrieNode;

typedef struct
{
  guint32 child;
  guint32 byte;
} TeTrieEdge;

typedef struct
{
  TeTrieSlot *slots;            /* while building (freed by the freeze) */
  guint32 mask;
  guint32 n_nodes;
  gint32 *value;                /* while building: per node, the id of the key ending there */
  /* frozen for lookups: node v's children (v > 0) are edges[nodes[v].first ..
   * nodes[v + 1].first), sorted by byte, next to each other; the root's are in root[] */
  TeTrieNode *nodes;            /* n_nodes + 1 (a sentinel) */
  TeTrieEdge *edges;
  guint32 root[256];            /* child of the root by byte, 0 = none */
} TeTrie;

typedef struct
{
  TeWordModelKind kind;
  char *pool;                   /* all vocab keys, NUL-separated */
  TeVocabTable vocab;           /* full keys */
  guint32 n_vocab;              /* number of vocab entries (HF get_vocab_size) */
  /* WordPiece */
  TeVocabTable cont;            /* keys that start with the prefix, prefix stripped */
  gboolean cont_is_vocab;       /* empty prefix: cont == vocab */
  char *unk_token;
  gint32 unk_id;                /* -1 when the unk token is not in the vocab */
  char *prefix;
  guint64 max_chars;
  /* Unigram */
  double *scores;               /* per id */
  double min_score;
  gboolean byte_fallback;
  gint32 byte_ids[256];         /* id of "<0xHH>", -1 when absent */
  TeTrie trie;
} TeWordModel;

gboolean te_word_model_parse (TeWordModel * m, JsonObject * o, GError ** error);
void te_word_model_clear (TeWordModel * m);
/* Tokens of one pre-tokenised word a[0..n) (n > 0), appended to @out. */
gboolean te_word_model_tokenize (const TeWordModel * m, TeWork * w, const TeNChar * a, gsize n,
    TeEncoding * out, GError ** error);
/* Id of the vocabulary key @key (@len bytes), or -1. */
gint32 te_word_model_token_to_id (const TeWordModel * m, const char *key, gsize len);
/* Largest vocabulary id, -1 for an empty vocabulary. */
gint64 te_word_model_max_id (const TeWordModel * m);
/* id_to_tok[id] = the key, for every vocabulary entry. */
void te_word_model_fill_ids (const TeWordModel * m, char **id_to_tok);
/* Feed the fingerprint: the model's parameters, then every vocabulary entry in id order. */
void te_word_model_describe (const TeWordModel * m, GString * s, GChecksum * cs);

/* ---- Post-processors (te-tokenizer-processors.c) ----------------------------------------- */

/* One piece of the single-sequence template: the sequence, or special tokens. */
typedef struct
{
  gboolean is_sequence;
  guint32 type_id;
  gint32 *ids;                  /* special token ids (SpecialToken pieces) */
  guint n_ids;
} TePostPiece;

typedef struct
{
  TePostPiece *pieces;          /* every processor is compiled into a single-sequence template */
  guint n_pieces;
  gboolean simple;              /* exactly one Sequence piece */
  gboolean trim_offsets;        /* RobertaProcessing: trim whitespace off the offsets */
  gboolean add_prefix_space;    /* ... keeping a single leading one on the first token */
  guint seq_index;
  guint n_special;
} TePostProcessor;

gboolean te_post_processor_parse (TePostProcessor * pp, JsonObject * o, GError ** error);
void te_post_processor_clear (TePostProcessor * pp);
/* Special tokens the template puts before the sequence (encoded at @out->n == that). */
guint te_post_processor_prefix (const TePostProcessor * pp, gboolean add_special_tokens);
/* The sequence is @out[seq_start ..): set its type ids and add the special tokens. */
void te_post_processor_apply (const TePostProcessor * pp, guint seq_start,
    gboolean add_special_tokens, TeEncoding * out);
void te_post_processor_describe (const TePostProcessor * pp, GString * s);

/* ---- Added vocabulary (te-tokenizer-added.c) --------------------------------------------- */

typedef struct
{
  char *content;
  gsize len;
  gint32 id;
  gboolean single_word, lstrip, rstrip, normalized, special;
  gunichar *pattern;            /* normalized tokens: normalized content as code points */
  guint pattern_len;
} TeAddedToken;

typedef struct
{
  TeAddedToken *tokens;         /* in HF order (by id) */
  guint n;
  /* raw (normalized=false) matcher: indices into tokens, grouped by first byte, longest first */
  guint *raw_idx;
  guint raw_first[257];
  /* normalized=true matcher: indices into tokens, longest pattern first */
  guint *norm_idx;
  guint n_norm;
} TeAddedVocab;

/* @arr: the "added_tokens" array (may be NULL). Ids come from @model, else follow its vocab;
 * normalized tokens are matched in their @nz-normalised form. */
gboolean te_added_vocab_parse (TeAddedVocab * av, JsonArray * arr, const TeWordModel * model,
    const TeNormalizer * nz, GError ** error);
void te_added_vocab_clear (TeAddedVocab * av);
/* The next raw added token accepted at or after @pos (single_word checked, lstrip/rstrip
 * applied, lstrip not reaching before @floor): its index, with its bytes in [*start, *stop);
 * -1 when there is none. */
gint te_added_vocab_next_raw (const TeAddedVocab * av, const guint8 * text, gsize len,
    gsize pos, gsize floor, gsize * start, gsize * stop, gsize * next_pos);
void te_added_vocab_describe (const TeAddedVocab * av, GString * s);

/* ---- The tokenizer ------------------------------------------------------------------------ */

struct _TeTokenizer
{
  TeNormalizer normalizer;
  TePreTokenizer pre_tokenizer;
  TeWordModel model;
  TePostProcessor post;
  TeAddedVocab added;

  char **id_to_tok;             /* borrowed pointers into the model's pool / added contents */
  guint n_ids;
  gint32 pad_id;
  char fingerprint[65];
  /* Work buffers of finished encodes, for the next ones (a cache, not state: an encode takes
   * one with an atomic exchange, or allocates; te_tokenizer_free frees them). */
  gpointer work_cache[4];
};

/* Pre-tokenise a normalised piece a[0..n) and run the model on each word. */
gboolean te_tokenizer_pre_tokenize_and_model (const TeTokenizer * tok, TeWork * w,
    const TeNChar * a, gsize n, TeEncoding * out, GError ** error);
/* Split a normalised piece on normalized=true added tokens; the rest goes through
 * te_tokenizer_pre_tokenize_and_model(). */
gboolean te_tokenizer_split_normalized (const TeTokenizer * tok, TeWork * w, const TeNChar * a,
    gsize n, TeEncoding * out, GError ** error);

/* The "type" of a component object (required), for the stage parsers. */
const char *te_tokenizer_component_type (JsonObject * o, const char *what, GError ** error);
/* TE_ERROR_UNSUPPORTED "WHAT type "TYPE" is not supported (supported: A, B...)". */
void te_tokenizer_unsupported (GError ** error, const char *what, const char *type,
    const char *const *supported, guint n_supported);

/* The fingerprint text (compute_fingerprint() in te-tokenizer.c): a decimal integer, and a
 * length-prefixed string "LEN:BYTES". Written without printf, which dominated hashing a
 * 30,000-entry vocabulary. */
static inline void
te_describe_int (GString * s, gint64 v)
{
  char buf[24], *p = buf + sizeof (buf);
  guint64 u = v < 0 ? (guint64) 0 - (guint64) v : (guint64) v;

  do {
    *--p = (char) ('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    *--p = '-';
  g_string_append_len (s, p, buf + sizeof (buf) - p);
}

static inline void
te_describe_str (GString * s, const char *str, gsize n)
{
  te_describe_int (s, (gint64) n);
  g_string_append_c (s, ':');
  g_string_append_len (s, str, (gssize) n);
}

G_END_DECLS
