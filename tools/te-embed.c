/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-embed.c — command-line sentence embeddings with the core library (no GStreamer):
 * one JSON string (or, with --ids, one JSON array of token ids) per input line in, one JSON
 * array of floats (with --hidden, the token states) per line out; --bench times it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "te-embedder.h"
#include "te-pooling.h"
#include "te-scheduler.h"

/* The original stdout: the data goes there, anything else printed on fd 1 to stderr
 * (te_reserve_stdout()). */
static FILE *data_out;

static char *opt_model = NULL;
static char *opt_pooling = NULL;
static char *opt_prompt = NULL;
static gboolean opt_no_normalize = FALSE;
static int opt_batch = 8;
static double opt_bench = 0.0;
/* start-up: te_model_load_tokenizer_only (), te_model_load_weights (), te_embedder_new ()
 * (backend open) */
static double text_s, weights_s, open_s;
static gboolean opt_ids = FALSE;
static gboolean opt_hidden = FALSE;
static char *opt_backend = NULL;
static char *opt_backend_options = NULL;

static GOptionEntry entries[] = {
  {"model", 'm', 0, G_OPTION_ARG_FILENAME, &opt_model,
      "Model directory (default: $TEXTEMBED_DEFAULT_MODEL or the configured model)", "DIR"},
  {"pooling", 'p', 0, G_OPTION_ARG_STRING, &opt_pooling,
      "Pooling: mean, cls or max (default: the model's sentence-transformers config)", "MODE"},
  {"prompt", 0, 0, G_OPTION_ARG_STRING, &opt_prompt,
      "Text prepended to every input (e.g. \"query: \"), as sentence-transformers' "
      "encode(prompt=...); left out of the pooling when the model's include_prompt is false",
      "TEXT"},
  {"no-normalize", 0, 0, G_OPTION_ARG_NONE, &opt_no_normalize,
      "Do not L2-normalise the embeddings even if the model's config says so", NULL},
  {"batch", 'b', 0, G_OPTION_ARG_INT, &opt_batch, "Texts per encoder batch (default 8)", "N"},
  {"ids", 0, 0, G_OPTION_ARG_NONE, &opt_ids,
      "Input lines are JSON arrays of token ids (special tokens included), fed to the encoder "
      "as they are (token types 0); no tokenizer is involved", NULL},
  {"hidden", 0, 0, G_OPTION_ARG_NONE, &opt_hidden,
      "Print the encoder's last hidden state instead of the pooled embedding: per input line a "
      "JSON array of one array of hidden-size floats per token", NULL},
  {"backend", 0, 0, G_OPTION_ARG_STRING, &opt_backend,
      "Encoder backend (default cpu; te_backend_class_names() lists them)", "NAME"},
  {"backend-options", 0, 0, G_OPTION_ARG_STRING, &opt_backend_options,
      "Backend options, as npuencoder's backend-options (e.g. \"threads=2,kernels=native\")",
      "K=V,..."},
  {"bench", 0, 0, G_OPTION_ARG_DOUBLE, &opt_bench,
      "Instead of printing embeddings, run the encoder over the input batches repeatedly for "
      "SECONDS and report encoder tokens/s on stderr", "SECONDS"},
  {NULL}
};

/* Print the embeddings of a computed batch, one JSON array per line. */
static void
print_batch (TeEmbedder * e, const TeBatch * batch, float *embeddings, GString * line)
{
  int dims = te_embedder_dims (e);

  te_embedder_pool (e, batch, embeddings);
  for (int r = 0; r < batch->batch; r++) {
    const float *v = embeddings + (gsize) r * dims;

    g_string_truncate (line, 0);
    g_string_append_c (line, '[');
    for (int j = 0; j < dims; j++)
      g_string_append_printf (line, "%s%.9g", j ? "," : "", v[j]);
    g_string_append (line, "]\n");
    fwrite (line->str, 1, line->len, data_out);
  }
}

/* --hidden: the last hidden state of every real token of a computed batch, one JSON array of
 * arrays per line. */
static void
print_hidden (const TeBatch * batch, GString * line)
{
  int H = batch->hidden_size;

  for (int r = 0; r < batch->batch; r++) {
    g_string_truncate (line, 0);
    g_string_append_c (line, '[');
    /* te_batch_set_row() puts the real tokens first in the row. */
    for (int t = 0; t < batch->lengths[r]; t++) {
      const float *v = batch->hidden + ((gsize) r * batch->seq_len + t) * H;

      g_string_append (line, t ? ",[" : "[");
      for (int j = 0; j < H; j++)
        g_string_append_printf (line, "%s%.9g", j ? "," : "", v[j]);
      g_string_append_c (line, ']');
    }
    g_string_append (line, "]\n");
    fwrite (line->str, 1, line->len, data_out);
  }
}

