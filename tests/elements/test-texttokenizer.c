/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-texttokenizer.c — GstHarness tests of texttokenizer. */
#include <string.h>
#include "test-util.h"
#include "gsttextembedmeta.h"

/* Pull one buffer and return its ids (n set to the token count). */
static gint32 *
pull_ids (GstHarness * h, guint * n)
{
  GstBuffer *b = gst_harness_pull (h);
  gsize size = gst_buffer_get_size (b);
  fail_unless (size % 8 == 0);
  *n = size / 8;
  gint32 *ids = g_malloc (size);
  gst_buffer_extract (b, 0, ids, size);
  gst_buffer_unref (b);
  return ids;
}

/* Expected ids are those of Hugging Face tokenizers for all-MiniLM-L6-v2 (bert-base-uncased
 * vocabulary): tok.encode("Hello, world!").ids */
GST_START_TEST (test_known_ids)
{
  GstHarness *h = gst_harness_new ("texttokenizer");
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("Hello, world!")),
      GST_FLOW_OK);
  guint n;
  gint32 *ids = pull_ids (h, &n);
  const gint32 expect[] = { 101, 7592, 1010, 2088, 999, 102 };
  fail_unless_equals_int (n, G_N_ELEMENTS (expect));
  for (guint i = 0; i < n; i++) {
    fail_unless_equals_int (ids[i], expect[i]);
    fail_unless_equals_int (ids[n + i], 0);     /* token types */
  }
  g_free (ids);

  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_has_name (s, "application/x-text-tokens"));
  gint vocab, maxlen;
  fail_unless (gst_structure_get_int (s, "vocab-size", &vocab));
  fail_unless_equals_int (vocab, 30522);
  fail_unless (gst_structure_get_int (s, "max-length", &maxlen));
  fail_unless_equals_int (maxlen, 256);
  gst_caps_unref (caps);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Chunk metadata travels through, with the token count filled in. */
GST_START_TEST (test_meta_copied)
{
  GstHarness *h = gst_harness_new ("texttokenizer");
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  GstBuffer *in = test_text_buffer ("Hello, world!");
  gst_buffer_add_text_chunk_meta (in, "doc-a", 7, 100, 113, "Hello, world!", 13, 0);
  GST_BUFFER_PTS (in) = 5 * GST_SECOND;
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (out);
  fail_unless (m != NULL);
  fail_unless_equals_string (m->doc_id, "doc-a");
  fail_unless_equals_uint64 (m->index, 7);
  fail_unless_equals_uint64 (m->start, 100);
  fail_unless_equals_uint64 (m->end, 113);
  fail_unless_equals_int (m->n_tokens, 6);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 5 * GST_SECOND);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A document-start with a prompt: the chunk is tokenized as prompt + text (ids of Hugging Face
 * tokenizers for tok.encode("passage: Hello, world!")), n_tokens counts the prompt, and
 * n_prompt_tokens is sentence-transformers' prompt_length (len(tok.encode("passage: ").ids) - 1,
 * the trailing [SEP] removed); the meta's text and range stay the source's. The next document
 * without a prompt gets none. */
GST_START_TEST (test_prompt_prepended)
{
  GstHarness *h = gst_harness_new ("texttokenizer");
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  fail_unless (gst_harness_push_event (h, test_document_event ("textembed/document-start, "
              "id=(string)a, prompt=(string)\"passage: \"")));
  GstBuffer *in = test_text_buffer ("Hello, world!");
  gst_buffer_add_text_chunk_meta (in, "a", 0, 0, 13, "Hello, world!", 13, 0);
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  const gint32 expect[] = { 101, 6019, 1024, 7592, 1010, 2088, 999, 102 };
  guint n = gst_buffer_get_size (out) / 8;
  fail_unless_equals_int (n, G_N_ELEMENTS (expect));
  gint32 ids[G_N_ELEMENTS (expect)];
  gst_buffer_extract (out, 0, ids, sizeof (ids));
  for (guint i = 0; i < n; i++)
    fail_unless_equals_int (ids[i], expect[i]);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (out);
  fail_unless_equals_int (m->n_tokens, 8);
  fail_unless_equals_int (m->n_prompt_tokens, 3);
  fail_unless_equals_string (m->text, "Hello, world!");
  fail_unless_equals_uint64 (m->start, 0);
  fail_unless_equals_uint64 (m->end, 13);
  /* the meta goes through a copy with its prompt count */
  GstBuffer *copy = gst_buffer_copy (out);
  fail_unless_equals_int (gst_buffer_get_text_chunk_meta (copy)->n_prompt_tokens, 3);
  gst_buffer_unref (copy);
  gst_buffer_unref (out);

  fail_unless (gst_harness_push_event (h, test_document_event ("textembed/document-start, "
              "id=(string)b")));
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("Hello, world!")),
      GST_FLOW_OK);
  out = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (out) / 8, 6);
  fail_unless_equals_int (gst_buffer_get_text_chunk_meta (out)->n_prompt_tokens, 0);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* More tokens than the model accepts is an error, never a truncation. */
