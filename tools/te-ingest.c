/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-ingest.c — embed a corpus into an SQLite store with the standard pipeline
 * (corpussrc ! textchunker ! texttokenizer ! npuencoder ! embedpooler ! embedsink), showing
 * progress; every option is one element property. Rerunning the same command resumes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gst/gst.h>
#include <glib-unix.h>

/* Options, each mapped onto one element property (see --help). */
static gchar *opt_format, *opt_include, *opt_exclude, *opt_id_field, *opt_title_field,
    *opt_text_field, *opt_model, *opt_invalid_utf8, *opt_backend, *opt_backend_options,
    *opt_fallback, *opt_prompt, *opt_prompt_name, *opt_instruction;
static gint opt_shard_index = -1, opt_shard_count = -1, opt_max_tokens = -1,
    opt_overlap_tokens = -1, opt_batch_size = -1, opt_progress_interval = -1,
    opt_dimensions = -1;
static gboolean opt_no_resume, opt_no_text, opt_quiet, opt_exclude_overlap;
static gboolean opt_late_chunking, opt_document_vectors;
static gint opt_window_tokens = -1;

static GOptionEntry entries[] = {
  {"format", 0, 0, G_OPTION_ARG_STRING, &opt_format,
      "corpussrc format: auto, directory, list or jsonl (default auto)", "FMT"},
  {"include", 0, 0, G_OPTION_ARG_STRING, &opt_include,
      "corpussrc include: comma-separated globs of ids to read", "GLOBS"},
  {"exclude", 0, 0, G_OPTION_ARG_STRING, &opt_exclude,
      "corpussrc exclude: comma-separated globs of ids to leave out", "GLOBS"},
  {"id-field", 0, 0, G_OPTION_ARG_STRING, &opt_id_field, "corpussrc id-field (jsonl)", "NAME"},
  {"title-field", 0, 0, G_OPTION_ARG_STRING, &opt_title_field,
      "corpussrc title-field (jsonl)", "NAME"},
  {"text-field", 0, 0, G_OPTION_ARG_STRING, &opt_text_field,
      "corpussrc text-field (jsonl)", "NAME"},
  {"shard-index", 0, 0, G_OPTION_ARG_INT, &opt_shard_index, "corpussrc shard-index", "I"},
  {"shard-count", 0, 0, G_OPTION_ARG_INT, &opt_shard_count, "corpussrc shard-count", "N"},
  {"no-resume", 0, 0, G_OPTION_ARG_NONE, &opt_no_resume,
      "corpussrc resume=false: re-embed documents the store already holds", NULL},
  {"model", 'm', 0, G_OPTION_ARG_FILENAME, &opt_model,
      "model of textchunker, texttokenizer, npuencoder and embedpooler (default: the "
      "configured model)", "DIR"},
  {"max-tokens", 0, 0, G_OPTION_ARG_INT, &opt_max_tokens, "textchunker max-tokens", "N"},
  {"overlap-tokens", 0, 0, G_OPTION_ARG_INT, &opt_overlap_tokens,
      "textchunker overlap-tokens", "N"},
  {"invalid-utf8", 0, 0, G_OPTION_ARG_STRING, &opt_invalid_utf8,
      "textchunker invalid-utf8: error, replace or skip-document (default skip-document)",
      "POLICY"},
  {"prompt", 0, 0, G_OPTION_ARG_STRING, &opt_prompt,
      "textchunker prompt: text the encoder sees before every chunk (\"\" = none)", "TEXT"},
  {"prompt-name", 0, 0, G_OPTION_ARG_STRING, &opt_prompt_name,
      "textchunker prompt-name: one of the model's config_sentence_transformers.json prompts",
      "NAME"},
  {"instruction", 0, 0, G_OPTION_ARG_STRING, &opt_instruction,
      "textchunker instruction: the prompt becomes \"Instruct: TASK\\nQuery: \"", "TASK"},
  {"batch-size", 0, 0, G_OPTION_ARG_INT, &opt_batch_size, "npuencoder batch-size", "N"},
  {"exclude-overlap", 0, 0, G_OPTION_ARG_NONE, &opt_exclude_overlap,
      "embedpooler exclude-overlap (pool each chunk's own tokens only)", NULL},
  {"late-chunking", 0, 0, G_OPTION_ARG_NONE, &opt_late_chunking,
      "texttokenizer late-chunking (each chunk embedded in the context of a window)", NULL},
  {"window-tokens", 0, 0, G_OPTION_ARG_INT, &opt_window_tokens,
      "texttokenizer window-tokens (late chunking; default the model's max_seq_length)",
      "N"},
  {"document-vectors", 0, 0, G_OPTION_ARG_NONE, &opt_document_vectors,
      "embedpooler document-vectors (one more vector per document, in its row)", NULL},
  {"dimensions", 0, 0, G_OPTION_ARG_INT, &opt_dimensions,
      "embedpooler dimensions (Matryoshka truncation; te-search follows the store)", "N"},
  {"backend", 0, 0, G_OPTION_ARG_STRING, &opt_backend, "npuencoder backend", "NAME"},
  {"backend-options", 0, 0, G_OPTION_ARG_STRING, &opt_backend_options,
      "npuencoder backend-options", "K=V,..."},
  {"fallback", 0, 0, G_OPTION_ARG_STRING, &opt_fallback, "npuencoder fallback: cpu or none",
      "MODE"},
  {"no-text", 0, 0, G_OPTION_ARG_NONE, &opt_no_text,
      "embedsink include-text=false: store no chunk text", NULL},
  {"progress-interval", 0, 0, G_OPTION_ARG_INT, &opt_progress_interval,
      "embedsink progress-interval in ms (default 500 on a terminal, 10000 otherwise)", "MS"},
  {"quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet, "Only errors and the final summary", NULL},
  {NULL}
};

typedef struct {
  GMainLoop *loop;
  GstElement *pipeline;
  gboolean tty;
  gboolean line_open;           /* a \r progress line is on screen */
  int status;
  gboolean interrupted;
  GstStructure *last;           /* last progress message */
  const gchar *store;
} Ingest;

static GstElement *
make (const gchar * factory, const gchar * name)
{
  GstElement *e = gst_element_factory_make (factory, name);
  if (!e) {
    g_printerr ("te-ingest: element \"%s\" not found; is GST_PLUGIN_PATH set to the plugin "
        "directory?\n", factory);
    exit (1);
  }
  return e;
}

/* Set an enum property from its nick, with an error naming the valid ones. */
static void
set_enum (GstElement * e, const gchar * prop, const gchar * nick)
{
  GParamSpec *ps = g_object_class_find_property (G_OBJECT_GET_CLASS (e), prop);
  GEnumClass *ec = g_type_class_ref (ps->value_type);
  GEnumValue *v = g_enum_get_value_by_nick (ec, nick);
  if (!v) {
    GString *valid = g_string_new (NULL);
    for (guint i = 0; i < ec->n_values; i++)
      g_string_append_printf (valid, "%s%s", i ? ", " : "", ec->values[i].value_nick);
    g_printerr ("te-ingest: --%s=%s: must be one of %s\n", prop, nick, valid->str);
    exit (2);
  }
  g_object_set (e, prop, v->value, NULL);
  g_type_class_unref (ec);
}

static void
clear_line (Ingest * in)
{
  if (in->line_open) {
    g_printerr ("\r\033[K");
    in->line_open = FALSE;
  }
}

static gchar *
format_duration (gdouble s)
{
  if (s < 0)
    return g_strdup ("?");
  guint64 t = (guint64) (s + 0.5);
  if (t >= 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "h%02um", t / 3600, (guint) (t % 3600) / 60);
  if (t >= 60)
    return g_strdup_printf ("%um%02us", (guint) t / 60, (guint) t % 60);
  return g_strdup_printf ("%us", (guint) t);
}

static void
show_progress (Ingest * in, const GstStructure * s)
{
  guint64 done = 0, chunks = 0;
  gint64 total = -1;
  gdouble tps = 0, eta = -1;
  gst_structure_get_uint64 (s, "documents-done", &done);
  gst_structure_get_int64 (s, "documents-total", &total);
  gst_structure_get_uint64 (s, "chunks", &chunks);
  gst_structure_get_double (s, "tokens-per-second", &tps);
  gst_structure_get_double (s, "eta", &eta);
  gchar *eta_s = format_duration (eta);
  GString *line = g_string_new (NULL);
  if (total > 0) {
    const int width = 24;
    int fill = (int) (width * MIN (1.0, (gdouble) done / total));
    g_string_append_c (line, '[');
    for (int i = 0; i < width; i++)
      g_string_append_c (line, i < fill ? '#' : '.');
    g_string_append_printf (line, "] %" G_GUINT64_FORMAT "/%" G_GINT64_FORMAT " docs", done,
        total);
  } else {
    g_string_append_printf (line, "%" G_GUINT64_FORMAT " docs", done);
  }
  g_string_append_printf (line, ", %" G_GUINT64_FORMAT " chunks, %.0f tokens/s, ETA %s",
      chunks, tps, eta_s);
  if (in->tty) {
    g_printerr ("\r\033[K%s", line->str);
    in->line_open = TRUE;
  } else {
    g_printerr ("%s\n", line->str);
  }
  g_string_free (line, TRUE);
  g_free (eta_s);
}

static void
summary (Ingest * in, gdouble wall)
{
  const GstStructure *s = in->last;
  guint64 complete = 0, skipped = 0, unchanged = 0, deleted = 0, chunks = 0, tokens = 0;
  if (s) {
    gst_structure_get_uint64 (s, "documents-complete", &complete);
    gst_structure_get_uint64 (s, "documents-skipped", &skipped);
    gst_structure_get_uint64 (s, "documents-unchanged", &unchanged);
    gst_structure_get_uint64 (s, "documents-deleted", &deleted);
    gst_structure_get_uint64 (s, "chunks", &chunks);
    gst_structure_get_uint64 (s, "tokens", &tokens);
  }
  clear_line (in);
  g_printerr ("te-ingest: %s: %" G_GUINT64_FORMAT " documents embedded, %" G_GUINT64_FORMAT
      " skipped, %" G_GUINT64_FORMAT " unchanged, %" G_GUINT64_FORMAT " marked deleted; %"
      G_GUINT64_FORMAT " chunks, %" G_GUINT64_FORMAT " tokens in %.1f s (%.0f tokens/s, %.1f "
      "documents/s) -> %s\n", in->status == 0 ? "done" : in->interrupted ? "interrupted" :
      "failed", complete, skipped, unchanged, deleted, chunks, tokens, wall,
      wall > 0 ? tokens / wall : 0.0, wall > 0 ? (complete + skipped) / wall : 0.0, in->store);
}

static gboolean
on_bus (GstBus * bus, GstMessage * msg, gpointer user_data)
{
  Ingest *in = user_data;
  GError *err = NULL;
  gchar *dbg = NULL;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT:{
      const GstStructure *s = gst_message_get_structure (msg);
      if (s && gst_structure_has_name (s, "textembed-progress")) {
        g_clear_pointer (&in->last, gst_structure_free);
        in->last = gst_structure_copy (s);
        if (!opt_quiet)
          show_progress (in, s);
      }
      break;
    }
    case GST_MESSAGE_WARNING:
      gst_message_parse_warning (msg, &err, &dbg);
      if (!opt_quiet) {
        clear_line (in);
        g_printerr ("te-ingest: warning: %s\n", err->message);
      }
      g_clear_error (&err);
      g_free (dbg);
      break;
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (msg, &err, &dbg);
      clear_line (in);
      g_printerr ("te-ingest: error from %s: %s\n%s%s", GST_OBJECT_NAME (msg->src),
          err->message, dbg ? dbg : "", dbg ? "\n" : "");
      g_clear_error (&err);
      g_free (dbg);
      in->status = 1;
      g_main_loop_quit (in->loop);
      break;
    case GST_MESSAGE_EOS:
      g_main_loop_quit (in->loop);
      break;
    default:
      break;
  }
  return TRUE;
}

