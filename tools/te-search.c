/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-search.c — semantic search over an embedding store: embeds the queries as te-embed does
 * (tokenizer, cpu backend, pooling, L2) and ranks the store's chunks by cosine in one pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "te-embedder.h"
#include "te-pooling.h"
#include "te-json.h"
#include "te-store.h"

/* The original stdout: the data goes there, anything else printed on fd 1 to stderr
 * (te_reserve_stdout()). */
static FILE *data_out;

static int opt_top_k = 10;
static char *opt_prompt = NULL;
static char *opt_model = NULL;
static gboolean opt_json = FALSE;
static char *opt_queries = NULL;
static int opt_batch = 32;
static gboolean opt_stats = FALSE;
static gboolean opt_documents = FALSE;
static char *opt_backend_options = NULL;

static GOptionEntry entries[] = {
  {"top-k", 'k', 0, G_OPTION_ARG_INT, &opt_top_k, "Hits per query (default 10)", "K"},
  {"prompt", 'p', 0, G_OPTION_ARG_STRING, &opt_prompt,
      "Text prepended verbatim to every query (default: the store's meta query_prompt, else "
      "none)", "P"},
  {"model", 'm', 0, G_OPTION_ARG_FILENAME, &opt_model,
      "Model directory embedding the queries (default: the store's meta model_dir, else "
      "$TEXTEMBED_DEFAULT_MODEL or the configured model)", "DIR"},
  {"json", 0, 0, G_OPTION_ARG_NONE, &opt_json,
      "One JSON object per query per line: {\"query\", \"query_id\", \"hits\": [{\"doc\", "
      "\"index\", \"start\", \"end\", \"score\", \"text\"}]}", NULL},
  {"queries", 'q', 0, G_OPTION_ARG_FILENAME, &opt_queries,
      "JSON Lines of {\"_id\": ..., \"text\": ...} (BEIR queries.jsonl), searched in one pass "
      "over the store", "FILE"},
  {"batch", 'b', 0, G_OPTION_ARG_INT, &opt_batch, "Queries per encoder batch (default 32)",
      "N"},
  {"stats", 0, 0, G_OPTION_ARG_NONE, &opt_stats,
      "Report on stderr the time spent embedding the queries and scanning the store", NULL},
  {"backend-options", 0, 0, G_OPTION_ARG_STRING, &opt_backend_options,
      "Options of the cpu backend embedding the queries (as npuencoder's backend-options, "
      "e.g. \"dtype=int8\" to embed them as an int8 store's chunks were)", "K=V,..."},
  {"documents", 0, 0, G_OPTION_ARG_NONE, &opt_documents,
      "Search the document vectors (te-ingest --document-vectors) instead of the chunks; a hit's "
      "index is the document's chunk count", NULL},
  {NULL}
};

typedef struct {
  char *id;     /* NULL for command-line queries */
  char *text;
} Query;

static void
query_clear (gpointer p)
{
  Query *q = p;

  g_free (q->id);
  g_free (q->text);
}

/* ---- reading --queries ---- */

static gboolean
read_queries (const char *path, GArray * queries, GError ** error)
{
  GIOChannel *ch = g_io_channel_new_file (path, "r", error);
  char *line = NULL;
  gsize len;
  guint lineno = 0;
  GIOStatus st;
  gboolean ok = FALSE;

  if (ch == NULL)
    return FALSE;
  g_io_channel_set_encoding (ch, NULL, NULL);
  while ((st = g_io_channel_read_line (ch, &line, &len, NULL, error)) == G_IO_STATUS_NORMAL) {
    JsonNode *node = NULL, *textn;
    JsonObject *obj;
    Query q = { 0 };
    GError *err = NULL;

    lineno++;
    g_strstrip (line);
    if (line[0] == '\0') {
      g_free (line);
      continue;
    }
    if (te_json_nesting_ok (line, strlen (line), 32))
      node = json_from_string (line, &err);
    if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "%s:%u: not a JSON object (%s)", path,
          lineno, err ? err->message : "expected {\"_id\": ..., \"text\": ...}");
      g_clear_error (&err);
      if (node)
        json_node_unref (node);
      goto out;
    }
    obj = json_node_get_object (node);
    textn = json_object_get_member (obj, "text");
    if (textn == NULL || !JSON_NODE_HOLDS_VALUE (textn)
        || json_node_get_value_type (textn) != G_TYPE_STRING) {
      g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
          "%s:%u: no \"text\" string (a query line is {\"_id\": ..., \"text\": ...})", path,
          lineno);
      json_node_unref (node);
      goto out;
    }
    q.text = json_node_dup_string (textn);
    q.id = te_json_id (obj, "_id");
    if (q.id == NULL)
      q.id = g_strdup_printf ("%u", lineno);
    g_array_append_val (queries, q);
    json_node_unref (node);
    g_free (line);
    line = NULL;
  }
  ok = st == G_IO_STATUS_EOF;

