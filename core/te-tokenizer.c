/* te-tokenizer.c — Hugging Face `tokenizers` 0.23 WordPiece pipeline (tokenizer.json) in plain C.
 * Reproduces HF's token ids AND offsets exactly; see te-tokenizer.h for the supported subset. */

#include "te-tokenizer.h"
#include "te-json.h"
#include "te-unicode.h"
#include "te-utf8.h"

#include <utf8proc.h>
#include <string.h>

/* ======================================================================================
 * Unicode properties, as HF sees them
 *
 * HF does not use one Unicode version: the `unicode_categories` crate (0.1.1, used for
 * Cc/Cf/Co, Mn and P*) and `unicode-normalization-alignments` (0.1.12, NFD, combining classes
 * and is_combining_mark) carry Unicode 9.0 tables, while char::is_whitespace and
 * char::to_lowercase come from the Rust standard library of the compiler that built the wheel
 * (Unicode 17 for tokenizers 0.23.3). utf8proc on this system is newer than 9.0 and older than
 * 17, so:
 *   - the category sets HF uses (Mn, M, P, Cf) are the Unicode 9.0 tables below
 *     (te_u9_ranges), which were checked code point by code point against HF 0.23.3;
 *   - NFD mappings come from utf8proc (canonical mappings never change once assigned), but
 *     only for code points HF's 9.0 tables know (BMP + the supplementary list below), and the
 *     combining class is taken from utf8proc only for marks known to 9.0;
 *   - lowercase is utf8proc's simple mapping plus the mappings added in Unicode 16/17
 *     (te_lower_extra), and U+0130 → "i\u0307" (Rust's only unconditional multi-char one).
 * ====================================================================================== */

enum
{
  U_MN = 1 << 0,                /* General_Category Mn (Unicode 9.0) */
  U_MK = 1 << 1,                /* General_Category M* (Unicode 9.0) */
  U_PU = 1 << 2,                /* General_Category P* (Unicode 9.0) */
  U_CF = 1 << 3,                /* General_Category Cf (Unicode 9.0) */
};

typedef struct
{
  guint32 lo, hi;
  guint8 flags;
} TeURange;

static guint u9_flags (gunichar c);     /* te_u9_ranges flags of c (table at the end) */

static inline gboolean
is_ascii_punct (gunichar c)
{
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60)
      || (c >= 0x7B && c <= 0x7E);
}

/* Rust char::is_whitespace (the White_Space property). */
static inline gboolean
is_rust_ws (gunichar c)
{
  if (c < 0x80)
    return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028
      || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* BertPreTokenizer's is_bert_punc: ASCII punctuation (incl. symbols such as $ + < = > ^ ` | ~)
 * or Unicode 9.0 P*. */
static inline gboolean
is_bert_punct (gunichar c)
{
  if (c < 0x80)
    return is_ascii_punct (c);
  return (u9_flags (c) & U_PU) != 0;
}

/* BertNormalizer clean_text: removed code points (NUL, U+FFFD, Cc/Cf/Co except \t \n \r).
 * Note: HF's comment mentions Cn, but unicode_categories' is_other() is Cc|Cf|Co only, so
 * unassigned code points are kept. */
static inline gboolean
is_clean_removed (gunichar c)
{
  if (c < 0x80)
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F;
  if (c <= 0x9F || c == 0xFFFD)
    return TRUE;                /* C1 controls, replacement char */
  if ((c >= 0xE000 && c <= 0xF8FF) || (c >= 0xF0000 && c <= 0xFFFFD)
      || (c >= 0x100000 && c <= 0x10FFFD))
    return TRUE;                /* private use */
  return (u9_flags (c) & U_CF) != 0;
}

/* Canonical combining class as HF's Unicode 9.0 tables have it: every 9.0 code point with a
 * non-zero class is a mark, so non-marks (including marks added after 9.0) are class 0. */
static inline guint8
hf_ccc (gunichar c)
{
  if (c < 0x300)
    return 0;
  if (!(u9_flags (c) & U_MK))
    return 0;
  return (guint8) utf8proc_get_property ((utf8proc_int32_t) c)->combining_class;
}

/* Supplementary-plane code points with a canonical decomposition in Unicode 9.0. Later
 * versions added more (e.g. U+11938); HF does not decompose those. */
static gboolean
hf_supp_decomposable (gunichar c)
{
  static const guint32 r[][2] = {
    {0x1109A, 0x1109A}, {0x1109C, 0x1109C}, {0x110AB, 0x110AB}, {0x1112E, 0x1112F},
    {0x1134B, 0x1134C}, {0x114BB, 0x114BC}, {0x114BE, 0x114BE}, {0x115BA, 0x115BB},
    {0x1D15E, 0x1D164}, {0x1D1BB, 0x1D1C0}, {0x2F800, 0x2FA1D},
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (r); i++)
    if (c >= r[i][0] && c <= r[i][1])
      return TRUE;
  return FALSE;
}

/* Full canonical decomposition of @c into @out (at most 8); returns the count (1 = none). */
static guint
hf_decompose (gunichar c, gunichar out[8])
{
  utf8proc_int32_t buf[8];
  utf8proc_ssize_t n;
  int lbc = 0;
  guint i;

  out[0] = c;
  if (c < 0xC0 || (c >= 0x10000 && !hf_supp_decomposable (c)))
    return 1;
  n = utf8proc_decompose_char ((utf8proc_int32_t) c, buf, 8, UTF8PROC_DECOMPOSE, &lbc);
  if (n <= 0 || n > 8)
    return 1;
  for (i = 0; i < (guint) n; i++)
    out[i] = (gunichar) buf[i];
  return (guint) n;
}

/* Simple lowercase mappings Rust (Unicode 17) has and utf8proc (Unicode 15) lacks. */
static const struct
{
  guint32 lo, hi;
  gint32 delta;
} te_lower_extra[] = {
  {0x1C89, 0x1C89, 1}, {0xA7CB, 0xA7CB, 0x0264 - 0xA7CB}, {0xA7CC, 0xA7CC, 1},
  {0xA7CE, 0xA7CE, 1}, {0xA7D2, 0xA7D2, 1}, {0xA7D4, 0xA7D4, 1}, {0xA7DA, 0xA7DA, 1},
  {0xA7DC, 0xA7DC, 0x019B - 0xA7DC}, {0x10D50, 0x10D65, 0x20}, {0x16EA0, 0x16EB8, 0x1B},
};

static inline gunichar
hf_lower1 (gunichar c)
{
  guint i;

  if (c < 0x80)
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c >= 0x1C89)
    for (i = 0; i < G_N_ELEMENTS (te_lower_extra); i++)
      if (c >= te_lower_extra[i].lo && c <= te_lower_extra[i].hi)
        return (gunichar) ((gint32) c + te_lower_extra[i].delta);
  return (gunichar) utf8proc_tolower ((utf8proc_int32_t) c);
}

/* Rust regex \w (used only for added tokens with single_word=true): Alphabetic, M, Nd, Pc,
 * Join_Control. Alphabetic is approximated by L*, Nl and the circled/squared letters. */
static gboolean
is_regex_word (gunichar c)
{
  if (c < 0x80)
    return g_ascii_isalnum (c) || c == '_';
  if (c == 0x200C || c == 0x200D || (c >= 0x24B6 && c <= 0x24E9)
      || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169)
      || (c >= 0x1F170 && c <= 0x1F189))
    return TRUE;
  switch (utf8proc_category ((utf8proc_int32_t) c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return TRUE;
    default:
      return FALSE;
  }
}

/* ======================================================================================
 * Vocabulary hash table: open addressing over a string pool, no NUL-terminated keys needed,
 * so WordPiece can look up sub-slices of a word without copying them.
 * ====================================================================================== */

typedef struct
{
  guint32 hash;
  guint32 entry;                /* index + 1 into VocabTable.entries; 0 = empty slot */
} VocabSlot;

typedef struct
{
  guint32 off, len;             /* key = pool[off .. off+len) */
  gint32 id;
} VocabEntry;

typedef struct
{
  VocabSlot *slots;
  guint32 mask;
  VocabEntry *entries;
  guint32 n_entries;
  guint32 max_len;              /* longest key in bytes */
} VocabTable;

/* Little helpers that stay inline for the short keys of a vocabulary (a libc memcpy/memcmp
 * call per lookup is measurable). */
static inline guint64
load_tail (const guint8 * p, gsize n)
{
  guint64 v = 0;

  switch (n) {
    case 7:
      v |= (guint64) p[6] << 48;
      /* fall through */
    case 6:
      v |= (guint64) p[5] << 40;
      /* fall through */
    case 5:
      v |= (guint64) p[4] << 32;
      /* fall through */
    case 4:
      v |= (guint64) p[3] << 24;
      /* fall through */
    case 3:
      v |= (guint64) p[2] << 16;
      /* fall through */
    case 2:
      v |= (guint64) p[1] << 8;
      /* fall through */
    case 1:
      v |= (guint64) p[0];
      /* fall through */
    default:
      break;
  }
  return v;
}

