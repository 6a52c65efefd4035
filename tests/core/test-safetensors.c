/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-safetensors.c — malformed safetensors files written on the fly must each be rejected
 * with the right error; a tiny generated BERT model directory (F32, F16, BF16, "bert." prefix)
 * must load and run like a naive reference forward pass; the real model must load. */
#include <math.h>
#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "te-model.h"
#include "te-bert.h"
#include "te-kern.h"
#include "te-kernels.h"
#include "te-backend.h"

static char *tmpdir;

/* ---- helpers ---- */

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

static void
write_file (const char *path, const void *data, gsize len)
{
  GError *err = NULL;
  char *dir = g_path_get_dirname (path);

  g_mkdir_with_parents (dir, 0700);
  g_free (dir);
  g_file_set_contents (path, data, (gssize) len, &err);
  g_assert_no_error (err);
}

static void
write_text (const char *dir, const char *name, const char *text)
{
  char *path = g_build_filename (dir, name, NULL);
  write_file (path, text, strlen (text));
  g_free (path);
}

/* A safetensors file from a raw header length field, header bytes and data bytes. */
static char *
write_raw (const char *name, guint64 header_len_field, const char *header, gsize header_bytes,
    gsize data_len)
{
  char *path = tmp_path (name);
  GByteArray *b = g_byte_array_new ();
  guint64 le = GUINT64_TO_LE (header_len_field);
  guint8 *zeros = g_malloc0 (data_len + 1);

  g_byte_array_append (b, (const guint8 *) &le, 8);
  g_byte_array_append (b, (const guint8 *) header, (guint) header_bytes);
  g_byte_array_append (b, zeros, (guint) data_len);
  write_file (path, b->data, b->len);
  g_byte_array_free (b, TRUE);
  g_free (zeros);
  return path;
}

/* A well-formed length field for @header. */
static char *
write_header (const char *name, const char *header, gsize data_len)
{
  return write_raw (name, strlen (header), header, strlen (header), data_len);
}

static void
check_error (GError * err, int code, const char *path, const char *what)
{
  g_assert_nonnull (err);
  g_test_message ("expected error: %s", err->message);
  g_assert_error (err, TE_ERROR, code);
  if (path != NULL && strstr (err->message, path) == NULL)
    g_error ("message \"%s\" does not name the file %s", err->message, path);
  if (what != NULL && strstr (err->message, what) == NULL)
    g_error ("message \"%s\" does not mention \"%s\"", err->message, what);
}

static void
expect_open_error (const char *path, int code, const char *what)
{
  GError *err = NULL;
  TeSafetensors *st = te_safetensors_open (path, &err);

  g_assert_null (st);
  check_error (err, code, path, what);
  g_error_free (err);
}

/* ---- malformed files ---- */

static void
test_truncated_length (void)
{
  char *path = tmp_path ("short.safetensors");

  write_file (path, "\x10\x00\x00", 3);
  expect_open_error (path, TE_ERROR_PARSE, "truncated");
  write_file (path, "", 0);
  expect_open_error (path, TE_ERROR_PARSE, "truncated");
  g_free (path);
}

static void
test_header_beyond_eof (void)
{
  const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  /* The length field claims 1000 header bytes; the file has far fewer. */
  char *path = write_raw ("beyond.safetensors", 1000, h, strlen (h), 4);

  expect_open_error (path, TE_ERROR_PARSE, "beyond the end");
  g_free (path);
}

static void
test_data_short (void)
{
  /* 100 floats declared, only 200 bytes of data present. */
  char *path = write_header ("datashort.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", 200);

  expect_open_error (path, TE_ERROR_INVALID, "out of range");
  g_free (path);
}

static void
test_offsets_out_of_range (void)
{
  char *path = write_header ("range.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[4000,4016]}}", 16);

  expect_open_error (path, TE_ERROR_INVALID, "out of range");
  g_free (path);
  /* Offsets near 2^64 must not wrap around. */
  path = write_header ("range2.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],"
      "\"data_offsets\":[9223372036854775800,9223372036854775807]}}", 16);
  expect_open_error (path, TE_ERROR_INVALID, NULL);
  g_free (path);
}

static void
test_begin_after_end (void)
{
  char *path = write_header ("order.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,8]}}", 16);

  expect_open_error (path, TE_ERROR_INVALID, "begin");
  g_free (path);
}

