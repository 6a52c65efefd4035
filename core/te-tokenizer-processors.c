/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenizer-processors.c — the "post_processor" of tokenizer.json: BertProcessing and
 * TemplateProcessing, both compiled into one single-sequence template of pieces. */
#include "te-tokenizer-private.h"

static void
append_special (GArray * pieces, gint32 id)
{
  TePostPiece p = { 0 };

  p.n_ids = 1;
  p.ids = g_new (gint32, 1);
  p.ids[0] = id;
  g_array_append_val (pieces, p);
}

/* {"sep": ["[SEP]", 102], "cls": ["[CLS]", 101]} == template "[CLS]:0 $A:0 [SEP]:0" */
static gboolean
parse_cls_sep (JsonObject * o, const char *what, GArray * pieces, GError ** error)
{
  const char *names[2] = { "cls", "sep" };
  gint32 ids[2];
  TePostPiece seq = { 0 };

  for (guint i = 0; i < 2; i++) {
    JsonNode *n = te_json_member (o, names[i]);
    JsonArray *a;
    guint64 id;
    if (!n || !JSON_NODE_HOLDS_ARRAY (n) || json_array_get_length (a =
            json_node_get_array (n)) != 2
        || !te_json_node_uint (json_array_get_element (a, 1), G_MAXINT32, &id)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
          "post_processor %s: field \"%s\" must be [token, id]", what, names[i]);
      return FALSE;
    }
    ids[i] = (gint32) id;
  }
  append_special (pieces, ids[0]);
  seq.is_sequence = TRUE;
  g_array_append_val (pieces, seq);
  append_special (pieces, ids[1]);
  return TRUE;
}

static gboolean
parse_bert (JsonObject * o, TePostProcessor * pp, GArray * pieces, GError ** error)
{
  (void) pp;
  return parse_cls_sep (o, "BertProcessing", pieces, error);
}

/* RobertaProcessing: the same template, plus trim_offsets / add_prefix_space, which act on
 * the sequence's offsets (te_tokenizer_encode applies them). */
static gboolean
parse_roberta (JsonObject * o, TePostProcessor * pp, GArray * pieces, GError ** error)
{
  const char *what = "post_processor RobertaProcessing";

  if (!te_json_get_bool (o, what, "trim_offsets", FALSE, TRUE, &pp->trim_offsets, error)
      || !te_json_get_bool (o, what, "add_prefix_space", FALSE, TRUE, &pp->add_prefix_space,
          error))
    return FALSE;
  return parse_cls_sep (o, "RobertaProcessing", pieces, error);
}

/* The "single" template: Sequence A and SpecialToken pieces (several ids each). */
static gboolean
parse_template (JsonObject * o, TePostProcessor * pp, GArray * pieces, GError ** error)
{
  TePostPiece p;
  guint i;
  JsonArray *single = te_json_array (o, "single");
  JsonObject *specials;

  if (!te_json_get_object (o, "post_processor TemplateProcessing", "special_tokens", FALSE,
          &specials, error))
    return FALSE;
  if (single == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "post_processor TemplateProcessing: field \"single\" must be an array of pieces");
    return FALSE;
  }
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
        return FALSE;
      }
      p.is_sequence = TRUE;
      p.type_id = (guint32) type_id;
    } else if (te_json_get_object (eo, "", "SpecialToken", FALSE, &body, NULL) && body) {
      const char *sid = te_json_string (body, "id");
      JsonObject *sp;
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
        return FALSE;
      }
      ids = te_json_array (sp, "ids");
      if (ids == NULL) {
        g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
            "post_processor TemplateProcessing: special token \"%s\" has no \"ids\" array",
            sid);
        return FALSE;
      }
      p.n_ids = json_array_get_length (ids);
      p.ids = g_new (gint32, p.n_ids ? p.n_ids : 1);
      for (k = 0; k < p.n_ids; k++) {
        guint64 id;
        if (!te_json_node_uint (json_array_get_element (ids, k), G_MAXINT32, &id)) {
          g_free (p.ids);
          g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
              "post_processor TemplateProcessing: special token \"%s\" has an invalid id",
              sid);
          return FALSE;
        }
        p.ids[k] = (gint32) id;
      }
    } else {
      goto bad_piece;
    }
    g_array_append_val (pieces, p);
  }
  return TRUE;

bad_piece:
  g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
      "post_processor TemplateProcessing: piece %u of \"single\" must be "
      "{\"Sequence\": {\"id\", \"type_id\"}} or {\"SpecialToken\": {\"id\", \"type_id\"}}", i);
  return FALSE;
}

/* Extension points (HF names): ByteLevel, Sequence — each compiles into the same
 * single-sequence template, or, if it acts on offsets, adds a step to te_tokenizer_encode(). */
static const struct
{
  const char *type;
  gboolean (*parse) (JsonObject * o, TePostProcessor * pp, GArray * pieces, GError ** error);
} types[] = {
  {"TemplateProcessing", parse_template},
  {"BertProcessing", parse_bert},
  {"RobertaProcessing", parse_roberta},
};

static void
free_pieces (TePostPiece * p, guint n)
{
  for (guint i = 0; i < n; i++)
    g_free (p[i].ids);
  g_free (p);
}

