/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-tokenizer.c — unit tests of core/te-tokenizer.c: loading and errors, hand-checked encodings
 * (values taken from HF tokenizers 0.23.3), fingerprints, added tokens, threads, timing. */

#include <string.h>
#include <json-glib/json-glib.h>

#include "te-tokenizer.h"

/* ---------- helpers ---------- */

static gchar *model_json;       /* contents of $TE_TEST_MODEL/tokenizer.json */
static gsize model_json_len;
static TeTokenizer *model_tok;

/* The model tokenizer, or NULL after failing the current test with a clear message. */
static TeTokenizer *
get_model (void)
{
  const gchar *dir = g_getenv ("TE_TEST_MODEL");
  GError *err = NULL;
  gchar *path;

  if (model_tok)
    return model_tok;
  if (!dir || !*dir) {
    g_test_message ("TE_TEST_MODEL is not set: point it at a model directory containing "
        "tokenizer.json (e.g. the all-MiniLM-L6-v2 package directory)");
    g_test_fail ();
    return NULL;
  }
  path = g_build_filename (dir, "tokenizer.json", NULL);
  if (!g_file_get_contents (path, &model_json, &model_json_len, &err)) {
    g_test_message ("cannot read %s: %s", path, err->message);
    g_test_fail ();
    g_error_free (err);
    g_free (path);
    return NULL;
  }
  model_tok = te_tokenizer_new_from_file (path, &err);
  g_assert_no_error (err);
  g_free (path);
  return model_tok;
}

typedef struct
{
  gint32 id;
  guint32 s, e;
} Tok;

static void
check_encoding (const TeTokenizer * tok, const char *text, gssize len, gboolean special,
    const Tok * want, guint n_want, const gint32 * want_types)
{
  TeEncoding enc;
  GError *err = NULL;
  guint i;

  te_encoding_init (&enc);
  g_assert_true (te_tokenizer_encode (tok, text, len < 0 ? strlen (text) : (gsize) len,
          special, &enc, &err));
  g_assert_no_error (err);
  if (enc.n != n_want) {
    GString *s = g_string_new (NULL);
    for (i = 0; i < enc.n; i++)
      g_string_append_printf (s, " %d(%u,%u)", enc.ids[i], enc.starts[i], enc.ends[i]);
    g_test_message ("text \"%s\": got %u tokens:%s; want %u", text, enc.n, s->str, n_want);
    g_string_free (s, TRUE);
  }
  g_assert_cmpuint (enc.n, ==, n_want);
  for (i = 0; i < n_want; i++) {
    g_assert_cmpint (enc.ids[i], ==, want[i].id);
    g_assert_cmpuint (enc.starts[i], ==, want[i].s);
    g_assert_cmpuint (enc.ends[i], ==, want[i].e);
    g_assert_cmpint (enc.type_ids[i], ==, want_types ? want_types[i] : 0);
    /* tokens of the post-processor are the only "special" ones, always at (0, 0) */
    if (enc.special[i])
      g_assert_true (enc.starts[i] == 0 && enc.ends[i] == 0);
  }
  te_encoding_clear (&enc);
  g_assert_cmpuint (enc.n, ==, 0);
  g_assert_null (enc.ids);
}

#define CHECK(tok, text, special, ...) do { \
    static const Tok want_[] = { __VA_ARGS__ }; \
    check_encoding ((tok), (text), -1, (special), want_, G_N_ELEMENTS (want_), NULL); \
  } while (0)

/* A tokenizer.json made of the model's, with @edit applied to the parsed root object. */
typedef void (*EditFunc) (JsonObject * root);

static TeTokenizer *
model_variant (EditFunc edit, GError ** error)
{
  JsonParser *p = json_parser_new ();
  JsonNode *root;
  gchar *text;
  TeTokenizer *tok;

  g_assert_true (json_parser_load_from_data (p, model_json, model_json_len, NULL));
  root = json_parser_get_root (p);
  edit (json_node_get_object (root));
  text = json_to_string (root, FALSE);
  tok = te_tokenizer_new_from_data (text, strlen (text), error);
  g_free (text);
  g_object_unref (p);
  return tok;
}

