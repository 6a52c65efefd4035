/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-safetensors.c — memory-mapped reader for the safetensors weight format.
 * The file is untrusted: the header is validated completely before any tensor is handed out. */
#include "te-model.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "te-json.h"

/* Header larger than this is refused outright (real headers are a few tens of KB). */
#define TE_SAFETENSORS_MAX_HEADER (100 * 1024 * 1024)
#define TE_SAFETENSORS_MAX_NDIM 8

/* The public TeTensorInfo plus what only this file needs. @info must stay first: the public
 * API hands out &entry->info and we cast back. */
typedef struct {
  TeTensorInfo info;
  char *dtype_name;   /* as written in the header, for error messages */
} TeTensorEntry;

struct _TeSafetensors {
  char *path;
  GMappedFile *map;
  const guint8 *bytes;
  gsize size;
  gsize data_start;         /* 8 + header length */
  GPtrArray *tensors;       /* TeTensorEntry*, in header order */
  GHashTable *by_name;      /* name -> TeTensorEntry* (borrowed) */
};

typedef struct {
  const char *name;
  TeDType dtype;
  gsize size;
} TeDTypeDesc;

/* Every dtype the safetensors format defines. Only the first three can be converted to fp32;
 * the others are still size-checked, and recorded as TE_DTYPE_OTHER (except I64). */
static const TeDTypeDesc dtype_table[] = {
  {"F32", TE_DTYPE_F32, 4},
  {"F16", TE_DTYPE_F16, 2},
  {"BF16", TE_DTYPE_BF16, 2},
  {"I64", TE_DTYPE_I64, 8},
  {"F64", TE_DTYPE_OTHER, 8},
  {"U64", TE_DTYPE_OTHER, 8},
  {"I32", TE_DTYPE_OTHER, 4},
  {"U32", TE_DTYPE_OTHER, 4},
  {"I16", TE_DTYPE_OTHER, 2},
  {"U16", TE_DTYPE_OTHER, 2},
  {"I8", TE_DTYPE_OTHER, 1},
  {"U8", TE_DTYPE_OTHER, 1},
  {"BOOL", TE_DTYPE_OTHER, 1},
  {"F8_E4M3", TE_DTYPE_OTHER, 1},
  {"F8_E5M2", TE_DTYPE_OTHER, 1},
};

static void
tensor_entry_free (gpointer p)
{
  TeTensorEntry *e = p;

  g_free (e->info.name);
  g_free (e->dtype_name);
  g_free (e);
}

void
te_safetensors_close (TeSafetensors * st)
{
  if (st == NULL)
    return;
  if (st->by_name)
    g_hash_table_destroy (st->by_name);
  if (st->tensors)
    g_ptr_array_free (st->tensors, TRUE);
  if (st->map)
    g_mapped_file_unref (st->map);
  g_free (st->path);
  g_free (st);
}