/* Prints the scheduler's outputs: those ready, then (waiting) more until @until rows are out.
 * FALSE (message printed) when a batch failed. */
static gboolean
print_outputs (TeScheduler * s, TeEmbedder * e, float *embeddings, GString * line,
    guint64 * printed, guint64 until)
{
  TeSchedOutput *o;

  while (te_scheduler_pop (s, &o, *printed < until) == TE_SCHED_OK) {
    gboolean ok = o->error == NULL;

    if (!ok)
      fprintf (stderr, "te-embed: line %d: %s\n", GPOINTER_TO_INT (o->rows[0]),
          o->error->message);
    else if (opt_hidden)
      print_hidden (o->batch, line);
    else
      print_batch (e, o->batch, embeddings, line);
    *printed += (guint64) o->batch->batch;
    te_sched_output_free (s, o);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/* --ids: one input line -> its token ids. The line must be a JSON array of integers. */
static gboolean
parse_ids_line (const char *line, GArray * ids, GError ** error)
{
  GError *err = NULL;
  JsonNode *node = json_from_string (line, &err);
  gboolean ok = FALSE;

  g_array_set_size (ids, 0);
  if (node == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "not a JSON array of token ids: %s",
        err ? err->message : "empty line");
    g_clear_error (&err);
    return FALSE;
  }
  if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *arr = json_node_get_array (node);

    ok = TRUE;
    for (guint i = 0; ok && i < json_array_get_length (arr); i++) {
      JsonNode *e = json_array_get_element (arr, i);
      gint64 v;

      ok = JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_INT64
          && (v = json_node_get_int (e)) >= G_MININT32 && v <= G_MAXINT32;
      if (ok) {
        gint32 id = (gint32) v;
        g_array_append_val (ids, id);
      } else {
        g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "element %u is not a 32-bit integer "
            "token id", i);
      }
    }
  } else {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "expected a JSON array of token ids (one sequence per line)");
  }
  json_node_unref (node);
  return ok;
}

/* One input line -> its text. The line must be a single JSON string. */
static char *
parse_line (const char *line, gsize * len, GError ** error)
{
  GError *err = NULL;
  JsonNode *node = json_from_string (line, &err);
  char *text = NULL;

  if (node == NULL) {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE, "not a JSON string: %s",
        err ? err->message : "empty line");
    g_clear_error (&err);
    return NULL;
  }
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING) {
    text = json_node_dup_string (node);
    *len = strlen (text);
  } else {
    g_set_error (error, TE_ERROR, TE_ERROR_PARSE,
        "expected a JSON string (one text per line)");
  }
  json_node_unref (node);
  return text;
}