/* ---------- tests on the model ---------- */

static void
test_model_basics (void)
{
  TeTokenizer *tok = get_model ();

  if (!tok)
    return;
  g_assert_cmpuint (te_tokenizer_num_special_tokens (tok), ==, 2);
  g_assert_cmpuint (te_tokenizer_vocab_size (tok), ==, 30522);
  g_assert_cmpint (te_tokenizer_pad_id (tok), ==, 0);
  g_assert_cmpstr (te_tokenizer_id_to_token (tok, 101), ==, "[CLS]");
  g_assert_cmpstr (te_tokenizer_id_to_token (tok, 7592), ==, "hello");
  g_assert_null (te_tokenizer_id_to_token (tok, -1));
  g_assert_null (te_tokenizer_id_to_token (tok, 30522));
  g_assert_cmpint (te_tokenizer_token_to_id (tok, "[SEP]"), ==, 102);
  g_assert_cmpint (te_tokenizer_token_to_id (tok, "##ing"), ==, 2075);
  g_assert_cmpint (te_tokenizer_token_to_id (tok, "no-such-token"), ==, -1);
}

static void
test_model_known (void)
{
  TeTokenizer *tok = get_model ();

  if (!tok)
    return;
  CHECK (tok, "Hello, world!", TRUE,
      {101, 0, 0}, {7592, 0, 5}, {1010, 5, 6}, {2088, 7, 12}, {999, 12, 13}, {102, 0, 0});
  CHECK (tok, "Hello, world!", FALSE,
      {7592, 0, 5}, {1010, 5, 6}, {2088, 7, 12}, {999, 12, 13});
  CHECK (tok, "", TRUE, {101, 0, 0}, {102, 0, 0});
  /* accents stripped, İ lowercased, offsets in bytes of the original */
  CHECK (tok, "Naïve CAFÉ İstanbul", TRUE,
      {101, 0, 0}, {15743, 0, 6}, {7668, 7, 12}, {9960, 13, 22}, {102, 0, 0});
  /* CJK chars are isolated */
  CHECK (tok, "北京abc", TRUE,
      {101, 0, 0}, {1781, 0, 3}, {1755, 3, 6}, {5925, 6, 9}, {102, 0, 0});
  /* WordPiece continuation pieces */
  CHECK (tok, "unaffable tokenization", TRUE,
      {101, 0, 0}, {14477, 0, 3}, {20961, 3, 6}, {3468, 6, 9}, {19204, 10, 15},
      {3989, 15, 22}, {102, 0, 0});
  /* removed chars (NUL, ZWSP) vanish inside the word; the emoji is unknown */
  CHECK (tok, "a\xe2\x80\x8b" "bc", TRUE, {101, 0, 0}, {5925, 0, 6}, {102, 0, 0});
  check_encoding (tok, "a\0b\xe2\x80\x8b" "c", 7, TRUE, (const Tok[]) {
        {101, 0, 0}, {5925, 0, 7}, {102, 0, 0}}, 3, NULL);
  CHECK (tok, "\xf0\x9f\x98\x80 ok", TRUE, {101, 0, 0}, {100, 0, 4}, {7929, 5, 7}, {102, 0, 0});
}

static void
test_model_long_word (void)
{
  TeTokenizer *tok = get_model ();
  gchar *w100 = g_strnfill (100, 'a'), *w101 = g_strnfill (101, 'a');
  TeEncoding enc;

  if (!tok)
    goto out;
  te_encoding_init (&enc);
  /* 101 chars > max_input_chars_per_word: one [UNK] spanning the word */
  CHECK (tok, w101, FALSE, {100, 0, 101});
  /* exactly 100 chars is tokenised normally */
  g_assert_true (te_tokenizer_encode (tok, w100, 100, FALSE, &enc, NULL));
  g_assert_cmpuint (enc.n, >, 1);
  g_assert_cmpint (enc.ids[0], !=, 100);
  g_assert_cmpuint (enc.ends[enc.n - 1], ==, 100);
  te_encoding_clear (&enc);
out:
  g_free (w100);
  g_free (w101);
}

