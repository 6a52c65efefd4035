/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer-models.c — the "model" of tokenizer.json: the vocabulary table and WordPiece
 * (HF's greedy longest-match-first, exactly). */
#include <math.h>

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


/* ---- Unigram -------------------------------------------------------------------------------
 * HF's Unigram (SentencePiece's "optimized" Viterbi): a lattice over the bytes of the word,
 * every vocabulary key found by common-prefix search at each char boundary is an edge scored
 * by its log probability; a char that starts no key of its own length gets an unknown edge
 * scored min_score - 10. Consecutive unknown pieces of the best path are fused; a piece that is
 * not in the vocabulary becomes its "<0xHH>" byte tokens (byte_fallback) or the unk id. Ties
 * keep the first path found, in HF's order (start ascending, key length ascending). */

#define TE_UNK_PENALTY 10.0

static void
trie_init (TeTrie * t, gsize cap_nodes)
{
  guint32 cap = 16;

  while (cap < cap_nodes * 2)
    cap <<= 1;
  t->slots = g_new0 (TeTrieSlot, cap);
  t->mask = cap - 1;
  t->n_nodes = 1;
  t->value = g_new (gint32, cap_nodes + 1);
  t->value[0] = -1;
}

static void
trie_clear (TeTrie * t)
{
  g_free (t->slots);
  g_free (t->value);
  g_free (t->nodes);
  g_free (t->edges);
  memset (t, 0, sizeof (*t));
}

/* Turn the build-time hash table into the lookup layout (see TeTrie): one pass to count each
 * node's children, one to place them, then each node's few edges sorted by byte; each node
 * carries its key's id and score. The Viterbi walk then reads a node and one short contiguous
 * run of edges per byte instead of probing a large table. */
static void
trie_freeze (TeTrie * t, const double *scores)
{
  guint32 n = t->n_nodes, *fill;

  t->nodes = g_new0 (TeTrieNode, (gsize) n + 1);
  t->edges = g_new (TeTrieEdge, n);
  memset (t->root, 0, sizeof (t->root));
  for (guint32 i = 0; i <= t->mask; i++)
    if (t->slots[i].key)
      t->nodes[((t->slots[i].key - 1) >> 8) + 1].first++;
  for (guint32 v = 0; v < n; v++)
    t->nodes[v + 1].first += t->nodes[v].first;
  fill = g_new (guint32, n);
  for (guint32 v = 0; v < n; v++) {
    fill[v] = t->nodes[v].first;
    t->nodes[v].value = t->value[v];
    t->nodes[v].score = t->value[v] >= 0 ? scores[t->value[v]] : 0.0;
  }
  t->nodes[n].value = -1;
  for (guint32 i = 0; i <= t->mask; i++) {
    guint32 key = t->slots[i].key, parent, at;
    if (!key)
      continue;
    parent = (key - 1) >> 8;
    at = fill[parent]++;
    t->edges[at].byte = (key - 1) & 0xFF;
    t->edges[at].child = t->slots[i].child;
    if (parent == 0)
      t->root[(key - 1) & 0xFF] = t->slots[i].child;
  }
  g_free (fill);
  for (guint32 v = 1; v < n; v++) {    /* insertion sort: a node has at most 256 children */
    for (guint32 a = t->nodes[v].first + 1; a < t->nodes[v + 1].first; a++) {
      TeTrieEdge e = t->edges[a];
      guint32 k = a;
      while (k > t->nodes[v].first && t->edges[k - 1].byte > e.byte) {
        t->edges[k] = t->edges[k - 1];
        k--;
      }
      t->edges[k] = e;
    }
  }
  g_free (t->slots);
  t->slots = NULL;
  g_free (t->value);
  t->value = NULL;
}

static inline guint32
trie_hash (guint32 key)
{
  key *= 0x9E3779B1u;
  return key ^ (key >> 15);
}

/* Child of @node by @byte in the frozen trie, or 0 (the root is never a child). */
static inline guint32
trie_child (const TeTrie * t, guint32 node, guint8 byte)
{
  guint32 lo, hi;

  if (node == 0)
    return t->root[byte];
  lo = t->nodes[node].first;
  hi = t->nodes[node + 1].first;
  while (hi - lo > 8) {         /* binary search down to a short run */
    guint32 mid = lo + (hi - lo) / 2;
    if (t->edges[mid].byte <= byte)
      lo = mid;
    else
      hi = mid;
  }
  for (; lo < hi; lo++)
    if (t->edges[lo].byte == byte)
      return t->edges[lo].child;
  return 0;
}

/* Insert @key (@len > 0 bytes); the table was sized for every byte of every key. */
static void
trie_insert (TeTrie * t, const guint8 * key, gsize len, gint32 id)
{
  guint32 node = 0;

  for (gsize k = 0; k < len; k++) {
    guint32 e = ((node << 8) | key[k]) + 1, i = trie_hash (e) & t->mask;
    while (t->slots[i].key != 0 && t->slots[i].key != e)
      i = (i + 1) & t->mask;
    if (t->slots[i].key == 0) {
      t->slots[i].key = e;
      t->slots[i].child = t->n_nodes;
      t->value[t->n_nodes] = -1;
      t->n_nodes++;
    }
    node = t->slots[i].child;
  }
  t->value[node] = id;
}

static gboolean
parse_unigram (TeWordModel * m, JsonObject * o, GError ** error)
{
  const char *what = "model Unigram";
  JsonNode *vn = te_json_member (o, "vocab"), *un = te_json_member (o, "unk_id");
  JsonArray *vocab;
  GString *pool;
  guint32 *offs;
  gsize total = 0;
  guint n, i;
  gint64 unk = -1;

  if (!te_json_get_bool (o, what, "byte_fallback", FALSE, FALSE, &m->byte_fallback, error))
    return FALSE;
  if (!vn || !JSON_NODE_HOLDS_ARRAY (vn)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: field \"vocab\" must be an array of [piece, score]", what);
    return FALSE;
  }
  vocab = json_node_get_array (vn);
  n = json_array_get_length (vocab);
  if (n > TE_MAX_TOKEN_ID + 1) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "%s: %u vocabulary entries (max %u)",
        what, n, TE_MAX_TOKEN_ID + 1);
    return FALSE;
  }
  if (un) {
    guint64 u;
    if (!te_json_node_uint (un, TE_MAX_TOKEN_ID, &u) || u >= n) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "%s: unk_id must be an index into the vocabulary (0..%d)", what, (gint) n - 1);
      return FALSE;
    }
    unk = (gint64) u;
  }
  m->unk_id = (gint32) unk;

  pool = g_string_sized_new (n * 8 + 16);
  offs = g_new (guint32, 2 * (gsize) n + 2);
  m->scores = g_new (double, n ? n : 1);
  m->min_score = INFINITY;
  for (i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element (vocab, i);
    JsonArray *pair;
    const char *piece;
    if (!JSON_NODE_HOLDS_ARRAY (e) || json_array_get_length (pair = json_node_get_array (e)) != 2
        || !te_json_node_holds (json_array_get_element (pair, 0), G_TYPE_STRING)
        || !(te_json_node_holds (json_array_get_element (pair, 1), G_TYPE_DOUBLE)
            || te_json_node_holds (json_array_get_element (pair, 1), G_TYPE_INT64))) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
          "%s: vocab entry %u must be [piece (string), score (number)]", what, i);
      goto fail;
    }
    piece = json_array_get_string_element (pair, 0);
    m->scores[i] = json_array_get_double_element (pair, 1);
    if (isnan (m->scores[i])) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "%s: vocab entry %u has a NaN score",
          what, i);
      goto fail;
    }
    if (m->scores[i] < m->min_score)
      m->min_score = m->scores[i];
    offs[2 * i] = (guint32) pool->len;
    offs[2 * i + 1] = (guint32) strlen (piece);
    total += offs[2 * i + 1];
    g_string_append_len (pool, piece, offs[2 * i + 1]);
    g_string_append_c (pool, '\0');
  }
  m->n_vocab = n;
  m->pool = g_string_free (pool, FALSE);
  pool = NULL;

  /* Every id keeps its entry (id_to_token); a key that repeats maps to its last id, as HF's
   * token_to_ids does: insert from the end and skip keys already present. */
  vocab_table_init (&m->vocab, n);
  trie_init (&m->trie, total + 1);
  for (i = n; i-- > 0;) {
    const guint8 *key = (const guint8 *) m->pool + offs[2 * i];
    if (vocab_table_lookup (&m->vocab, m->pool, key, offs[2 * i + 1]) >= 0) {
      m->vocab.entries[m->vocab.n_entries].off = offs[2 * i];
      m->vocab.entries[m->vocab.n_entries].len = offs[2 * i + 1];
      m->vocab.entries[m->vocab.n_entries].id = (gint32) i;
      m->vocab.n_entries++;
      continue;
    }
    vocab_table_insert (&m->vocab, m->pool, offs[2 * i], offs[2 * i + 1], (gint32) i);
    if (offs[2 * i + 1] > 0)
      trie_insert (&m->trie, key, offs[2 * i + 1], (gint32) i);
  }
  trie_freeze (&m->trie, m->scores);
  for (i = 0; i < 256; i++) {
    char name[8];
    g_snprintf (name, sizeof (name), "<0x%02X>", i);
    m->byte_ids[i] = vocab_table_lookup (&m->vocab, m->pool, (const guint8 *) name, 6);
  }
  m->unk_token = g_strdup (unk >= 0 ? m->pool + offs[2 * unk] : "");
  m->prefix = g_strdup ("");
  g_free (offs);
  return TRUE;