out:
  g_free (line);
  g_io_channel_unref (ch);
  return ok;
}

/* ---- embedding (the te-embed path) ---- */

/* @text on one line: newlines and tabs as spaces, cut at @max characters. */
static void
append_snippet (GString * out, const char *text, guint max)
{
  guint chars = 0;

  if (text == NULL)
    return;
  for (const char *p = text; *p; p = g_utf8_next_char (p)) {
    if (chars++ == max) {
      g_string_append (out, "…");
      return;
    }
    if (*p == '\n' || *p == '\r' || *p == '\t' || *p == '\v' || *p == '\f')
      g_string_append_c (out, ' ');
    else
      g_string_append_len (out, p, g_utf8_next_char (p) - p);
  }
}

/* All queries into @out ([n * dims]); a note on stderr for each query that was truncated. */
static gboolean
embed_queries (TeEmbedder * e, GArray * queries, const char *prompt, float *out,
    GError ** error)
{
  char **texts = g_new0 (char *, queries->len + 1);
  gboolean *truncated = g_new0 (gboolean, MAX (queries->len, 1));
  guint failed = 0;
  gboolean ok;

  for (guint i = 0; i < queries->len; i++)
    texts[i] = g_strconcat (prompt ? prompt : "",
        g_array_index (queries, Query, i).text, NULL);
  ok = te_embedder_embed (e, (const char *const *) texts, NULL, queries->len, out, truncated,
      &failed, error);
  for (guint i = 0; i < queries->len; i++) {
    Query *q = &g_array_index (queries, Query, i);
    GString *label;

    if (!(ok || i < failed ? truncated[i] : i == failed))
      continue;
    label = g_string_new (NULL);
    if (q->id)
      g_string_append (label, q->id);
    else {
      g_string_append_c (label, '"');
      append_snippet (label, q->text, 40);
      g_string_append_c (label, '"');
    }
    if (ok || i < failed)
      fprintf (stderr, "te-search: query %s is longer than %d tokens; truncated to them "
          "as sentence-transformers does\n", label->str, te_embedder_max_length (e));
    else
      g_prefix_error (error, "query %s: ", label->str);
    g_string_free (label, TRUE);
  }
  g_strfreev (texts);
  g_free (truncated);
  return ok;
}

/* ---- output ---- */

static void
append_json_string (GString * out, const char *s)
{
  JsonNode *node;
  char *lit;

  if (s == NULL) {
    g_string_append (out, "null");
    return;
  }
  node = json_node_init_string (json_node_alloc (), s);
  lit = json_to_string (node, FALSE);
  g_string_append (out, lit);
  g_free (lit);
  json_node_unref (node);
}

static void
print_results (GArray * queries, GPtrArray * results)
{
  GString *line = g_string_new (NULL);

  for (guint q = 0; q < queries->len; q++) {
    Query *query = &g_array_index (queries, Query, q);
    GArray *hits = g_ptr_array_index (results, q);

    g_string_truncate (line, 0);
    if (opt_json) {
      g_string_append (line, "{\"query\":");
      append_json_string (line, query->text);
      if (query->id) {
        g_string_append (line, ",\"query_id\":");
        append_json_string (line, query->id);
      }
      g_string_append (line, ",\"hits\":[");
      for (guint r = 0; r < hits->len; r++) {
        TeStoreHit *h = &g_array_index (hits, TeStoreHit, r);

        g_string_append (line, r ? ",{\"doc\":" : "{\"doc\":");
        append_json_string (line, h->doc);
        g_string_append_printf (line, ",\"index\":%" G_GUINT64_FORMAT ",\"start\":%"
            G_GUINT64_FORMAT ",\"end\":%" G_GUINT64_FORMAT ",\"score\":%.9g,\"text\":",
            h->index, h->start, h->end, h->score);
        append_json_string (line, h->text);
        g_string_append_c (line, '}');
      }
      g_string_append (line, "]}\n");
    } else {
      g_string_append (line, "query");
      if (query->id)
        g_string_append_printf (line, " %s", query->id);
      g_string_append (line, ": ");
      append_snippet (line, query->text, 200);
      g_string_append_c (line, '\n');
      for (guint r = 0; r < hits->len; r++) {
        TeStoreHit *h = &g_array_index (hits, TeStoreHit, r);

        g_string_append_printf (line, "%4u  %.4f  %s  [%" G_GUINT64_FORMAT ",%"
            G_GUINT64_FORMAT ")  ", r + 1, h->score, h->doc, h->start, h->end);
        append_snippet (line, h->text, 200);
        g_string_append_c (line, '\n');
      }
      if (hits->len == 0)
        g_string_append (line, "  (no hits)\n");
    }
    fwrite (line->str, 1, line->len, data_out);
  }
  g_string_free (line, TRUE);
}