static void
test_model_added_split (void)
{
  TeTokenizer *tok = get_model ();

  if (!tok)
    return;
  /* added tokens are split out of the raw text before normalisation */
  CHECK (tok, "a [SEP] b", TRUE, {101, 0, 0}, {1037, 0, 1}, {102, 2, 7}, {1038, 8, 9},
      {102, 0, 0});
  CHECK (tok, "x[MASK]y", TRUE, {101, 0, 0}, {1060, 0, 1}, {103, 1, 7}, {1061, 7, 8},
      {102, 0, 0});
  CHECK (tok, "[CLS][UNK]", FALSE, {101, 0, 5}, {100, 5, 10});
  /* they are case sensitive: "[sep]" is ordinary text */
  CHECK (tok, "[sep]", FALSE, {1031, 0, 1}, {19802, 1, 4}, {1033, 4, 5});
}

static void
test_model_invalid_utf8 (void)
{
  static const struct
  {
    const char *text;
    gsize len, bad;
  } cases[] = {
    {"ab\xff" "cd", 5, 2},
    {"abc\xe4\xb8", 5, 3},              /* truncated sequence at the end */
    {"x\xed\xa0\x80", 4, 1},            /* UTF-16 surrogate */
    {"\xc0\xaf", 2, 0},                 /* overlong */
    {"ok \xf4\x90\x80\x80", 7, 3},      /* > U+10FFFF */
    {"\xe4\xb8\xad\x80", 4, 3},         /* stray continuation byte */
  };
  TeTokenizer *tok = get_model ();
  TeEncoding enc;
  guint i;

  if (!tok)
    return;
  te_encoding_init (&enc);
  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    GError *err = NULL;
    gchar *want = g_strdup_printf ("byte offset %" G_GSIZE_FORMAT, cases[i].bad);
    g_assert_false (te_tokenizer_encode (tok, cases[i].text, cases[i].len, TRUE, &enc, &err));
    g_assert_error (err, TE_ERROR, TE_ERROR_INVALID);
    if (!strstr (err->message, want))
      g_error ("case %u: \"%s\" does not name %s", i, err->message, want);
    g_assert_cmpuint (enc.n, ==, 0);
    g_error_free (err);
    g_free (want);
  }
  te_encoding_clear (&enc);
}

static void
edit_lowercase_false (JsonObject * root)
{
  json_object_set_boolean_member (json_object_get_object_member (root, "normalizer"),
      "lowercase", FALSE);
}

static void
edit_vocab (JsonObject * root)
{
  JsonObject *v = json_object_get_object_member (json_object_get_object_member (root, "model"),
      "vocab");
  /* swap two ids */
  json_object_set_int_member (v, "hello", 2088);
  json_object_set_int_member (v, "world", 7592);
}

static void
edit_added (JsonObject * root)
{
  JsonArray *a = json_object_get_array_member (root, "added_tokens");
  json_object_set_boolean_member (json_array_get_object_element (a, 4), "lstrip", TRUE);
}

static void
edit_post (JsonObject * root)
{
  JsonObject *pp = json_object_new ();
  JsonArray *sep = json_array_new (), *cls = json_array_new ();
  json_array_add_string_element (sep, "[SEP]");
  json_array_add_int_element (sep, 102);
  json_array_add_string_element (cls, "[CLS]");
  json_array_add_int_element (cls, 102);       /* different id */
  json_object_set_string_member (pp, "type", "BertProcessing");
  json_object_set_array_member (pp, "sep", sep);
  json_object_set_array_member (pp, "cls", cls);
  json_object_set_object_member (root, "post_processor", pp);
}

static void
edit_irrelevant (JsonObject * root)
{
  /* truncation, padding and decoder do not change ids */
  json_object_set_null_member (root, "truncation");
  json_object_set_null_member (root, "padding");
  json_object_set_null_member (root, "decoder");
}