GST_START_TEST (test_too_long_is_error)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("texttokenizer", &bus, NULL);
  gst_harness_set_src_caps_str (h, "text/plain");
  GString *s = g_string_new (NULL);
  for (int i = 0; i < 300; i++)
    g_string_append (s, "word ");
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (s->str, s->len)),
      GST_FLOW_ERROR);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "302 tokens") && strstr (msg, "at most 256"), "%s", msg);
  g_free (msg);
  g_string_free (s, TRUE);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A chunker that counted with another tokenizer: negotiation fails with a clear error. */
GST_START_TEST (test_tokenizer_mismatch)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("texttokenizer", &bus, NULL);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8, tokenizer=deadbeef");
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "same model"), "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_invalid_utf8_is_error)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("texttokenizer", &bus, NULL);
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup ("a\xc3(", 3)),
      GST_FLOW_ERROR);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "UTF-8"), "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;


/* eight words, each one token of the bert-base-uncased vocabulary (HF ids 2028 ... 2809) */
#define EIGHT "one two three four five six seven eight "
static const gint32 eight_ids[8] = { 2028, 2048, 2093, 2176, 2274, 2416, 2698, 2809 };

static void
push_chunk (GstHarness * h, guint i)
{
  const gsize len = strlen (EIGHT);
  GstBuffer *in = test_text_buffer (EIGHT);
  gst_buffer_add_text_chunk_meta (in, "d", i, i * len, (i + 1) * len, EIGHT, len, 0);
  GST_BUFFER_PTS (in) = i * GST_SECOND;
  GST_BUFFER_DURATION (in) = GST_SECOND;
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
}

/* late-chunking with windows of 34 tokens (4 chunks of 8, with [CLS] and [SEP]): windows of
 * chunks 0..3, 2..5, 4..6 over 7 chunks; every chunk once, in order, with its token rows, its
 * timestamps and the window's byte range; nothing goes out before the windows after it are
 * known; the document's end sends the rest before the end event; the chunking identity says
 * late-chunking=34; a flush drops what is held. */