static inline guint32
hash_bytes (const guint8 * p, gsize n)
{
  guint64 h = 0x9E3779B97F4A7C15ull ^ ((guint64) n * 0xC2B2AE3D27D4EB4Full);
  guint64 v;

  while (n >= 8) {
    memcpy (&v, p, 8);
    h = (h ^ v) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  h = (h ^ load_tail (p, n)) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  h *= 0x9E3779B97F4A7C15ull;
  return (guint32) (h >> 32);
}

static inline gboolean
keys_equal (const guint8 * a, const guint8 * b, gsize n)
{
  guint64 x, y;

  while (n >= 8) {
    memcpy (&x, a, 8);
    memcpy (&y, b, 8);
    if (x != y)
      return FALSE;
    a += 8;
    b += 8;
    n -= 8;
  }
  return load_tail (a, n) == load_tail (b, n);
}

static void
vocab_table_init (VocabTable * t, guint32 n)
{
  guint32 cap = 16;

  while (cap < n * 2 + 2)
    cap <<= 1;
  t->slots = g_new0 (VocabSlot, cap);
  t->mask = cap - 1;
  t->entries = g_new (VocabEntry, n ? n : 1);
  t->n_entries = 0;
  t->max_len = 0;
}

static void
vocab_table_clear (VocabTable * t)
{
  g_free (t->slots);
  g_free (t->entries);
  memset (t, 0, sizeof (*t));
}

static inline gint32
vocab_table_lookup (const VocabTable * t, const char *pool, const guint8 * key, gsize len)
{
  guint32 h, i;

  if (len > t->max_len)
    return -1;
  h = hash_bytes (key, len);
  i = h & t->mask;
  for (;;) {
    const VocabSlot *s = &t->slots[i];
    const VocabEntry *e;
    if (!s->entry)
      return -1;
    e = &t->entries[s->entry - 1];
    if (s->hash == h && e->len == len && keys_equal ((const guint8 *) pool + e->off, key, len))
      return e->id;
    i = (i + 1) & t->mask;
  }
}

/* Insert (keys are unique by construction). */
static void
vocab_table_insert (VocabTable * t, const char *pool, guint32 off, guint32 len, gint32 id)
{
  guint32 h = hash_bytes ((const guint8 *) pool + off, len), i = h & t->mask;

  while (t->slots[i].entry)
    i = (i + 1) & t->mask;
  t->entries[t->n_entries].off = off;
  t->entries[t->n_entries].len = len;
  t->entries[t->n_entries].id = id;
  t->n_entries++;
  t->slots[i].hash = h;
  t->slots[i].entry = t->n_entries;
  if (len > t->max_len)
    t->max_len = len;
}

/* ======================================================================================
 * The tokenizer
 * ====================================================================================== */

typedef enum
{
  OP_CLEAN,                     /* BertNormalizer clean_text */
  OP_CHINESE,                   /* BertNormalizer handle_chinese_chars */
  OP_NFD,                       /* NFD (BertNormalizer strip_accents, or NFD normalizer) */
  OP_STRIP_MN,                  /* drop Mn (BertNormalizer strip_accents, after OP_NFD) */
  OP_STRIP_MARKS,               /* drop M* (StripAccents normalizer) */
  OP_LOWER,                     /* char-wise Rust to_lowercase */
} NormOp;

static const char *const norm_op_names[] = {
  "clean_text", "handle_chinese_chars", "nfd", "strip_mn", "strip_marks", "lowercase"
};

typedef struct
{
  char *content;
  gsize len;
  gint32 id;
  gboolean single_word, lstrip, rstrip, normalized, special;
  gunichar *pattern;            /* normalized tokens: normalized content as code points */
  guint pattern_len;
} AddedTok;

typedef struct
{
  gboolean is_sequence;
  guint32 type_id;
  gint32 *ids;                  /* special token ids (SpecialToken pieces) */
  guint n_ids;
} PostPiece;

struct _TeTokenizer
{
  NormOp *ops;
  guint n_ops;
  gint16 ascii_map[128];        /* the whole normaliser applied to one ASCII char; -1: removed */
  gboolean bert_pretok;

  /* WordPiece */
  char *pool;                   /* all vocab keys, concatenated */
  VocabTable vocab;             /* full keys */
  VocabTable cont;              /* keys that start with the prefix, prefix stripped */
  gboolean cont_is_vocab;       /* empty prefix: cont == vocab */
  guint32 n_vocab;              /* number of vocab entries (HF get_vocab_size) */
  char *unk_token;
  gint32 unk_id;                /* -1 when the unk token is not in the vocab */
  char *prefix;
  guint64 max_chars;

  /* id -> token */
  char **id_to_tok;             /* borrowed pointers into pool / added contents */
  guint n_ids;

  /* added tokens, in HF order (by id) */
  AddedTok *added;
  guint n_added;
  /* raw (normalized=false) matcher: indices into added, grouped by first byte, longest first */
  guint *raw_idx;
  guint raw_first[257];
  /* normalized=true matcher: indices into added, longest pattern first */
  guint *norm_idx;
  guint n_norm;

  /* post-processor as a single-sequence template */
  PostPiece *post;
  guint n_post;
  gboolean post_simple;         /* exactly one Sequence piece */
  guint post_seq_index;
  guint n_special;

  gint32 pad_id;
  char fingerprint[65];
};

/* The "type" of a component object, required. */
static const char *
get_type (JsonObject * o, const char *what, GError ** error)
{
  const char *type;

  return te_json_get_string (o, what, "type", TRUE, &type, error) ? type : NULL;
}

/* ---------- normalizer ---------- */

#define NORMALIZERS_SUPPORTED "BertNormalizer, Lowercase, NFD, StripAccents, or a Sequence of these"

static void
push_op (GArray * ops, NormOp op)
{
  g_array_append_val (ops, op);
}

static gboolean
parse_normalizer (JsonObject * o, GArray * ops, guint depth, GError ** error)
{
  const char *type = get_type (o, "normalizer", error);

  if (!type)
    return FALSE;
  if (strcmp (type, "BertNormalizer") == 0) {
    const char *what = "normalizer BertNormalizer";
    gboolean clean, chinese, lower, strip;
    /* strip_accents: null means "follow lowercase" (HF: strip_accents.unwrap_or(lowercase)) */
    if (!te_json_get_bool (o, what, "clean_text", TRUE, FALSE, &clean, error)
        || !te_json_get_bool (o, what, "handle_chinese_chars", TRUE, FALSE, &chinese, error)
        || !te_json_get_bool (o, what, "lowercase", TRUE, FALSE, &lower, error)
        || !te_json_get_bool (o, what, "strip_accents", FALSE, lower, &strip, error))
      return FALSE;
    if (clean)
      push_op (ops, OP_CLEAN);
    if (chinese)
      push_op (ops, OP_CHINESE);
    if (strip) {
      push_op (ops, OP_NFD);
      push_op (ops, OP_STRIP_MN);
    }
    if (lower)
      push_op (ops, OP_LOWER);
    return TRUE;
  }
  if (strcmp (type, "Lowercase") == 0) {
    push_op (ops, OP_LOWER);
    return TRUE;
  }
  if (strcmp (type, "NFD") == 0) {
    push_op (ops, OP_NFD);
    return TRUE;
  }
  if (strcmp (type, "StripAccents") == 0) {
    push_op (ops, OP_STRIP_MARKS);
    return TRUE;
  }
  if (strcmp (type, "Sequence") == 0 && depth < 8) {
    JsonNode *n = json_object_get_member (o, "normalizers");
    JsonArray *a;
    guint i;
    if (!n || !JSON_NODE_HOLDS_ARRAY (n)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
          "normalizer Sequence: field \"normalizers\" must be an array");
      return FALSE;
    }
    a = json_node_get_array (n);
    for (i = 0; i < json_array_get_length (a); i++) {
      JsonNode *e = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_OBJECT (e)) {
        g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
            "normalizer Sequence: element %u is not an object", i);
        return FALSE;
      }
      if (!parse_normalizer (json_node_get_object (e), ops, depth + 1, error))
        return FALSE;
    }
    return TRUE;
  }
  g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
      "normalizer type \"%s\" is not supported (supported: " NORMALIZERS_SUPPORTED ")", type);
  return FALSE;
}

/* ---------- model ---------- */

/* Ids index a table: refuse absurd ones rather than allocating gigabytes. */
#define TE_MAX_TOKEN_ID ((1u << 24) - 1)

typedef struct
{
  TeTokenizer *tok;
  GString *pool;
  GArray *offs;                 /* (off, len, id) triples as guint32 */
  gboolean bad;
  char *bad_key;
} VocabCollect;

static void
collect_vocab (JsonObject * o, const gchar * key, JsonNode * node, gpointer user)
{
  VocabCollect *vc = user;
  guint64 id;
  guint32 t[3];

  if (vc->bad)
    return;
  if (!te_json_node_uint (node, TE_MAX_TOKEN_ID, &id)) {
    vc->bad = TRUE;
    vc->bad_key = g_strdup (key);
    return;
  }
  t[0] = (guint32) vc->pool->len;
  t[1] = (guint32) strlen (key);
  t[2] = (guint32) id;
  g_string_append_len (vc->pool, key, t[1]);
  g_string_append_c (vc->pool, '\0');  /* so id_to_token can hand out C strings */
  g_array_append_vals (vc->offs, t, 3);
}

static gboolean
parse_model (TeTokenizer * tok, JsonObject * o, GError ** error)
{
  const char *type = get_type (o, "model", error);
  const char *unk, *prefix;
  JsonObject *vocab;
  VocabCollect vc = { 0 };
  gint64 max_chars;
  guint i, n, plen;

  if (!type)
    return FALSE;
  if (strcmp (type, "WordPiece") != 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "model type \"%s\" is not supported (supported: WordPiece)", type);
    return FALSE;
  }
  if (!te_json_get_string (o, "model WordPiece", "unk_token", TRUE, &unk, error)
      || !te_json_get_string (o, "model WordPiece", "continuing_subword_prefix", TRUE, &prefix,
          error)
      || !te_json_get_int (o, "model WordPiece", "max_input_chars_per_word", TRUE, 0, 0,
          G_MAXINT64, &max_chars, error)
      || !te_json_get_object (o, "model WordPiece", "vocab", TRUE, &vocab, error))
    return FALSE;

  tok->unk_token = g_strdup (unk);
  tok->prefix = g_strdup (prefix);
  tok->max_chars = (guint64) max_chars;

  vc.tok = tok;
  vc.pool = g_string_sized_new (json_object_get_size (vocab) * 8 + 16);
  vc.offs = g_array_new (FALSE, FALSE, sizeof (guint32));
  json_object_foreach_member (vocab, collect_vocab, &vc);
  if (vc.bad) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "model WordPiece: vocab entry \"%s\" has no valid id (an integer 0..%u)",
        vc.bad_key, TE_MAX_TOKEN_ID);
    g_free (vc.bad_key);
    g_string_free (vc.pool, TRUE);
    g_array_free (vc.offs, TRUE);
    return FALSE;
  }
  n = vc.offs->len / 3;
  tok->n_vocab = n;
  tok->pool = g_string_free (vc.pool, FALSE);
  plen = (guint) strlen (prefix);
  vocab_table_init (&tok->vocab, n);
  for (i = 0; i < n; i++) {
    guint32 *t = &g_array_index (vc.offs, guint32, 3 * i);
    vocab_table_insert (&tok->vocab, tok->pool, t[0], t[1], (gint32) t[2]);
  }
  if (plen == 0) {
    tok->cont_is_vocab = TRUE;
  } else {
    guint nc = 0;
    for (i = 0; i < n; i++) {
      guint32 *t = &g_array_index (vc.offs, guint32, 3 * i);
      if (t[1] >= plen && memcmp (tok->pool + t[0], prefix, plen) == 0)
        nc++;
    }
    vocab_table_init (&tok->cont, nc);
    for (i = 0; i < n; i++) {
      guint32 *t = &g_array_index (vc.offs, guint32, 3 * i);
      if (t[1] >= plen && memcmp (tok->pool + t[0], prefix, plen) == 0)
        vocab_table_insert (&tok->cont, tok->pool, t[0] + plen, t[1] - plen, (gint32) t[2]);
    }
  }
  g_array_free (vc.offs, TRUE);
  tok->unk_id = vocab_table_lookup (&tok->vocab, tok->pool, (const guint8 *) unk, strlen (unk));
  return TRUE;
}

/* ---------- post-processor ---------- */

static gboolean
parse_post (TeTokenizer * tok, JsonObject * o, GError ** error)
{
  const char *type = get_type (o, "post_processor", error);
  GArray *pieces;
  PostPiece p;
  guint i;

  if (!type)
    return FALSE;
  pieces = g_array_new (FALSE, TRUE, sizeof (PostPiece));
  if (strcmp (type, "BertProcessing") == 0) {
    /* {"sep": ["[SEP]", 102], "cls": ["[CLS]", 101]} == template "[CLS]:0 $A:0 [SEP]:0" */
    const char *names[2] = { "cls", "sep" };
    gint32 ids[2];
    for (i = 0; i < 2; i++) {
      JsonNode *n = json_object_get_member (o, names[i]);
      JsonArray *a;
      guint64 id;
      if (!n || !JSON_NODE_HOLDS_ARRAY (n) || json_array_get_length (a =
              json_node_get_array (n)) != 2
          || !te_json_node_uint (json_array_get_element (a, 1), G_MAXINT32, &id)) {
        g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
            "post_processor BertProcessing: field \"%s\" must be [token, id]", names[i]);
        g_array_free (pieces, TRUE);
        return FALSE;
      }
      ids[i] = (gint32) id;
    }
    memset (&p, 0, sizeof (p));
    p.n_ids = 1;
    p.ids = g_new (gint32, 1);
    p.ids[0] = ids[0];
    g_array_append_val (pieces, p);
    memset (&p, 0, sizeof (p));
    p.is_sequence = TRUE;
    g_array_append_val (pieces, p);
    memset (&p, 0, sizeof (p));
    p.n_ids = 1;
    p.ids = g_new (gint32, 1);
    p.ids[0] = ids[1];
    g_array_append_val (pieces, p);
  } else if (strcmp (type, "TemplateProcessing") == 0) {
    JsonNode *sn = json_object_get_member (o, "single");
    JsonObject *specials;
    JsonArray *single;
    if (!te_json_get_object (o, "post_processor TemplateProcessing", "special_tokens", FALSE,
            &specials, error)) {
      g_array_free (pieces, TRUE);
      return FALSE;
    }
    if (!sn || !JSON_NODE_HOLDS_ARRAY (sn)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
          "post_processor TemplateProcessing: field \"single\" must be an array of pieces");
      g_array_free (pieces, TRUE);
      return FALSE;
    }
    single = json_node_get_array (sn);
    for (i = 0; i < json_array_get_length (single); i++) {
      JsonNode *e = json_array_get_element (single, i);
      JsonObject *eo, *body;
      gint64 type_id;
      memset (&p, 0, sizeof (p));
      if (!JSON_NODE_HOLDS_OBJECT (e) || json_object_get_size (eo =
              json_node_get_object (e)) != 1)
        goto bad_piece;
      if (te_json_get_object (eo, "", "Sequence", FALSE, &body, NULL) && body) {
        const char *sid = te_json_string (body, "id");
        if (!sid || !te_json_get_int (body, "", "type_id", TRUE, 0, 0, G_MAXUINT32, &type_id,
                NULL))
          goto bad_piece;
        if (strcmp (sid, "A") != 0) {
          g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
              "post_processor TemplateProcessing: the single template uses sequence \"%s\""
              " (only A exists for a single sequence)", sid);
          goto fail;
        }
        p.is_sequence = TRUE;
        p.type_id = (guint32) type_id;
      } else if (te_json_get_object (eo, "", "SpecialToken", FALSE, &body, NULL) && body) {
        const char *sid = te_json_string (body, "id");
        JsonObject *sp;
        JsonNode *idsn;
        JsonArray *ids;
        guint k;
        if (!sid || !te_json_get_int (body, "", "type_id", TRUE, 0, 0, G_MAXUINT32, &type_id,
                NULL))
          goto bad_piece;
        p.type_id = (guint32) type_id;
        sp = NULL;
        if (specials)
          te_json_get_object (specials, "", sid, FALSE, &sp, NULL);
        if (!sp) {
          g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
              "post_processor TemplateProcessing: special token \"%s\" is used by the template"
              " but missing from \"special_tokens\"", sid);
          goto fail;
        }
        idsn = json_object_get_member (sp, "ids");
        if (!idsn || !JSON_NODE_HOLDS_ARRAY (idsn)) {
          g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
              "post_processor TemplateProcessing: special token \"%s\" has no \"ids\" array",
              sid);
          goto fail;
        }
        ids = json_node_get_array (idsn);
        p.n_ids = json_array_get_length (ids);
        p.ids = g_new (gint32, p.n_ids ? p.n_ids : 1);
        for (k = 0; k < p.n_ids; k++) {
          guint64 id;
          if (!te_json_node_uint (json_array_get_element (ids, k), G_MAXINT32, &id)) {
            g_free (p.ids);
            g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
                "post_processor TemplateProcessing: special token \"%s\" has an invalid id",
                sid);
            goto fail;
          }
          p.ids[k] = (gint32) id;
        }
      } else {
        goto bad_piece;
      }
      g_array_append_val (pieces, p);
    }
  } else {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "post_processor type \"%s\" is not supported (supported: TemplateProcessing, "
        "BertProcessing)", type);
    g_array_free (pieces, TRUE);
    return FALSE;
  }

  tok->n_post = pieces->len;
  tok->post = (PostPiece *) g_array_free (pieces, FALSE);
  {
    guint n_seq = 0;
    tok->n_special = 0;
    for (i = 0; i < tok->n_post; i++) {
      if (tok->post[i].is_sequence) {
        n_seq++;
        tok->post_seq_index = i;
      } else {
        tok->n_special += tok->post[i].n_ids;
      }
    }
    tok->post_simple = n_seq == 1;
  }
  return TRUE;