fail:
  g_string_free (pool, TRUE);
  g_free (offs);
  return FALSE;
}

/* Push the tokens of piece [bs, be) of the word (bytes) whose chars are a[]; @id is the piece's
 * id when the lattice found it in the vocabulary, -1 for a (fused) unknown piece. */
static gboolean
unigram_push (const TeWordModel * m, TeWork * w, const TeNChar * a, guint32 bs,
    guint32 be, gint32 id, TeEncoding * out, GError ** error)
{
  guint32 s = a[w->b2c[bs]].s, e = a[w->b2c[be - 1]].e;

  if (id < 0)
    id = vocab_table_lookup (&m->vocab, m->pool, w->word + bs, be - bs);

  if (id >= 0) {
    te_encoding_push (out, id, s, e);
    return TRUE;
  }
  if (m->byte_fallback) {
    guint32 k;
    for (k = bs; k < be; k++)
      if (m->byte_ids[w->word[k]] < 0)
        break;
    if (k == be) {
      for (k = bs; k < be; k++)
        te_encoding_push (out, m->byte_ids[w->word[k]], s, e);
      return TRUE;
    }
  }
  if (m->unk_id < 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "Unigram: the text has a character the vocabulary lacks and the model has no unk_id");
    return FALSE;
  }
  te_encoding_push (out, m->unk_id, s, e);
  {
    /* the unknown token's text is the piece itself (not the unk entry): remember its
     * whitespace ends for RobertaProcessing's trim_offsets */
    guint32 c0 = w->b2c[bs], c1 = w->b2c[be - 1], lead = 0, trail = 0;
    while (c0 + lead <= c1 && (a[c0 + lead].c == 0x120 || te_hf_is_whitespace (a[c0 + lead].c)))
      lead++;
    while (c1 >= c0 + trail && (a[c1 - trail].c == 0x120
            || te_hf_is_whitespace (a[c1 - trail].c)))
      trail++;
    TE_GROW (w->unk_ws, w->cap_unk_ws, 3 * (w->n_unk_ws + 1));
    w->unk_ws[3 * w->n_unk_ws] = out->n - 1;
    w->unk_ws[3 * w->n_unk_ws + 1] = lead;
    w->unk_ws[3 * w->n_unk_ws + 2] = trail;
    w->n_unk_ws++;
  }
  return TRUE;
}