static void
test_nbytes_mismatch (void)
{
  char *path = write_header ("nbytes.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16);

  expect_open_error (path, TE_ERROR_INVALID, "implies 12");
  g_free (path);
  path = write_header ("nbytes16.safetensors",
      "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16);
  expect_open_error (path, TE_ERROR_INVALID, "\"w\"");
  g_free (path);
}

static void
test_absurd_header (void)
{
  const char *h = "{}";
  char *path = write_raw ("absurd.safetensors", G_GUINT64_CONSTANT (1) << 62, h, 2, 0);

  expect_open_error (path, TE_ERROR_PARSE, "absurd");
  g_free (path);
  /* Just over the 100 MB limit, too. */
  path = write_raw ("absurd2.safetensors", 100 * 1024 * 1024 + 1, h, 2, 0);
  expect_open_error (path, TE_ERROR_PARSE, "absurd");
  g_free (path);
}

static void
test_non_object_header (void)
{
  char *path = write_header ("array.safetensors", "[1, 2, 3]", 0);

  expect_open_error (path, TE_ERROR_PARSE, "not a JSON object");
  g_free (path);
  path = write_header ("badjson.safetensors", "{\"w\": ", 0);
  expect_open_error (path, TE_ERROR_PARSE, "JSON");
  g_free (path);
  path = write_header ("entry.safetensors", "{\"w\": 42}", 0);
  expect_open_error (path, TE_ERROR_PARSE, "\"w\"");
  g_free (path);
  path = write_header ("nodtype.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}",
      4);
  expect_open_error (path, TE_ERROR_PARSE, "dtype");
  g_free (path);
  path = write_header ("offtype.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}", 4);
  expect_open_error (path, TE_ERROR_PARSE, "data_offsets");
  g_free (path);
  path = write_header ("offlen.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4);
  expect_open_error (path, TE_ERROR_PARSE, "data_offsets");
  g_free (path);
}

/* Millions of nested brackets would overflow json-glib's recursive parser. */
static void
test_deep_nesting (void)
{
  gsize n = 1000000;
  char *h = g_malloc (2 * n + 1), *path;

  memset (h, '[', n);
  memset (h + n, ']', n);
  h[2 * n] = '\0';
  path = write_header ("deep.safetensors", h, 0);
  expect_open_error (path, TE_ERROR_PARSE, "nested too deeply");
  g_free (path);
  /* Brackets inside strings are not nesting. */
  path = write_header ("brackets.safetensors",
      "{\"__metadata__\":{\"x\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{{{{{{{{{{{{{{{\"},"
      "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  {
    GError *err = NULL;
    TeSafetensors *st = te_safetensors_open (path, &err);
    g_assert_no_error (err);
    g_assert_nonnull (te_safetensors_find (st, "w"));
    te_safetensors_close (st);
  }
  g_free (path);
  g_free (h);
}

static void
test_bad_shape (void)
{
  char *path = write_header ("neg.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,16]}}", 16);

  expect_open_error (path, TE_ERROR_INVALID, "shape");
  g_free (path);
  path = write_header ("float.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4);
  expect_open_error (path, TE_ERROR_INVALID, "shape");
  g_free (path);
  path = write_header ("ndim.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
  expect_open_error (path, TE_ERROR_INVALID, "dimensions");
  g_free (path);
  path = write_header ("overflow.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}",
      0);
  expect_open_error (path, TE_ERROR_INVALID, "overflow");
  g_free (path);
  path = write_header ("noshape.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,4]}}", 4);
  expect_open_error (path, TE_ERROR_PARSE, "shape");
  g_free (path);
}

static void
test_unknown_dtype (void)
{
  char *path = write_header ("dtype.safetensors",
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"q\":{\"dtype\":\"Q4_K\",\"shape\":[4],\"data_offsets\":[0,2]},"
      "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[8,24]}}", 24);
  GError *err = NULL;
  TeSafetensors *st = te_safetensors_open (path, &err);
  const TeTensorInfo *t;

  /* Opening is fine: unknown dtypes only matter when read. */
  g_assert_no_error (err);
  g_assert_cmpuint (te_safetensors_n_tensors (st), ==, 2);
  t = te_safetensors_find (st, "q");
  g_assert_nonnull (t);
  g_assert_cmpint (t->dtype, ==, TE_DTYPE_OTHER);
  g_assert_null (te_safetensors_read_f32 (st, t, &err));
  check_error (err, TE_ERROR_UNSUPPORTED, path, "Q4_K");
  g_assert_nonnull (strstr (err->message, "\"q\""));
  g_clear_error (&err);

  t = te_safetensors_find (st, "ids");
  g_assert_cmpint (t->dtype, ==, TE_DTYPE_I64);
  g_assert_cmpuint (t->offset, ==, 8 + strlen ("{\"__metadata__\":{\"format\":\"pt\"},"
          "\"q\":{\"dtype\":\"Q4_K\",\"shape\":[4],\"data_offsets\":[0,2]},"
          "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[8,24]}}") + 8);
  g_assert_null (te_safetensors_read_f32 (st, t, &err));
  check_error (err, TE_ERROR_UNSUPPORTED, path, "I64");
  g_clear_error (&err);
  g_assert_null (te_safetensors_find (st, "__metadata__"));
  te_safetensors_close (st);
  g_free (path);
}

/* F16 / BF16 -> F32 on the awkward values: zeros, subnormals, extremes, inf, NaN. */
static void
test_half_conversion (void)
{
  static const struct {
    guint16 bits;
    double value;
  } f16[] = {
    {0x0000, 0.0}, {0x8000, -0.0}, {0x3c00, 1.0}, {0xc000, -2.0}, {0x3555, 0.333251953125},
    {0x0001, 5.9604644775390625e-08} /* 2^-24, smallest subnormal */ ,
    {0x03ff, 6.097555160522461e-05} /* largest subnormal */ ,
    {0x8200, -3.0517578125e-05}, {0x0400, 6.103515625e-05} /* smallest normal */ ,
    {0x7bff, 65504.0}, {0x7c00, INFINITY}, {0xfc00, -INFINITY},
  }, bf16[] = {
    {0x0000, 0.0}, {0x8000, -0.0}, {0x3f80, 1.0}, {0xc0a0, -5.0}, {0x3eaa, 0.33203125},
    {0x0001, 9.183549615799121e-41} /* float subnormal 2^-133 */ ,
    {0x7f7f, 3.3895313892515355e+38}, {0x7f80, INFINITY}, {0xff80, -INFINITY},
  };
  guint8 data[64];
  GString *h = g_string_new (NULL);
  char *path;
  GError *err = NULL;
  TeSafetensors *st;
  float *v;

  for (guint i = 0; i < G_N_ELEMENTS (f16); i++) {
    g_assert_cmpfloat (te_f16_to_f32 (f16[i].bits), ==, (float) f16[i].value);
    g_assert_cmpint (!!signbit (te_f16_to_f32 (f16[i].bits)), ==, !!signbit (f16[i].value));
  }
  for (guint i = 0; i < G_N_ELEMENTS (bf16); i++) {
    g_assert_cmpfloat (te_bf16_to_f32 (bf16[i].bits), ==, (float) bf16[i].value);
    g_assert_cmpint (!!signbit (te_bf16_to_f32 (bf16[i].bits)), ==, !!signbit (bf16[i].value));
  }
  g_assert_true (isnan (te_f16_to_f32 (0x7e00)));
  g_assert_true (isnan (te_f16_to_f32 (0xfc01)));
  g_assert_true (isnan (te_bf16_to_f32 (0x7fc0)));
  g_assert_true (isnan (te_bf16_to_f32 (0xff81)));
  /* Every finite half round-trips through a double computation of its value. */
  for (guint32 b = 0; b < 0x10000; b++) {
    guint e = (b >> 10) & 0x1f, m = b & 0x3ff;
    double want;
    if (e == 31)
      continue;
    want = e == 0 ? ldexp (m, -24) : ldexp (1024 + m, (int) e - 25);
    if (b & 0x8000)
      want = -want;
    g_assert_cmpfloat (te_f16_to_f32 ((guint16) b), ==, (float) want);
  }

  /* And through a file: a F16 and a BF16 tensor, read with te_safetensors_read_f32. */
  for (guint i = 0; i < 4; i++) {
    data[2 * i] = f16[5 + i].bits & 0xff;
    data[2 * i + 1] = f16[5 + i].bits >> 8;
    data[8 + 2 * i] = bf16[5 + i].bits & 0xff;
    data[8 + 2 * i + 1] = bf16[5 + i].bits >> 8;
  }
  g_string_append (h, "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[8,16]}}");
  path = tmp_path ("half.safetensors");
  {
    GByteArray *ba = g_byte_array_new ();
    guint64 le = GUINT64_TO_LE (h->len);
    g_byte_array_append (ba, (guint8 *) & le, 8);
    g_byte_array_append (ba, (guint8 *) h->str, h->len);
    g_byte_array_append (ba, data, 16);
    write_file (path, ba->data, ba->len);
    g_byte_array_free (ba, TRUE);
  }
  st = te_safetensors_open (path, &err);
  g_assert_no_error (err);
  v = te_safetensors_read_f32 (st, te_safetensors_find (st, "h"), &err);
  g_assert_no_error (err);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpfloat (v[i], ==, (float) f16[5 + i].value);
  g_free (v);
  v = te_safetensors_read_f32 (st, te_safetensors_find (st, "b"), &err);
  g_assert_no_error (err);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpfloat (v[i], ==, (float) bf16[5 + i].value);
  g_free (v);
  te_safetensors_close (st);
  g_string_free (h, TRUE);
  g_free (path);
}

/* ---- a tiny BERT model directory ---- */

#define TINY_H 8
#define TINY_HEADS 2
#define TINY_I 16
#define TINY_LAYERS 1
#define TINY_POS 16
#define TINY_TYPES 2
#define TINY_VOCAB 20

static const char *tiny_tokens[TINY_VOCAB] = {
  "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the", "a", "##s",
  "cat", "dog", ",", ".", "!", "##ing", "run", "is", "on", "mat",
};

/* HF tokenizer.json for a BERT WordPiece tokenizer over tiny_tokens. */
static char *
tiny_tokenizer_json (void)
{
  GString *s = g_string_new ("{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
      "\"added_tokens\":[");

  for (int i = 0; i < 5; i++)
    g_string_append_printf (s, "%s{\"id\":%d,\"content\":\"%s\",\"single_word\":false,"
        "\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}",
        i ? "," : "", i, tiny_tokens[i]);
  g_string_append (s, "],\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,"
      "\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":true},"
      "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
      "\"post_processor\":{\"type\":\"TemplateProcessing\","
      "\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},"
      "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
      "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
      "\"pair\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},"
      "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
      "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}},"
      "{\"Sequence\":{\"id\":\"B\",\"type_id\":1}},"
      "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":1}}],"
      "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[2],\"tokens\":[\"[CLS]\"]},"
      "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[3],\"tokens\":[\"[SEP]\"]}}},"
      "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
      "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
      "\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,\"vocab\":{");
  for (int i = 0; i < TINY_VOCAB; i++)
    g_string_append_printf (s, "%s\"%s\":%d", i ? "," : "", tiny_tokens[i], i);
  g_string_append (s, "}}}");
  return g_string_free (s, FALSE);
}

static char *
tiny_config_json (const char *extra)
{
  return g_strdup_printf ("{\"architectures\":[\"BertModel\"],\"model_type\":\"bert\","
      "\"hidden_act\":\"gelu\",\"hidden_size\":%d,\"num_attention_heads\":%d,"
      "\"num_hidden_layers\":%d,\"intermediate_size\":%d,\"max_position_embeddings\":%d,"
      "\"type_vocab_size\":%d,\"vocab_size\":%d,\"layer_norm_eps\":1e-12,"
      "\"position_embedding_type\":\"absolute\"%s}", TINY_H, TINY_HEADS, TINY_LAYERS, TINY_I,
      TINY_POS, TINY_TYPES, TINY_VOCAB, extra ? extra : "");
}

typedef struct {
  char *name;
  int ndim;
  gint64 shape[2];
  float *data;
  gsize n;
} WTensor;

static void
wtensor_free (gpointer p)
{
  WTensor *t = p;
  g_free (t->name);
  g_free (t->data);
  g_free (t);
}

/* Values k/128, |k| <= kmax (<= 127), plus @base: 8 significant bits at most, so exactly
 * representable in F16, BF16 and F32 alike. All three files then hold identical weights. */
static void
add_tensor (GPtrArray * ts, GRand * rng, const char *name, int ndim, gint64 d0, gint64 d1,
    float base, int kmax)
{
  WTensor *t = g_new0 (WTensor, 1);

  t->name = g_strdup (name);
  t->ndim = ndim;
  t->shape[0] = d0;
  t->shape[1] = d1;
  t->n = (gsize) d0 * (ndim == 2 ? d1 : 1);
  t->data = g_new (float, t->n);
  for (gsize i = 0; i < t->n; i++)
    t->data[i] = base + g_rand_int_range (rng, -kmax, kmax + 1) / 128.0f;
  g_ptr_array_add (ts, t);
}

static GPtrArray *
tiny_weights (void)
{
  GPtrArray *ts = g_ptr_array_new_with_free_func (wtensor_free);
  GRand *rng = g_rand_new_with_seed (42);
  const char *lin[][2] = {
    {"attention.self.query", NULL}, {"attention.self.key", NULL},
    {"attention.self.value", NULL}, {"attention.output.dense", NULL},
  };

  add_tensor (ts, rng, "embeddings.word_embeddings.weight", 2, TINY_VOCAB, TINY_H, 0, 127);
  add_tensor (ts, rng, "embeddings.position_embeddings.weight", 2, TINY_POS, TINY_H, 0, 40);
  add_tensor (ts, rng, "embeddings.token_type_embeddings.weight", 2, TINY_TYPES, TINY_H, 0, 40);
  add_tensor (ts, rng, "embeddings.LayerNorm.weight", 1, TINY_H, 0, 1.0f, 32);
  add_tensor (ts, rng, "embeddings.LayerNorm.bias", 1, TINY_H, 0, 0, 20);
  for (int l = 0; l < TINY_LAYERS; l++) {
    char name[128];
    for (guint j = 0; j < G_N_ELEMENTS (lin); j++) {
      g_snprintf (name, sizeof name, "encoder.layer.%d.%s.weight", l, lin[j][0]);
      add_tensor (ts, rng, name, 2, TINY_H, TINY_H, 0, 64);
      g_snprintf (name, sizeof name, "encoder.layer.%d.%s.bias", l, lin[j][0]);
      add_tensor (ts, rng, name, 1, TINY_H, 0, 0, 20);
    }
    g_snprintf (name, sizeof name, "encoder.layer.%d.attention.output.LayerNorm.weight", l);
    add_tensor (ts, rng, name, 1, TINY_H, 0, 1.0f, 32);
    g_snprintf (name, sizeof name, "encoder.layer.%d.attention.output.LayerNorm.bias", l);
    add_tensor (ts, rng, name, 1, TINY_H, 0, 0, 20);
    g_snprintf (name, sizeof name, "encoder.layer.%d.intermediate.dense.weight", l);
    add_tensor (ts, rng, name, 2, TINY_I, TINY_H, 0, 64);
    g_snprintf (name, sizeof name, "encoder.layer.%d.intermediate.dense.bias", l);
    add_tensor (ts, rng, name, 1, TINY_I, 0, 0, 20);
    g_snprintf (name, sizeof name, "encoder.layer.%d.output.dense.weight", l);
    add_tensor (ts, rng, name, 2, TINY_H, TINY_I, 0, 64);
    g_snprintf (name, sizeof name, "encoder.layer.%d.output.dense.bias", l);
    add_tensor (ts, rng, name, 1, TINY_H, 0, 0, 20);
    g_snprintf (name, sizeof name, "encoder.layer.%d.output.LayerNorm.weight", l);
    add_tensor (ts, rng, name, 1, TINY_H, 0, 1.0f, 32);
    g_snprintf (name, sizeof name, "encoder.layer.%d.output.LayerNorm.bias", l);
    add_tensor (ts, rng, name, 1, TINY_H, 0, 0, 20);
  }
  g_rand_free (rng);
  return ts;
}

/* Exact float -> binary16 for values that are representable (asserted). */
static guint16
f32_to_f16_exact (float f)
{
  guint16 sign = signbit (f) ? 0x8000 : 0;
  int e;
  float m, frac;

  if (f == 0.0f)
    return sign;
  m = frexpf (fabsf (f), &e);   /* |f| = m 2^e, m in [0.5, 1) */
  g_assert_true (e - 1 + 15 > 0 && e - 1 + 15 < 31);
  frac = (2.0f * m - 1.0f) * 1024.0f;
  g_assert_cmpfloat (frac, ==, floorf (frac));
  return sign | (guint16) ((e - 1 + 15) << 10) | (guint16) frac;
}

typedef struct {
  const char *dtype;      /* "F32", "F16", "BF16" */
  const char *prefix;     /* "", "bert." or "roberta." */
  gboolean misalign;      /* data section not 4-byte aligned: F32 must be copied */
  const char *bad_name;   /* this tensor gets a transposed shape... */
  const char *drop_name;  /* ...this one is left out */
} TinyVariant;

static void
write_tiny_safetensors (const char *path, GPtrArray * ts, const TinyVariant * v)
{
  gsize esize = strcmp (v->dtype, "F32") == 0 ? 4 : 2;
  GString *h = g_string_new ("{\"__metadata__\":{\"format\":\"pt\"}");
  GByteArray *data = g_byte_array_new ();
  GByteArray *file = g_byte_array_new ();
  gsize off = 0;
  guint64 le;

  /* An I64 tensor first, like embeddings.position_ids in real checkpoints. */
  g_string_append_printf (h, ",\"%sembeddings.position_ids\":{\"dtype\":\"I64\","
      "\"shape\":[1,%d],\"data_offsets\":[0,%d]}", v->prefix, TINY_POS, TINY_POS * 8);
  for (gint64 i = 0; i < TINY_POS; i++) {
    gint64 x = GINT64_TO_LE (i);
    g_byte_array_append (data, (guint8 *) & x, 8);
  }
  off = TINY_POS * 8;

  for (guint i = 0; i < ts->len; i++) {
    WTensor *t = g_ptr_array_index (ts, i);
    gboolean bad = v->bad_name && strcmp (t->name, v->bad_name) == 0;

    if (v->drop_name && strcmp (t->name, v->drop_name) == 0)
      continue;
    g_string_append_printf (h, ",\"%s%s\":{\"dtype\":\"%s\",\"shape\":[", v->prefix, t->name,
        v->dtype);
    if (t->ndim == 2)
      g_string_append_printf (h, "%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT,
          t->shape[bad ? 1 : 0], t->shape[bad ? 0 : 1]);
    else
      g_string_append_printf (h, "%" G_GINT64_FORMAT, t->shape[0]);
    g_string_append_printf (h, "],\"data_offsets\":[%" G_GSIZE_FORMAT ",%" G_GSIZE_FORMAT "]}",
        off, off + t->n * esize);
    off += t->n * esize;
    for (gsize k = 0; k < t->n; k++) {
      guint32 bits;
      memcpy (&bits, &t->data[k], 4);
      if (esize == 4) {
        bits = GUINT32_TO_LE (bits);
        g_byte_array_append (data, (guint8 *) & bits, 4);
      } else {
        guint16 half;
        if (strcmp (v->dtype, "BF16") == 0) {
          g_assert_cmpuint (bits & 0xffff, ==, 0);   /* exactly representable */
          half = bits >> 16;
        } else {
          half = f32_to_f16_exact (t->data[k]);
        }
        half = GUINT16_TO_LE (half);
        g_byte_array_append (data, (guint8 *) & half, 2);
      }
    }
  }
  g_string_append_c (h, '}');
  /* Pad the header with spaces (as the format allows) so that the data section starts 8-byte
   * aligned, or deliberately at 2 mod 4. */
  while ((8 + h->len) % 8 != (v->misalign ? 2u : 0u))
    g_string_append_c (h, ' ');

  le = GUINT64_TO_LE (h->len);
  g_byte_array_append (file, (guint8 *) & le, 8);
  g_byte_array_append (file, (guint8 *) h->str, h->len);
  g_byte_array_append (file, data->data, data->len);
  write_file (path, file->data, file->len);
  g_byte_array_free (file, TRUE);
  g_byte_array_free (data, TRUE);
  g_string_free (h, TRUE);
}

/* Write a complete model directory; returns its path. */
static char *
write_tiny_model (const char *name, const TinyVariant * v, const char *config_extra)
{
  char *dir = tmp_path (name);
  char *st_path = g_build_filename (dir, "model.safetensors", NULL);
  char *tok = tiny_tokenizer_json ();
  char *config = tiny_config_json (config_extra);
  GPtrArray *ts = tiny_weights ();

  g_mkdir_with_parents (dir, 0700);
  write_text (dir, "config.json", config);
  write_text (dir, "tokenizer.json", tok);
  write_text (dir, "modules.json", "[{\"idx\":0,\"name\":\"0\",\"path\":\"\","
      "\"type\":\"sentence_transformers.models.Transformer\"},"
      "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\","
      "\"type\":\"sentence_transformers.models.Pooling\"},"
      "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\","
      "\"type\":\"sentence_transformers.models.Normalize\"}]");
  write_text (dir, "1_Pooling/config.json", "{\"word_embedding_dimension\":8,"
      "\"pooling_mode_cls_token\":false,\"pooling_mode_mean_tokens\":true,"
      "\"pooling_mode_max_tokens\":false,\"pooling_mode_mean_sqrt_len_tokens\":false}");
  write_text (dir, "sentence_bert_config.json", "{\"max_seq_length\":12,"
      "\"do_lower_case\":false}");
  write_tiny_safetensors (st_path, ts, v);
  g_ptr_array_free (ts, TRUE);
  g_free (tok);
  g_free (config);
  g_free (st_path);
  return dir;
}

static TeModel *
load_ok (const char *dir)
{
  GError *err = NULL;
  TeModel *m = te_model_load (dir, &err);

  g_assert_no_error (err);
  g_assert_nonnull (m);
  return m;
}

/* The tiny batch: 3 rows of 6 positions, lengths 6, 3, 1, with token types in row 0. */
#define TB 3
#define TS 6
static const gint32 tb_ids[TB][TS] = {
  {2, 5, 6, 12, 19, 3}, {2, 17, 3, 0, 0, 0}, {2, 0, 0, 0, 0, 0},
};
static const gint32 tb_types[TB][TS] = { {0, 0, 0, 1, 1, 1}, {0}, {0} };
static const int tb_lens[TB] = { 6, 3, 1 };

static TeBatch *
tiny_batch (void)
{
  TeBatch *b = te_batch_new (TB, TS, TINY_H, 0);
  for (int r = 0; r < TB; r++)
    te_batch_set_row (b, r, tb_ids[r], tb_types[r], tb_lens[r]);
  return b;
}

/* Naive padded forward pass over one row: separate Q, K, V projections, _ref kernels,
 * attention masked (not packed). Independent of te-bert.c's packing and fused QKV. */
static void
reference_row (const TeModel * m, const gint32 * ids, const gint32 * types, const gint32 * mask,
    int s, float *x)
{
  const TeBertConfig *c = te_model_config (m);
  const TeBertWeights *w = te_model_weights (m);
  int H = c->hidden_size, I = c->intermediate_size;
  float *q = g_new (float, s * H), *k = g_new (float, s * H), *v = g_new (float, s * H);
  float *qkv = g_new (float, s * 3 * H), *ctx = g_new (float, s * H);
  float *tmp = g_new (float, s * H), *inter = g_new (float, s * I);

  for (int p = 0; p < s; p++)
    for (int j = 0; j < H; j++)
      x[p * H + j] = w->word_emb[ids[p] * H + j] + w->pos_emb[p * H + j]
          + w->type_emb[types[p] * H + j];
  te_layernorm_ref (x, NULL, w->emb_ln_g, w->emb_ln_b, s, H, c->layer_norm_eps);
  for (int l = 0; l < c->num_layers; l++) {
    const TeBertLayer *L = &w->layers[l];
    te_linear_ref (x, L->q_w, L->q_b, q, s, H, H);
    te_linear_ref (x, L->k_w, L->k_b, k, s, H, H);
    te_linear_ref (x, L->v_w, L->v_b, v, s, H, H);
    for (int p = 0; p < s; p++) {
      memcpy (qkv + p * 3 * H, q + p * H, H * sizeof (float));
      memcpy (qkv + p * 3 * H + H, k + p * H, H * sizeof (float));
      memcpy (qkv + p * 3 * H + 2 * H, v + p * H, H * sizeof (float));
    }
    te_attention_ref (qkv, mask, ctx, s, H, c->num_heads);
    te_linear_ref (ctx, L->ao_w, L->ao_b, tmp, s, H, H);
    te_layernorm_ref (x, tmp, L->ln1_g, L->ln1_b, s, H, c->layer_norm_eps);
    te_linear_ref (x, L->i_w, L->i_b, inter, s, I, H);
    te_gelu_erf_ref (inter, (gsize) s * I);
    te_linear_ref (inter, L->o_w, L->o_b, tmp, s, H, I);
    te_layernorm_ref (x, tmp, L->ln2_g, L->ln2_b, s, H, c->layer_norm_eps);
  }
  g_free (q);
  g_free (k);
  g_free (v);
  g_free (qkv);
  g_free (ctx);
  g_free (tmp);
  g_free (inter);
}

/* Forward the tiny batch through @m; check it against the reference; return the output. */
static float *
forward_checked_with (const TeModel * m, TeBertEngine * engine)
{
  GError *err = NULL;
  TeBatch *b = tiny_batch ();
  float *out, *ref = g_new (float, TS * TINY_H);
  double max_err = 0.0;

  if (engine != NULL)
    g_assert_true (te_bert_engine_forward (engine, b, &err));
  else
    g_assert_true (te_bert_forward (m, b, &err));
  g_assert_no_error (err);
  for (int r = 0; r < TB; r++) {
    reference_row (m, tb_ids[r], tb_types[r], b->attention_mask + r * TS, TS, ref);
    for (int p = 0; p < TS; p++) {
      for (int j = 0; j < TINY_H; j++) {
        float got = b->hidden[(r * TS + p) * TINY_H + j];
        g_assert_true (isfinite (got));
        if (p < tb_lens[r])
          max_err = MAX (max_err, fabs (got - ref[p * TINY_H + j]));
        else
          g_assert_cmpfloat (got, ==, 0.0f);   /* padded positions are zeroed */
      }
    }
  }
  g_test_message ("tiny forward (%s) vs naive reference: max abs err %.3g",
      engine ? te_bert_engine_describe (engine) : "openblas", max_err);
  g_assert_cmpfloat (max_err, <, 1e-5);
  out = g_memdup2 (b->hidden, TB * TS * TINY_H * sizeof (float));
  g_free (ref);
  te_batch_free (b);
  return out;
}

static float *
forward_checked (const TeModel * m)
{
  return forward_checked_with (m, NULL);
}

static void
test_tiny_model (void)
{
  static const TinyVariant variants[] = {
    {"F32", "", FALSE}, {"F16", "", FALSE}, {"BF16", "", FALSE},
    {"F32", "bert.", FALSE}, {"F32", "", TRUE}, {"F16", "bert.", TRUE},
  };
  float *base = NULL;
  gsize base_size = 0;

  for (guint i = 0; i < G_N_ELEMENTS (variants); i++) {
    const TinyVariant *v = &variants[i];
    char *name = g_strdup_printf ("tiny-%s-%s%s", v->dtype, v->prefix[0] ? "prefix" : "plain",
        v->misalign ? "-misaligned" : "");
    char *dir = write_tiny_model (name, v, NULL);
    TeModel *m = load_ok (dir);
    const TeBertConfig *c = te_model_config (m);
    const TeSentenceConfig *sc = te_model_sentence_config (m);
    float *out;

    g_test_message ("variant %s", name);
    g_assert_cmpint (c->hidden_size, ==, TINY_H);
    g_assert_cmpint (c->num_heads, ==, TINY_HEADS);
    g_assert_cmpint (c->vocab_size, ==, TINY_VOCAB);
    g_assert_cmpint (sc->pooling, ==, TE_POOL_MEAN);
    g_assert_true (sc->normalize);
    g_assert_cmpint (sc->max_seq_length, ==, 12);
    g_assert_nonnull (te_model_tokenizer (m));
    g_assert_nonnull (te_model_weights (m));

    out = forward_checked (m);
    if (base == NULL) {
      base = out;
      base_size = te_model_weights_size (m);
      g_assert_cmpuint (base_size, >, 0);
    } else {
      /* Identical weights whatever the file dtype, so identical outputs (tolerance only for
       * the sake of form: the values are exactly representable in every dtype). */
      for (int k = 0; k < TB * TS * TINY_H; k++)
        g_assert_cmpfloat (fabsf (out[k] - base[k]), <=, 1e-6f);
      g_assert_cmpuint (te_model_weights_size (m), ==, base_size);
      g_free (out);
    }
    te_model_free (m);
    g_free (dir);
    g_free (name);
  }
  g_free (base);
}

/* Padding must not change a row's real outputs: row 1 alone equals row 1 in the batch. */
static void
test_tiny_padding_invariance (void)
{
  TinyVariant v = { "F32", "", FALSE };
  char *dir = write_tiny_model ("tiny-pad", &v, NULL);
  TeModel *m = load_ok (dir);
  TeBatch *full = tiny_batch (), *one = te_batch_new (1, 3, TINY_H, 0);
  GError *err = NULL;

  g_assert_true (te_bert_forward (m, full, &err));
  te_batch_set_row (one, 0, tb_ids[1], tb_types[1], 3);
  g_assert_true (te_bert_forward (m, one, &err));
  g_assert_no_error (err);
  for (int k = 0; k < 3 * TINY_H; k++)
    g_assert_cmpfloat (fabsf (one->hidden[k] - full->hidden[TS * TINY_H + k]), <=, 1e-6f);
  te_batch_free (full);
  te_batch_free (one);
  te_model_free (m);
  g_free (dir);
}

/* The cpu backend through the generic interface; the forward pass from several threads at
 * once on one model (no shared mutable state) gives the single-threaded answer. */
static gpointer
forward_thread (gpointer data)
{
  const TeModel *m = data;
  TeBatch *b = tiny_batch ();
  GError *err = NULL;

  for (int i = 0; i < 50; i++)
    g_assert_true (te_bert_forward (m, b, &err));
  return b;
}

static gboolean
openblas_mapped (void)
{
  char *maps = NULL;
  gboolean found;

  g_assert_true (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  found = strstr (maps, "libopenblas") != NULL;
  g_free (maps);
  return found;
}

/* OpenBLAS is loaded only by what calls it (te-blas.h): a process that embeds on the native
 * kernels never maps it, so its threads never start; kernels=openblas loads it. In a fresh
 * process, since the other tests load it. */
static void
test_blas_lazy (void)
{
  if (g_test_subprocess ()) {
    TinyVariant v = { "F32", "", FALSE };
    char *dir = write_tiny_model ("tiny-blas", &v, NULL);
    TeModel *m = load_ok (dir);
    GHashTable *opts = g_hash_table_new (g_str_hash, g_str_equal);
    GError *err = NULL;
    TeBackend *be;

    g_assert_false (openblas_mapped ());
    be = te_backend_new ("cpu", m, NULL, &err);
    g_assert_no_error (err);
    te_backend_free (be);
    TeBertEngine *engine = te_bert_engine_new (m, -1, 2, TE_BERT_FP32, &err);
    g_assert_no_error (err);
    g_free (forward_checked_with (m, engine));
    te_bert_engine_free (engine);
    g_assert_false (openblas_mapped ());
    g_hash_table_insert (opts, (gpointer) "kernels", (gpointer) "openblas");
    be = te_backend_new ("cpu", m, opts, &err);
    g_assert_no_error (err);
    g_assert_true (openblas_mapped ());
    te_backend_free (be);
    g_hash_table_unref (opts);
    te_model_free (m);
    g_free (dir);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* OpenBLAS's choice of kernels, where it is below what the CPU runs (Debian 12's 0.3.21 names
 * AVX-512 Xeons "Prescott"; an environment may force a core, as OPENBLAS_CORETYPE=Haswell on
 * one of our Zen 5 VMs), is told once with the fix. Forced
 * here with OPENBLAS_CORETYPE=Prescott, below any CPU with AVX2; in a fresh process, since
 * OpenBLAS reads it when it loads and the warning is once per process. */
static void
test_blas_core_warning (void)
{
#if defined(__x86_64__)
  if (!te_cpu_level_supported (TE_CPU_AVX2)) {
    g_test_skip ("this CPU has no AVX2: Prescott is not below it");
    return;
  }
  if (g_test_subprocess ()) {
    TinyVariant v = { "F32", "", FALSE };
    char *dir = write_tiny_model ("tiny-blas-core", &v, NULL);
    TeModel *m = load_ok (dir);
    GHashTable *opts = g_hash_table_new (g_str_hash, g_str_equal);
    GError *err = NULL;
    TeBackend *be;

    g_setenv ("OPENBLAS_CORETYPE", "Prescott", TRUE);
    g_hash_table_insert (opts, (gpointer) "kernels", (gpointer) "openblas");
    be = te_backend_new ("cpu", m, opts, &err);   /* the warning is fatal here */
    g_assert_no_error (err);
    te_backend_free (be);
    g_hash_table_unref (opts);
    te_model_free (m);
    g_free (dir);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*OpenBLAS chose its \"Prescott\" kernels on a CPU with AVX*"
      "OPENBLAS_CORETYPE=*");
#else
  g_test_skip ("OpenBLAS core names are checked on x86-64 only");
#endif
}

static void
test_tiny_backend (void)
{
  TinyVariant v = { "F32", "", FALSE };
  char *dir = write_tiny_model ("tiny-backend", &v, NULL);
  TeModel *m = load_ok (dir), *tok_only;
  GHashTable *opts = g_hash_table_new (g_str_hash, g_str_equal);
  TeBackend *be;
  TeBackendCaps caps;
  TeBatch *b = tiny_batch ();
  GError *err = NULL;
  GThread *threads[4];
  float *want;

  g_assert_true (te_backend_class_lookup ("cpu") == &te_backend_cpu_class);
  g_assert_null (te_backend_class_lookup ("nope"));
  g_assert_nonnull (strstr (te_backend_class_names (), "cpu"));
  g_assert_null (te_backend_new ("nope", m, NULL, &err));
  check_error (err, TE_ERROR_BACKEND, NULL, "cpu");
  g_clear_error (&err);

  g_hash_table_insert (opts, (gpointer) "threads", (gpointer) "zero");
  g_assert_null (te_backend_new ("cpu", m, opts, &err));
  check_error (err, TE_ERROR_BACKEND, NULL, "threads");
  g_clear_error (&err);
  tok_only = te_model_load_tokenizer_only (dir, &err);
  g_assert_no_error (err);
  g_assert_null (te_backend_new ("cpu", tok_only, NULL, &err));
  check_error (err, TE_ERROR_BACKEND, NULL, "weights");
  g_clear_error (&err);
  te_model_free (tok_only);

  g_hash_table_insert (opts, (gpointer) "threads", (gpointer) "2");
  g_hash_table_insert (opts, (gpointer) "kernels", (gpointer) "fast");
  g_assert_null (te_backend_new ("cpu", m, opts, &err));
  check_error (err, TE_ERROR_BACKEND, NULL, "kernels=\"fast\"");
  g_clear_error (&err);
  g_hash_table_insert (opts, (gpointer) "kernels", (gpointer) "openblas");
  g_hash_table_insert (opts, (gpointer) "threds", (gpointer) "2");
  g_assert_null (te_backend_new ("cpu", m, opts, &err));
  check_error (err, TE_ERROR_BACKEND, NULL, "unknown option \"threds\"");
  g_clear_error (&err);
  g_hash_table_remove (opts, "threds");

  /* The project's kernels: every level this CPU runs computes the reference's function. */
  for (int level = 0; level < TE_CPU_N_LEVELS; level++) {
    TeBertEngine *engine;
    float *got;

    if (!te_cpu_level_supported (level) || !te_kern_level_available (level)) {
      g_assert_null (te_bert_engine_new (m, level, 1, TE_BERT_FP32, &err));
      check_error (err, TE_ERROR_BACKEND, NULL, te_cpu_level_name (level));
      g_clear_error (&err);
      continue;
    }
    for (int nt = 1; nt <= 3; nt += 2) {
      engine = te_bert_engine_new (m, level, nt, TE_BERT_FP32, &err);
      g_assert_no_error (err);
      g_assert_cmpint (te_bert_engine_level (engine), ==, level);
      g_assert_cmpint (te_bert_engine_threads (engine), ==, nt);
      g_assert_nonnull (strstr (te_bert_engine_describe (engine), te_cpu_level_name (level)));
      got = forward_checked_with (m, engine);
      /* the encoder on groups of rows (of 6, 3 and 1 tokens): each row alone, then {6} and
       * {3, 1}; bit for bit the output of the whole batch at once */
      for (gsize g = 1; g <= 4; g += 3) {
        TeBatch *bad = tiny_batch ();
        float *grouped;

        te_bert_engine_set_group_tokens (engine, g);
        grouped = forward_checked_with (m, engine);
        g_assert_cmpmem (grouped, TB * TS * TINY_H * sizeof (float), got,
            TB * TS * TINY_H * sizeof (float));
        g_free (grouped);
        /* a bad id in the last group: the error names the row of the whole batch */
        bad->input_ids[2 * TS] = 1000;
        g_assert_false (te_bert_engine_forward (engine, bad, &err));
        check_error (err, TE_ERROR_INVALID, NULL, "row 2 position 0");
        g_clear_error (&err);
        te_batch_free (bad);
      }
      te_bert_engine_set_group_tokens (engine, 0);
      g_free (got);
      /* the feed-forward block in blocks of 3 of the batch's 10 tokens: the same function */
      te_bert_engine_set_ffn_rows (engine, 3);
      got = forward_checked_with (m, engine);
      g_free (got);
      te_bert_engine_free (engine);
    }
  }
  {
    /* default options: native kernels, said in the caps */
    TeBackend *native = te_backend_new ("cpu", m, NULL, &err);
    g_assert_no_error (err);
    te_backend_get_caps (native, &caps);
    g_assert_nonnull (strstr (caps.kernel, te_cpu_level_name (te_cpu_best_level ())));
    te_backend_free (native);
  }

  /* kernels=openblas is te_bert_forward() itself: bit for bit below. */
  be = te_backend_new ("cpu", m, opts, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (te_backend_name (be), ==, "cpu");
  te_backend_get_caps (be, &caps);
  g_assert_cmpint (caps.max_seq_len, ==, TINY_POS);
  g_assert_cmpint (caps.n_buckets, ==, 0);
  g_assert_cmpfloat (caps.latency_ms, ==, 0);   /* no estimate: the element measures */
  g_assert_nonnull (strstr (caps.kernel, "openblas"));
  g_assert_cmpint (te_backend_caps_seq_len (&caps, 5), ==, 5);
  g_assert_cmpint (te_backend_caps_seq_len (&caps, -1), ==, -1);
  g_assert_cmpint (te_backend_caps_seq_len (&caps, TINY_POS), ==, TINY_POS);
  g_assert_cmpint (te_backend_caps_seq_len (&caps, TINY_POS + 1), ==, -1);
  caps.n_buckets = 2;
  caps.buckets[0] = 8;
  caps.buckets[1] = 16;
  g_assert_cmpint (te_backend_caps_seq_len (&caps, 3), ==, 8);
  g_assert_cmpint (te_backend_caps_seq_len (&caps, 9), ==, 16);
  g_assert_cmpint (te_backend_caps_seq_len (&caps, 17), ==, -1);

  g_assert_true (te_backend_run (be, b, &err));
  g_assert_no_error (err);
  want = forward_checked (m);
  g_assert_cmpmem (b->hidden, TB * TS * TINY_H * sizeof (float), want,
      TB * TS * TINY_H * sizeof (float));
  /* A failing batch: te_backend_run reports the error. */
  b->input_ids[0] = 1000;
  g_assert_false (te_backend_run (be, b, &err));
  check_error (err, TE_ERROR_INVALID, NULL, "vocabulary");
  g_clear_error (&err);
  te_backend_free (be);
  g_hash_table_unref (opts);

  for (int i = 0; i < 4; i++)
    threads[i] = g_thread_new ("forward", forward_thread, m);
  for (int i = 0; i < 4; i++) {
    TeBatch *tb = g_thread_join (threads[i]);
    g_assert_cmpmem (tb->hidden, TB * TS * TINY_H * sizeof (float), want,
        TB * TS * TINY_H * sizeof (float));
    te_batch_free (tb);
  }
  g_free (want);
  te_batch_free (b);
  te_model_free (m);
  g_free (dir);
}

static void
test_tiny_forward_errors (void)
{
  TinyVariant v = { "F32", "", FALSE };
  char *dir = write_tiny_model ("tiny-err", &v, NULL);
  TeModel *m = load_ok (dir);
  TeBatch *b = tiny_batch (), *longb = te_batch_new (1, TINY_POS + 1, TINY_H, 0);
  TeBatch *wrong_h = te_batch_new (1, 2, TINY_H + 1, 0);
  GError *err = NULL;
  gint32 ids[TINY_POS + 1] = { 0 };

  b->input_ids[2] = TINY_VOCAB;   /* out of the vocabulary */
  g_assert_false (te_bert_forward (m, b, &err));
  check_error (err, TE_ERROR_INVALID, NULL, "vocabulary");
  g_clear_error (&err);
  b->input_ids[2] = -1;
  g_assert_false (te_bert_forward (m, b, &err));
  check_error (err, TE_ERROR_INVALID, NULL, "vocabulary");
  g_clear_error (&err);
  b->input_ids[2] = 5;
  b->token_type_ids[2] = TINY_TYPES;
  g_assert_false (te_bert_forward (m, b, &err));
  check_error (err, TE_ERROR_INVALID, NULL, "type");
  g_clear_error (&err);

  te_batch_set_row (longb, 0, ids, NULL, TINY_POS + 1);
  g_assert_false (te_bert_forward (m, longb, &err));
  check_error (err, TE_ERROR_INVALID, NULL, "max_position_embeddings");
  g_clear_error (&err);
  g_assert_false (te_bert_forward (m, wrong_h, &err));
  check_error (err, TE_ERROR_INVALID, NULL, "hidden_size");
  g_clear_error (&err);

  te_batch_free (b);
  te_batch_free (longb);
  te_batch_free (wrong_h);
  te_model_free (m);
  g_free (dir);
}

static void
test_tiny_wrong_shape (void)
{
  TinyVariant v = { "F32", "", FALSE, "encoder.layer.0.intermediate.dense.weight" };
  char *dir = write_tiny_model ("tiny-shape", &v, NULL);
  char *st_path = g_build_filename (dir, "model.safetensors", NULL);
  GError *err = NULL;

  g_assert_null (te_model_load (dir, &err));
  check_error (err, TE_ERROR_INVALID, st_path,
      "encoder.layer.0.intermediate.dense.weight has shape [8, 16], config.json implies [16, 8]");
  g_clear_error (&err);
  g_free (st_path);
  g_free (dir);

  /* Same with the "bert." prefix: the message names the tensor as stored. */
  v.prefix = "bert.";
  v.bad_name = "encoder.layer.0.output.dense.weight";
  v.dtype = "F16";
  dir = write_tiny_model ("tiny-shape2", &v, "");
  g_assert_null (te_model_load (dir, &err));
  check_error (err, TE_ERROR_INVALID, NULL,
      "bert.encoder.layer.0.output.dense.weight has shape [16, 8], config.json implies [8, 16]");
  g_clear_error (&err);
  g_free (dir);

  /* A tensor left out altogether. */
  v = (TinyVariant) { "F32", "", FALSE, NULL, "encoder.layer.0.output.LayerNorm.bias" };
  dir = write_tiny_model ("tiny-missing", &v, NULL);
  g_assert_null (te_model_load (dir, &err));
  check_error (err, TE_ERROR_INVALID, NULL, "encoder.layer.0.output.LayerNorm.bias");
  g_assert_nonnull (strstr (err->message, "missing"));
  g_clear_error (&err);
  g_free (dir);
}

/* The XLM-RoBERTa family on the tiny weights: "roberta." prefix, the usable length
 * max_position_embeddings - padding_idx - 1 (the whole position table read at the limit, which
 * the sanitizers check), one more refused. Numerics against transformers: tests/test_xlmr.py. */
static void
test_tiny_xlm_roberta (void)
{
  TinyVariant v = { "F32", "roberta.", FALSE };
  char *dir = write_tiny_model ("tiny-xlmr", &v, ",\"model_type\":\"xlm-roberta\","
      "\"architectures\":[\"XLMRobertaModel\"],\"pad_token_id\":1");
  TeModel *m = load_ok (dir);
  const TeBertConfig *c = te_model_config (m);
  const int limit = TINY_POS - 2;
  TeBatch *b = te_batch_new (2, limit, TINY_H, 0), *longb = te_batch_new (1, limit + 1,
      TINY_H, 0);
  gint32 ids[TINY_POS];
  GError *err = NULL;

  g_assert_cmpint (c->family, ==, TE_FAMILY_XLM_ROBERTA);
  g_assert_cmpstr (c->model_type, ==, "xlm-roberta");
  g_assert_cmpint (c->pad_token_id, ==, 1);
  g_assert_cmpint (c->max_seq_len, ==, limit);
  g_assert_cmpint (te_model_sentence_config (m)->max_seq_length, ==, 12);
  for (int i = 0; i < TINY_POS; i++)
    ids[i] = 4 + i % (TINY_VOCAB - 4);
  ids[3] = 1;                   /* the pad id as a real token: position padding_idx */
  te_batch_set_row (b, 0, ids, NULL, limit);
  te_batch_set_row (b, 1, ids, NULL, 5);
  g_assert_true (te_bert_forward (m, b, &err));
  g_assert_no_error (err);
  for (gsize k = 0; k < (gsize) 2 * limit * TINY_H; k++)
    g_assert_true (isfinite (b->hidden[k]));
  te_batch_set_row (longb, 0, ids, NULL, limit + 1);
  g_assert_false (te_bert_forward (m, longb, &err));
  check_error (err, TE_ERROR_INVALID, NULL, "limit of 14 tokens");
  g_clear_error (&err);
  te_batch_free (b);
  te_batch_free (longb);
  te_model_free (m);
  g_free (dir);

  /* pad_token_id must be an id of the vocabulary. */
  dir = write_tiny_model ("tiny-xlmr-pad", &v, ",\"model_type\":\"xlm-roberta\","
      "\"pad_token_id\":20");
  g_assert_null (te_model_load (dir, &err));
  check_error (err, TE_ERROR_INVALID, NULL, "pad_token_id");
  g_clear_error (&err);
  g_free (dir);
}

/* config.json / sentence-transformers configs that must be refused, and ones accepted. */
static void
test_tiny_configs (void)
{
  static const struct {
    const char *extra;
    int code;
    const char *what;
  } bad[] = {
    {",\"model_type\":\"roberta\"", TE_ERROR_UNSUPPORTED,
        "\"roberta\" is not supported (supported model_type values: \"bert\", \"xlm-roberta\")"},
    {",\"hidden_act\":\"gelu_new\"", TE_ERROR_UNSUPPORTED, "gelu_new"},
    {",\"num_attention_heads\":3", TE_ERROR_INVALID, "num_attention_heads"},
    {",\"hidden_size\":0", TE_ERROR_INVALID, "hidden_size"},
    {",\"vocab_size\":\"20\"", TE_ERROR_PARSE, "vocab_size"},
    {",\"position_embedding_type\":\"relative_key\"", TE_ERROR_UNSUPPORTED, "relative_key"},
    /* positive as a double, 0 as the float the layer norm uses (found by fuzz-model-config) */
    {",\"layer_norm_eps\":1e-121", TE_ERROR_INVALID, "layer_norm_eps"},
  };
  TinyVariant v = { "F32", "", FALSE };
  GError *err = NULL;
  TeModel *m;
  char *dir, *path;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    /* JSON keeps the last duplicate key, so appending overrides the default. */
    char *name = g_strdup_printf ("tiny-config-%u", i);
    dir = write_tiny_model (name, &v, bad[i].extra);
    path = g_build_filename (dir, "config.json", NULL);
    g_assert_null (te_model_load (dir, &err));
    check_error (err, bad[i].code, path, bad[i].what);
    g_clear_error (&err);
    g_free (path);
    g_free (dir);
    g_free (name);
  }

  /* No model_type, but a BERT architecture: accepted. */
  dir = write_tiny_model ("tiny-arch", &v, NULL);
  {
    GString *config = g_string_new (NULL);
    char *c = tiny_config_json (NULL);
    g_string_assign (config, c);
    g_assert_cmpuint (g_string_replace (config, "\"model_type\":\"bert\",", "", 0), ==, 1);
    write_text (dir, "config.json", config->str);
    g_string_free (config, TRUE);
    g_free (c);
  }
  m = load_ok (dir);
  te_model_free (m);

  /* mean_sqrt_len pooling is refused; cls is honoured; max_seq_length is clamped. */
  path = g_build_filename (dir, "1_Pooling", "config.json", NULL);
  write_text (dir, "1_Pooling/config.json", "{\"pooling_mode_mean_sqrt_len_tokens\":true}");
  g_assert_null (te_model_load (dir, &err));
  check_error (err, TE_ERROR_UNSUPPORTED, path, "mean_sqrt_len");
  g_clear_error (&err);
  write_text (dir, "1_Pooling/config.json", "{\"pooling_mode_cls_token\":true}");
  write_text (dir, "sentence_bert_config.json", "{\"max_seq_length\":1000}");
  write_text (dir, "modules.json", "[{\"type\":\"sentence_transformers.models.Transformer\","
      "\"path\":\"\"},{\"type\":\"sentence_transformers.models.Pooling\","
      "\"path\":\"1_Pooling\"}]");
  m = load_ok (dir);
  g_assert_cmpint (te_model_sentence_config (m)->pooling, ==, TE_POOL_CLS);
  g_assert_false (te_model_sentence_config (m)->normalize);
  g_assert_cmpint (te_model_sentence_config (m)->max_seq_length, ==, TINY_POS);
  te_model_free (m);
  g_free (path);

  /* A module we do not implement (a Dense projection) would change the embedding. */
  path = g_build_filename (dir, "modules.json", NULL);
  write_text (dir, "modules.json", "[{\"type\":\"sentence_transformers.models.Transformer\","
      "\"path\":\"\"},{\"type\":\"sentence_transformers.models.Dense\",\"path\":\"2_Dense\"}]");
  g_assert_null (te_model_load (dir, &err));
  check_error (err, TE_ERROR_UNSUPPORTED, path, "Dense");
  g_clear_error (&err);
  g_free (path);

  /* No sentence-transformers files at all: mean, no normalisation, max_position_embeddings. */
  g_remove (path = g_build_filename (dir, "modules.json", NULL));
  g_free (path);
  g_remove (path = g_build_filename (dir, "sentence_bert_config.json", NULL));
  g_free (path);
  g_remove (path = g_build_filename (dir, "1_Pooling", "config.json", NULL));
  g_free (path);
  m = load_ok (dir);
  g_assert_cmpint (te_model_sentence_config (m)->pooling, ==, TE_POOL_MEAN);
  g_assert_false (te_model_sentence_config (m)->normalize);
  g_assert_cmpint (te_model_sentence_config (m)->max_seq_length, ==, TINY_POS);
  te_model_free (m);
  g_free (dir);

  /* An empty (or blank) JSON file is an error naming it, not a failure without an error (json-glib
   * parses an empty document as no root; found by fuzz-model-config). */
  dir = write_tiny_model ("tiny-empty-json", &v, NULL);
  static const char *const empty_files[] = {
    "modules.json", "sentence_bert_config.json", "1_Pooling/config.json", "config.json",
  };
  for (guint i = 0; i < G_N_ELEMENTS (empty_files); i++) {
    write_text (dir, empty_files[i], i % 2 ? " \n" : "");
    path = g_build_filename (dir, empty_files[i], NULL);
    g_assert_null (te_model_load (dir, &err));
    check_error (err, TE_ERROR_PARSE, path, "empty");
    g_clear_error (&err);
    g_remove (path);
    g_free (path);
  }
  g_free (dir);

  /* Missing directory. */
  g_assert_null (te_model_load ("/nonexistent/model", &err));
  check_error (err, TE_ERROR_IO, "/nonexistent/model", NULL);
  g_clear_error (&err);
}

static void
test_tiny_tokenizer_only (void)
{
  TinyVariant v = { "F32", "", FALSE };
  char *dir = write_tiny_model ("tiny-tok", &v, NULL);
  char *st_path = g_build_filename (dir, "model.safetensors", NULL);
  GError *err = NULL;
  TeModel *m;

  /* Weights are not even looked at. */
  write_file (st_path, "garbage", 7);
  m = te_model_load_tokenizer_only (dir, &err);
  g_assert_no_error (err);
  g_assert_nonnull (te_model_tokenizer (m));
  g_assert_null (te_model_weights (m));
  g_assert_cmpuint (te_model_weights_size (m), ==, 0);
  g_assert_cmpint (te_model_sentence_config (m)->max_seq_length, ==, 12);
  /* Adding the weights fails as te_model_load does, and leaves the model as it was. */
  g_assert_false (te_model_load_weights (m, &err));
  check_error (err, TE_ERROR_PARSE, st_path, NULL);
  g_clear_error (&err);
  g_assert_null (te_model_weights (m));
  g_assert_cmpuint (te_model_weights_size (m), ==, 0);
  g_assert_nonnull (te_model_tokenizer (m));
  te_model_free (m);
  g_assert_null (te_model_load (dir, &err));
  check_error (err, TE_ERROR_PARSE, st_path, NULL);
  g_clear_error (&err);
  g_free (st_path);
  g_free (dir);

  /* Weights added later are the weights te_model_load gives; the tokenizer stays the same. */
  dir = write_tiny_model ("tiny-tok-weights", &v, NULL);
  TeModel *full = te_model_load (dir, &err);
  g_assert_no_error (err);
  m = te_model_load_tokenizer_only (dir, &err);
  g_assert_no_error (err);
  const TeTokenizer *tok = te_model_tokenizer (m);
  g_assert_true (te_model_load_weights (m, &err));
  g_assert_no_error (err);
  const TeBertWeights *w = te_model_weights (m);
  g_assert_nonnull (w);
  g_assert_true (te_model_load_weights (m, &err));      /* again: nothing to do */
  g_assert_true (te_model_weights (m) == w);
  g_assert_true (te_model_tokenizer (m) == tok);
  g_assert_cmpuint (te_model_weights_size (m), ==, te_model_weights_size (full));
  const TeBertConfig *c = te_model_config (m);
  g_assert_cmpmem (w->word_emb, sizeof (float) * c->vocab_size * c->hidden_size,
      te_model_weights (full)->word_emb, sizeof (float) * c->vocab_size * c->hidden_size);
  g_assert_cmpmem (w->layers[c->num_layers - 1].o_w,
      sizeof (float) * c->hidden_size * c->intermediate_size,
      te_model_weights (full)->layers[c->num_layers - 1].o_w,
      sizeof (float) * c->hidden_size * c->intermediate_size);
  te_model_free (m);
  te_model_free (full);
  g_free (dir);
}

/* config_sentence_transformers.json prompts, default_prompt_name and include_prompt, resolved
 * as sentence-transformers' encode_document() / encode_query() resolve them. */
static void
test_tiny_prompts (void)
{
  TinyVariant v = { "F32", "", FALSE };
  char *dir = write_tiny_model ("tiny-prompts", &v, NULL);
  char *cfg = g_build_filename (dir, "config_sentence_transformers.json", NULL);
  GError *err = NULL;
  char *p = NULL;

  /* no config file: no prompts, include_prompt defaults to TRUE */
  TeModel *m = load_ok (dir);
  g_assert_true (te_model_sentence_config (m)->include_prompt);
  g_assert_null (te_model_default_prompt_name (m));
  g_assert_true (te_model_resolve_prompt (m, TE_PROMPT_DOCUMENT, NULL, NULL, NULL, &p, &err));
  g_assert_cmpstr (p, ==, "");
  g_clear_pointer (&p, g_free);
  g_assert_true (te_model_resolve_prompt (m, TE_PROMPT_QUERY, NULL, "Find the answer", NULL,
          &p, &err));
  g_assert_cmpstr (p, ==, "Instruct: Find the answer\nQuery: ");
  g_clear_pointer (&p, g_free);
  te_model_free (m);

  write_text (dir, "config_sentence_transformers.json", "{\"prompts\": {\"query\": \"query: \","
      "\"passage\": \"passage: \", \"corpus\": \"c: \", \"classification\": \"cls: \"},"
      "\"default_prompt_name\": \"classification\", \"similarity_fn_name\": \"cosine\"}");
  write_text (dir, "1_Pooling/config.json", "{\"word_embedding_dimension\":8,"
      "\"pooling_mode_mean_tokens\":true,\"include_prompt\":false}");
  m = load_ok (dir);
  g_assert_false (te_model_sentence_config (m)->include_prompt);
  g_assert_cmpstr (te_model_default_prompt_name (m), ==, "classification");
  g_assert_cmpstr (te_model_prompt (m, "query"), ==, "query: ");
  g_assert_null (te_model_prompt (m, "document"));
  char **names = te_model_prompt_names (m);
  g_assert_cmpuint (g_strv_length (names), ==, 4);
  g_assert_cmpstr (names[0], ==, "classification");
  g_assert_cmpstr (names[3], ==, "query");
  g_strfreev (names);
  /* documents: "document", else "passage", else "corpus" (passage here) */
  g_assert_true (te_model_resolve_prompt (m, TE_PROMPT_DOCUMENT, NULL, NULL, NULL, &p, &err));
  g_assert_cmpstr (p, ==, "passage: ");
  g_clear_pointer (&p, g_free);
  g_assert_true (te_model_resolve_prompt (m, TE_PROMPT_QUERY, NULL, NULL, NULL, &p, &err));
  g_assert_cmpstr (p, ==, "query: ");
  g_clear_pointer (&p, g_free);
  g_assert_true (te_model_resolve_prompt (m, TE_PROMPT_DOCUMENT, NULL, NULL, "corpus", &p,
          &err));
  g_assert_cmpstr (p, ==, "c: ");
  g_clear_pointer (&p, g_free);
  /* an explicit empty prompt is no prompt, whatever the config says */
  g_assert_true (te_model_resolve_prompt (m, TE_PROMPT_DOCUMENT, "", NULL, NULL, &p, &err));
  g_assert_cmpstr (p, ==, "");
  g_clear_pointer (&p, g_free);
  /* an unknown name lists the declared ones */
  g_assert_false (te_model_resolve_prompt (m, TE_PROMPT_DOCUMENT, NULL, NULL, "nope", &p, &err));
  check_error (err, TE_ERROR_INVALID, dir, "classification, corpus, passage, query");
  g_clear_error (&err);
  g_assert_false (te_model_resolve_prompt (m, TE_PROMPT_DOCUMENT, "x: ", NULL, "query", &p,
          &err));
  check_error (err, TE_ERROR_INVALID, NULL, "only one of");
  g_clear_error (&err);
  g_assert_null (p);
  te_model_free (m);

  /* neither role's names: default_prompt_name applies */
  write_text (dir, "config_sentence_transformers.json", "{\"prompts\": {\"s2p\": \"x: \"},"
      "\"default_prompt_name\": \"s2p\"}");
  m = load_ok (dir);
  g_assert_true (te_model_resolve_prompt (m, TE_PROMPT_DOCUMENT, NULL, NULL, NULL, &p, &err));
  g_assert_cmpstr (p, ==, "x: ");
  g_clear_pointer (&p, g_free);
  te_model_free (m);

  /* hostile configs: clear errors naming the file */
  const char *bad[] = {
    "[1, 2]",
    "{\"prompts\": [\"query: \"]}",
    "{\"prompts\": {\"query\": 3}}",
    "{\"prompts\": {\"query\": \"q: \"}, \"default_prompt_name\": \"passage\"}",
    "{\"default_prompt_name\": 7}",
    "{\"prompts\": {\"query\": \"q",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    write_text (dir, "config_sentence_transformers.json", bad[i]);
    g_assert_null (te_model_load_tokenizer_only (dir, &err));
    g_assert_nonnull (err);
    g_test_message ("expected error: %s", err->message);
    g_assert_nonnull (strstr (err->message, "config_sentence_transformers.json"));
    g_clear_error (&err);
  }
  write_text (dir, "config_sentence_transformers.json", "{}");
  write_text (dir, "1_Pooling/config.json", "{\"word_embedding_dimension\":8,"
      "\"pooling_mode_mean_tokens\":true,\"include_prompt\":\"no\"}");
  g_assert_null (te_model_load_tokenizer_only (dir, &err));
  check_error (err, TE_ERROR_PARSE, NULL, "include_prompt");
  g_clear_error (&err);
  g_free (cfg);
  g_free (dir);
}

/* ---- the real model ---- */

static void
test_real_model (void)
{
  const char *dir = g_getenv ("TE_TEST_MODEL");
  GError *err = NULL;
  TeModel *m;
  TeBatch *b;
  gsize size;
  /* "[CLS] hello world [SEP]" in the BERT uncased vocabulary. */
  const gint32 ids[] = { 101, 7592, 2088, 102 };

  if (dir == NULL || *dir == '\0') {
    g_test_fail_printf ("TE_TEST_MODEL is not set: point it at the all-MiniLM-L6-v2 model "
        "directory (tools/setup.sh installs it; meson test sets it to -Ddefault_model)");
    return;
  }
  m = te_model_load (dir, &err);
  g_assert_no_error (err);
  size = te_model_weights_size (m);
  g_test_message ("%s: %" G_GSIZE_FORMAT " bytes of fp32 weights", dir, size);
  g_assert_cmpuint (size, >, 85 * 1000 * 1000);
  g_assert_cmpuint (size, <, 95 * 1000 * 1000);
  g_assert_cmpint (te_model_config (m)->hidden_size, ==, 384);
  g_assert_cmpint (te_model_config (m)->num_layers, ==, 6);
  g_assert_cmpint (te_model_config (m)->num_heads, ==, 12);
  g_assert_cmpint (te_model_sentence_config (m)->max_seq_length, ==, 256);
  g_assert_true (te_model_sentence_config (m)->normalize);
  g_assert_cmpint (te_model_sentence_config (m)->pooling, ==, TE_POOL_MEAN);

  b = te_batch_new (1, 4, 384, 0);
  te_batch_set_row (b, 0, ids, NULL, 4);
  g_assert_true (te_bert_forward (m, b, &err));
  g_assert_no_error (err);
  for (int k = 0; k < 4 * 384; k++)
    g_assert_true (isfinite (b->hidden[k]));
  te_batch_free (b);
  te_model_free (m);
}

/* ---- main ---- */

static void
rm_rf (const char *path)
{
  GDir *d;
  const char *name;

  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    d = g_dir_open (path, 0, NULL);
    if (d != NULL) {
      while ((name = g_dir_read_name (d)) != NULL) {
        char *child = g_build_filename (path, name, NULL);
        rm_rf (child);
        g_free (child);
      }
      g_dir_close (d);
    }
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

int
main (int argc, char **argv)
{
  GError *err = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  /* The tests of kernels=openblas compare it with the native kernels, whatever OpenBLAS's
   * build makes of this CPU and whatever core the environment forces (a machine seen here
   * sets OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU): give it the core the CPU supports,
   * which is the fix its warning names (the warning: /model/blas-core-warning). */
#if defined(__x86_64__)
  g_setenv ("OPENBLAS_CORETYPE", te_cpu_level_supported (TE_CPU_AVX512) ? "SkylakeX"
      : te_cpu_level_supported (TE_CPU_AVX2) ? "Haswell" : "Prescott", TRUE);
#endif
  tmpdir = g_dir_make_tmp ("te-test-safetensors-XXXXXX", &err);
  g_assert_no_error (err);

  g_test_add_func ("/safetensors/truncated-length", test_truncated_length);
  g_test_add_func ("/safetensors/header-beyond-eof", test_header_beyond_eof);
  g_test_add_func ("/safetensors/data-short", test_data_short);
  g_test_add_func ("/safetensors/offsets-out-of-range", test_offsets_out_of_range);
  g_test_add_func ("/safetensors/begin-after-end", test_begin_after_end);
  g_test_add_func ("/safetensors/nbytes-mismatch", test_nbytes_mismatch);
  g_test_add_func ("/safetensors/absurd-header", test_absurd_header);
  g_test_add_func ("/safetensors/non-object-header", test_non_object_header);
  g_test_add_func ("/safetensors/bad-shape", test_bad_shape);
  g_test_add_func ("/safetensors/deep-nesting", test_deep_nesting);
  g_test_add_func ("/safetensors/unknown-dtype", test_unknown_dtype);
  g_test_add_func ("/safetensors/half-conversion", test_half_conversion);
  g_test_add_func ("/model/tiny", test_tiny_model);
  g_test_add_func ("/model/tiny-padding-invariance", test_tiny_padding_invariance);
  g_test_add_func ("/model/tiny-forward-errors", test_tiny_forward_errors);
  g_test_add_func ("/model/tiny-backend", test_tiny_backend);
  g_test_add_func ("/model/blas-lazy", test_blas_lazy);
  g_test_add_func ("/model/blas-core-warning", test_blas_core_warning);
  g_test_add_func ("/model/tiny-wrong-shape", test_tiny_wrong_shape);
  g_test_add_func ("/model/tiny-configs", test_tiny_configs);
  g_test_add_func ("/model/tiny-xlm-roberta", test_tiny_xlm_roberta);
  g_test_add_func ("/model/tiny-tokenizer-only", test_tiny_tokenizer_only);
  g_test_add_func ("/model/tiny-prompts", test_tiny_prompts);
  g_test_add_func ("/model/real", test_real_model);

  ret = g_test_run ();
  rm_rf (tmpdir);
  g_free (tmpdir);
  return ret;
}