bad_piece:
  g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
      "post_processor TemplateProcessing: piece %u of \"single\" must be "
      "{\"Sequence\": {\"id\", \"type_id\"}} or {\"SpecialToken\": {\"id\", \"type_id\"}}", i);
fail:
  for (i = 0; i < pieces->len; i++)
    g_free (g_array_index (pieces, PostPiece, i).ids);
  g_array_free (pieces, TRUE);
  return FALSE;
}

/* ---------- work buffers (per encode call; the tokenizer itself is immutable) ---------- */

/* A normalised code point and the byte range of the original text it comes from. */
typedef struct
{
  gunichar c;
  guint32 s, e;
} NChar;

typedef struct
{
  NChar *a, *b;                 /* ping-pong buffers for the normaliser stages */
  gsize cap_a, cap_b;
  guint8 *run_ccc;              /* NFD: combining classes of the pending run of marks */
  guint8 *run_first;            /* NFD: "first char of its decomposition" flags of the run */
  guint8 *run_fl;               /* NFD: the same flags, sorted */
  NChar *run_tmp;               /* NFD: sorted run + input alignments */
  gsize cap_run_ccc, cap_run_first, cap_run_fl, cap_run_tmp;
  guint8 *word;                 /* WordPiece: current word as UTF-8 */
  guint32 *wcb;                 /* WordPiece: byte offset of each char of the word */
  gsize cap_word, cap_wcb;
} Work;

static void
work_clear (Work * w)
{
  g_free (w->a);
  g_free (w->b);
  g_free (w->run_ccc);
  g_free (w->run_first);
  g_free (w->run_fl);
  g_free (w->run_tmp);
  g_free (w->word);
  g_free (w->wcb);
  memset (w, 0, sizeof (*w));
}

static inline void
grow (gpointer * p, gsize * cap, gsize need, gsize elem)
{
  if (need > *cap) {
    gsize c = MAX (need, *cap * 2);
    c = MAX (c, 64);
    *p = g_realloc_n (*p, c, elem);
    *cap = c;
  }
}

#define GROW(ptr, cap, need) grow ((gpointer *) &(ptr), &(cap), (need), sizeof (*(ptr)))

/* ---------- normaliser stages ----------
 * Each stage mirrors one NormalizedString operation of HF. HF tracks an alignment per
 * normalised byte; every stage here produces, for each output char, the original byte range
 * HF would assign to it:
 *   - map/filter (clean_text, strip, lowercase's first char): the char keeps its alignment;
 *   - inserted chars (change = +1: CJK padding, extra chars of a decomposition or of a
 *     multi-char lowercase) take the alignment of the last consumed input char;
 *   - NFD's canonical reordering permutes (char, change) pairs, and HF then hands out
 *     alignments positionally (see op_nfd). */

/* clean_text: filter + whitespace map, in place. */
static gsize
op_clean (NChar * a, gsize n)
{
  gsize i, o = 0;

  for (i = 0; i < n; i++) {
    gunichar c = a[i].c;
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
        continue;
      if (c < 0x20)
        c = ' ';
    } else {
      if (is_clean_removed (c))
        continue;
      if (is_rust_ws (c))
        c = ' ';
    }
    a[o] = a[i];
    a[o].c = c;
    o++;
  }
  return o;
}

static gsize
op_strip (NChar * a, gsize n, guint flag)
{
  gsize i, o = 0;

  for (i = 0; i < n; i++) {
    gunichar c = a[i].c;
    if (c >= 0x300 && (u9_flags (c) & flag))
      continue;
    a[o++] = a[i];
  }
  return o;
}

static gsize
op_chinese (const NChar * a, gsize n, NChar * d)
{
  gsize i, o = 0;

  for (i = 0; i < n; i++) {
    if (te_unichar_is_cjk_ideograph (a[i].c)) {
      d[o] = a[i];
      d[o++].c = ' ';
      d[o++] = a[i];
      d[o] = a[i];
      d[o++].c = ' ';
    } else {
      d[o++] = a[i];
    }
  }
  return o;
}

static gsize
op_lower (const NChar * a, gsize n, NChar * d)
{
  gsize i, o = 0;

  for (i = 0; i < n; i++) {
    gunichar c = a[i].c;
    d[o] = a[i];
    if (c == 0x130) {
      /* Rust: 'İ'.to_lowercase() == "i\u{307}"; the second char is inserted (+1) and
       * shares the alignment of İ. */
      d[o++].c = 'i';
      d[o] = a[i];
      d[o++].c = 0x307;
    } else {
      d[o++].c = hf_lower1 (c);
    }
  }
  return o;
}

/* Finish an NFD run of non-starters w->b[rs .. rs+n): stable sort by combining class (as the
 * unicode-normalization-alignments crate does), then redo the alignments positionally like
 * HF's transform(): items that were the first char of a decomposition ("change 0") consume
 * the input alignments in input order; the others ("change +1") take the alignment of the
 * last consumed one (@prev when none was consumed yet in this run). Runs are almost always
 * already sorted, which costs one comparison per mark. */
static void
nfd_finish_run (Work * w, gsize rs, gsize n, const NChar * prev)
{
  NChar *d = w->b + rs, *tmp;
  const guint8 *ccc = w->run_ccc, *first = w->run_first;
  guint8 *fl;
  gsize i, j, count[257];

  for (i = 1; i < n; i++)
    if (ccc[i] < ccc[i - 1])
      break;
  if (i >= n)
    return;

  GROW (w->run_tmp, w->cap_run_tmp, 2 * n);
  GROW (w->run_fl, w->cap_run_fl, n);
  tmp = w->run_tmp;
  fl = w->run_fl;
  /* input alignments of the change-0 items, in input order, go to tmp[n ..) */
  for (i = 0, j = 0; i < n; i++)
    if (first[i])
      tmp[n + j++] = d[i];
  /* counting sort by class: stable, O(n + 256) even for pathological runs of marks */
  memset (count, 0, sizeof (count));
  for (i = 0; i < n; i++)
    count[ccc[i] + 1]++;
  for (i = 1; i < 257; i++)
    count[i] += count[i - 1];
  for (i = 0; i < n; i++) {
    gsize pos = count[ccc[i]]++;
    tmp[pos] = d[i];
    fl[pos] = first[i];
  }
  for (i = 0, j = 0; i < n; i++) {
    const NChar *al;
    if (fl[i])
      al = &tmp[n + j++];
    else if (j > 0)
      al = &tmp[n + j - 1];
    else
      al = prev;
    d[i].c = tmp[i].c;
    d[i].s = al ? al->s : 0;
    d[i].e = al ? al->e : 0;
  }
}

/* NFD from w->a[0..n) into w->b; returns the output length. */
static gsize
op_nfd (Work * w, gsize n)
{
  const NChar *a = w->a;
  gsize i, o = 0, rs = 0, rn = 0;
  NChar last0 = { 0, 0, 0 };    /* input char of the last "change 0" item emitted */
  NChar run_prev = { 0, 0, 0 };
  gboolean have_last0 = FALSE, run_have_prev = FALSE;

  GROW (w->b, w->cap_b, n + n / 4 + 64);
  for (i = 0; i < n; i++) {
    gunichar dec[8];
    guint k, nd;

    if (G_UNLIKELY (o + 8 > w->cap_b))
      GROW (w->b, w->cap_b, o + 8 + (n - i));
    if (a[i].c < 0xC0) {
      /* no decomposition and class 0: closes any pending run */
      if (rn) {
        nfd_finish_run (w, rs, rn, run_have_prev ? &run_prev : NULL);
        rn = 0;
      }
      w->b[o++] = a[i];
      last0 = a[i];
      have_last0 = TRUE;
      continue;
    }
    nd = hf_decompose (a[i].c, dec);
    for (k = 0; k < nd; k++) {
      guint8 cc = hf_ccc (dec[k]);
      if (cc == 0) {
        if (rn) {
          nfd_finish_run (w, rs, rn, run_have_prev ? &run_prev : NULL);
          rn = 0;
        }
      } else {
        if (rn == 0) {
          rs = o;
          run_prev = last0;
          run_have_prev = have_last0;
        }
        GROW (w->run_ccc, w->cap_run_ccc, rn + 1);
        GROW (w->run_first, w->cap_run_first, rn + 1);
        w->run_ccc[rn] = cc;
        w->run_first[rn] = k == 0;
        rn++;
      }
      w->b[o] = a[i];
      w->b[o].c = dec[k];
      o++;
      if (k == 0) {
        last0 = a[i];
        have_last0 = TRUE;
      }
    }
  }
  if (rn)
    nfd_finish_run (w, rs, rn, run_have_prev ? &run_prev : NULL);
  return o;
}

/* Run the normaliser over w->a[0..n); the result is in w->a, its length returned. */
static gsize
normalize (const TeTokenizer * tok, Work * w, gsize n)
{
  guint i;

  for (i = 0; i < tok->n_ops; i++) {
    NChar *t;
    gsize tc;
    switch (tok->ops[i]) {
      case OP_CLEAN:
        n = op_clean (w->a, n);
        continue;
      case OP_STRIP_MN:
        n = op_strip (w->a, n, U_MN);
        continue;
      case OP_STRIP_MARKS:
        n = op_strip (w->a, n, U_MK);
        continue;
      case OP_CHINESE:
        GROW (w->b, w->cap_b, 3 * n + 1);
        n = op_chinese (w->a, n, w->b);
        break;
      case OP_LOWER:
        GROW (w->b, w->cap_b, 2 * n + 1);
        n = op_lower (w->a, n, w->b);
        break;
      case OP_NFD:
        n = op_nfd (w, n);
        break;
    }
    t = w->a;
    w->a = w->b;
    w->b = t;
    tc = w->cap_a;
    w->cap_a = w->cap_b;
    w->cap_b = tc;
  }
  return n;
}

/* Precompose the normaliser for ASCII input (see encode_range()). */
static void
build_ascii_map (TeTokenizer * tok)
{
  Work w = { 0 };
  guint c;

  GROW (w.a, w.cap_a, 1);
  for (c = 0; c < 128; c++) {
    gsize n;
    w.a[0].c = c;
    w.a[0].s = 0;
    w.a[0].e = 1;
    n = normalize (tok, &w, 1);
    /* ASCII stays ASCII and 1:1 (or is removed) under every supported stage */
    g_assert (n <= 1 && (n == 0 || w.a[0].c < 128));
    tok->ascii_map[c] = n ? (gint16) w.a[0].c : -1;
  }
  work_clear (&w);
}