static double
now (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* --bench: all inputs become batches up front, then only te_backend_run() is timed. */
static gboolean
bench (TeEmbedder * e, GPtrArray * batches, GError ** error)
{
  TeBackend *backend = te_embedder_backend (e);
  guint64 tokens = 0, padded = 0, seqs = 0, passes = 0;
  double t0, elapsed;
  guint i = 0;

  if (batches->len == 0) {
    g_set_error (error, TE_ERROR, TE_ERROR_INVALID, "--bench needs at least one input text");
    return FALSE;
  }
  /* Warm-up pass (page-in of the weights, compute threads started), not timed. */
  if (!te_backend_run (backend, g_ptr_array_index (batches, 0), error))
    return FALSE;

  t0 = now ();
  do {
    TeBatch *b = g_ptr_array_index (batches, i);

    if (!te_backend_run (backend, b, error))
      return FALSE;
    for (int r = 0; r < b->batch; r++)
      tokens += b->lengths[r];
    padded += (guint64) b->batch * b->seq_len;
    seqs += b->batch;
    passes++;
    i = (i + 1) % batches->len;
    elapsed = now () - t0;
  } while (elapsed < opt_bench);

  {
    TeBackendCaps caps;
    te_backend_get_caps (backend, &caps);
    fprintf (stderr, "te-embed bench: kernel %s\n", caps.kernel[0] ? caps.kernel : "(not said)");
    /* start-up: the configs and tokenizer.json parsed (the text side's load), the weights
     * mapped and checked, then the backend ready for its first batch (weights packed or
     * quantised, graphs compiled); the encoder's is the last two */
    fprintf (stderr, "te-embed bench: start-up %.1f ms: encoder %.1f ms (weights %.1f ms, "
        "backend open %.1f ms), tokenizer and configs %.1f ms\n",
        (text_s + weights_s + open_s) * 1e3, (weights_s + open_s) * 1e3, weights_s * 1e3,
        open_s * 1e3, text_s * 1e3);
  }
  fprintf (stderr,
      "te-embed bench: backend %s, batch %d, %" G_GUINT64_FORMAT " forward passes, %"
      G_GUINT64_FORMAT " sequences in %.2f s\n"
      "  encoder: %.1f tokens/s (%.1f padded tokens/s), %.2f sequences/s, mean %.1f tokens/seq\n",
      te_backend_name (backend), opt_batch, passes, seqs, elapsed, tokens / elapsed,
      padded / elapsed, seqs / elapsed, (double) tokens / seqs);
  return TRUE;
}

int
main (int argc, char **argv)
{
  GOptionContext *ctx;
  GError *error = NULL;
  TeModel *model = NULL;
  TeEmbedder *e = NULL;
  TeEmbedderOptions eo;
  GHashTable *backend_options = NULL;
  float *embeddings = NULL;
  TeEncoding *encs = NULL;
  GPtrArray *bench_batches = NULL;
  TeScheduler *sched = NULL;
  TeBackendCaps caps = { 0 };
  guint64 pushed = 0, printed = 0;
  GString *out_line = g_string_new (NULL);
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  guint lineno = 0;
  int n = 0, ret = 1;

  te_log_to_stderr ();
  ctx = g_option_context_new ("< texts.jsonl");
  g_option_context_set_summary (ctx,
      "Reads one JSON string per line on stdin and writes its sentence embedding, a JSON\n"
      "array of floats, on stdout. A text longer than the model's max_seq_length is an error\n"
      "(nothing is truncated). With --ids, each line is a JSON array of token ids instead.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "te-embed: %s\n", error->message);
    goto out;
  }
  data_out = te_reserve_stdout ();
  if (data_out == NULL) {
    perror ("te-embed: duplicating stdout");
    goto out;
  }
  if (opt_batch < 1 || opt_batch > 65536) {
    fprintf (stderr, "te-embed: --batch must be between 1 and 65536\n");
    goto out;
  }

  text_s = now ();
  model = te_model_load_tokenizer_only (opt_model ? opt_model : te_default_model_dir (), &error);
  weights_s = now ();
  text_s = weights_s - text_s;
  if (model == NULL || !te_model_load_weights (model, &error)) {
    fprintf (stderr, "te-embed: %s\n", error->message);
    goto out;
  }
  weights_s = now () - weights_s;
  te_embedder_options_init (&eo, model);
  eo.normalize = eo.normalize && !opt_no_normalize;
  eo.batch_size = opt_batch;
  if (opt_pooling && !te_pool_mode_from_string (opt_pooling, &eo.pooling)) {
    fprintf (stderr, "te-embed: unknown pooling \"%s\" (mean, cls or max)\n", opt_pooling);
    goto out;
  }
  if (opt_prompt && opt_ids) {
    fprintf (stderr, "te-embed: --prompt applies to texts; with --ids put the prompt's ids in "
        "each line\n");
    goto out;
  }
  if (opt_prompt && *opt_prompt && !te_model_sentence_config (model)->include_prompt
      && !te_tokenizer_prompt_length (te_model_tokenizer (model), opt_prompt, &eo.pool_skip,
          &error)) {
    fprintf (stderr, "te-embed: the prompt: %s\n", error->message);
    goto out;
  }
  eo.backend = opt_backend;
  backend_options = te_backend_options_parse (opt_backend_options, &error);
  if (backend_options == NULL) {
    fprintf (stderr, "te-embed: --%s\n", error->message);
    goto out;
  }
  eo.backend_options = backend_options;
  open_s = now ();
  e = te_embedder_new (model, &eo, &error);
  open_s = now () - open_s;
  if (e == NULL) {
    fprintf (stderr, "te-embed: %s\n", error->message);
    goto out;
  }
  embeddings = g_new (float, (gsize) opt_batch * te_embedder_dims (e));

  encs = g_new (TeEncoding, opt_batch);
  for (int i = 0; i < opt_batch; i++)
    te_encoding_init (&encs[i]);
  if (opt_bench > 0.0) {
    bench_batches = g_ptr_array_new_with_free_func ((GDestroyNotify) te_batch_free);
  } else {
    /* the embedding path: npuencoder's scheduler (core/te-scheduler.h), full batches of
     * --batch texts (the last one partial), two in flight */
    TeSchedulerConfig sc = { .batch_size = (guint) opt_batch, .max_inflight = 2 };

    sched = te_scheduler_new (te_embedder_backend (e), te_model_config (model)->hidden_size,
        te_tokenizer_pad_id (te_model_tokenizer (model)), &sc);
    te_backend_get_caps (te_embedder_backend (e), &caps);
  }

  for (;;) {
    gboolean eof;
    TeBatch *batch;

    got = getline (&line, &cap, stdin);
    eof = got < 0;
    if (!eof) {
      char *text;
      gsize len;

      lineno++;
      while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
        line[--got] = '\0';
      if (opt_ids) {
        if (!parse_ids_line (line, ids, &error)
            || !te_embedder_encode_ids (e, (const gint32 *) ids->data, ids->len, &encs[n],
                &error)) {
          fprintf (stderr, "te-embed: line %u: %s\n", lineno, error->message);
          goto out;
        }
      } else {
        text = parse_line (line, &len, &error);
        if (text && opt_prompt && *opt_prompt) {
          /* prompt + text by length: a JSON-lines text may hold NUL bytes */
          gsize pl = strlen (opt_prompt);
          char *with = g_malloc (pl + len + 1);
          memcpy (with, opt_prompt, pl);
          memcpy (with + pl, text, len);
          with[pl + len] = '\0';
          g_free (text);
          text = with;
          len += pl;
        }
        if (text == NULL || !te_embedder_encode (e, text, len, &encs[n], NULL, &error)) {
          g_free (text);
          fprintf (stderr, "te-embed: line %u: %s\n", lineno, error->message);
          goto out;
        }
        g_free (text);
      }
      n++;
    }
    if (sched && n == 1) {
      /* one row into the scheduler; when it would wait for a slot, print outputs first */
      TeEncoding *enc = &encs[0];
      TeSchedResult r;

      n = 0;
      if (enc->n == 0 || te_backend_caps_seq_len (&caps, (int) enc->n) < 0) {
        fprintf (stderr, "te-embed: line %u: %u tokens: the %s backend takes 1 to %d\n",
            lineno, enc->n, te_backend_name (te_embedder_backend (e)), caps.max_seq_len);
        goto out;
      }
      while ((r = te_scheduler_push_row (sched, enc->ids, enc->type_ids, (int) enc->n,
                  GINT_TO_POINTER (lineno), FALSE)) == TE_SCHED_WOULD_BLOCK)
        if (!print_outputs (sched, e, embeddings, out_line, &printed, printed + 1))
          goto out;
      pushed++;
      if (!print_outputs (sched, e, embeddings, out_line, &printed, 0))
        goto out;
    }
    if (sched && eof) {
      while (te_scheduler_drain (sched, FALSE) == TE_SCHED_WOULD_BLOCK)
        if (!print_outputs (sched, e, embeddings, out_line, &printed, printed + 1))
          goto out;
      if (!print_outputs (sched, e, embeddings, out_line, &printed, pushed))
        goto out;
    }
    if (!sched && (n == opt_batch || (eof && n > 0))) {
      batch = te_embedder_make_batch (e, encs, n, &error);
      if (batch == NULL) {
        fprintf (stderr, "te-embed: line %u: %s\n", lineno, error->message);
        goto out;
      }
      g_ptr_array_add (bench_batches, batch);
      n = 0;
    }
    if (eof)
      break;
  }
  if (ferror (stdin)) {
    fprintf (stderr, "te-embed: error reading stdin\n");
    goto out;
  }
  if (bench_batches && !bench (e, bench_batches, &error)) {
    fprintf (stderr, "te-embed: %s\n", error->message);
    goto out;
  }
  if (fflush (data_out) != 0) {
    fprintf (stderr, "te-embed: error writing stdout\n");
    goto out;
  }
  ret = 0;

out:
  g_clear_error (&error);
  te_scheduler_free (sched);
  if (encs) {
    for (int i = 0; i < opt_batch; i++)
      te_encoding_clear (&encs[i]);
    g_free (encs);
  }
  if (bench_batches)
    g_ptr_array_free (bench_batches, TRUE);
  g_free (embeddings);
  te_embedder_free (e);
  if (backend_options)
    g_hash_table_unref (backend_options);
  te_model_free (model);
  g_string_free (out_line, TRUE);
  g_array_free (ids, TRUE);
  free (line);
  g_option_context_free (ctx);
  g_free (opt_model);
  g_free (opt_pooling);
  g_free (opt_prompt);
  g_free (opt_backend);
  g_free (opt_backend_options);
  return ret;
}