static gboolean
parse_tensor (TeSafetensors * st, const char *name, JsonNode * node, gsize data_size,
    GError ** error)
{
  JsonObject *obj;
  JsonArray *shape, *offsets;
  const char *dtype_name;
  const TeDTypeDesc *desc = NULL;
  TeTensorEntry *e;
  guint64 begin, end, n_elems = 1;
  guint i, ndim;

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: header entry for tensor \"%s\" is not a JSON object", st->path, name);
    return FALSE;
  }
  obj = json_node_get_object (node);

  dtype_name = te_json_string (obj, "dtype");
  if (dtype_name == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: tensor \"%s\" has no string \"dtype\"", st->path, name);
    return FALSE;
  }
  for (i = 0; i < G_N_ELEMENTS (dtype_table); i++) {
    if (strcmp (dtype_table[i].name, dtype_name) == 0) {
      desc = &dtype_table[i];
      break;
    }
  }

  shape = te_json_array (obj, "shape");
  if (shape == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: tensor \"%s\" has no array \"shape\"", st->path, name);
    return FALSE;
  }
  ndim = json_array_get_length (shape);
  if (ndim > TE_SAFETENSORS_MAX_NDIM) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: tensor \"%s\" has %u dimensions, at most %d are supported", st->path, name, ndim,
        TE_SAFETENSORS_MAX_NDIM);
    return FALSE;
  }

  offsets = te_json_array (obj, "data_offsets");
  if (offsets == NULL || json_array_get_length (offsets) != 2
      || !te_json_node_uint (json_array_get_element (offsets, 0), G_MAXUINT64, &begin)
      || !te_json_node_uint (json_array_get_element (offsets, 1), G_MAXUINT64, &end)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: tensor \"%s\" needs \"data_offsets\" as two non-negative integers", st->path, name);
    return FALSE;
  }

  e = g_new0 (TeTensorEntry, 1);
  e->info.name = g_strdup (name);
  e->info.dtype = desc ? desc->dtype : TE_DTYPE_OTHER;
  e->info.ndim = (int) ndim;
  e->dtype_name = g_strdup (dtype_name);
  /* Owned by the array from here on, so every error path below can simply return. */
  g_ptr_array_add (st->tensors, e);

  for (i = 0; i < ndim; i++) {
    guint64 d;

    if (!te_json_node_uint (json_array_get_element (shape, i), G_MAXINT64, &d)) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "%s: tensor \"%s\" has a shape entry that is not a non-negative integer", st->path,
          name);
      return FALSE;
    }
    e->info.shape[i] = (gint64) d;
    if (!g_uint64_checked_mul (&n_elems, n_elems, d)) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "%s: tensor \"%s\": element count overflows", st->path, name);
      return FALSE;
    }
  }

  if (begin > end) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: tensor \"%s\" has data_offsets begin %" G_GUINT64_FORMAT " > end %"
        G_GUINT64_FORMAT, st->path, name, begin, end);
    return FALSE;
  }
  if (end > data_size) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
        "%s: tensor \"%s\" data_offsets end %" G_GUINT64_FORMAT
        " is out of range: the data section has only %" G_GSIZE_FORMAT
        " bytes (file truncated?)", st->path, name, end, data_size);
    return FALSE;
  }
  if (desc != NULL) {
    guint64 expect;

    if (!g_uint64_checked_mul (&expect, n_elems, desc->size)) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "%s: tensor \"%s\": byte size overflows", st->path, name);
      return FALSE;
    }
    if (expect != end - begin) {
      g_set_error (error, TE_ERROR, TE_ERROR_INVALID,
          "%s: tensor \"%s\" has %" G_GUINT64_FORMAT " bytes in data_offsets but shape x "
          "%s size implies %" G_GUINT64_FORMAT, st->path, name, end - begin, dtype_name,
          expect);
      return FALSE;
    }
  }
  e->info.offset = st->data_start + (gsize) begin;
  e->info.nbytes = (gsize) (end - begin);

  if (g_hash_table_contains (st->by_name, name)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: tensor \"%s\" appears twice in the header", st->path, name);
    return FALSE;
  }
  g_hash_table_insert (st->by_name, e->info.name, e);
  return TRUE;
}

TeSafetensors *
te_safetensors_open (const char *path, GError ** error)
{
  TeSafetensors *st;
  GError *err = NULL;
  JsonParser *parser = NULL;
  JsonNode *root;
  JsonObject *obj;
  GList *members = NULL, *l;
  guint64 header_len;
  gsize data_size;

  g_return_val_if_fail (path != NULL, NULL);

  st = g_new0 (TeSafetensors, 1);
  st->path = g_strdup (path);
  st->tensors = g_ptr_array_new_with_free_func (tensor_entry_free);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);

  st->map = g_mapped_file_new (path, FALSE, &err);
  if (st->map == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_IO, "%s: cannot map: %s", path, err->message);
    g_clear_error (&err);
    goto fail;
  }
  st->bytes = (const guint8 *) g_mapped_file_get_contents (st->map);
  st->size = g_mapped_file_get_length (st->map);

  if (st->size < 8) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: file is truncated: %" G_GSIZE_FORMAT " bytes, shorter than the 8-byte header "
        "length", path, st->size);
    goto fail;
  }
  memcpy (&header_len, st->bytes, 8);
  header_len = GUINT64_FROM_LE (header_len);
  if (header_len > TE_SAFETENSORS_MAX_HEADER) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: header length %" G_GUINT64_FORMAT " is absurd (limit %d bytes); not a "
        "safetensors file?", path, header_len, TE_SAFETENSORS_MAX_HEADER);
    goto fail;
  }
  if (header_len > st->size - 8) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "%s: header length %" G_GUINT64_FORMAT " goes beyond the end of the file (%"
        G_GSIZE_FORMAT " bytes): file truncated?", path, header_len, st->size);
    goto fail;
  }
  st->data_start = 8 + (gsize) header_len;
  data_size = st->size - st->data_start;

  /* A real header is object → tensor object → shape array: 3 levels (metadata: 2). */
  if (!te_json_nesting_ok ((const char *) st->bytes + 8, (gsize) header_len, 16)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: header JSON is nested too deeply", path);
    goto fail;
  }
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, (const char *) st->bytes + 8, (gssize) header_len,
          &err)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: header is not valid JSON: %s", path,
        err->message);
    g_clear_error (&err);
    goto fail;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: header is not a JSON object", path);
    goto fail;
  }
  obj = json_node_get_object (root);
  members = json_object_get_members (obj);
  for (l = members; l != NULL; l = l->next) {
    const char *name = l->data;

    if (strcmp (name, "__metadata__") == 0)
      continue;
    if (!parse_tensor (st, name, json_object_get_member (obj, name), data_size, error))
      goto fail;
  }
  g_list_free (members);
  g_object_unref (parser);
  return st;