/* ---------- encoding output ---------- */

void
te_encoding_init (TeEncoding * enc)
{
  memset (enc, 0, sizeof (*enc));
}

void
te_encoding_clear (TeEncoding * enc)
{
  g_free (enc->ids);
  g_free (enc->type_ids);
  g_free (enc->starts);
  g_free (enc->ends);
  g_free (enc->special);
  memset (enc, 0, sizeof (*enc));
}

static void
enc_reserve (TeEncoding * enc, guint need)
{
  guint c;

  if (need <= enc->capacity)
    return;
  c = MAX (need, enc->capacity * 2);
  c = MAX (c, 64);
  enc->ids = g_renew (gint32, enc->ids, c);
  enc->type_ids = g_renew (gint32, enc->type_ids, c);
  enc->starts = g_renew (guint32, enc->starts, c);
  enc->ends = g_renew (guint32, enc->ends, c);
  enc->special = g_renew (guint8, enc->special, c);
  enc->capacity = c;
}

static inline void
enc_push (TeEncoding * enc, gint32 id, guint32 s, guint32 e)
{
  if (G_UNLIKELY (enc->n == enc->capacity))
    enc_reserve (enc, enc->n + 1);
  enc->ids[enc->n] = id;
  enc->type_ids[enc->n] = 0;
  enc->starts[enc->n] = s;
  enc->ends[enc->n] = e;
  enc->special[enc->n] = 0;
  enc->n++;
}

/* ---------- WordPiece ---------- */

/* One pre-tokenised word a[0..n) (n > 0). */
static gboolean
wordpiece_word (const TeTokenizer * tok, Work * w, const NChar * a, gsize n, TeEncoding * out,
    GError ** error)
{
  gsize i, nb = 0, si, ei;
  guint mark = out->n;
  guint8 *wb;
  guint32 *cb;

  if ((guint64) n > tok->max_chars)
    goto unk;

  GROW (w->word, w->cap_word, 4 * n);
  GROW (w->wcb, w->cap_wcb, n + 1);
  wb = w->word;
  cb = w->wcb;
  for (i = 0; i < n; i++) {
    cb[i] = (guint32) nb;
    nb += te_utf8_encode (a[i].c, wb + nb);
  }
  cb[n] = (guint32) nb;

  /* Greedy longest-match-first, exactly HF's loop; candidates longer than the longest key of
   * the table cannot match and are skipped without a lookup. */
  si = 0;
  while (si < n) {
    const VocabTable *t = (si == 0 || tok->cont_is_vocab) ? &tok->vocab : &tok->cont;
    gint32 id = -1;
    ei = n;
    while (ei > si && cb[ei] - cb[si] > t->max_len)
      ei--;
    for (; ei > si; ei--) {
      id = vocab_table_lookup (t, tok->pool, wb + cb[si], cb[ei] - cb[si]);
      if (id >= 0)
        break;
    }
    if (id < 0) {
      out->n = mark;
      goto unk;
    }
    enc_push (out, id, a[si].s, a[ei - 1].e);
    si = ei;
  }
  return TRUE;

unk:
  if (tok->unk_id < 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "WordPiece: unk_token \"%s\" is not in the vocabulary", tok->unk_token);
    return FALSE;
  }
  enc_push (out, tok->unk_id, a[0].s, a[n - 1].e);
  return TRUE;
}

/* Pre-tokenise a normalised piece and run WordPiece on each word. */
static gboolean
pretok_and_model (const TeTokenizer * tok, Work * w, const NChar * a, gsize n,
    TeEncoding * out, GError ** error)
{
  gsize i, ws = 0;
  gboolean in_word = FALSE;

  if (n == 0)
    return TRUE;
  if (!tok->bert_pretok)
    return wordpiece_word (tok, w, a, n, out, error);

  /* BertPreTokenizer: split on whitespace (removed), then isolate each punctuation char */
  for (i = 0; i < n; i++) {
    gunichar c = a[i].c;
    gboolean ws_c, pu_c;
    if (c < 0x80) {
      ws_c = c == ' ' || (c >= 0x09 && c <= 0x0D);
      pu_c = !ws_c && is_ascii_punct (c);
    } else {
      ws_c = is_rust_ws (c);
      pu_c = !ws_c && is_bert_punct (c);
    }
    if (ws_c || pu_c) {
      if (in_word && !wordpiece_word (tok, w, a + ws, i - ws, out, error))
        return FALSE;
      in_word = FALSE;
      if (pu_c && !wordpiece_word (tok, w, a + i, 1, out, error))
        return FALSE;
    } else if (!in_word) {
      in_word = TRUE;
      ws = i;
    }
  }
  if (in_word && !wordpiece_word (tok, w, a + ws, n - ws, out, error))
    return FALSE;
  return TRUE;
}

/* ---------- added tokens ---------- */

/* Does the normalised pattern of added token @t match a[pos ..]? */
static gboolean
nchar_match (const NChar * a, gsize n, gsize pos, const AddedTok * t)
{
  guint k;

  if (pos + t->pattern_len > n)
    return FALSE;
  for (k = 0; k < t->pattern_len; k++)
    if (a[pos + k].c != t->pattern[k])
      return FALSE;
  return TRUE;
}

/* Split the normalised piece a[0..n) on normalized=true added tokens; everything between
 * goes through pre-tokenisation and the model. */
static gboolean
split_normalized (const TeTokenizer * tok, Work * w, const NChar * a, gsize n,
    TeEncoding * out, GError ** error)
{
  gsize pos = 0, start_offset = 0;

  while (pos < n) {
    gsize i, start = 0, stop = 0;
    const AddedTok *t = NULL;
    /* leftmost-longest match at or after pos */
    for (i = pos; i < n && !t; i++) {
      guint k;
      for (k = 0; k < tok->n_norm; k++) {
        const AddedTok *c = &tok->added[tok->norm_idx[k]];
        if (c->pattern[0] == a[i].c && nchar_match (a, n, i, c)) {
          t = c;
          start = i;
          stop = i + c->pattern_len;
          break;
        }
      }
    }
    if (!t)
      break;
    pos = stop;
    if (t->single_word) {
      gboolean start_space = start == 0 || !is_regex_word (a[start - 1].c);
      gboolean stop_space = stop == n || !is_regex_word (a[stop].c);
      if (!start_space || !stop_space)
        continue;
    }
    if (t->lstrip) {
      gsize ns = start;
      while (ns > 0 && is_rust_ws (a[ns - 1].c))
        ns--;
      start = MAX (ns, start_offset);
    }
    if (t->rstrip)
      while (stop < n && is_rust_ws (a[stop].c))
        stop++;
    if (start_offset < start
        && !pretok_and_model (tok, w, a + start_offset, start - start_offset, out, error))
      return FALSE;
    enc_push (out, t->id, a[start].s, a[stop - 1].e);
    start_offset = stop;
  }
  if (start_offset < n)
    return pretok_and_model (tok, w, a + start_offset, n - start_offset, out, error);
  return TRUE;
}

static inline gboolean
is_all_ascii (const guint8 * s, gsize n)
{
  guint64 acc = 0, v;
  gsize i = 0;

  for (; i + 8 <= n; i += 8) {
    memcpy (&v, s + i, 8);
    acc |= v;
  }
  for (; i < n; i++)
    acc |= s[i];
  return (acc & 0x8080808080808080ull) == 0;
}

/* Normalise original bytes text[start..end) (absolute offsets) and tokenise them. */
static gboolean
encode_range (const TeTokenizer * tok, Work * w, const guint8 * text, gsize start, gsize end,
    TeEncoding * out, GError ** error)
{
  gsize i = start, n = 0;

  GROW (w->a, w->cap_a, end - start + 1);
  if (is_all_ascii (text + start, end - start)) {
    /* Every normaliser stage maps an ASCII char on its own (ASCII chars are starters that
     * never decompose), so the precomposed table gives exactly HF's result and alignment. */
    for (; i < end; i++) {
      gint16 m = tok->ascii_map[text[i]];
      if (m < 0)
        continue;
      w->a[n].c = (gunichar) m;
      w->a[n].s = (guint32) i;
      w->a[n].e = (guint32) (i + 1);
      n++;
    }
  } else {
    while (i < end) {
      gunichar c;
      guint l = te_utf8_decode (text + i, &c);
      w->a[n].c = c;
      w->a[n].s = (guint32) i;
      w->a[n].e = (guint32) (i + l);
      n++;
      i += l;
    }
    n = normalize (tok, w, n);
  }
  if (tok->n_norm)
    return split_normalized (tok, w, w->a, n, out, error);
  return pretok_and_model (tok, w, w->a, n, out, error);
}

#define CHUNK_BYTES 2048

/* A piece of original text between raw added tokens. With BertPreTokenizer (and no
 * normalized added tokens, whose patterns could span a cut), pieces are cut right after an
 * ASCII space/tab/CR/LF: every normaliser stage keeps such a char as whitespace (a starter
 * with no decomposition) and the pre-tokeniser splits on it, so a cut there cannot change
 * the result. Small chunks keep the work buffers small and let pure-ASCII stretches of a
 * mostly-ASCII text take the fast path in encode_range(). */
static gboolean
encode_piece (const TeTokenizer * tok, Work * w, const guint8 * text, gsize start, gsize end,
    TeEncoding * out, GError ** error)
{
  gboolean chunkable = tok->bert_pretok && tok->n_norm == 0;

  while (chunkable && end - start > 2 * CHUNK_BYTES) {
    gsize cut = start + CHUNK_BYTES, lim = end - 1;
    while (cut < lim && text[cut] != ' ' && text[cut] != '\n' && text[cut] != '\t'
        && text[cut] != '\r')
      cut++;
    if (cut >= lim)
      break;
    if (!encode_range (tok, w, text, start, cut + 1, out, error))
      return FALSE;
    start = cut + 1;
  }
  return encode_range (tok, w, text, start, end, out, error);
}

/* The code point of valid UTF-8 that ends right before @end. */
static gunichar
decode_prev (const guint8 * start, const guint8 * end)
{
  gunichar c;

  te_utf8_decode (te_utf8_prev (start, end), &c);
  return c;
}

/* Leftmost-longest raw added token starting at or after @pos; returns its index or -1. */
static gint
find_raw (const TeTokenizer * tok, const guint8 * text, gsize len, gsize pos, gsize * mstart)
{
  gsize i;

  for (i = pos; i < len; i++) {
    guint b = text[i], k;
    if (tok->raw_first[b] == tok->raw_first[b + 1])
      continue;
    for (k = tok->raw_first[b]; k < tok->raw_first[b + 1]; k++) {
      const AddedTok *t = &tok->added[tok->raw_idx[k]];
      if (t->len <= len - i && memcmp (text + i, t->content, t->len) == 0) {
        *mstart = i;
        return (gint) tok->raw_idx[k];
      }
    }
  }
  return -1;
}

/* The single sequence: raw added-token split → normaliser → pre-tokeniser → WordPiece. */
static gboolean
encode_sequence (const TeTokenizer * tok, const guint8 * text, gsize len, TeEncoding * out,
    GError ** error)
{
  Work w = { 0 };
  gsize pos = 0, start_offset = 0;
  gboolean ok = TRUE;

  while (tok->raw_idx && pos < len) {
    gsize start, stop;
    gint ti = find_raw (tok, text, len, pos, &start);
    const AddedTok *t;
    if (ti < 0)
      break;
    t = &tok->added[ti];
    stop = start + t->len;
    pos = stop;
    if (t->single_word) {
      gboolean start_space = start == 0 || !is_regex_word (decode_prev (text, text + start));
      gboolean stop_space = TRUE;
      if (stop < len) {
        gunichar c;
        te_utf8_decode (text + stop, &c);
        stop_space = !is_regex_word (c);
      }
      if (!start_space || !stop_space)
        continue;
    }
    if (t->lstrip) {
      gsize ns = start;
      while (ns > 0) {
        const guint8 *p = te_utf8_prev (text, text + ns);
        gunichar c;
        te_utf8_decode (p, &c);
        if (!is_rust_ws (c))
          break;
        ns = (gsize) (p - text);
      }
      start = MAX (ns, start_offset);
    }
    if (t->rstrip) {
      while (stop < len) {
        gunichar c;
        guint l = te_utf8_decode (text + stop, &c);
        if (!is_rust_ws (c))
          break;
        stop += l;
      }
    }
    if (start_offset < start
        && !(ok = encode_piece (tok, &w, text, start_offset, start, out, error)))
      goto done;
    enc_push (out, t->id, (guint32) start, (guint32) stop);
    start_offset = stop;
  }
  if (start_offset < len)
    ok = encode_piece (tok, &w, text, start_offset, len, out, error);
done:
  work_clear (&w);
  return ok;
}