GST_START_TEST (test_late_windows)
{
  GstHarness *h = test_harness_new ("texttokenizer", NULL, "late-chunking", TRUE,
      "window-tokens", 34, NULL);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  fail_unless (gst_harness_push_event (h, test_document_event ("textembed/document-start, "
              "id=(string)d, chunking=(string)\"max-tokens=10\"")));
  for (guint i = 0; i < 5; i++)
    push_chunk (h, i);
  /* window 0..3 waits for a window starting after chunk 3 (4..): not formed yet */
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  push_chunk (h, 5);
  push_chunk (h, 6);
  fail_unless (gst_harness_push_event (h, test_document_event ("textembed/document-end, "
              "id=(string)d, status=(string)complete")));
  guint next = 0, windows = 0;
  GstBuffer *out;
  while ((out = gst_harness_try_pull (h))) {
    guint n = gst_buffer_get_size (out) / 8;
    gint32 *ids = g_new (gint32, 2 * n);
    gst_buffer_extract (out, 0, ids, 8 * n);
    fail_unless (n <= 34);
    fail_unless_equals_int (ids[0], 101);
    fail_unless_equals_int (ids[n - 1], 102);
    for (guint r = 1; r + 1 < n; r++)
      fail_unless_equals_int (ids[r], eight_ids[(r - 1) % 8]);
    gpointer state = NULL;
    GstMeta *gm;
    while ((gm = gst_buffer_iterate_meta_filtered (out, &state,
                GST_TEXT_CHUNK_META_API_TYPE))) {
      GstTextChunkMeta *m = (GstTextChunkMeta *) gm;
      fail_unless_equals_uint64 (m->index, next);
      fail_unless (m->span_n > 0 && m->span_first + m->span_n <= n);
      fail_unless_equals_int (m->n_tokens, m->span_n);
      fail_unless_equals_uint64 (m->pts, next * GST_SECOND);
      fail_unless_equals_uint64 (m->duration, GST_SECOND);
      fail_unless (m->window_start <= m->start && m->end <= m->window_end);
      fail_unless_equals_uint64 (m->window_end - m->window_start, (n - 2) / 8 * strlen (EIGHT));
      next++;
    }
    if (windows == 0) {
      /* chunks 0, 1, 2 (chunk 2 is more central here than in the next window) */
      fail_unless_equals_int (n, 34);
      fail_unless_equals_int (next, 3);
      fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 0);
      fail_unless_equals_uint64 (GST_BUFFER_DURATION (out), 3 * GST_SECOND);
    }
    g_free (ids);
    gst_buffer_unref (out);
    windows++;
  }
  fail_unless_equals_int (next, 7);
  fail_unless_equals_int (windows, 3);
  /* the identity and the end event, in order after the windows */
  GstEvent *ev;
  gboolean saw_start = FALSE, saw_end = FALSE;
  while ((ev = gst_harness_try_pull_event (h))) {
    const GstStructure *st = gst_text_embed_event_get_document (ev,
        GST_TEXT_EMBED_DOCUMENT_START);
    if (st) {
      fail_unless_equals_string (gst_structure_get_string (st, "chunking"),
          "max-tokens=10,late-chunking=34");
      saw_start = TRUE;
    }
    saw_end |= gst_text_embed_event_get_document (ev, GST_TEXT_EMBED_DOCUMENT_END) != NULL;
    gst_event_unref (ev);
  }
  fail_unless (saw_start && saw_end);
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  gint maxlen = 0;
  gboolean late = FALSE;
  fail_unless (gst_structure_get_int (gst_caps_get_structure (caps, 0), "max-length", &maxlen));
  fail_unless (gst_structure_get_boolean (gst_caps_get_structure (caps, 0), "late-chunking",
          &late) && late);
  fail_unless_equals_int (maxlen, 34);
  gst_caps_unref (caps);

  /* a flush drops the chunks held; the next document starts clean */
  push_chunk (h, 0);
  push_chunk (h, 1);
  gst_harness_push_event (h, gst_event_new_flush_start ());
  gst_harness_push_event (h, gst_event_new_flush_stop (TRUE));
  gst_harness_push_event (h, gst_event_new_segment (&(GstSegment) {
        .format = GST_FORMAT_TIME, .rate = 1.0, .applied_rate = 1.0, .stop = -1,
        .duration = -1}));
  push_chunk (h, 0);
  gst_harness_push_event (h, gst_event_new_eos ());
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  out = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (out) / 8, 10);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* window-tokens beyond the model's positions is an error naming the limit; a chunk that does
 * not fit in the window is an error naming the chunk. */
GST_START_TEST (test_late_errors)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("texttokenizer", &bus, "late-chunking", TRUE,
      "window-tokens", 600, NULL);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer (EIGHT)), GST_FLOW_ERROR);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "window-tokens=600") && strstr (msg, "at most 512"), "%s",
      msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  h = test_harness_new ("texttokenizer", &bus, "late-chunking", TRUE, "window-tokens", 9, NULL);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer (EIGHT)), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg && strstr (msg, "window of 9"), "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
texttokenizer_suite (void)
{
  Suite *s = suite_create ("texttokenizer");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_known_ids);
  tcase_add_test (tc, test_meta_copied);
  tcase_add_test (tc, test_prompt_prepended);
  tcase_add_test (tc, test_too_long_is_error);
  tcase_add_test (tc, test_tokenizer_mismatch);
  tcase_add_test (tc, test_invalid_utf8_is_error);
  tcase_add_test (tc, test_late_windows);
  tcase_add_test (tc, test_late_errors);
  return s;
}

GST_CHECK_MAIN (texttokenizer);
