/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-json.h — typed reads of json-glib objects for every core module that parses JSON (model
 * configs, tokenizer.json, export manifests): lenient lookups, and checked getters whose errors
 * name the file or component (@what) and the field. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include "te-common.h"

G_BEGIN_DECLS

/* Member @field of @o; NULL when @o is NULL, or the member is absent or JSON null. */
JsonNode *te_json_member (JsonObject * o, const char *field);

/* Whether @n is a value of @type (G_TYPE_STRING, G_TYPE_INT64, G_TYPE_DOUBLE, G_TYPE_BOOLEAN). */
gboolean te_json_node_holds (JsonNode * n, GType type);

/* Lenient lookups: NULL / FALSE when absent, null or of another type. */
const char *te_json_string (JsonObject * o, const char *field);
gboolean te_json_int (JsonObject * o, const char *field, gint64 * out);
JsonObject *te_json_object (JsonObject * o, const char *field);
JsonArray *te_json_array (JsonObject * o, const char *field);
/* An id: a string member as it is, an integer member printed in decimal (corpus and query ids
 * in JSON Lines are either); newly allocated, NULL when absent or of another type. */
char *te_json_id (JsonObject * o, const char *field);
/* An integer node in [0, @max]. */
gboolean te_json_node_uint (JsonNode * n, guint64 max, guint64 * out);

/* Checked getters. A member of another type is TE_ERROR_PARSE ("WHAT: field "F" must be a
 * string"); an absent or null one is TE_ERROR_PARSE ("WHAT: missing field "F"") when
 * @required, else *@out gets the default (NULL for strings and objects). An integer outside
 * [@min, @max] is TE_ERROR_INVALID, naming the value and the range. */
gboolean te_json_get_string (JsonObject * o, const char *what, const char *field,
    gboolean required, const char **out, GError ** error);
gboolean te_json_get_bool (JsonObject * o, const char *what, const char *field,
    gboolean required, gboolean def, gboolean * out, GError ** error);
gboolean te_json_get_int (JsonObject * o, const char *what, const char *field,
    gboolean required, gint64 def, gint64 min, gint64 max, gint64 * out, GError ** error);
gboolean te_json_get_object (JsonObject * o, const char *what, const char *field,
    gboolean required, JsonObject ** out, GError ** error);

G_END_DECLS