static gboolean
on_signal (gpointer user_data)
{
  Ingest *in = user_data;
  in->interrupted = TRUE;
  in->status = 130;
  g_main_loop_quit (in->loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  GError *err = NULL;
  GOptionContext *ctx = g_option_context_new ("SOURCE STORE");

  /* stdout is the progress report; GLib's INFO/DEBUG lines go to stderr like the rest */
#if GLIB_CHECK_VERSION (2, 68, 0)
  g_log_writer_default_set_use_stderr (TRUE);
#endif
  g_option_context_set_summary (ctx,
      "Embeds a corpus into an SQLite store, with progress. SOURCE is a directory (every file "
      "under it, ids relative to it), a JSON Lines corpus (*.jsonl: {\"_id\", \"title\", "
      "\"text\"}), a file with one path per line, or - (paths on standard input). STORE is the "
      "SQLite file (docs/store.md). Rerunning the same command after an interruption (even kill "
      "-9) resumes: documents already stored with the same content and model are not read "
      "again.\n\nThe pipeline: corpussrc ! textchunker ! texttokenizer ! npuencoder ! "
      "embedpooler ! embedsink format=sqlite; each option sets the element property it names.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("te-ingest: %s\n", err->message);
    return 2;
  }
  if (argc != 3) {
    gchar *help = g_option_context_get_help (ctx, TRUE, NULL);
    g_printerr ("%s", help);
    g_free (help);
    return 2;
  }
  g_option_context_free (ctx);

  Ingest in = { 0 };
  in.tty = isatty (STDERR_FILENO);
  in.store = argv[2];

  GstElement *src = make ("corpussrc", "src");
  GstElement *chunker = make ("textchunker", "chunker");
  GstElement *tokenizer = make ("texttokenizer", "tokenizer");
  GstElement *encoder = make ("npuencoder", "encoder");
  GstElement *pooler = make ("embedpooler", "pooler");
  GstElement *sink = make ("embedsink", "sink");

  g_object_set (src, "location", argv[1], NULL);
  if (opt_format)
    set_enum (src, "format", opt_format);
  if (opt_include)
    g_object_set (src, "include", opt_include, NULL);
  if (opt_exclude)
    g_object_set (src, "exclude", opt_exclude, NULL);
  if (opt_id_field)
    g_object_set (src, "id-field", opt_id_field, NULL);
  if (opt_title_field)
    g_object_set (src, "title-field", opt_title_field, NULL);
  if (opt_text_field)
    g_object_set (src, "text-field", opt_text_field, NULL);
  if (opt_shard_count >= 0)
    g_object_set (src, "shard-count", (guint) opt_shard_count, NULL);
  if (opt_shard_index >= 0)
    g_object_set (src, "shard-index", (guint) opt_shard_index, NULL);
  if (opt_no_resume)
    g_object_set (src, "resume", FALSE, NULL);
  if (opt_model)
    for (GstElement ** e = (GstElement *[]) { chunker, tokenizer, encoder, pooler, NULL }; *e;
        e++)
      g_object_set (*e, "model", opt_model, NULL);
  if (opt_max_tokens >= 0)
    g_object_set (chunker, "max-tokens", (guint) opt_max_tokens, NULL);
  if (opt_overlap_tokens >= 0)
    g_object_set (chunker, "overlap-tokens", (guint) opt_overlap_tokens, NULL);
  if (opt_prompt)
    g_object_set (chunker, "prompt", opt_prompt, NULL);
  if (opt_prompt_name)
    g_object_set (chunker, "prompt-name", opt_prompt_name, NULL);
  if (opt_instruction)
    g_object_set (chunker, "instruction", opt_instruction, NULL);
  set_enum (chunker, "invalid-utf8", opt_invalid_utf8 ? opt_invalid_utf8 : "skip-document");
  if (opt_batch_size >= 0)
    g_object_set (encoder, "batch-size", (guint) opt_batch_size, NULL);
  if (opt_backend)
    g_object_set (encoder, "backend", opt_backend, NULL);
  if (opt_backend_options)
    g_object_set (encoder, "backend-options", opt_backend_options, NULL);
  if (opt_fallback)
    set_enum (encoder, "fallback", opt_fallback);
  if (opt_dimensions >= 0)
    g_object_set (pooler, "dimensions", (guint) opt_dimensions, NULL);
  if (opt_exclude_overlap)
    g_object_set (pooler, "exclude-overlap", TRUE, NULL);
  if (opt_late_chunking)
    g_object_set (tokenizer, "late-chunking", TRUE, NULL);
  if (opt_window_tokens >= 0)
    g_object_set (tokenizer, "window-tokens", (guint) opt_window_tokens, NULL);
  if (opt_document_vectors)
    g_object_set (pooler, "document-vectors", TRUE, NULL);
  set_enum (sink, "format", "sqlite");
  g_object_set (sink, "location", argv[2], NULL);
  if (opt_no_text)
    g_object_set (sink, "include-text", FALSE, NULL);
  g_object_set (sink, "progress-interval", (guint) (opt_progress_interval >= 0 ?
          opt_progress_interval : in.tty ? 500 : 10000), NULL);

  in.pipeline = gst_pipeline_new ("te-ingest");
  gst_bin_add_many (GST_BIN (in.pipeline), src, chunker, tokenizer, encoder, pooler, sink, NULL);
  if (!gst_element_link_many (src, chunker, tokenizer, encoder, pooler, sink, NULL)) {
    g_printerr ("te-ingest: could not link the pipeline\n");
    return 1;
  }

  in.loop = g_main_loop_new (NULL, FALSE);
  GstBus *bus = gst_pipeline_get_bus (GST_PIPELINE (in.pipeline));
  gst_bus_add_watch (bus, on_bus, &in);
  g_unix_signal_add (SIGINT, on_signal, &in);
  g_unix_signal_add (SIGTERM, on_signal, &in);

  gint64 t0 = g_get_monotonic_time ();
  if (gst_element_set_state (in.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    /* the error message on the bus says why */
    in.status = 1;
    GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (m) {
      on_bus (bus, m, &in);
      gst_message_unref (m);
    } else {
      g_printerr ("te-ingest: the pipeline could not start\n");
    }
  } else {
    g_main_loop_run (in.loop);
  }
  gst_element_set_state (in.pipeline, GST_STATE_NULL);
  gdouble wall = (g_get_monotonic_time () - t0) / 1e6;
  /* the sink's counters, whatever ended the run (a failure posts no final progress message) */
  g_clear_pointer (&in.last, gst_structure_free);
  g_object_get (sink, "progress", &in.last, NULL);
  if (in.interrupted) {
    clear_line (&in);
    g_printerr ("te-ingest: interrupted; every document finished so far is in %s; run the "
        "same command again to resume\n", argv[2]);
  }
  summary (&in, wall);

  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_unref (in.pipeline);
  g_main_loop_unref (in.loop);
  g_clear_pointer (&in.last, gst_structure_free);
  return in.status;
}
