/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-json.c — typed reads of json-glib objects (te-json.h). */
#include "te-json.h"

JsonNode *
te_json_member (JsonObject * o, const char *field)
{
  JsonNode *n = o ? json_object_get_member (o, field) : NULL;

  return n == NULL || JSON_NODE_HOLDS_NULL (n) ? NULL : n;
}

gboolean
te_json_node_holds (JsonNode * n, GType type)
{
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == type;
}

const char *
te_json_string (JsonObject * o, const char *field)
{
  JsonNode *n = te_json_member (o, field);

  return te_json_node_holds (n, G_TYPE_STRING) ? json_node_get_string (n) : NULL;
}

gboolean
te_json_int (JsonObject * o, const char *field, gint64 * out)
{
  JsonNode *n = te_json_member (o, field);

  if (!te_json_node_holds (n, G_TYPE_INT64))
    return FALSE;
  *out = json_node_get_int (n);
  return TRUE;
}

JsonObject *
te_json_object (JsonObject * o, const char *field)
{
  JsonNode *n = te_json_member (o, field);

  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

JsonArray *
te_json_array (JsonObject * o, const char *field)
{
  JsonNode *n = te_json_member (o, field);

  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

gboolean
te_json_node_uint (JsonNode * n, guint64 max, guint64 * out)
{
  gint64 v;

  if (!te_json_node_holds (n, G_TYPE_INT64))
    return FALSE;
  v = json_node_get_int (n);
  if (v < 0 || (guint64) v > max)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

/* The member, or NULL with *@ok saying whether its absence is fine. */
static JsonNode *
lookup (JsonObject * o, const char *what, const char *field, gboolean required, gboolean * ok,
    GError ** error)
{
  JsonNode *n = te_json_member (o, field);

  *ok = n != NULL || !required;
  if (n == NULL && required)
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: missing field \"%s\"", what, field);
  return n;
}

static gboolean
wrong_type (const char *what, const char *field, const char *type, GError ** error)
{
  g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s: field \"%s\" must be %s", what, field,
      type);
  return FALSE;
}

gboolean
te_json_get_string (JsonObject * o, const char *what, const char *field, gboolean required,
    const char **out, GError ** error)
{
  gboolean ok;
  JsonNode *n = lookup (o, what, field, required, &ok, error);

  *out = NULL;
  if (n == NULL)
    return ok;
  if (!te_json_node_holds (n, G_TYPE_STRING))
    return wrong_type (what, field, "a string", error);
  *out = json_node_get_string (n);
  return TRUE;
}

gboolean
te_json_get_bool (JsonObject * o, const char *what, const char *field, gboolean required,
    gboolean def, gboolean * out, GError ** error)
{
  gboolean ok;
  JsonNode *n = lookup (o, what, field, required, &ok, error);

  *out = def;
  if (n == NULL)
    return ok;
  if (!te_json_node_holds (n, G_TYPE_BOOLEAN))
    return wrong_type (what, field, "a boolean", error);
  *out = json_node_get_boolean (n);
  return TRUE;
}

gboolean
te_json_get_int (JsonObject * o, const char *what, const char *field, gboolean required,
    gint64 def, gint64 min, gint64 max, gint64 * out, GError ** error)
{
  gboolean ok;
  JsonNode *n = lookup (o, what, field, required, &ok, error);
  gint64 v;

  *out = def;
  if (n == NULL)
    return ok;
  if (!te_json_node_holds (n, G_TYPE_INT64))
    return wrong_type (what, field, "an integer", error);
  v = json_node_get_int (n);
  if (v < min || v > max) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "%s: field \"%s\" is %" G_GINT64_FORMAT
        ", expected %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, what, field, v, min, max);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

gboolean
te_json_get_object (JsonObject * o, const char *what, const char *field, gboolean required,
    JsonObject ** out, GError ** error)
{
  gboolean ok;
  JsonNode *n = lookup (o, what, field, required, &ok, error);

  *out = NULL;
  if (n == NULL)
    return ok;
  if (!JSON_NODE_HOLDS_OBJECT (n))
    return wrong_type (what, field, "an object", error);
  *out = json_node_get_object (n);
  return TRUE;
}

char *
te_json_id (JsonObject * o, const char *field)
{
  JsonNode *n = te_json_member (o, field);
  if (te_json_node_holds (n, G_TYPE_STRING))
    return g_strdup (json_node_get_string (n));
  if (te_json_node_holds (n, G_TYPE_INT64))
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (n));
  return NULL;
}