gboolean
te_tokenizer_encode (const TeTokenizer * tok, const char *text, gsize len,
    gboolean add_special_tokens, TeEncoding * out, GError ** error)
{
  gsize bad = 0;
  guint prefix = 0, i, j, seq_start, seq_n;
  const PostPiece *seq_piece = NULL;

  g_return_val_if_fail (tok != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (text != NULL || len == 0, FALSE);

  out->n = 0;
  if (len > G_MAXUINT32) {
    g_set_error (error, TE_ERROR, TE_ERROR_TOO_LONG,
        "text of %" G_GSIZE_FORMAT " bytes is too long to tokenize (max 4 GiB)", len);
    return FALSE;
  }
  if (!te_utf8_validate ((const guint8 *) text, len, &bad)) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "invalid UTF-8 in text at byte offset %" G_GSIZE_FORMAT, bad);
    return FALSE;
  }

  if (tok->post_simple) {
    seq_piece = &tok->post[tok->post_seq_index];
    if (add_special_tokens)
      for (i = 0; i < tok->post_seq_index; i++)
        prefix += tok->post[i].n_ids;
  }
  enc_reserve (out, prefix + 16);
  out->n = prefix;
  seq_start = prefix;
  if (!encode_sequence (tok, (const guint8 *) text, len, out, error)) {
    out->n = 0;
    return FALSE;
  }
  seq_n = out->n - seq_start;

  if (tok->n_post == 0)
    return TRUE;

  if (tok->post_simple) {
    guint o = 0;
    for (i = 0; i < seq_n; i++)
      out->type_ids[seq_start + i] = (gint32) seq_piece->type_id;
    if (!add_special_tokens)
      return TRUE;
    for (i = 0; i < tok->post_seq_index; i++)
      for (j = 0; j < tok->post[i].n_ids; j++, o++) {
        out->ids[o] = tok->post[i].ids[j];
        out->type_ids[o] = (gint32) tok->post[i].type_id;
        out->starts[o] = out->ends[o] = 0;
        out->special[o] = 1;
      }
    for (i = tok->post_seq_index + 1; i < tok->n_post; i++)
      for (j = 0; j < tok->post[i].n_ids; j++) {
        enc_push (out, tok->post[i].ids[j], 0, 0);
        out->type_ids[out->n - 1] = (gint32) tok->post[i].type_id;
        out->special[out->n - 1] = 1;
      }
    return TRUE;
  }

  /* General template (no or several Sequence pieces): assemble from a copy of the sequence. */
  {
    TeEncoding seq = { 0 };
    enc_reserve (&seq, seq_n + 1);
    memcpy (seq.ids, out->ids + seq_start, seq_n * sizeof (gint32));
    memcpy (seq.starts, out->starts + seq_start, seq_n * sizeof (guint32));
    memcpy (seq.ends, out->ends + seq_start, seq_n * sizeof (guint32));
    out->n = 0;
    for (i = 0; i < tok->n_post; i++) {
      const PostPiece *p = &tok->post[i];
      if (p->is_sequence) {
        for (j = 0; j < seq_n; j++) {
          enc_push (out, seq.ids[j], seq.starts[j], seq.ends[j]);
          out->type_ids[out->n - 1] = (gint32) p->type_id;
        }
      } else if (add_special_tokens) {
        for (j = 0; j < p->n_ids; j++) {
          enc_push (out, p->ids[j], 0, 0);
          out->type_ids[out->n - 1] = (gint32) p->type_id;
          out->special[out->n - 1] = 1;
        }
      }
    }
    te_encoding_clear (&seq);
  }
  return TRUE;
}

/* ---------- loading ---------- */

static gint
cmp_raw_idx (gconstpointer pa, gconstpointer pb, gpointer user)
{
  const AddedTok *added = user;
  const AddedTok *a = &added[*(const guint *) pa], *b = &added[*(const guint *) pb];
  guint8 fa = (guint8) a->content[0], fb = (guint8) b->content[0];

  if (fa != fb)
    return fa < fb ? -1 : 1;
  if (a->len != b->len)
    return a->len > b->len ? -1 : 1;    /* longest first */
  return 0;
}

static gint
cmp_norm_idx (gconstpointer pa, gconstpointer pb, gpointer user)
{
  const AddedTok *added = user;
  const AddedTok *a = &added[*(const guint *) pa], *b = &added[*(const guint *) pb];

  if (a->pattern_len != b->pattern_len)
    return a->pattern_len > b->pattern_len ? -1 : 1;
  return 0;
}

static gint
cmp_added_id (gconstpointer pa, gconstpointer pb)
{
  const AddedTok *a = pa, *b = pb;
  return a->id < b->id ? -1 : a->id > b->id;
}

/* HF AddedVocabulary::add_tokens on the "added_tokens" array: the "id" field of the file is
 * ignored; a token gets its id from the vocab, else the next id after the vocab size. */
static gboolean
parse_added (TeTokenizer * tok, JsonArray * arr, GError ** error)
{
  GHashTable *by_content = g_hash_table_new (g_str_hash, g_str_equal);   /* -> index + 1 */
  GArray *toks = g_array_new (FALSE, TRUE, sizeof (AddedTok));
  guint32 next_id = tok->n_vocab;
  guint i, len = arr ? json_array_get_length (arr) : 0;
  gboolean ok = TRUE;

  for (i = 0; i < len; i++) {
    JsonNode *e = json_array_get_element (arr, i);
    JsonObject *o;
    const char *content;
    AddedTok t = { 0 };
    gpointer found;
    char what[64];

    g_snprintf (what, sizeof (what), "added_tokens[%u]", i);
    if (!JSON_NODE_HOLDS_OBJECT (e)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s is not an object", what);
      ok = FALSE;
      break;
    }
    o = json_node_get_object (e);
    if (!te_json_get_string (o, what, "content", TRUE, &content, error)
        || !te_json_get_bool (o, what, "single_word", TRUE, FALSE, &t.single_word, error)
        || !te_json_get_bool (o, what, "lstrip", TRUE, FALSE, &t.lstrip, error)
        || !te_json_get_bool (o, what, "rstrip", TRUE, FALSE, &t.rstrip, error)
        || !te_json_get_bool (o, what, "normalized", TRUE, FALSE, &t.normalized, error)
        || !te_json_get_bool (o, what, "special", TRUE, FALSE, &t.special, error)) {
      ok = FALSE;
      break;
    }
    if (!*content)
      continue;                 /* HF ignores empty tokens */
    found = g_hash_table_lookup (by_content, content);
    if (found) {
      /* same content again: HF keeps the id and takes the new properties */
      AddedTok *old = &g_array_index (toks, AddedTok, GPOINTER_TO_UINT (found) - 1);
      old->single_word = t.single_word;
      old->lstrip = t.lstrip;
      old->rstrip = t.rstrip;
      old->normalized = t.normalized;
      old->special = t.special;
      continue;
    }
    t.content = g_strdup (content);
    t.len = strlen (content);
    t.id = vocab_table_lookup (&tok->vocab, tok->pool, (const guint8 *) content, t.len);
    if (t.id < 0)
      t.id = (gint32) next_id++;
    g_array_append_val (toks, t);
    g_hash_table_insert (by_content, t.content, GUINT_TO_POINTER (toks->len));
  }
  g_hash_table_destroy (by_content);
  tok->n_added = toks->len;
  tok->added = (AddedTok *) g_array_free (toks, FALSE);
  if (!ok)
    return FALSE;
  if (tok->n_added > 1)
    qsort (tok->added, tok->n_added, sizeof (AddedTok), cmp_added_id);
  return TRUE;
}

/* Build the matchers once the normaliser is known (normalized tokens are matched by their
 * normalised form, as HF does). */
static void
build_added_matchers (TeTokenizer * tok)
{
  guint i, n_raw = 0;
  Work w = { 0 };

  for (i = 0; i < tok->n_added; i++) {
    AddedTok *t = &tok->added[i];
    if (!t->normalized) {
      n_raw++;
      continue;
    }
    {
      /* normalise the content with our own pipeline */
      gsize n = 0, p = 0, k;
      const guint8 *s = (const guint8 *) t->content;
      GROW (w.a, w.cap_a, t->len + 1);
      while (p < t->len) {
        gunichar c;
        guint l = te_utf8_decode (s + p, &c);
        w.a[n].c = c;
        w.a[n].s = (guint32) p;
        w.a[n].e = (guint32) (p + l);
        n++;
        p += l;
      }
      n = normalize (tok, &w, n);
      t->pattern = g_new (gunichar, n ? n : 1);
      for (k = 0; k < n; k++)
        t->pattern[k] = w.a[k].c;
      t->pattern_len = (guint) n;
      if (n)
        tok->n_norm++;
    }
  }
  work_clear (&w);

  if (n_raw) {
    guint k = 0;
    tok->raw_idx = g_new (guint, n_raw);
    for (i = 0; i < tok->n_added; i++)
      if (!tok->added[i].normalized)
        tok->raw_idx[k++] = i;
    g_qsort_with_data (tok->raw_idx, n_raw, sizeof (guint), cmp_raw_idx, tok->added);
    memset (tok->raw_first, 0, sizeof (tok->raw_first));
    for (k = 0; k < n_raw; k++)
      tok->raw_first[(guint8) tok->added[tok->raw_idx[k]].content[0] + 1]++;
    for (k = 1; k < 257; k++)
      tok->raw_first[k] += tok->raw_first[k - 1];
  }
  if (tok->n_norm) {
    guint k = 0;
    tok->norm_idx = g_new (guint, tok->n_norm);
    for (i = 0; i < tok->n_added; i++)
      if (tok->added[i].normalized && tok->added[i].pattern_len)
        tok->norm_idx[k++] = i;
    g_qsort_with_data (tok->norm_idx, tok->n_norm, sizeof (guint), cmp_norm_idx, tok->added);
  }
}

static void
build_id_table (TeTokenizer * tok)
{
  guint32 max = 0, i;
  gboolean any = FALSE;

  for (i = 0; i < tok->vocab.n_entries; i++) {
    max = MAX (max, (guint32) tok->vocab.entries[i].id);
    any = TRUE;
  }
  for (i = 0; i < tok->n_added; i++) {
    max = MAX (max, (guint32) tok->added[i].id);
    any = TRUE;
  }
  tok->n_ids = any ? max + 1 : 0;
  tok->id_to_tok = g_new0 (char *, tok->n_ids ? tok->n_ids : 1);
  for (i = 0; i < tok->vocab.n_entries; i++) {
    const VocabEntry *e = &tok->vocab.entries[i];
    tok->id_to_tok[e->id] = tok->pool + e->off;
  }
  for (i = 0; i < tok->n_added; i++)
    tok->id_to_tok[tok->added[i].id] = tok->added[i].content;
}