fail:
  g_list_free (members);
  g_clear_object (&parser);
  te_safetensors_close (st);
  return NULL;
}

const TeTensorInfo *
te_safetensors_find (const TeSafetensors * st, const char *name)
{
  TeTensorEntry *e;

  g_return_val_if_fail (st != NULL && name != NULL, NULL);
  e = g_hash_table_lookup (st->by_name, name);
  return e ? &e->info : NULL;
}

guint
te_safetensors_n_tensors (const TeSafetensors * st)
{
  g_return_val_if_fail (st != NULL, 0);
  return st->tensors->len;
}

const TeTensorInfo *
te_safetensors_tensor (const TeSafetensors * st, guint i)
{
  TeTensorEntry *e;

  g_return_val_if_fail (st != NULL && i < st->tensors->len, NULL);
  e = g_ptr_array_index (st->tensors, i);
  return &e->info;
}

const char *
te_safetensors_path (const TeSafetensors * st)
{
  g_return_val_if_fail (st != NULL, NULL);
  return st->path;
}

const char *
te_safetensors_dtype_name (const TeTensorInfo * t)
{
  g_return_val_if_fail (t != NULL, NULL);
  return ((const TeTensorEntry *) t)->dtype_name;
}

const void *
te_safetensors_data (const TeSafetensors * st, const TeTensorInfo * t)
{
  g_return_val_if_fail (st != NULL && t != NULL, NULL);
  /* Offsets were checked against the mapping in te_safetensors_open(). */
  return st->bytes + t->offset;
}

gsize
te_dtype_size (TeDType dtype)
{
  switch (dtype) {
    case TE_DTYPE_F32:
      return 4;
    case TE_DTYPE_F16:
    case TE_DTYPE_BF16:
      return 2;
    case TE_DTYPE_I64:
      return 8;
    default:
      return 0;
  }
}

/* IEEE binary16 -> binary32, exact for every input (every half is representable as a float). */
float
te_f16_to_f32 (guint16 h)
{
  guint32 sign = ((guint32) h & 0x8000u) << 16;
  guint32 exp = (h >> 10) & 0x1f;
  guint32 mant = h & 0x3ffu;
  guint32 bits;
  float f;

  if (exp == 0) {
    if (mant == 0) {
      bits = sign;              /* ±0 */
    } else {
      /* Subnormal: mant × 2^-24. Normalise into a float (they are all normal floats). */
      int shift = 0;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        shift++;
      }
      mant &= 0x3ffu;
      bits = sign | ((guint32) (127 - 15 + 1 - shift) << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);   /* inf, or NaN with the payload kept */
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  memcpy (&f, &bits, 4);
  return f;
}

/* bfloat16 is the top half of a binary32: exact, NaN/inf/subnormals included. */
float
te_bf16_to_f32 (guint16 h)
{
  guint32 bits = (guint32) h << 16;
  float f;

  memcpy (&f, &bits, 4);
  return f;
}

float *
te_safetensors_read_f32 (const TeSafetensors * st, const TeTensorInfo * t, GError ** error)
{
  const guint8 *src;
  float *out;
  gsize n, i;

  g_return_val_if_fail (st != NULL && t != NULL, NULL);

  if (t->dtype != TE_DTYPE_F32 && t->dtype != TE_DTYPE_F16 && t->dtype != TE_DTYPE_BF16) {
    g_set_error (error, TE_ERROR, TE_ERROR_UNSUPPORTED,
        "%s: tensor \"%s\" has dtype %s; only F32, F16 and BF16 weights are supported",
        st->path, t->name, te_safetensors_dtype_name (t));
    return NULL;
  }
  src = st->bytes + t->offset;
  n = t->nbytes / te_dtype_size (t->dtype);
  /* g_new() aborts on overflow; n is bounded by the file size anyway. One extra element keeps
   * a zero-sized tensor from returning NULL. */
  out = g_new (float, n + 1);

  switch (t->dtype) {
    case TE_DTYPE_F32:
      /* memcpy: the source need not be 4-byte aligned inside the file. */
      memcpy (out, src, n * 4);
#if G_BYTE_ORDER == G_BIG_ENDIAN
      for (i = 0; i < n; i++) {
        guint32 b;
        memcpy (&b, &out[i], 4);
        b = GUINT32_FROM_LE (b);
        memcpy (&out[i], &b, 4);
      }
#endif
      break;
    case TE_DTYPE_F16:
      for (i = 0; i < n; i++)
        out[i] = te_f16_to_f32 ((guint16) (src[2 * i] | (src[2 * i + 1] << 8)));
      break;
    case TE_DTYPE_BF16:
      for (i = 0; i < n; i++)
        out[i] = te_bf16_to_f32 ((guint16) (src[2 * i] | (src[2 * i + 1] << 8)));
      break;
    default:
      g_assert_not_reached ();
  }
  return out;
}