/* ---- main ---- */

static gboolean
meta_true (const char *v)
{
  return v && (g_ascii_strcasecmp (v, "true") == 0 || strcmp (v, "1") == 0);
}

int
main (int argc, char **argv)
{
  GOptionContext *ctx;
  GError *error = NULL;
  TeStore *store = NULL;
  TeModel *model = NULL;
  TeEmbedder *e = NULL;
  TeEmbedderOptions eo;
  GHashTable *backend_options = NULL;
  GArray *queries = g_array_new (FALSE, TRUE, sizeof (Query));
  GPtrArray *results = NULL;
  TeStoreCounts counts;
  char *meta_dir = NULL, *meta_pooling = NULL, *meta_norm = NULL, *meta_prompt = NULL;
  char *model_prompt = NULL;
  char *meta_dims = NULL;
  const char *store_path, *model_dir, *prompt;
  float *qv = NULL;
  gint64 t0, t1, t2;
  int ret = 1;

  g_array_set_clear_func (queries, query_clear);
  te_log_to_stderr ();
  ctx = g_option_context_new ("STORE [QUERY...]");
  g_option_context_set_summary (ctx,
      "Ranks the chunks of STORE's complete documents by cosine similarity to each QUERY (or\n"
      "each query of --queries) and prints the best --top-k for each.\n"
      "\n"
      "Queries are embedded as te-embed embeds text: the store's model (meta model_dir, or\n"
      "--model), pooling from meta \"pooling\" (else the model's config), L2 normalisation when\n"
      "meta \"normalized\" says true (else the model's config; cosine does not depend on it).\n"
      "The query prompt (--prompt, else meta \"query_prompt\", else the model's \"query\"\n"
      "prompt in config_sentence_transformers.json) is prepended verbatim. A query\n"
      "longer than the model's max_seq_length tokens is truncated to it, as\n"
      "sentence-transformers does for queries (a note goes to stderr). When the store has\n"
      "meta \"model\", only documents embedded with that model are searched.\n"
      "\n"
      "All queries are embedded first, in batches of --batch, then the store is read once:\n"
      "1,000 queries cost one scan.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "te-search: %s\n", error->message);
    goto out;
  }
  data_out = te_reserve_stdout ();
  if (data_out == NULL) {
    perror ("te-search: duplicating stdout");
    goto out;
  }
  if (argc < 2) {
    fprintf (stderr, "te-search: no STORE given (te-search --help)\n");
    goto out;
  }
  if (opt_top_k < 1 || opt_batch < 1 || opt_batch > 65536) {
    fprintf (stderr, "te-search: --top-k must be at least 1 and --batch between 1 and 65536\n");
    goto out;
  }
  if ((argc > 2) == (opt_queries != NULL)) {
    fprintf (stderr, "te-search: give either QUERY arguments or --queries FILE\n");
    goto out;
  }
  store_path = argv[1];
  for (int i = 2; i < argc; i++) {
    Query q = { NULL, g_strdup (argv[i]) };
    g_array_append_val (queries, q);
  }
  if (opt_queries && !read_queries (opt_queries, queries, &error))
    goto out;
  if (queries->len == 0) {
    fprintf (stderr, "te-search: %s holds no query\n", opt_queries);
    goto out;
  }

  store = te_store_open_readonly (store_path, &error);
  if (store == NULL || !te_store_counts (store, &counts, &error))
    goto out;
  if (counts.complete == 0 || counts.chunks == 0) {
    g_set_error (&error, TE_ERROR, TE_ERROR_INVALID,
        "store %s holds no embedded chunks (%" G_GUINT64_FORMAT " documents: %"
        G_GUINT64_FORMAT " complete, %" G_GUINT64_FORMAT " skipped, %" G_GUINT64_FORMAT
        " deleted); embed a corpus into it first", store_path, counts.documents,
        counts.complete, counts.skipped, counts.deleted);
    goto out;
  }
  meta_dir = te_store_get_meta (store, "model_dir");
  meta_pooling = te_store_get_meta (store, "pooling");
  meta_norm = te_store_get_meta (store, "normalized");
  meta_prompt = te_store_get_meta (store, "query_prompt");
  meta_dims = te_store_get_meta (store, "dims");

  model_dir = opt_model ? opt_model : meta_dir ? meta_dir : te_default_model_dir ();
  model = te_model_load (model_dir, &error);
  if (model == NULL) {
    g_prefix_error (&error, "loading the query model (%s): ", opt_model ? "--model" :
        meta_dir ? "the store's meta model_dir" : "the default model");
    goto out;
  }
  te_embedder_options_init (&eo, model);
  eo.batch_size = opt_batch;
  eo.truncate = TRUE;
  if (meta_norm)
    eo.normalize = meta_true (meta_norm);
  if (meta_pooling && !te_pool_mode_from_string (meta_pooling, &eo.pooling)) {
    g_set_error (&error, TE_ERROR, TE_ERROR_PARSE, "store %s: meta pooling is \"%s\", not "
        "mean, cls or max", store_path, meta_pooling);
    goto out;
  }
  if (meta_dims) {
    gint64 d = g_ascii_strtoll (meta_dims, NULL, 10);
    int hidden = te_model_config (model)->hidden_size;
    /* fewer dims than the model gives: the store was embedded with embedpooler's
     * "dimensions" (Matryoshka truncation), so the queries are cut the same way; only with the
     * store's own model, so that another model is never silently cut to fit */
    gboolean same_model = !opt_model || (meta_dir && g_strcmp0 (opt_model, meta_dir) == 0);
    if (d > 0 && d < hidden && same_model) {
      eo.dims = (int) d;
    } else if (d != hidden) {
      g_set_error (&error, TE_ERROR, TE_ERROR_INVALID,
          "store %s holds %s-dim embeddings but the model %s produces %d dims: search with "
          "the model the store was embedded with (--model DIR)", store_path, meta_dims,
          model_dir, hidden);
      goto out;
    }
  }
  /* the model's own query prompt (config_sentence_transformers.json "query", else its
   * default_prompt_name) when neither the command line nor the store names one */
  if (!te_model_resolve_prompt (model, TE_PROMPT_QUERY, NULL, NULL, NULL, &model_prompt,
          &error))
    goto out;
  prompt = opt_prompt ? opt_prompt : meta_prompt ? meta_prompt : model_prompt;
  /* a model that pools without the prompt (include_prompt=false) */
  if (prompt && *prompt && !te_model_sentence_config (model)->include_prompt
      && !te_tokenizer_prompt_length (te_model_tokenizer (model), prompt, &eo.pool_skip,
          &error))
    goto out;
  backend_options = te_backend_options_parse (opt_backend_options, &error);
  if (backend_options == NULL)
    goto out;
  eo.backend_options = backend_options;
  e = te_embedder_new (model, &eo, &error);
  if (e == NULL)
    goto out;

  qv = g_new (float, (gsize) MAX (queries->len, 1) * te_embedder_dims (e));
  t0 = g_get_monotonic_time ();
  if (!embed_queries (e, queries, prompt, qv, &error))
    goto out;
  t1 = g_get_monotonic_time ();
  results = (opt_documents ? te_store_search_documents : te_store_search) (store, NULL, qv,
      queries->len, (guint) te_embedder_dims (e), (guint) opt_top_k, &error);
  if (results == NULL)
    goto out;
  t2 = g_get_monotonic_time ();
  if (opt_stats)
    fprintf (stderr, "te-search: embedded %u queries in %.3f s; searched %" G_GUINT64_FORMAT
        " chunks (of complete documents, any model) in %.3f s: %.0f chunks/s, %.0f "
        "chunk-query scores/s\n", queries->len, (t1 - t0) / 1e6, counts.chunks, (t2 - t1) / 1e6,
        counts.chunks / MAX ((t2 - t1) / 1e6, 1e-9),
        (double) counts.chunks * queries->len / MAX ((t2 - t1) / 1e6, 1e-9));
  print_results (queries, results);
  if (fflush (data_out) != 0 || ferror (data_out)) {
    fprintf (stderr, "te-search: error writing stdout\n");
    goto out;
  }
  ret = 0;

out:
  if (error)
    fprintf (stderr, "te-search: %s\n", error->message);
  g_clear_error (&error);
  if (results)
    g_ptr_array_unref (results);
  g_free (qv);
  te_embedder_free (e);
  te_model_free (model);
  te_store_close (store);
  g_array_unref (queries);
  g_free (meta_dir);
  g_free (meta_pooling);
  g_free (meta_norm);
  g_free (meta_prompt);
  g_free (model_prompt);
  g_free (meta_dims);
  g_option_context_free (ctx);
  g_free (opt_prompt);
  g_free (opt_model);
  g_free (opt_backend_options);
  if (backend_options)
    g_hash_table_unref (backend_options);
  g_free (opt_queries);
  return ret;
}