static void
test_model_fingerprint (void)
{
  TeTokenizer *tok = get_model (), *again, *v;
  const EditFunc differ[] = { edit_lowercase_false, edit_vocab, edit_added, edit_post };
  GError *err = NULL;
  const char *fp;
  guint i;

  if (!tok)
    return;
  fp = te_tokenizer_fingerprint (tok);
  g_assert_cmpuint (strlen (fp), ==, 64);
  for (i = 0; i < 64; i++)
    g_assert_true (g_ascii_isxdigit (fp[i]) && !g_ascii_isupper (fp[i]));

  again = te_tokenizer_new_from_data (model_json, model_json_len, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (te_tokenizer_fingerprint (again), ==, fp);
  te_tokenizer_free (again);

  v = model_variant (edit_irrelevant, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (te_tokenizer_fingerprint (v), ==, fp);
  te_tokenizer_free (v);

  for (i = 0; i < G_N_ELEMENTS (differ); i++) {
    v = model_variant (differ[i], &err);
    g_assert_no_error (err);
    g_assert_cmpstr (te_tokenizer_fingerprint (v), !=, fp);
    te_tokenizer_free (v);
  }
}

/* ---------- small inline tokenizers ---------- */

#define ADDED(content, extra) "{\"id\": 0, \"content\": \"" content "\", \"single_word\": false, " \
  "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true" extra "}"

static const char small_json[] =
    "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null,"
    " \"added_tokens\": [" ADDED ("[UNK]", "") ", " ADDED ("[CLS]", "") ", " ADDED ("[SEP]", "")
    ", {\"id\": 99, \"content\": \"<x>\", \"single_word\": false, \"lstrip\": true,"
    " \"rstrip\": true, \"normalized\": true, \"special\": false}],"
    " \"normalizer\": {\"type\": \"BertNormalizer\", \"clean_text\": true,"
    " \"handle_chinese_chars\": true, \"strip_accents\": null, \"lowercase\": true},"
    " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
    " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": ["
    "{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\","
    " \"type_id\": 1}}, {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 1}}],"
    " \"pair\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"B\","
    " \"type_id\": 1}}], \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [1],"
    " \"tokens\": [\"[CLS]\"]}, \"[SEP]\": {\"id\": \"[SEP]\", \"ids\": [2], \"tokens\":"
    " [\"[SEP]\"]}}}, \"decoder\": null,"
    " \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\","
    " \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 8, \"vocab\":"
    " {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"un\": 3, \"##aff\": 4, \"##able\": 5,"
    " \"a\": 6, \"##a\": 7, \"!\": 8, \"cafe\": 9, \"\\u4e2d\": 10, \"b\": 11, \"<\": 12,"
    " \">\": 13, \"x\": 14}}}";

/* Every id encoding can produce is below te_tokenizer_vocab_size(), the post-processor's too
 * (a template naming id 500 in a 16-id vocabulary gave id 500 with vocab_size 16, so the
 * model's vocab_size check let it through; found by tests/fuzz/fuzz-tokenizer-load). */
static void
test_post_processor_ids_in_vocab_size (void)
{
  GString *json = g_string_new (small_json);
  GError *err = NULL;
  TeEncoding enc;

  g_assert_cmpuint (g_string_replace (json, "\"ids\": [2]", "\"ids\": [500]", 0), ==, 1);
  TeTokenizer *tok = te_tokenizer_new_from_data (json->str, json->len, &err);
  g_assert_no_error (err);
  te_encoding_init (&enc);
  g_assert_true (te_tokenizer_encode (tok, "a", 1, TRUE, &enc, &err));
  g_assert_cmpuint (enc.n, ==, 3);
  g_assert_cmpint (enc.ids[2], ==, 500);
  g_assert_cmpuint (te_tokenizer_vocab_size (tok), ==, 501);
  g_assert_null (te_tokenizer_id_to_token (tok, 499));
  te_encoding_clear (&enc);
  te_tokenizer_free (tok);
  g_string_free (json, TRUE);
}

static void
test_small (void)
{
  static const gint32 types5[] = { 0, 1, 1, 1, 1 };
  static const gint32 types4[] = { 0, 1, 1, 1 };
  static const gint32 ones[] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
  static const gint32 types12[] = { 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
  GError *err = NULL;
  TeTokenizer *tok = te_tokenizer_new_from_data (small_json, strlen (small_json), &err);

  g_assert_no_error (err);
  g_assert_cmpuint (te_tokenizer_num_special_tokens (tok), ==, 2);
  /* "<x>" is not in the vocab: it gets the next id after the vocab (15), not its "id" 99 */
  g_assert_cmpint (te_tokenizer_token_to_id (tok, "<x>"), ==, 15);
  g_assert_cmpuint (te_tokenizer_vocab_size (tok), ==, 16);
  g_assert_cmpint (te_tokenizer_pad_id (tok), ==, 0);

  /* 9 chars > max_input_chars_per_word = 8 */
  check_encoding (tok, "unaffable!", -1, TRUE, (const Tok[]) {
        {1, 0, 0}, {0, 0, 9}, {8, 9, 10}, {2, 0, 0}}, 4, types4);
  /* greedy pieces; 9 a's are too long; type ids from the template */
  check_encoding (tok, "Unaffable aaaaaaaa aaaaaaaaa", -1, TRUE, (const Tok[]) {
        {1, 0, 0}, {0, 0, 9}, {6, 10, 11}, {7, 11, 12}, {7, 12, 13}, {7, 13, 14},
        {7, 14, 15}, {7, 15, 16}, {7, 16, 17}, {7, 17, 18}, {0, 19, 28}, {2, 0, 0}}, 12,
      types12);
  /* without special tokens the sequence keeps the template's type id */
  check_encoding (tok, "CAFÉ 中b", -1, FALSE, (const Tok[]) {
        {9, 0, 5}, {10, 6, 9}, {11, 9, 10}}, 3, ones);
  /* one failing piece makes the whole word unknown */
  check_encoding (tok, "unb", -1, TRUE, (const Tok[]) {
        {1, 0, 0}, {0, 0, 3}, {2, 0, 0}}, 3, (const gint32[]) {0, 1, 1});
  /* normalized added token with lstrip/rstrip: matched on the lowercased text, spaces eaten */
  check_encoding (tok, "a <x> b", -1, TRUE, (const Tok[]) {
        {1, 0, 0}, {6, 0, 1}, {15, 1, 6}, {11, 6, 7}, {2, 0, 0}}, 5, types5);
  check_encoding (tok, "a<X>b", -1, TRUE, (const Tok[]) {
        {1, 0, 0}, {6, 0, 1}, {15, 1, 4}, {11, 4, 5}, {2, 0, 0}}, 5, types5);
  check_encoding (tok, "[CLS]x[SEP]", -1, FALSE, (const Tok[]) {
        {1, 0, 5}, {14, 5, 6}, {2, 6, 11}}, 3, ones);
  te_tokenizer_free (tok);
}

/* Replace the first occurrence of @from in small_json by @to and load it. */
static TeTokenizer *
load_edited (const char *from, const char *to, GError ** error)
{
  const char *p = strstr (small_json, from);
  GString *s;
  TeTokenizer *tok;

  g_assert_nonnull (p);
  s = g_string_new_len (small_json, p - small_json);
  g_string_append (s, to);
  g_string_append (s, p + strlen (from));
  tok = te_tokenizer_new_from_data (s->str, s->len, error);
  g_string_free (s, TRUE);
  return tok;
}

static void
expect_error (const char *from, const char *to, gint code, const char *in_message)
{
  GError *err = NULL;
  TeTokenizer *tok = load_edited (from, to, &err);

  g_assert_null (tok);
  g_assert_error (err, TE_ERROR, code);
  if (!strstr (err->message, in_message))
    g_error ("error \"%s\" does not mention \"%s\"", err->message, in_message);
  g_error_free (err);
}

static void
test_errors (void)
{
  GError *err = NULL;
  TeTokenizer *tok;

  /* unsupported components name themselves and their type */
  expect_error ("\"type\": \"WordPiece\"", "\"type\": \"BPE\"", TE_ERROR_UNSUPPORTED,
      "model type \"BPE\" is not supported (supported: WordPiece, Unigram)");
  expect_error ("\"type\": \"BertNormalizer\"", "\"type\": \"Prepend\"", TE_ERROR_UNSUPPORTED,
      "normalizer type \"Prepend\" is not supported");
  expect_error ("\"normalizer\": {", "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\":"
      " [{\"type\": \"NFD\"}, {\"type\": \"ByteLevel\"}]},"
      " \"x\": {", TE_ERROR_UNSUPPORTED, "normalizer type \"ByteLevel\"");
  expect_error ("\"normalizer\": {", "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\":"
      " [{\"type\": \"NFD\"}, {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\"}]},"
      " \"x\": {", TE_ERROR_PARSE, "precompiled_charsmap is too short");
  expect_error ("\"type\": \"BertPreTokenizer\"", "\"type\": \"Whitespace\"",
      TE_ERROR_UNSUPPORTED, "pre_tokenizer type \"Whitespace\" is not supported");
  expect_error ("\"type\": \"TemplateProcessing\"", "\"type\": \"ByteLevel\"",
      TE_ERROR_UNSUPPORTED, "post_processor type \"ByteLevel\" is not supported");
  expect_error ("\"version\": \"1.0\"", "\"version\": \"2.0\"", TE_ERROR_UNSUPPORTED,
      "version \"2.0\"");
  /* malformed input and missing fields */
  expect_error ("\"version\"", "\"version\" oops", TE_ERROR_PARSE, "invalid JSON");
  expect_error ("\"vocab\":", "\"vocabulary\":", TE_ERROR_PARSE, "missing field \"vocab\"");
  expect_error ("\"unk_token\": \"[UNK]\",", "", TE_ERROR_PARSE, "\"unk_token\"");
  expect_error ("\"##a\": 7", "\"##a\": -7", TE_ERROR_PARSE, "vocab entry \"##a\"");
  expect_error ("\"model\": {", "\"modelX\": {", TE_ERROR_PARSE, "\"model\"");
  expect_error ("\"lowercase\": true", "\"lowercase\": \"yes\"", TE_ERROR_PARSE,
      "\"lowercase\" must be a boolean");
  expect_error ("\"ids\": [1]", "\"idz\": [1]", TE_ERROR_PARSE, "\"ids\"");
  expect_error ("{\"SpecialToken\": {\"id\": \"[CLS]\"", "{\"SpecialToken\": {\"id\": \"[BOS]\"",
      TE_ERROR_PARSE, "\"[BOS]\"");
  expect_error ("\"content\": \"<x>\", ", "", TE_ERROR_PARSE, "added_tokens[3]");

  tok = te_tokenizer_new_from_data ("[]", 2, &err);
  g_assert_null (tok);
  g_assert_error (err, TE_ERROR, TE_ERROR_PARSE);
  g_clear_error (&err);
  tok = te_tokenizer_new_from_file ("/nonexistent/tokenizer.json", &err);
  g_assert_null (tok);
  g_assert_error (err, TE_ERROR, TE_ERROR_IO);
  g_clear_error (&err);

  /* supported alternatives load */
  tok = load_edited ("\"post_processor\": {", "\"post_processor\": {\"type\": \"BertProcessing\","
      " \"sep\": [\"[SEP]\", 2], \"cls\": [\"[CLS]\", 1]}, \"unused\": {", &err);
  g_assert_no_error (err);
  check_encoding (tok, "a", -1, TRUE, (const Tok[]) {{1, 0, 0}, {6, 0, 1}, {2, 0, 0}}, 3,
      NULL);
  te_tokenizer_free (tok);
  tok = load_edited ("\"normalizer\": {", "\"normalizer\": {\"type\": \"Sequence\","
      " \"normalizers\": [{\"type\": \"NFD\"}, {\"type\": \"Lowercase\"},"
      " {\"type\": \"StripAccents\"}]}, \"x\": {", &err);
  g_assert_no_error (err);
  check_encoding (tok, "CAFÉ", -1, FALSE, (const Tok[]) {{9, 0, 5}}, 1,
      (const gint32[]) {1});
  te_tokenizer_free (tok);
}

/* ---------- threads, buffer reuse, timing ---------- */

#define N_THREADS 6

static const char *const thread_texts[] = {
  "Hello, world!", "Naïve CAFÉ İstanbul 北京 abc", "a [SEP] b [MASK]c",
  "Tiếng Việt có nhiều dấu: Nguyễn, Đặng", "👨‍👩‍👧‍👦 family, 🇫🇷 flag",
  "x\xcc\x81\xcc\x96 y\xcc\x96\xcc\x81", "unaffable tokenization antidisestablishmentarianism",
};

typedef struct
{
  const TeTokenizer *tok;
  GPtrArray *ref;               /* reference TeEncoding per text */
  gboolean ok;
} ThreadData;

static gboolean
encodings_equal (const TeEncoding * a, const TeEncoding * b)
{
  return a->n == b->n && !memcmp (a->ids, b->ids, a->n * sizeof (gint32))
      && !memcmp (a->type_ids, b->type_ids, a->n * sizeof (gint32))
      && !memcmp (a->starts, b->starts, a->n * sizeof (guint32))
      && !memcmp (a->ends, b->ends, a->n * sizeof (guint32))
      && !memcmp (a->special, b->special, a->n);
}

static gpointer
thread_func (gpointer user)
{
  ThreadData *d = user;
  TeEncoding enc;
  guint r, i;

  te_encoding_init (&enc);
  d->ok = TRUE;
  for (r = 0; r < 300; r++)
    for (i = 0; i < G_N_ELEMENTS (thread_texts); i++) {
      if (!te_tokenizer_encode (d->tok, thread_texts[i], strlen (thread_texts[i]), TRUE, &enc,
              NULL) || !encodings_equal (&enc, g_ptr_array_index (d->ref, i)))
        d->ok = FALSE;
    }
  te_encoding_clear (&enc);
  return NULL;
}

/* A hostile tokenizer.json nested a million levels deep is refused before json-glib's
 * recursive parser sees it (it would overflow the stack). */
static void
test_deep_nesting (void)
{
  gsize n = 1000000;
  gchar *json = g_malloc (n + 1);
  memset (json, '[', n);
  json[n] = '\0';
  GError *err = NULL;
  TeTokenizer *t = te_tokenizer_new_from_data (json, n, &err);
  g_assert_null (t);
  g_assert_error (err, TE_ERROR, TE_ERROR_PARSE);
  g_assert_nonnull (strstr (err->message, "nested"));
  g_clear_error (&err);
  g_free (json);
}

static void
free_encoding (gpointer p)
{
  te_encoding_clear (p);
  g_free (p);
}

static void
test_model_threads (void)
{
  TeTokenizer *tok = get_model ();
  ThreadData data[N_THREADS];
  GThread *th[N_THREADS];
  GPtrArray *ref;
  guint i;

  if (!tok)
    return;
  ref = g_ptr_array_new_with_free_func (free_encoding);
  for (i = 0; i < G_N_ELEMENTS (thread_texts); i++) {
    TeEncoding *e = g_new (TeEncoding, 1);
    te_encoding_init (e);
    g_assert_true (te_tokenizer_encode (tok, thread_texts[i], strlen (thread_texts[i]), TRUE,
            e, NULL));
    g_ptr_array_add (ref, e);
  }
  for (i = 0; i < N_THREADS; i++) {
    data[i].tok = tok;
    data[i].ref = ref;
    th[i] = g_thread_new ("tok", thread_func, &data[i]);
  }
  for (i = 0; i < N_THREADS; i++) {
    g_thread_join (th[i]);
    g_assert_true (data[i].ok);
  }
  g_ptr_array_unref (ref);
}

static gchar *
english_text (gsize min_len)
{
  gchar *lic = NULL;
  GString *s = g_string_new (NULL);

  if (!g_file_get_contents ("/usr/share/common-licenses/GPL-3", &lic, NULL, NULL))
    lic = g_strdup ("The licenses for most software and other practical works are designed "
        "to take away your freedom to share and change the works. By contrast, the GNU General "
        "Public License is intended to guarantee your freedom to share and change all versions "
        "of a program--to make sure it remains free software for all its users.\n");
  while (s->len < min_len)
    g_string_append (s, lic);
  g_free (lic);
  return g_string_free (s, FALSE);
}

static void
test_model_reuse_and_chunks (void)
{
  TeTokenizer *tok = get_model ();
  gchar *text;
  gsize len, pos = 0;
  TeEncoding whole, part;
  guint idx = 0, i;

  if (!tok)
    return;
  text = english_text (300 * 1024);
  len = strlen (text);
  te_encoding_init (&whole);
  te_encoding_init (&part);
  g_assert_true (te_tokenizer_encode (tok, text, len, FALSE, &whole, NULL));
  g_assert_cmpuint (whole.capacity, >=, whole.n);
  /* encoding line by line, reusing one TeEncoding, gives the same tokens (shifted) */
  while (pos < len) {
    const char *nl = memchr (text + pos, '\n', len - pos);
    gsize l = nl ? (gsize) (nl - (text + pos)) + 1 : len - pos;
    g_assert_true (te_tokenizer_encode (tok, text + pos, l, FALSE, &part, NULL));
    for (i = 0; i < part.n; i++, idx++) {
      g_assert_cmpint (part.ids[i], ==, whole.ids[idx]);
      g_assert_cmpuint (part.starts[i] + pos, ==, whole.starts[idx]);
      g_assert_cmpuint (part.ends[i] + pos, ==, whole.ends[idx]);
    }
    pos += l;
  }
  g_assert_cmpuint (idx, ==, whole.n);
  te_encoding_clear (&whole);
  te_encoding_clear (&part);
  g_free (text);
}

static void
test_model_timing (void)
{
  TeTokenizer *tok = get_model ();
  gchar *text;
  gsize len, pos, window = 4096;
  TeEncoding enc;
  gint64 t0, t1;
  guint64 tokens = 0;

  if (!tok)
    return;
  text = english_text (4 * 1024 * 1024);
  len = strlen (text);
  te_encoding_init (&enc);
  t0 = g_get_monotonic_time ();
  g_assert_true (te_tokenizer_encode (tok, text, len, TRUE, &enc, NULL));
  t1 = g_get_monotonic_time ();
  g_test_message ("whole text: %" G_GSIZE_FORMAT " bytes -> %u tokens in %.3f s = %.1f MB/s",
      len, enc.n, (t1 - t0) / 1e6, len / ((t1 - t0) / 1e6) / 1e6);
  t0 = g_get_monotonic_time ();
  for (pos = 0; pos + window <= len; pos += window) {
    /* windows may cut a word; fine for timing */
    g_assert_true (te_tokenizer_encode (tok, text + pos, window, FALSE, &enc, NULL));
    tokens += enc.n;
  }
  t1 = g_get_monotonic_time ();
  g_test_message ("4 KiB windows: %" G_GSIZE_FORMAT " bytes -> %" G_GUINT64_FORMAT
      " tokens in %.3f s = %.1f MB/s", pos, tokens, (t1 - t0) / 1e6,
      pos / ((t1 - t0) / 1e6) / 1e6);
  te_encoding_clear (&enc);
  g_free (text);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tokenizer/model/basics", test_model_basics);
  g_test_add_func ("/tokenizer/model/known-encodings", test_model_known);
  g_test_add_func ("/tokenizer/model/long-word", test_model_long_word);
  g_test_add_func ("/tokenizer/model/added-token-split", test_model_added_split);
  g_test_add_func ("/tokenizer/model/invalid-utf8", test_model_invalid_utf8);
  g_test_add_func ("/tokenizer/model/fingerprint", test_model_fingerprint);
  g_test_add_func ("/tokenizer/model/threads", test_model_threads);
  g_test_add_func ("/tokenizer/model/reuse-and-chunks", test_model_reuse_and_chunks);
  g_test_add_func ("/tokenizer/model/timing", test_model_timing);
  g_test_add_func ("/tokenizer/small/encodings", test_small);
  g_test_add_func ("/tokenizer/small/post-processor-ids",
      test_post_processor_ids_in_vocab_size);
  g_test_add_func ("/tokenizer/small/errors", test_errors);
  g_test_add_func ("/tokenizer/small/deep-nesting", test_deep_nesting);
  ret = g_test_run ();
  te_tokenizer_free (model_tok);
  g_free (model_json);
  return ret;
}