/* SHA-256 over a canonical, length-prefixed description of everything that decides ids. */
static void
compute_fingerprint (TeTokenizer * tok)
{
  GChecksum *cs = g_checksum_new (G_CHECKSUM_SHA256);
  GString *s = g_string_new ("te-tokenizer/1\n");
  guint i, j;

#define PUT_STR(str, n) g_string_append_printf (s, "%" G_GSIZE_FORMAT ":", (gsize) (n)), \
    g_string_append_len (s, (str), (n))

  g_string_append (s, "normalizer:");
  for (i = 0; i < tok->n_ops; i++)
    g_string_append_printf (s, "%s,", norm_op_names[tok->ops[i]]);
  g_string_append_printf (s, "\npre_tokenizer:%s\n", tok->bert_pretok ? "bert" : "none");
  g_string_append (s, "model:wordpiece unk=");
  PUT_STR (tok->unk_token, strlen (tok->unk_token));
  g_string_append (s, " prefix=");
  PUT_STR (tok->prefix, strlen (tok->prefix));
  g_string_append_printf (s, " max_chars=%" G_GUINT64_FORMAT " vocab=%u\n", tok->max_chars,
      tok->n_vocab);
  g_checksum_update (cs, (const guchar *) s->str, s->len);
  g_string_truncate (s, 0);
  /* vocab in id order (ids may repeat or have holes: hash every entry, sorted by id) */
  {
    guint32 *order = g_new (guint32, tok->vocab.n_entries ? tok->vocab.n_entries : 1);
    guint32 *count = g_new0 (guint32, tok->n_ids + 1);
    for (i = 0; i < tok->vocab.n_entries; i++)
      count[tok->vocab.entries[i].id + 1]++;
    for (i = 1; i <= tok->n_ids; i++)
      count[i] += count[i - 1];
    for (i = 0; i < tok->vocab.n_entries; i++)
      order[count[tok->vocab.entries[i].id]++] = i;
    for (i = 0; i < tok->vocab.n_entries; i++) {
      const VocabEntry *e = &tok->vocab.entries[order[i]];
      g_string_append_printf (s, "%d=", e->id);
      PUT_STR (tok->pool + e->off, e->len);
      g_string_append_c (s, '\n');
      if (s->len > 65536) {
        g_checksum_update (cs, (const guchar *) s->str, s->len);
        g_string_truncate (s, 0);
      }
    }
    g_free (order);
    g_free (count);
  }
  g_string_append_printf (s, "added:%u\n", tok->n_added);
  for (i = 0; i < tok->n_added; i++) {
    const AddedTok *t = &tok->added[i];
    g_string_append_printf (s, "%d=", t->id);
    PUT_STR (t->content, t->len);
    g_string_append_printf (s, " %d%d%d%d%d\n", t->single_word, t->lstrip, t->rstrip,
        t->normalized, t->special);
  }
  g_string_append_printf (s, "post:%u\n", tok->n_post);
  for (i = 0; i < tok->n_post; i++) {
    const PostPiece *p = &tok->post[i];
    if (p->is_sequence) {
      g_string_append_printf (s, "A:%u\n", p->type_id);
    } else {
      g_string_append_printf (s, "S:%u:", p->type_id);
      for (j = 0; j < p->n_ids; j++)
        g_string_append_printf (s, "%d,", p->ids[j]);
      g_string_append_c (s, '\n');
    }
  }
#undef PUT_STR
  g_checksum_update (cs, (const guchar *) s->str, s->len);
  g_strlcpy (tok->fingerprint, g_checksum_get_string (cs), sizeof (tok->fingerprint));
  g_string_free (s, TRUE);
  g_checksum_free (cs);
}

static TeTokenizer *
parse_tokenizer (const char *json, gsize len, GError ** error)
{
  JsonParser *parser = json_parser_new_immutable ();
  GError *err = NULL;
  JsonNode *root;
  JsonObject *o, *sub;
  JsonNode *n;
  TeTokenizer *tok = NULL;
  GArray *ops = NULL;

  if (len > G_MAXSSIZE || !te_json_nesting_ok (json, len, 64)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "invalid JSON: %s",
        len > G_MAXSSIZE ? "too large" : "nested more than 64 levels deep");
    goto out;
  }
  if (!json_parser_load_from_data (parser, json, (gssize) len, &err)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "invalid JSON: %s",
        err ? err->message : "unknown error");
    g_clear_error (&err);
    goto out;
  }
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "the top level is not a JSON object");
    goto out;
  }
  o = json_node_get_object (root);

  if ((n = json_object_get_member (o, "version")) && !JSON_NODE_HOLDS_NULL (n)) {
    const char *v;
    if (!te_json_get_string (o, "tokenizer", "version", TRUE, &v, error))
      goto out;
    if (strcmp (v, "1.0") != 0) {
      g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
          "tokenizer.json version \"%s\" is not supported (supported: 1.0)", v);
      goto out;
    }
  }

  tok = g_new0 (TeTokenizer, 1);
  tok->unk_id = -1;

  /* model first: added-token ids depend on the vocab */
  if (!te_json_get_object (o, "tokenizer", "model", TRUE, &sub, error)
      || !parse_model (tok, sub, error))
    goto fail;

  ops = g_array_new (FALSE, FALSE, sizeof (NormOp));
  if (!te_json_get_object (o, "tokenizer", "normalizer", FALSE, &sub, error))
    goto fail;
  if (sub && !parse_normalizer (sub, ops, 0, error))
    goto fail;
  tok->n_ops = ops->len;
  tok->ops = (NormOp *) g_array_free (ops, FALSE);
  ops = NULL;
  build_ascii_map (tok);

  if (!te_json_get_object (o, "tokenizer", "pre_tokenizer", FALSE, &sub, error))
    goto fail;
  if (sub) {
    const char *type = get_type (sub, "pre_tokenizer", error);
    if (!type)
      goto fail;
    if (strcmp (type, "BertPreTokenizer") != 0) {
      g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
          "pre_tokenizer type \"%s\" is not supported (supported: BertPreTokenizer)", type);
      goto fail;
    }
    tok->bert_pretok = TRUE;
  }

  if (!te_json_get_object (o, "tokenizer", "post_processor", FALSE, &sub, error))
    goto fail;
  if (sub && !parse_post (tok, sub, error))
    goto fail;

  n = json_object_get_member (o, "added_tokens");
  if (n && !JSON_NODE_HOLDS_NULL (n) && !JSON_NODE_HOLDS_ARRAY (n)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "\"added_tokens\" must be an array");
    goto fail;
  }
  if (!parse_added (tok, n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL,
          error))
    goto fail;
  build_added_matchers (tok);
  build_id_table (tok);

  {
    gint32 pad = -1;
    guint i;
    for (i = 0; i < tok->n_added; i++)
      if (strcmp (tok->added[i].content, "[PAD]") == 0)
        pad = tok->added[i].id;
    if (pad < 0)
      pad = vocab_table_lookup (&tok->vocab, tok->pool, (const guint8 *) "[PAD]", 5);
    tok->pad_id = pad < 0 ? 0 : pad;
  }
  compute_fingerprint (tok);
  goto out;

fail:
  if (ops)
    g_array_free (ops, TRUE);
  te_tokenizer_free (tok);
  tok = NULL;
out:
  g_object_unref (parser);
  return tok;
}

TeTokenizer *
te_tokenizer_new_from_data (const char *json, gsize len, GError ** error)
{
  TeTokenizer *tok;
  GError *err = NULL;

  g_return_val_if_fail (json != NULL, NULL);
  tok = parse_tokenizer (json, len, &err);
  if (!tok) {
    g_prefix_error (&err, "tokenizer.json: ");
    g_propagate_error (error, err);
  }
  return tok;
}

TeTokenizer *
te_tokenizer_new_from_file (const char *path, GError ** error)
{
  gchar *data = NULL;
  gsize len = 0;
  GError *err = NULL;
  TeTokenizer *tok;

  g_return_val_if_fail (path != NULL, NULL);
  if (!g_file_get_contents (path, &data, &len, &err)) {
    g_set_error (error, TE_ERROR, TE_ERROR_IO, "cannot read tokenizer %s: %s", path,
        err->message);
    g_error_free (err);
    return NULL;
  }
  tok = parse_tokenizer (data, len, &err);
  g_free (data);
  if (!tok) {
    g_prefix_error (&err, "%s: ", path);
    g_propagate_error (error, err);
  }
  return tok;
}

void
te_tokenizer_free (TeTokenizer * tok)
{
  guint i;

  if (!tok)
    return;
  g_free (tok->ops);
  g_free (tok->pool);
  vocab_table_clear (&tok->vocab);
  if (!tok->cont_is_vocab)
    vocab_table_clear (&tok->cont);
  g_free (tok->unk_token);
  g_free (tok->prefix);
  g_free (tok->id_to_tok);
  for (i = 0; i < tok->n_added; i++) {
    g_free (tok->added[i].content);
    g_free (tok->added[i].pattern);
  }
  g_free (tok->added);
  g_free (tok->raw_idx);
  g_free (tok->norm_idx);
  for (i = 0; i < tok->n_post; i++)
    g_free (tok->post[i].ids);
  g_free (tok->post);
  g_free (tok);
}

guint
te_tokenizer_num_special_tokens (const TeTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->n_special;
}

guint
te_tokenizer_vocab_size (const TeTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->n_ids;
}

gint32
te_tokenizer_pad_id (const TeTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, 0);
  return tok->pad_id;
}

const char *
te_tokenizer_id_to_token (const TeTokenizer * tok, gint32 id)
{
  g_return_val_if_fail (tok != NULL, NULL);
  if (id < 0 || (guint32) id >= tok->n_ids)
    return NULL;
  return tok->id_to_tok[id];
}

gint32
te_tokenizer_token_to_id (const TeTokenizer * tok, const char *token)
{
  guint i;

  g_return_val_if_fail (tok != NULL, -1);
  g_return_val_if_fail (token != NULL, -1);
  for (i = 0; i < tok->n_added; i++)
    if (strcmp (tok->added[i].content, token) == 0)
      return tok->added[i].id;
  return vocab_table_lookup (&tok->vocab, tok->pool, (const guint8 *) token, strlen (token));
}

const char *
te_tokenizer_fingerprint (const TeTokenizer * tok)
{
  g_return_val_if_fail (tok != NULL, NULL);
  return tok->fingerprint;
}

/* ======================================================================================
 * Unicode 9.0 property ranges for code points >= U+0080, as HF's crates have them
 * (MN = Mn, MK = any mark, PU = punctuation, CF = format). Generated by probing every code
 * point through tokenizers 0.23.3 (BertNormalizer strip_accents / StripAccents /
 * BertPreTokenizer / clean_text) and verified against the Unicode 9.0 categories.
 * ====================================================================================== */