static gboolean
unigram_word (const TeWordModel * m, TeWork * w, const TeNChar * a, gsize n, TeEncoding * out,
    GError ** error)
{
  const double unk_score = m->min_score - TE_UNK_PENALTY;
  gsize i, nb = 0, np = 0;
  guint32 pos, end;
  gboolean have_unk = FALSE;
  guint32 unk_end = 0;

  TE_GROW (w->word, w->cap_word, 4 * n);
  TE_GROW (w->wcb, w->cap_wcb, n + 1);
  for (i = 0; i < n; i++) {
    w->wcb[i] = (guint32) nb;
    nb += te_utf8_encode (a[i].c, w->word + nb);
  }
  w->wcb[n] = (guint32) nb;
  TE_GROW (w->b2c, w->cap_b2c, nb + 1);
  for (i = 0; i < n; i++)
    for (guint32 k = w->wcb[i]; k < w->wcb[i + 1]; k++)
      w->b2c[k] = (guint32) i;
  if (nb + 1 > w->cap_v) {
    /* the three lattice arrays share one capacity: grown together, only when needed */
    TE_GROW (w->vscore, w->cap_v, nb + 1);
    w->vstart = g_renew (gint32, w->vstart, w->cap_v);
    w->vid = g_renew (gint32, w->vid, w->cap_v);
  }
  for (i = 0; i <= nb; i++)
    w->vstart[i] = -1;
  w->vscore[0] = 0.0;

  for (i = 0; i < n; i++) {
    guint32 st = w->wcb[i], mblen = w->wcb[i + 1] - st, node = 0;
    double base = w->vscore[st];
    gboolean single = FALSE;
    if (st != 0 && w->vstart[st] < 0)
      base = 0.0;               /* unreachable in practice: every char boundary is reached */
    for (guint32 k = st; k < nb; k++) {
      guint32 key_pos;
      double cand;
      gint32 id;
      if (!(node = trie_child (&m->trie, node, w->word[k])))
        break;
      const TeTrieNode *nd = &m->trie.nodes[node];
      if ((id = nd->value) < 0)
        continue;
      key_pos = k + 1;
      cand = nd->score + base;
      if (w->vstart[key_pos] < 0 || cand > w->vscore[key_pos]) {
        w->vscore[key_pos] = cand;
        w->vstart[key_pos] = (gint32) st;
        w->vid[key_pos] = id;
      }
      if (key_pos - st == mblen)
        single = TRUE;
    }
    if (!single) {
      guint32 key_pos = st + mblen;
      double cand = unk_score + base;
      if (w->vstart[key_pos] < 0 || cand > w->vscore[key_pos]) {
        w->vscore[key_pos] = cand;
        w->vstart[key_pos] = (gint32) st;
        w->vid[key_pos] = -1;   /* unk */
      }
    }
  }

  /* Backtrack: pieces (start, end, id) in reverse order, consecutive unknown ones fused. */
  TE_GROW (w->pieces, w->cap_pieces, 3 * (nb + 1));
  for (end = (guint32) nb; end > 0; end = pos) {
    pos = (guint32) w->vstart[end];
    if (w->vid[end] < 0) {
      if (!have_unk) {
        have_unk = TRUE;
        unk_end = end;
      }
      continue;
    }
    if (have_unk) {
      w->pieces[3 * np] = end;
      w->pieces[3 * np + 1] = unk_end;
      w->pieces[3 * np + 2] = G_MAXUINT32;
      np++;
      have_unk = FALSE;
    }
    w->pieces[3 * np] = pos;
    w->pieces[3 * np + 1] = end;
    w->pieces[3 * np + 2] = (guint32) w->vid[end];
    np++;
  }
  if (have_unk) {
    w->pieces[3 * np] = 0;
    w->pieces[3 * np + 1] = unk_end;
    w->pieces[3 * np + 2] = G_MAXUINT32;
    np++;
  }
  while (np-- > 0)
    if (!unigram_push (m, w, a, w->pieces[3 * np], w->pieces[3 * np + 1],
            (gint32) w->pieces[3 * np + 2], out, error))
      return FALSE;
  return TRUE;
}

