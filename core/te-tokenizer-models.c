/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer-models.c — the "model" of tokenizer.json: the vocabulary table and WordPiece
 * (HF's greedy longest-match-first, exactly). */
#include "te-tokenizer-private.h"

/* ---- vocabulary hash table ---------------------------------------------------------------- */

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
vocab_table_init (TeVocabTable * t, guint32 n)
{
  guint32 cap = 16;

  while (cap < n * 2 + 2)
    cap <<= 1;
  t->slots = g_new0 (TeVocabSlot, cap);
  t->mask = cap - 1;
  t->entries = g_new (TeVocabEntry, n ? n : 1);
  t->n_entries = 0;
  t->max_len = 0;
}

static void
vocab_table_clear (TeVocabTable * t)
{
  g_free (t->slots);
  g_free (t->entries);
  memset (t, 0, sizeof (*t));
}

static inline gint32
vocab_table_lookup (const TeVocabTable * t, const char *pool, const guint8 * key, gsize len)
{
  guint32 h, i;

  if (len > t->max_len)
    return -1;
  h = hash_bytes (key, len);
  i = h & t->mask;
  for (;;) {
    const TeVocabSlot *s = &t->slots[i];
    const TeVocabEntry *e;
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
vocab_table_insert (TeVocabTable * t, const char *pool, guint32 off, guint32 len, gint32 id)
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

/* ---- WordPiece ------------------------------------------------------------------------------ */

/* Ids index a table: refuse absurd ones rather than allocating gigabytes. */
#define TE_MAX_TOKEN_ID ((1u << 24) - 1)

typedef struct
{
  TeWordModel *m;
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
parse_wordpiece (TeWordModel * m, JsonObject * o, GError ** error)
{
  const char *unk, *prefix;
  JsonObject *vocab;
  VocabCollect vc = { 0 };
  gint64 max_chars;
  guint i, n, plen;

  if (!te_json_get_string (o, "model WordPiece", "unk_token", TRUE, &unk, error)
      || !te_json_get_string (o, "model WordPiece", "continuing_subword_prefix", TRUE, &prefix,
          error)
      || !te_json_get_int (o, "model WordPiece", "max_input_chars_per_word", TRUE, 0, 0,
          G_MAXINT64, &max_chars, error)
      || !te_json_get_object (o, "model WordPiece", "vocab", TRUE, &vocab, error))
    return FALSE;

  m->unk_token = g_strdup (unk);
  m->prefix = g_strdup (prefix);
  m->max_chars = (guint64) max_chars;

  vc.m = m;
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
  m->n_vocab = n;
  m->pool = g_string_free (vc.pool, FALSE);
  plen = (guint) strlen (prefix);
  vocab_table_init (&m->vocab, n);
  for (i = 0; i < n; i++) {
    guint32 *t = &g_array_index (vc.offs, guint32, 3 * i);
    vocab_table_insert (&m->vocab, m->pool, t[0], t[1], (gint32) t[2]);
  }
  if (plen == 0) {
    m->cont_is_vocab = TRUE;
  } else {
    guint nc = 0;
    for (i = 0; i < n; i++) {
      guint32 *t = &g_array_index (vc.offs, guint32, 3 * i);
      if (t[1] >= plen && memcmp (m->pool + t[0], prefix, plen) == 0)
        nc++;
    }
    vocab_table_init (&m->cont, nc);
    for (i = 0; i < n; i++) {
      guint32 *t = &g_array_index (vc.offs, guint32, 3 * i);
      if (t[1] >= plen && memcmp (m->pool + t[0], prefix, plen) == 0)
        vocab_table_insert (&m->cont, m->pool, t[0] + plen, t[1] - plen, (gint32) t[2]);
    }
  }
  g_array_free (vc.offs, TRUE);
  m->unk_id = vocab_table_lookup (&m->vocab, m->pool, (const guint8 *) unk, strlen (unk));
  return TRUE;
}

/* One pre-tokenised word a[0..n) (n > 0). */
static gboolean
wordpiece_word (const TeWordModel * m, TeWork * w, const TeNChar * a, gsize n,
    TeEncoding * out, GError ** error)
{
  gsize i, nb = 0, si, ei;
  guint mark = out->n;
  guint8 *wb;
  guint32 *cb;

  if ((guint64) n > m->max_chars)
    goto unk;

  TE_GROW (w->word, w->cap_word, 4 * n);
  TE_GROW (w->wcb, w->cap_wcb, n + 1);
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
    const TeVocabTable *t = (si == 0 || m->cont_is_vocab) ? &m->vocab : &m->cont;
    gint32 id = -1;
    ei = n;
    while (ei > si && cb[ei] - cb[si] > t->max_len)
      ei--;
    for (; ei > si; ei--) {
      id = vocab_table_lookup (t, m->pool, wb + cb[si], cb[ei] - cb[si]);
      if (id >= 0)
        break;
    }
    if (id < 0) {
      out->n = mark;
      goto unk;
    }
    te_encoding_push (out, id, a[si].s, a[ei - 1].e);
    si = ei;
  }
  return TRUE;

unk:
  if (m->unk_id < 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "WordPiece: unk_token \"%s\" is not in the vocabulary", m->unk_token);
    return FALSE;
  }
  te_encoding_push (out, m->unk_id, a[0].s, a[n - 1].e);
  return TRUE;
}

/* ---- the model ---------------------------------------------------------------------------- */

/* Extension points (HF names): BPE, Unigram, WordLevel — a TeWordModelKind, a parser here
 * and a case in te_word_model_tokenize(). */
static const struct
{
  const char *type;
  TeWordModelKind kind;
  gboolean (*parse) (TeWordModel * m, JsonObject * o, GError ** error);
} types[] = {
  {"WordPiece", TE_MODEL_WORDPIECE, parse_wordpiece},
};

gboolean
te_word_model_parse (TeWordModel * m, JsonObject * o, GError ** error)
{
  const char *type = te_tokenizer_component_type (o, "model", error), *names[G_N_ELEMENTS (types)];

  m->unk_id = -1;
  if (!type)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (types); i++) {
    if (strcmp (type, types[i].type) == 0) {
      m->kind = types[i].kind;
      return types[i].parse (m, o, error);
    }
    names[i] = types[i].type;
  }
  te_tokenizer_unsupported (error, "model", type, names, G_N_ELEMENTS (types));
  return FALSE;
}

void
te_word_model_clear (TeWordModel * m)
{
  g_free (m->pool);
  vocab_table_clear (&m->vocab);
  if (!m->cont_is_vocab)
    vocab_table_clear (&m->cont);
  g_free (m->unk_token);
  g_free (m->prefix);
  memset (m, 0, sizeof (*m));
}

gboolean
te_word_model_tokenize (const TeWordModel * m, TeWork * w, const TeNChar * a, gsize n,
    TeEncoding * out, GError ** error)
{
  switch (m->kind) {
    case TE_MODEL_WORDPIECE:
    default:
      return wordpiece_word (m, w, a, n, out, error);
  }
}

gint32
te_word_model_token_to_id (const TeWordModel * m, const char *key, gsize len)
{
  return vocab_table_lookup (&m->vocab, m->pool, (const guint8 *) key, len);
}

gint64
te_word_model_max_id (const TeWordModel * m)
{
  gint64 max = -1;

  for (guint32 i = 0; i < m->vocab.n_entries; i++)
    max = MAX (max, (gint64) m->vocab.entries[i].id);
  return max;
}

void
te_word_model_fill_ids (const TeWordModel * m, char **id_to_tok)
{
  for (guint32 i = 0; i < m->vocab.n_entries; i++) {
    const TeVocabEntry *e = &m->vocab.entries[i];
    id_to_tok[e->id] = m->pool + e->off;
  }
}

#define PUT_STR(str, n) g_string_append_printf (s, "%" G_GSIZE_FORMAT ":", (gsize) (n)), \
    g_string_append_len (s, (str), (n))

void
te_word_model_describe (const TeWordModel * m, GString * s, GChecksum * cs)
{
  guint32 n = m->vocab.n_entries, n_ids = (guint32) (te_word_model_max_id (m) + 1);
  guint32 *order, *count;

  g_string_append (s, "model:wordpiece unk=");
  PUT_STR (m->unk_token, strlen (m->unk_token));
  g_string_append (s, " prefix=");
  PUT_STR (m->prefix, strlen (m->prefix));
  g_string_append_printf (s, " max_chars=%" G_GUINT64_FORMAT " vocab=%u\n", m->max_chars,
      m->n_vocab);
  g_checksum_update (cs, (const guchar *) s->str, s->len);
  g_string_truncate (s, 0);
  /* vocab in id order (ids may repeat or have holes: hash every entry, sorted by id) */
  order = g_new (guint32, n ? n : 1);
  count = g_new0 (guint32, n_ids + 1);
  for (guint32 i = 0; i < n; i++)
    count[m->vocab.entries[i].id + 1]++;
  for (guint32 i = 1; i <= n_ids; i++)
    count[i] += count[i - 1];
  for (guint32 i = 0; i < n; i++)
    order[count[m->vocab.entries[i].id]++] = i;
  for (guint32 i = 0; i < n; i++) {
    const TeVocabEntry *e = &m->vocab.entries[order[i]];
    g_string_append_printf (s, "%d=", e->id);
    PUT_STR (m->pool + e->off, e->len);
    g_string_append_c (s, '\n');
    if (s->len > 65536) {
      g_checksum_update (cs, (const guchar *) s->str, s->len);
      g_string_truncate (s, 0);
    }
  }
  g_free (order);
  g_free (count);
}
