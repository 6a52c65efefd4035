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
  return s;
}

GST_CHECK_MAIN (texttokenizer);