#define MN U_MN
#define MK U_MK
#define PU U_PU
#define CF U_CF
static const TeURange te_u9_ranges[] = {
  {0x00A1,0x00A1,PU}, {0x00A7,0x00A7,PU}, {0x00AB,0x00AB,PU}, {0x00AD,0x00AD,CF},
  {0x00B6,0x00B7,PU}, {0x00BB,0x00BB,PU}, {0x00BF,0x00BF,PU}, {0x0300,0x036F,MN|MK},
  {0x037E,0x037E,PU}, {0x0387,0x0387,PU}, {0x0483,0x0487,MN|MK}, {0x0488,0x0489,MK},
  {0x055A,0x055F,PU}, {0x0589,0x058A,PU}, {0x0591,0x05BD,MN|MK}, {0x05BE,0x05BE,PU},
  {0x05BF,0x05BF,MN|MK}, {0x05C0,0x05C0,PU}, {0x05C1,0x05C2,MN|MK}, {0x05C3,0x05C3,PU},
  {0x05C4,0x05C5,MN|MK}, {0x05C6,0x05C6,PU}, {0x05C7,0x05C7,MN|MK}, {0x05F3,0x05F4,PU},
  {0x0600,0x0605,CF}, {0x0609,0x060A,PU}, {0x060C,0x060D,PU}, {0x0610,0x061A,MN|MK},
  {0x061B,0x061B,PU}, {0x061C,0x061C,CF}, {0x061E,0x061F,PU}, {0x064B,0x065F,MN|MK},
  {0x066A,0x066D,PU}, {0x0670,0x0670,MN|MK}, {0x06D4,0x06D4,PU}, {0x06D6,0x06DC,MN|MK},
  {0x06DD,0x06DD,CF}, {0x06DF,0x06E4,MN|MK}, {0x06E7,0x06E8,MN|MK}, {0x06EA,0x06ED,MN|MK},
  {0x0700,0x070D,PU}, {0x070F,0x070F,CF}, {0x0711,0x0711,MN|MK}, {0x0730,0x074A,MN|MK},
  {0x07A6,0x07B0,MN|MK}, {0x07EB,0x07F3,MN|MK}, {0x07F7,0x07F9,PU}, {0x0816,0x0819,MN|MK},
  {0x081B,0x0823,MN|MK}, {0x0825,0x0827,MN|MK}, {0x0829,0x082D,MN|MK}, {0x0830,0x083E,PU},
  {0x0859,0x085B,MN|MK}, {0x085E,0x085E,PU}, {0x08D4,0x08E1,MK}, {0x08E3,0x0902,MN|MK},
  {0x0903,0x0903,MK}, {0x093A,0x093A,MN|MK}, {0x093B,0x093B,MK}, {0x093C,0x093C,MN|MK},
  {0x093E,0x0940,MK}, {0x0941,0x0948,MN|MK}, {0x0949,0x094C,MK}, {0x094D,0x094D,MN|MK},
  {0x094E,0x094F,MK}, {0x0951,0x0957,MN|MK}, {0x0962,0x0963,MN|MK}, {0x0964,0x0965,PU},
  {0x0970,0x0970,PU}, {0x0981,0x0981,MN|MK}, {0x0982,0x0983,MK}, {0x09BC,0x09BC,MN|MK},
  {0x09BE,0x09C0,MK}, {0x09C1,0x09C4,MN|MK}, {0x09C7,0x09C8,MK}, {0x09CB,0x09CC,MK},
  {0x09CD,0x09CD,MN|MK}, {0x09D7,0x09D7,MK}, {0x09E2,0x09E3,MN|MK}, {0x0A01,0x0A02,MN|MK},
  {0x0A03,0x0A03,MK}, {0x0A3C,0x0A3C,MN|MK}, {0x0A3E,0x0A40,MK}, {0x0A41,0x0A42,MN|MK},
  {0x0A47,0x0A48,MN|MK}, {0x0A4B,0x0A4D,MN|MK}, {0x0A51,0x0A51,MN|MK}, {0x0A70,0x0A71,MN|MK},
  {0x0A75,0x0A75,MN|MK}, {0x0A81,0x0A82,MN|MK}, {0x0A83,0x0A83,MK}, {0x0ABC,0x0ABC,MN|MK},
  {0x0ABE,0x0AC0,MK}, {0x0AC1,0x0AC5,MN|MK}, {0x0AC7,0x0AC8,MN|MK}, {0x0AC9,0x0AC9,MK},
  {0x0ACB,0x0ACC,MK}, {0x0ACD,0x0ACD,MN|MK}, {0x0AE2,0x0AE3,MN|MK}, {0x0AF0,0x0AF0,PU},
  {0x0B01,0x0B01,MN|MK}, {0x0B02,0x0B03,MK}, {0x0B3C,0x0B3C,MN|MK}, {0x0B3E,0x0B3E,MK},
  {0x0B3F,0x0B3F,MN|MK}, {0x0B40,0x0B40,MK}, {0x0B41,0x0B44,MN|MK}, {0x0B47,0x0B48,MK},
  {0x0B4B,0x0B4C,MK}, {0x0B4D,0x0B4D,MN|MK}, {0x0B56,0x0B56,MN|MK}, {0x0B57,0x0B57,MK},
  {0x0B62,0x0B63,MN|MK}, {0x0B82,0x0B82,MN|MK}, {0x0BBE,0x0BBF,MK}, {0x0BC0,0x0BC0,MN|MK},
  {0x0BC1,0x0BC2,MK}, {0x0BC6,0x0BC8,MK}, {0x0BCA,0x0BCC,MK}, {0x0BCD,0x0BCD,MN|MK},
  {0x0BD7,0x0BD7,MK}, {0x0C00,0x0C00,MN|MK}, {0x0C01,0x0C03,MK}, {0x0C3E,0x0C40,MN|MK},
  {0x0C41,0x0C44,MK}, {0x0C46,0x0C48,MN|MK}, {0x0C4A,0x0C4D,MN|MK}, {0x0C55,0x0C56,MN|MK},
  {0x0C62,0x0C63,MN|MK}, {0x0C81,0x0C81,MN|MK}, {0x0C82,0x0C83,MK}, {0x0CBC,0x0CBC,MN|MK},
  {0x0CBE,0x0CBE,MK}, {0x0CBF,0x0CBF,MN|MK}, {0x0CC0,0x0CC4,MK}, {0x0CC6,0x0CC6,MN|MK},
  {0x0CC7,0x0CC8,MK}, {0x0CCA,0x0CCB,MK}, {0x0CCC,0x0CCD,MN|MK}, {0x0CD5,0x0CD6,MK},
  {0x0CE2,0x0CE3,MN|MK}, {0x0D01,0x0D01,MN|MK}, {0x0D02,0x0D03,MK}, {0x0D3E,0x0D40,MK},
  {0x0D41,0x0D44,MN|MK}, {0x0D46,0x0D48,MK}, {0x0D4A,0x0D4C,MK}, {0x0D4D,0x0D4D,MN|MK},
  {0x0D57,0x0D57,MK}, {0x0D62,0x0D63,MN|MK}, {0x0D82,0x0D83,MK}, {0x0DCA,0x0DCA,MN|MK},
  {0x0DCF,0x0DD1,MK}, {0x0DD2,0x0DD4,MN|MK}, {0x0DD6,0x0DD6,MN|MK}, {0x0DD8,0x0DDF,MK},
  {0x0DF2,0x0DF3,MK}, {0x0DF4,0x0DF4,PU}, {0x0E31,0x0E31,MN|MK}, {0x0E34,0x0E3A,MN|MK},
  {0x0E47,0x0E4E,MN|MK}, {0x0E4F,0x0E4F,PU}, {0x0E5A,0x0E5B,PU}, {0x0EB1,0x0EB1,MN|MK},
  {0x0EB4,0x0EB9,MN|MK}, {0x0EBB,0x0EBC,MN|MK}, {0x0EC8,0x0ECD,MN|MK}, {0x0F04,0x0F12,PU},
  {0x0F14,0x0F14,PU}, {0x0F18,0x0F19,MN|MK}, {0x0F35,0x0F35,MN|MK}, {0x0F37,0x0F37,MN|MK},
  {0x0F39,0x0F39,MN|MK}, {0x0F3A,0x0F3D,PU}, {0x0F3E,0x0F3F,MK}, {0x0F71,0x0F7E,MN|MK},
  {0x0F7F,0x0F7F,MK}, {0x0F80,0x0F84,MN|MK}, {0x0F85,0x0F85,PU}, {0x0F86,0x0F87,MN|MK},
  {0x0F8D,0x0F97,MN|MK}, {0x0F99,0x0FBC,MN|MK}, {0x0FC6,0x0FC6,MN|MK}, {0x0FD0,0x0FD4,PU},
  {0x0FD9,0x0FDA,PU}, {0x102B,0x102C,MK}, {0x102D,0x1030,MN|MK}, {0x1031,0x1031,MK},
  {0x1032,0x1037,MN|MK}, {0x1038,0x1038,MK}, {0x1039,0x103A,MN|MK}, {0x103B,0x103C,MK},
  {0x103D,0x103E,MN|MK}, {0x104A,0x104F,PU}, {0x1056,0x1057,MK}, {0x1058,0x1059,MN|MK},
  {0x105E,0x1060,MN|MK}, {0x1062,0x1064,MK}, {0x1067,0x106D,MK}, {0x1071,0x1074,MN|MK},
  {0x1082,0x1082,MN|MK}, {0x1083,0x1084,MK}, {0x1085,0x1086,MN|MK}, {0x1087,0x108C,MK},
  {0x108D,0x108D,MN|MK}, {0x108F,0x108F,MK}, {0x109A,0x109C,MK}, {0x109D,0x109D,MN|MK},
  {0x10FB,0x10FB,PU}, {0x135D,0x135F,MN|MK}, {0x1360,0x1368,PU}, {0x1400,0x1400,PU},
  {0x166D,0x166E,PU}, {0x169B,0x169C,PU}, {0x16EB,0x16ED,PU}, {0x1712,0x1714,MN|MK},
  {0x1732,0x1734,MN|MK}, {0x1735,0x1736,PU}, {0x1752,0x1753,MN|MK}, {0x1772,0x1773,MN|MK},
  {0x17B4,0x17B5,MN|MK}, {0x17B6,0x17B6,MK}, {0x17B7,0x17BD,MN|MK}, {0x17BE,0x17C5,MK},
  {0x17C6,0x17C6,MN|MK}, {0x17C7,0x17C8,MK}, {0x17C9,0x17D3,MN|MK}, {0x17D4,0x17D6,PU},
  {0x17D8,0x17DA,PU}, {0x17DD,0x17DD,MN|MK}, {0x1800,0x180A,PU}, {0x180B,0x180D,MN|MK},
  {0x180E,0x180E,CF}, {0x1885,0x1886,MK}, {0x18A9,0x18A9,MN|MK}, {0x1920,0x1922,MN|MK},
  {0x1923,0x1926,MK}, {0x1927,0x1928,MN|MK}, {0x1929,0x192B,MK}, {0x1930,0x1931,MK},
  {0x1932,0x1932,MN|MK}, {0x1933,0x1938,MK}, {0x1939,0x193B,MN|MK}, {0x1944,0x1945,PU},
  {0x1A17,0x1A18,MN|MK}, {0x1A19,0x1A1A,MK}, {0x1A1B,0x1A1B,MN|MK}, {0x1A1E,0x1A1F,PU},
  {0x1A55,0x1A55,MK}, {0x1A56,0x1A56,MN|MK}, {0x1A57,0x1A57,MK}, {0x1A58,0x1A5E,MN|MK},
  {0x1A60,0x1A60,MN|MK}, {0x1A61,0x1A61,MK}, {0x1A62,0x1A62,MN|MK}, {0x1A63,0x1A64,MK},
  {0x1A65,0x1A6C,MN|MK}, {0x1A6D,0x1A72,MK}, {0x1A73,0x1A7C,MN|MK}, {0x1A7F,0x1A7F,MN|MK},
  {0x1AA0,0x1AA6,PU}, {0x1AA8,0x1AAD,PU}, {0x1AB0,0x1ABD,MN|MK}, {0x1ABE,0x1ABE,MK},
  {0x1B00,0x1B03,MN|MK}, {0x1B04,0x1B04,MK}, {0x1B34,0x1B34,MN|MK}, {0x1B35,0x1B35,MK},
  {0x1B36,0x1B3A,MN|MK}, {0x1B3B,0x1B3B,MK}, {0x1B3C,0x1B3C,MN|MK}, {0x1B3D,0x1B41,MK},
  {0x1B42,0x1B42,MN|MK}, {0x1B43,0x1B44,MK}, {0x1B5A,0x1B60,PU}, {0x1B6B,0x1B73,MN|MK},
  {0x1B80,0x1B81,MN|MK}, {0x1B82,0x1B82,MK}, {0x1BA1,0x1BA1,MK}, {0x1BA2,0x1BA5,MN|MK},
  {0x1BA6,0x1BA7,MK}, {0x1BA8,0x1BA9,MN|MK}, {0x1BAA,0x1BAA,MK}, {0x1BAB,0x1BAD,MN|MK},
  {0x1BE6,0x1BE6,MN|MK}, {0x1BE7,0x1BE7,MK}, {0x1BE8,0x1BE9,MN|MK}, {0x1BEA,0x1BEC,MK},
  {0x1BED,0x1BED,MN|MK}, {0x1BEE,0x1BEE,MK}, {0x1BEF,0x1BF1,MN|MK}, {0x1BF2,0x1BF3,MK},
  {0x1BFC,0x1BFF,PU}, {0x1C24,0x1C2B,MK}, {0x1C2C,0x1C33,MN|MK}, {0x1C34,0x1C35,MK},
  {0x1C36,0x1C37,MN|MK}, {0x1C3B,0x1C3F,PU}, {0x1C7E,0x1C7F,PU}, {0x1CC0,0x1CC7,PU},
  {0x1CD0,0x1CD2,MN|MK}, {0x1CD3,0x1CD3,PU}, {0x1CD4,0x1CE0,MN|MK}, {0x1CE1,0x1CE1,MK},
  {0x1CE2,0x1CE8,MN|MK}, {0x1CED,0x1CED,MN|MK}, {0x1CF2,0x1CF3,MK}, {0x1CF4,0x1CF4,MN|MK},
  {0x1CF8,0x1CF9,MN|MK}, {0x1DC0,0x1DF5,MN|MK}, {0x1DFB,0x1DFB,MK}, {0x1DFC,0x1DFF,MN|MK},
  {0x200B,0x200F,CF}, {0x2010,0x2027,PU}, {0x202A,0x202E,CF}, {0x2030,0x2043,PU},
  {0x2045,0x2051,PU}, {0x2053,0x205E,PU}, {0x2060,0x2064,CF}, {0x2066,0x206F,CF},
  {0x207D,0x207E,PU}, {0x208D,0x208E,PU}, {0x20D0,0x20DC,MN|MK}, {0x20DD,0x20E0,MK},
  {0x20E1,0x20E1,MN|MK}, {0x20E2,0x20E4,MK}, {0x20E5,0x20F0,MN|MK}, {0x2308,0x230B,PU},
  {0x2329,0x232A,PU}, {0x2768,0x2775,PU}, {0x27C5,0x27C6,PU}, {0x27E6,0x27EF,PU},
  {0x2983,0x2998,PU}, {0x29D8,0x29DB,PU}, {0x29FC,0x29FD,PU}, {0x2CEF,0x2CF1,MN|MK},
  {0x2CF9,0x2CFC,PU}, {0x2CFE,0x2CFF,PU}, {0x2D70,0x2D70,PU}, {0x2D7F,0x2D7F,MN|MK},
  {0x2DE0,0x2DFF,MN|MK}, {0x2E00,0x2E2E,PU}, {0x2E30,0x2E42,PU}, {0x3001,0x3003,PU},
  {0x3008,0x3011,PU}, {0x3014,0x301F,PU}, {0x302A,0x302D,MN|MK}, {0x302E,0x302F,MK},
  {0x3030,0x3030,PU}, {0x303D,0x303D,PU}, {0x3099,0x309A,MN|MK}, {0x30A0,0x30A0,PU},
  {0x30FB,0x30FB,PU}, {0xA4FE,0xA4FF,PU}, {0xA60D,0xA60F,PU}, {0xA66F,0xA66F,MN|MK},
  {0xA670,0xA672,MK}, {0xA673,0xA673,PU}, {0xA674,0xA67D,MN|MK}, {0xA67E,0xA67E,PU},
  {0xA69E,0xA69F,MN|MK}, {0xA6F0,0xA6F1,MN|MK}, {0xA6F2,0xA6F7,PU}, {0xA802,0xA802,MN|MK},
  {0xA806,0xA806,MN|MK}, {0xA80B,0xA80B,MN|MK}, {0xA823,0xA824,MK}, {0xA825,0xA826,MN|MK},
  {0xA827,0xA827,MK}, {0xA874,0xA877,PU}, {0xA880,0xA881,MK}, {0xA8B4,0xA8C3,MK},
  {0xA8C4,0xA8C4,MN|MK}, {0xA8C5,0xA8C5,MK}, {0xA8CE,0xA8CF,PU}, {0xA8E0,0xA8F1,MN|MK},
  {0xA8F8,0xA8FA,PU}, {0xA8FC,0xA8FC,PU}, {0xA926,0xA92D,MN|MK}, {0xA92E,0xA92F,PU},
  {0xA947,0xA951,MN|MK}, {0xA952,0xA953,MK}, {0xA95F,0xA95F,PU}, {0xA980,0xA982,MN|MK},
  {0xA983,0xA983,MK}, {0xA9B3,0xA9B3,MN|MK}, {0xA9B4,0xA9B5,MK}, {0xA9B6,0xA9B9,MN|MK},
  {0xA9BA,0xA9BB,MK}, {0xA9BC,0xA9BC,MN|MK}, {0xA9BD,0xA9C0,MK}, {0xA9C1,0xA9CD,PU},
  {0xA9DE,0xA9DF,PU}, {0xA9E5,0xA9E5,MN|MK}, {0xAA29,0xAA2E,MN|MK}, {0xAA2F,0xAA30,MK},
  {0xAA31,0xAA32,MN|MK}, {0xAA33,0xAA34,MK}, {0xAA35,0xAA36,MN|MK}, {0xAA43,0xAA43,MN|MK},
  {0xAA4C,0xAA4C,MN|MK}, {0xAA4D,0xAA4D,MK}, {0xAA5C,0xAA5F,PU}, {0xAA7B,0xAA7B,MK},
  {0xAA7C,0xAA7C,MN|MK}, {0xAA7D,0xAA7D,MK}, {0xAAB0,0xAAB0,MN|MK}, {0xAAB2,0xAAB4,MN|MK},
  {0xAAB7,0xAAB8,MN|MK}, {0xAABE,0xAABF,MN|MK}, {0xAAC1,0xAAC1,MN|MK}, {0xAADE,0xAADF,PU},
  {0xAAEB,0xAAEB,MK}, {0xAAEC,0xAAED,MN|MK}, {0xAAEE,0xAAEF,MK}, {0xAAF0,0xAAF1,PU},
  {0xAAF5,0xAAF5,MK}, {0xAAF6,0xAAF6,MN|MK}, {0xABE3,0xABE4,MK}, {0xABE5,0xABE5,MN|MK},
  {0xABE6,0xABE7,MK}, {0xABE8,0xABE8,MN|MK}, {0xABE9,0xABEA,MK}, {0xABEB,0xABEB,PU},
  {0xABEC,0xABEC,MK}, {0xABED,0xABED,MN|MK}, {0xFB1E,0xFB1E,MN|MK}, {0xFD3E,0xFD3F,PU},
  {0xFE00,0xFE0F,MN|MK}, {0xFE10,0xFE19,PU}, {0xFE20,0xFE2F,MN|MK}, {0xFE30,0xFE52,PU},
  {0xFE54,0xFE61,PU}, {0xFE63,0xFE63,PU}, {0xFE68,0xFE68,PU}, {0xFE6A,0xFE6B,PU},
  {0xFEFF,0xFEFF,CF}, {0xFF01,0xFF03,PU}, {0xFF05,0xFF0A,PU}, {0xFF0C,0xFF0F,PU},
  {0xFF1A,0xFF1B,PU}, {0xFF1F,0xFF20,PU}, {0xFF3B,0xFF3D,PU}, {0xFF3F,0xFF3F,PU},
  {0xFF5B,0xFF5B,PU}, {0xFF5D,0xFF5D,PU}, {0xFF5F,0xFF65,PU}, {0xFFF9,0xFFFB,CF},
  {0x10100,0x10102,PU}, {0x101FD,0x101FD,MN|MK}, {0x102E0,0x102E0,MN|MK}, {0x10376,0x1037A,MN|MK},
  {0x1039F,0x1039F,PU}, {0x103D0,0x103D0,PU}, {0x1056F,0x1056F,PU}, {0x10857,0x10857,PU},
  {0x1091F,0x1091F,PU}, {0x1093F,0x1093F,PU}, {0x10A01,0x10A03,MN|MK}, {0x10A05,0x10A06,MN|MK},
  {0x10A0C,0x10A0F,MN|MK}, {0x10A38,0x10A3A,MN|MK}, {0x10A3F,0x10A3F,MN|MK}, {0x10A50,0x10A58,PU},
  {0x10A7F,0x10A7F,PU}, {0x10AE5,0x10AE6,MN|MK}, {0x10AF0,0x10AF6,PU}, {0x10B39,0x10B3F,PU},
  {0x10B99,0x10B9C,PU}, {0x11000,0x11000,MK}, {0x11001,0x11001,MN|MK}, {0x11002,0x11002,MK},
  {0x11038,0x11046,MN|MK}, {0x11047,0x1104D,PU}, {0x1107F,0x11081,MN|MK}, {0x11082,0x11082,MK},
  {0x110B0,0x110B2,MK}, {0x110B3,0x110B6,MN|MK}, {0x110B7,0x110B8,MK}, {0x110B9,0x110BA,MN|MK},
  {0x110BB,0x110BC,PU}, {0x110BD,0x110BD,CF}, {0x110BE,0x110C1,PU}, {0x11100,0x11102,MN|MK},
  {0x11127,0x1112B,MN|MK}, {0x1112C,0x1112C,MK}, {0x1112D,0x11134,MN|MK}, {0x11140,0x11143,PU},
  {0x11173,0x11173,MN|MK}, {0x11174,0x11175,PU}, {0x11180,0x11181,MN|MK}, {0x11182,0x11182,MK},
  {0x111B3,0x111B5,MK}, {0x111B6,0x111BE,MN|MK}, {0x111BF,0x111C0,MK}, {0x111C5,0x111C9,PU},
  {0x111CA,0x111CC,MN|MK}, {0x111CD,0x111CD,PU}, {0x111DB,0x111DB,PU}, {0x111DD,0x111DF,PU},
  {0x1122C,0x1122E,MK}, {0x1122F,0x11231,MN|MK}, {0x11232,0x11233,MK}, {0x11234,0x11234,MN|MK},
  {0x11235,0x11235,MK}, {0x11236,0x11237,MN|MK}, {0x11238,0x1123D,PU}, {0x1123E,0x1123E,MK},
  {0x112A9,0x112A9,PU}, {0x112DF,0x112DF,MN|MK}, {0x112E0,0x112E2,MK}, {0x112E3,0x112EA,MN|MK},
  {0x11300,0x11301,MN|MK}, {0x11302,0x11303,MK}, {0x1133C,0x1133C,MN|MK}, {0x1133E,0x1133F,MK},
  {0x11340,0x11340,MN|MK}, {0x11341,0x11344,MK}, {0x11347,0x11348,MK}, {0x1134B,0x1134D,MK},
  {0x11357,0x11357,MK}, {0x11362,0x11363,MK}, {0x11366,0x1136C,MN|MK}, {0x11370,0x11374,MN|MK},
  {0x11435,0x11446,MK}, {0x114B0,0x114B2,MK}, {0x114B3,0x114B8,MN|MK}, {0x114B9,0x114B9,MK},
  {0x114BA,0x114BA,MN|MK}, {0x114BB,0x114BE,MK}, {0x114BF,0x114C0,MN|MK}, {0x114C1,0x114C1,MK},
  {0x114C2,0x114C3,MN|MK}, {0x114C6,0x114C6,PU}, {0x115AF,0x115B1,MK}, {0x115B2,0x115B5,MN|MK},
  {0x115B8,0x115BB,MK}, {0x115BC,0x115BD,MN|MK}, {0x115BE,0x115BE,MK}, {0x115BF,0x115C0,MN|MK},
  {0x115C1,0x115D7,PU}, {0x115DC,0x115DD,MN|MK}, {0x11630,0x11632,MK}, {0x11633,0x1163A,MN|MK},
  {0x1163B,0x1163C,MK}, {0x1163D,0x1163D,MN|MK}, {0x1163E,0x1163E,MK}, {0x1163F,0x11640,MN|MK},
  {0x11641,0x11643,PU}, {0x116AB,0x116AB,MN|MK}, {0x116AC,0x116AC,MK}, {0x116AD,0x116AD,MN|MK},
  {0x116AE,0x116AF,MK}, {0x116B0,0x116B5,MN|MK}, {0x116B6,0x116B6,MK}, {0x116B7,0x116B7,MN|MK},
  {0x1171D,0x1171F,MN|MK}, {0x11720,0x11721,MK}, {0x11722,0x11725,MN|MK}, {0x11726,0x11726,MK},
  {0x11727,0x1172B,MN|MK}, {0x1173C,0x1173E,PU}, {0x11C2F,0x11C36,MK}, {0x11C38,0x11C3F,MK},
  {0x11C92,0x11CA7,MK}, {0x11CA9,0x11CB6,MK}, {0x12470,0x12474,PU}, {0x16A6E,0x16A6F,PU},
  {0x16AF0,0x16AF4,MN|MK}, {0x16AF5,0x16AF5,PU}, {0x16B30,0x16B36,MN|MK}, {0x16B37,0x16B3B,PU},
  {0x16B44,0x16B44,PU}, {0x16F51,0x16F7E,MK}, {0x16F8F,0x16F92,MN|MK}, {0x1BC9D,0x1BC9E,MN|MK},
  {0x1BC9F,0x1BC9F,PU}, {0x1BCA0,0x1BCA3,CF}, {0x1D165,0x1D166,MK}, {0x1D167,0x1D169,MN|MK},
  {0x1D16D,0x1D172,MK}, {0x1D173,0x1D17A,CF}, {0x1D17B,0x1D182,MN|MK}, {0x1D185,0x1D18B,MN|MK},
  {0x1D1AA,0x1D1AD,MN|MK}, {0x1D242,0x1D244,MN|MK}, {0x1DA00,0x1DA36,MN|MK},
  {0x1DA3B,0x1DA6C,MN|MK}, {0x1DA75,0x1DA75,MN|MK}, {0x1DA84,0x1DA84,MN|MK}, {0x1DA87,0x1DA8B,PU},
  {0x1DA9B,0x1DA9F,MN|MK}, {0x1DAA1,0x1DAAF,MN|MK}, {0x1E000,0x1E006,MK}, {0x1E008,0x1E018,MK},
  {0x1E01B,0x1E021,MK}, {0x1E023,0x1E024,MK}, {0x1E026,0x1E02A,MK}, {0x1E8D0,0x1E8D6,MN|MK},
  {0x1E944,0x1E94A,MK}, {0xE0001,0xE0001,CF}, {0xE0020,0xE007F,CF}, {0xE0100,0xE01EF,MN|MK},
};
#undef MN
#undef MK
#undef PU
#undef CF

/* Flags of a non-ASCII code point (binary search in te_u9_ranges). */
static guint
u9_flags (gunichar c)
{
  guint lo = 0, hi = G_N_ELEMENTS (te_u9_ranges);

  while (lo < hi) {
    guint mid = (lo + hi) / 2;
    if (c < te_u9_ranges[mid].lo)
      hi = mid;
    else if (c > te_u9_ranges[mid].hi)
      lo = mid + 1;
    else
      return te_u9_ranges[mid].flags;
  }
  return 0;
}