gboolean
te_post_processor_parse (TePostProcessor * pp, JsonObject * o, GError ** error)
{
  const char *type, *names[G_N_ELEMENTS (types)];
  GArray *pieces;
  guint i, n_seq = 0;
  gboolean ok = FALSE, known = FALSE;

  memset (pp, 0, sizeof (*pp));
  if (o == NULL)
    return TRUE;
  if (!(type = te_tokenizer_component_type (o, "post_processor", error)))
    return FALSE;
  pieces = g_array_new (FALSE, TRUE, sizeof (TePostPiece));
  for (i = 0; i < G_N_ELEMENTS (types); i++) {
    names[i] = types[i].type;
    if (!known && strcmp (type, types[i].type) == 0) {
      known = TRUE;
      ok = types[i].parse (o, pp, pieces, error);
    }
  }
  if (!known)
    te_tokenizer_unsupported (error, "post_processor", type, names, G_N_ELEMENTS (types));
  pp->n_pieces = pieces->len;
  pp->pieces = (TePostPiece *) g_array_free (pieces, FALSE);
  if (!ok) {
    te_post_processor_clear (pp);
    return FALSE;
  }
  for (i = 0; i < pp->n_pieces; i++) {
    if (pp->pieces[i].is_sequence) {
      n_seq++;
      pp->seq_index = i;
    } else {
      pp->n_special += pp->pieces[i].n_ids;
    }
  }
  pp->simple = n_seq == 1;
  return TRUE;
}

void
te_post_processor_clear (TePostProcessor * pp)
{
  free_pieces (pp->pieces, pp->n_pieces);
  memset (pp, 0, sizeof (*pp));
}

guint
te_post_processor_prefix (const TePostProcessor * pp, gboolean add_special_tokens)
{
  guint prefix = 0;

  if (pp->simple && add_special_tokens)
    for (guint i = 0; i < pp->seq_index; i++)
      prefix += pp->pieces[i].n_ids;
  return prefix;
}

void
te_post_processor_apply (const TePostProcessor * pp, guint seq_start,
    gboolean add_special_tokens, TeEncoding * out)
{
  guint i, j, seq_n = out->n - seq_start;

  if (pp->n_pieces == 0)
    return;

  if (pp->simple) {
    /* the sequence was encoded after room for the prefix's special tokens */
    const TePostPiece *seq_piece = &pp->pieces[pp->seq_index];
    guint o = 0;
    for (i = 0; i < seq_n; i++)
      out->type_ids[seq_start + i] = (gint32) seq_piece->type_id;
    if (!add_special_tokens)
      return;
    for (i = 0; i < pp->seq_index; i++)
      for (j = 0; j < pp->pieces[i].n_ids; j++, o++) {
        out->ids[o] = pp->pieces[i].ids[j];
        out->type_ids[o] = (gint32) pp->pieces[i].type_id;
        out->starts[o] = out->ends[o] = 0;
        out->special[o] = 1;
      }
    for (i = pp->seq_index + 1; i < pp->n_pieces; i++)
      for (j = 0; j < pp->pieces[i].n_ids; j++) {
        te_encoding_push (out, pp->pieces[i].ids[j], 0, 0);
        out->type_ids[out->n - 1] = (gint32) pp->pieces[i].type_id;
        out->special[out->n - 1] = 1;
      }
    return;
  }

  /* General template (no or several Sequence pieces): assemble from a copy of the sequence. */
  {
    TeEncoding seq = { 0 };
    te_encoding_reserve (&seq, seq_n + 1);
    memcpy (seq.ids, out->ids + seq_start, seq_n * sizeof (gint32));
    memcpy (seq.starts, out->starts + seq_start, seq_n * sizeof (guint32));
    memcpy (seq.ends, out->ends + seq_start, seq_n * sizeof (guint32));
    out->n = 0;
    for (i = 0; i < pp->n_pieces; i++) {
      const TePostPiece *p = &pp->pieces[i];
      if (p->is_sequence) {
        for (j = 0; j < seq_n; j++) {
          te_encoding_push (out, seq.ids[j], seq.starts[j], seq.ends[j]);
          out->type_ids[out->n - 1] = (gint32) p->type_id;
        }
      } else if (add_special_tokens) {
        for (j = 0; j < p->n_ids; j++) {
          te_encoding_push (out, p->ids[j], 0, 0);
          out->type_ids[out->n - 1] = (gint32) p->type_id;
          out->special[out->n - 1] = 1;
        }
      }
    }
    te_encoding_clear (&seq);
  }
}

void
te_post_processor_describe (const TePostProcessor * pp, GString * s)
{
  g_string_append_printf (s, "post:%u\n", pp->n_pieces);
  if (pp->trim_offsets)
    g_string_append_printf (s, "trim_offsets:%d\n", pp->add_prefix_space);
  for (guint i = 0; i < pp->n_pieces; i++) {
    const TePostPiece *p = &pp->pieces[i];
    if (p->is_sequence) {
      g_string_append_printf (s, "A:%u\n", p->type_id);
    } else {
      g_string_append_printf (s, "S:%u:", p->type_id);
      for (guint j = 0; j < p->n_ids; j++)
        g_string_append_printf (s, "%d,", p->ids[j]);
      g_string_append_c (s, '\n');
    }
  }
}