/* ---- the model ---------------------------------------------------------------------------- */

/* Extension points (HF names): BPE, WordLevel — a TeWordModelKind, a parser here
 * and a case in te_word_model_tokenize(). */
static const struct
{
  const char *type;
  TeWordModelKind kind;
  gboolean (*parse) (TeWordModel * m, JsonObject * o, GError ** error);
} types[] = {
  {"WordPiece", TE_MODEL_WORDPIECE, parse_wordpiece},
  {"Unigram", TE_MODEL_UNIGRAM, parse_unigram},
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
  g_free (m->scores);
  trie_clear (&m->trie);
  memset (m, 0, sizeof (*m));
}

gboolean
te_word_model_tokenize (const TeWordModel * m, TeWork * w, const TeNChar * a, gsize n,
    TeEncoding * out, GError ** error)
{
  switch (m->kind) {
    case TE_MODEL_UNIGRAM:
      return unigram_word (m, w, a, n, out, error);
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

void
te_word_model_describe (const TeWordModel * m, GString * s, GChecksum * cs)
{
  guint32 n = m->vocab.n_entries, n_ids = (guint32) (te_word_model_max_id (m) + 1);
  guint32 *order, *count;

  if (m->kind == TE_MODEL_UNIGRAM)
    g_string_append_printf (s, "model:unigram unk_id=%d byte_fallback=%d unk=", m->unk_id,
        m->byte_fallback);
  else
    g_string_append (s, "model:wordpiece unk=");
  te_describe_str (s, m->unk_token, strlen (m->unk_token));
  g_string_append (s, " prefix=");
  te_describe_str (s, m->prefix, strlen (m->prefix));
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
    te_describe_int (s, e->id);
    g_string_append_c (s, '=');
    te_describe_str (s, m->pool + e->off, e->len);
    if (m->scores)              /* exact: the bits of the double */
      g_string_append_printf (s, " %a", m->scores[e->id]);
    g_string_append_c (s, '\n');
    if (s->len > 65536) {
      g_checksum_update (cs, (const guchar *) s->str, s->len);
      g_string_truncate (s, 0);
    }
  }
  g_free (order);
  g_free (count);
}
