/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-textchunker.c — GstHarness tests of textchunker. */
#include <stdio.h>
#include <string.h>
#include "test-util.h"
#include "gsttextembedmeta.h"

#define GPL "/usr/share/common-licenses/GPL-3"

/* Push GPL-3 in 1000-byte pieces (which split UTF-8 nowhere here, but split words everywhere),
 * EOS, and check the chunks tile the document with metadata, caps and offsets. */
GST_START_TEST (test_tiles_document)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-tokens", 128, "document-id",
      "gpl", NULL);
  gsize len;
  gchar *text = test_read_file (GPL, &len);

  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  fail_unless_equals_int (test_push_pieces (h, text, len, 1000), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_has_name (s, "text/x-raw"));
  fail_unless (gst_structure_get_string (s, "tokenizer") != NULL);
  gint mt;
  fail_unless (gst_structure_get_int (s, "max-tokens", &mt));
  fail_unless_equals_int (mt, 128);
  gst_caps_unref (caps);

  guint n = gst_harness_buffers_received (h);
  fail_unless (n > 10);
  guint64 expect_start = 0;
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    fail_unless (m != NULL);
    fail_unless_equals_string (m->doc_id, "gpl");
    fail_unless_equals_uint64 (m->index, i);
    fail_unless_equals_uint64 (m->start, expect_start);
    fail_unless (m->n_tokens <= 128 && m->n_tokens > 2);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), m->start);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (b), m->end);
    fail_unless_equals_uint64 (gst_buffer_get_size (b), m->end - m->start);
    fail_unless (gst_buffer_memcmp (b, 0, text + m->start, m->end - m->start) == 0);
    fail_unless (memcmp (m->text, text + m->start, m->text_len) == 0);
    expect_start = m->end;
    gst_buffer_unref (b);
  }
  fail_unless_equals_uint64 (expect_start, len);
  g_free (text);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The document id defaults to the upstream location when the source answers the URI query. */
GST_START_TEST (test_doc_id_from_filesrc)
{
  GError *err = NULL;
  GstElement *p = gst_parse_launch ("filesrc location=" GPL " ! textchunker ! appsink "
      "name=out sync=false", &err);
  fail_unless (p != NULL && err == NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "out");
  gst_element_set_state (p, GST_STATE_PLAYING);
  GstSample *sample = NULL;
  g_signal_emit_by_name (sink, "pull-sample", &sample);
  fail_unless (sample != NULL);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (gst_sample_get_buffer (sample));
  fail_unless (m != NULL);
  fail_unless_equals_string (m->doc_id, GPL);
  gst_sample_unref (sample);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_overlap)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-tokens", 128, "overlap-tokens",
      16, NULL);
  gsize len;
  gchar *text = test_read_file (GPL, &len);
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless_equals_int (test_push_pieces (h, text, len, 4096), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  guint n = gst_harness_buffers_received (h);
  guint64 prev_end = 0;
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    if (i > 0)
      fail_unless (m->start < prev_end, "chunk %u does not overlap the previous one", i);
    fail_unless (m->end > prev_end);
    prev_end = m->end;
    gst_buffer_unref (b);
  }
  fail_unless_equals_uint64 (prev_end, len);
  g_free (text);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* max-tokens above the model's limit is clamped, with a warning on the bus. */
GST_START_TEST (test_max_tokens_clamped)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("textchunker", &bus, "max-tokens", 100000, NULL);
  gst_harness_set_src_caps_str (h, "text/plain");
  gchar *warning = test_pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (warning != NULL);
  fail_unless (strstr (warning, "max-tokens=100000") != NULL, "%s", warning);
  g_free (warning);
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("Some words.")), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  gint mt;
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "max-tokens", &mt);
  fail_unless_equals_int (mt, 256);     /* all-MiniLM-L6-v2's max_seq_length */
  gst_caps_unref (caps);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_invalid_utf8_is_error)
{
  GstBus *bus;
  GstHarness *h = test_harness_new ("textchunker", &bus, "document-id", "bad", NULL);
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("fine text ")), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup ("ab\xff", 3)),
      GST_FLOW_ERROR);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  fail_unless (strstr (msg, "not valid UTF-8 at byte 12") != NULL, "%s", msg);
  fail_unless (strstr (msg, "bad") != NULL, "%s", msg);
  g_free (msg);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A UTF-8 character split between two buffers comes out whole. */
GST_START_TEST (test_split_utf8)
{
  GstHarness *h = gst_harness_new ("textchunker");
  gst_harness_set_src_caps_str (h, "text/plain");
  const gchar *t = "caf\xc3\xa9 \xf0\x9f\x98\x80 end";
  gsize len = strlen (t);
  fail_unless_equals_int (test_push_pieces (h, t, len, 1), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  GstBuffer *b = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (b), len);
  fail_unless (gst_buffer_memcmp (b, 0, t, len) == 0);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Flushing drops the pending text; the next document starts at index 0. */
GST_START_TEST (test_flush_resets)
{
  GstHarness *h = gst_harness_new ("textchunker");
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("pending words ")),
      GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_flush_start ());
  gst_harness_push_event (h, gst_event_new_flush_stop (TRUE));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_harness_push_event (h, gst_event_new_segment (&seg));
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("after flush")), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  GstBuffer *b = gst_harness_pull (h);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
  fail_unless_equals_uint64 (m->index, 0);
  fail_unless_equals_uint64 (m->start, 0);
  fail_unless_equals_string (m->text, "after flush");
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_bad_model_is_error)
{
  GstElement *e = gst_element_factory_make ("textchunker", NULL);
  g_object_set (e, "model", "/nonexistent/model", NULL);
  gchar *msg = test_start_failure_text (e);
  fail_unless (msg != NULL);
  fail_unless (strstr (msg, "/nonexistent/model") != NULL, "%s", msg);
  g_free (msg);
  gst_object_unref (e);
}
GST_END_TEST;

/* ---- timestamps ---------------------------------------------------------------------------- */

typedef enum
{
  TS_FULL,                      /* PTS and duration on every buffer */
  TS_NO_DURATION,               /* PTS only: a buffer ends where the next begins */
  TS_NONE,                      /* untimestamped */
  TS_MIXED,                     /* untimestamped, then PTS only, then full */
} TsMode;

/* The pieces pushed: byte offsets and their buffers' timestamps. */
typedef struct
{
  guint n;
  guint64 *off;                 /* n + 1 entries, off[n] = total length */
  GstClockTime *pts, *dur;
} Pieces;

static void
pieces_free (Pieces * p)
{
  g_free (p->off);
  g_free (p->pts);
  g_free (p->dur);
}

static void
piece_times (TsMode mode, guint i, guint n, GstClockTime * pts, GstClockTime * dur)
{
  *pts = 5 * GST_SECOND + i * 100 * GST_MSECOND;
  *dur = 80 * GST_MSECOND;
  if (mode == TS_NONE || (mode == TS_MIXED && i < n / 3))
    *pts = *dur = GST_CLOCK_TIME_NONE;
  else if (mode == TS_NO_DURATION || (mode == TS_MIXED && i < 2 * n / 3))
    *dur = GST_CLOCK_TIME_NONE;
}

/* Push @len bytes of @text in @piece-byte buffers timestamped by @mode. */
static Pieces
push_timed_pieces (GstHarness * h, const gchar * text, gsize len, gsize piece, TsMode mode)
{
  Pieces p;
  p.n = (len + piece - 1) / piece;
  p.off = g_new (guint64, p.n + 1);
  p.pts = g_new (GstClockTime, p.n);
  p.dur = g_new (GstClockTime, p.n);
  for (guint i = 0; i < p.n; i++) {
    p.off[i] = (guint64) i * piece;
    gsize take = MIN (piece, len - p.off[i]);
    piece_times (mode, i, p.n, &p.pts[i], &p.dur[i]);
    GstBuffer *b = gst_buffer_new_memdup (text + p.off[i], take);
    GST_BUFFER_PTS (b) = p.pts[i];
    GST_BUFFER_DURATION (b) = p.dur[i];
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  }
  p.off[p.n] = len;
  return p;
}

static guint
piece_of (const Pieces * p, guint64 offset)
{
  for (guint i = 0; i < p->n; i++)
    if (offset >= p->off[i] && offset < p->off[i + 1])
      return i;
  fail ("offset %" G_GUINT64_FORMAT " outside the input", offset);
  return 0;
}

/* End time of piece @i by the documented rule: PTS + duration, else the next buffer's PTS. */
static GstClockTime
piece_end (const Pieces * p, guint i)
{
  if (!GST_CLOCK_TIME_IS_VALID (p->pts[i]))
    return GST_CLOCK_TIME_NONE;
  if (GST_CLOCK_TIME_IS_VALID (p->dur[i]))
    return p->pts[i] + p->dur[i];
  if (i + 1 < p->n)
    return p->pts[i + 1];
  return GST_CLOCK_TIME_NONE;
}

typedef struct
{
  guint chunks, multi_buffer, mid_buffer_start, timed;
} TimeStats;

/* Pull every chunk and check PTS/duration exactly against the pieces. */
static TimeStats
check_chunk_times (GstHarness * h, const Pieces * p, const gchar * text, gboolean tiling)
{
  TimeStats st = { 0 };
  guint n = gst_harness_buffers_received (h);
  guint64 prev_end = 0;
  fail_unless (n > 3);
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    fail_unless (m != NULL);
    fail_unless (memcmp (m->text, text + m->start, m->text_len) == 0);
    if (tiling)
      fail_unless_equals_uint64 (m->start, prev_end);
    prev_end = m->end;
    guint first_piece = piece_of (p, m->start), last_piece = piece_of (p, m->end - 1);
    GstClockTime pts = p->pts[first_piece], dur = GST_CLOCK_TIME_NONE;
    if (GST_CLOCK_TIME_IS_VALID (pts)) {
      GstClockTime end = piece_end (p, last_piece);
      if (GST_CLOCK_TIME_IS_VALID (end))
        dur = end - pts;
      st.timed++;
    }
    fail_unless_equals_clocktime (GST_BUFFER_PTS (b), pts);
    fail_unless_equals_clocktime (GST_BUFFER_DURATION (b), dur);
    st.chunks++;
    st.multi_buffer += first_piece != last_piece;
    st.mid_buffer_start += m->start != p->off[first_piece];
    gst_buffer_unref (b);
  }
  fail_unless_equals_uint64 (prev_end, p->off[p->n]);
  return st;
}

static void
run_timestamp_case (TsMode mode, guint overlap, TimeStats * out)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-tokens", 48, "overlap-tokens",
      overlap, "document-id", "ts", "max-latency", 0, NULL);
  gsize len;
  gchar *text = test_read_file (GPL, &len);
  len = MIN (len, 8000);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  Pieces p = push_timed_pieces (h, text, len, 97, mode);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  *out = check_chunk_times (h, &p, text, overlap == 0);
  pieces_free (&p);
  g_free (text);
  gst_harness_teardown (h);
}

/* Every chunk: PTS of the buffer holding its first byte, duration to the end (PTS + duration)
 * of the buffer holding its last byte; chunks span several buffers and start inside them. */
GST_START_TEST (test_timestamps_exact)
{
  TimeStats st;
  run_timestamp_case (TS_FULL, 0, &st);
  fail_unless (st.multi_buffer > 10 && st.mid_buffer_start > 10, "%u chunks: %u multi, %u mid",
      st.chunks, st.multi_buffer, st.mid_buffer_start);
  fail_unless_equals_int (st.timed, st.chunks);
}
GST_END_TEST;

/* With overlap a chunk starts inside the previous one: its PTS is that of an older buffer, which
 * the element must still remember. */
GST_START_TEST (test_timestamps_overlap)
{
  TimeStats st;
  run_timestamp_case (TS_FULL, 8, &st);
  fail_unless (st.multi_buffer > 10 && st.mid_buffer_start > 10);
  fail_unless_equals_int (st.timed, st.chunks);
}
GST_END_TEST;

/* Untimestamped input gives untimestamped chunks. */
GST_START_TEST (test_timestamps_none)
{
  TimeStats st;
  run_timestamp_case (TS_NONE, 0, &st);
  fail_unless_equals_int (st.timed, 0);
}
GST_END_TEST;

/* PTS without duration: a buffer ends at the next buffer's PTS; the last one has no end, so
 * the last chunk has no duration. Mixed: chunks starting in untimestamped buffers have no PTS. */
GST_START_TEST (test_timestamps_partial)
{
  TimeStats st;
  run_timestamp_case (TS_NO_DURATION, 8, &st);
  fail_unless_equals_int (st.timed, st.chunks);
  run_timestamp_case (TS_MIXED, 0, &st);
  fail_unless (st.timed > 0 && st.timed < st.chunks);
}
GST_END_TEST;

/* Log function counting the span queue length that textchunker reports at LOG level. */
static guint max_spans;
static void
count_spans_log (GstDebugCategory * category, GstDebugLevel level, const gchar * file,
    const gchar * function, gint line, GObject * object, GstDebugMessage * message,
    gpointer user_data)
{
  guint n;
  if (g_strcmp0 (gst_debug_category_get_name (category), "textchunker") != 0)
    return;
  const gchar *msg = gst_debug_message_get (message);
  if (msg && sscanf (msg, "span queue: %u spans", &n) == 1) {
    max_spans = MAX (max_spans, n);
    (*(guint *) user_data)++;
  }
}

/* The byte -> time map stays small however long the document: GPL-3 three times over in
 * one-second buffers of 5 bytes (some 21 000 of them), with overlap. */
GST_START_TEST (test_span_queue_bounded)
{
  guint reports = 0;
  max_spans = 0;
  /* only our log function sees the LOG messages */
  gst_debug_remove_log_function (gst_debug_log_default);
  gst_debug_add_log_function (count_spans_log, &reports, NULL);
  gst_debug_set_threshold_for_name ("textchunker", GST_LEVEL_LOG);

  GstHarness *h = test_harness_new ("textchunker", NULL, "max-tokens", 64, "overlap-tokens",
      8, "max-latency", 0, NULL);
  gsize len;
  gchar *text = test_read_file (GPL, &len);
  gst_harness_set_src_caps_str (h, "text/plain");
  guint64 pts = 0;
  for (guint rep = 0; rep < 3; rep++) {
    for (gsize off = 0; off < len; off += 5, pts += GST_SECOND) {
      GstBuffer *b = gst_buffer_new_memdup (text + off, MIN (5, len - off));
      GST_BUFFER_PTS (b) = pts;
      GST_BUFFER_DURATION (b) = GST_SECOND;
      fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
      while (gst_harness_buffers_in_queue (h) > 0)
        gst_buffer_unref (gst_harness_pull (h));
    }
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  gst_debug_set_threshold_for_name ("textchunker", GST_LEVEL_NONE);
  gst_debug_remove_log_function (count_spans_log);
  gst_debug_add_log_function (gst_debug_log_default, NULL, NULL);
  fail_unless (reports > 3 * len / 5, "only %u span reports", reports);
  /* the window is 4 KiB of text, i.e. some 800 five-byte buffers */
  fail_unless (max_spans < 1000, "span queue grew to %u", max_spans);
  g_free (text);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* ---- markup -------------------------------------------------------------------------------- */

static GstBuffer *
timed_text (const gchar * text, GstClockTime pts, GstClockTime dur)
{
  GstBuffer *b = test_text_buffer (text);
  GST_BUFFER_PTS (b) = pts;
  GST_BUFFER_DURATION (b) = dur;
  return b;
}

/* pango-markup cues: tags stripped, entities decoded, a "\n" between cues; offsets refer to the
 * stripped text; each chunk has its first cue's PTS. */
GST_START_TEST (test_markup_input)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-tokens", 8, "max-latency", 0,
      NULL);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=pango-markup");
  fail_unless_equals_int (gst_harness_push (h, timed_text ("<b>Hello</b> &amp; world",
              GST_SECOND, GST_SECOND)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, timed_text ("<i>Second</i> cue here\n",
              3 * GST_SECOND, GST_SECOND)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, timed_text ("<span foreground=\"red\">a &lt; b"
              "</span> &bogus; <i", 5 * GST_SECOND, 2 * GST_SECOND)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  const gchar *stream = "Hello & world\nSecond cue here\na < b &bogus; <i\n";
  guint64 cue_start[] = { 0, 14, 30 };
  GstClockTime cue_pts[] = { GST_SECOND, 3 * GST_SECOND, 5 * GST_SECOND };
  GstClockTime cue_end[] = { 2 * GST_SECOND, 4 * GST_SECOND, 7 * GST_SECOND };
  guint n = gst_harness_buffers_received (h);
  fail_unless (n >= 3);
  guint64 prev_end = 0;
  for (guint i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    fail_unless_equals_uint64 (m->start, prev_end);
    fail_unless (memcmp (m->text, stream + m->start, m->text_len) == 0, "chunk %u: \"%s\"",
        i, m->text);
    fail_unless (gst_buffer_memcmp (b, 0, stream + m->start, m->end - m->start) == 0);
    guint first_cue = 0, last_cue = 0;
    for (guint c = 0; c < 3; c++) {
      if (m->start >= cue_start[c])
        first_cue = c;
      if (m->end - 1 >= cue_start[c])
        last_cue = c;
    }
    GstClockTime want_pts = cue_pts[first_cue], want_dur = cue_end[last_cue] - want_pts;
    fail_unless_equals_clocktime (GST_BUFFER_PTS (b), want_pts);
    fail_unless_equals_clocktime (GST_BUFFER_DURATION (b), want_dur);
    prev_end = m->end;
    gst_buffer_unref (b);
  }
  fail_unless_equals_uint64 (prev_end, strlen (stream));
  gst_harness_teardown (h);
}
GST_END_TEST;

/* SSA/ASS: subparse does not read .ssa/.ass files; they come from a container through ssaparse,
 * which strips the override codes and emits pango-markup cues. */
GST_START_TEST (test_ssaparse_input)
{
  GstElementFactory *f = gst_element_factory_find ("ssaparse");
  if (!f) {
    GST_INFO ("no ssaparse: skipped");
    return;
  }
  gst_object_unref (f);

  GstHarness *h = gst_harness_new_parse ("ssaparse ! textchunker max-latency=0");
  const gchar *ini = "[Script Info]\nScriptType: v4.00+\n";
  GstBuffer *codec_data = gst_buffer_new_memdup (ini, strlen (ini));
  GstCaps *caps = gst_caps_new_simple ("application/x-ssa", "codec_data", GST_TYPE_BUFFER,
      codec_data, NULL);
  gst_buffer_unref (codec_data);
  gst_harness_set_src_caps (h, caps);
  fail_unless_equals_int (gst_harness_push (h, timed_text ("1,0,Default,,0,0,0,,"
              "Hello {\\b1}world{\\b0} & friends", GST_SECOND, GST_SECOND)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, timed_text ("2,0,Default,,0,0,0,,"
              "A second line of dialogue, spoken later", 4 * GST_SECOND, 2 * GST_SECOND)),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  GstBuffer *b = gst_harness_pull (h);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
  fail_unless_equals_string (m->text,
      "Hello world & friends\nA second line of dialogue, spoken later\n");
  fail_unless_equals_clocktime (GST_BUFFER_PTS (b), GST_SECOND);
  fail_unless_equals_clocktime (GST_BUFFER_DURATION (b), 5 * GST_SECOND);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* ---- segments, GAP, max-latency ------------------------------------------------------------ */

/* Records the order of buffers ('B') and GAP events ('G') leaving the element. */
static GstPadProbeReturn
record_order (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GString *order = user_data;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    g_string_append_c (order, 'B');
  else if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_GAP)
    g_string_append_c (order, 'G');
  return GST_PAD_PROBE_OK;
}

/* TIME segments pass unchanged; a new segment with pending text flushes it first. */
GST_START_TEST (test_segment_passthrough)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-latency", 0, NULL);
  gst_harness_set_src_caps_str (h, "text/plain");
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = 10 * GST_SECOND;
  seg.time = 100 * GST_SECOND;
  seg.base = 3 * GST_SECOND;
  seg.rate = 1.0;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  fail_unless_equals_int (gst_harness_push (h, timed_text ("first words ", 11 * GST_SECOND,
              GST_SECOND)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);

  GstSegment seg2;
  gst_segment_init (&seg2, GST_FORMAT_TIME);
  seg2.start = 20 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg2)));
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  fail_unless_equals_int (gst_harness_push (h, timed_text ("more words", 21 * GST_SECOND,
              GST_SECOND)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  /* the segments arrive as sent, the harness's default one first */
  GstEvent *ev;
  guint segments = 0;
  while ((ev = gst_harness_try_pull_event (h))) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT) {
      const GstSegment *got;
      gst_event_parse_segment (ev, &got);
      if (segments == 1)
        fail_unless (gst_segment_is_equal (got, &seg));
      if (segments == 2)
        fail_unless (gst_segment_is_equal (got, &seg2));
      segments++;
    }
    gst_event_unref (ev);
  }
  fail_unless_equals_int (segments, 3);

  GstBuffer *b = gst_harness_pull (h);
  fail_unless_equals_clocktime (GST_BUFFER_PTS (b), 11 * GST_SECOND);
  fail_unless_equals_clocktime (GST_BUFFER_DURATION (b), GST_SECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), 0);
  gst_buffer_unref (b);
  b = gst_harness_pull (h);
  fail_unless_equals_clocktime (GST_BUFFER_PTS (b), 21 * GST_SECOND);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), strlen ("first words "));
  fail_unless_equals_uint64 (gst_buffer_get_text_chunk_meta (b)->index, 1);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A BYTES segment (filesrc) becomes an open TIME segment. */
GST_START_TEST (test_bytes_segment_becomes_time)
{
  GstHarness *h = gst_harness_new ("textchunker");
  gst_harness_set_src_caps_str (h, "text/plain");
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_BYTES);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  GstEvent *ev, *last = NULL;
  while ((ev = gst_harness_try_pull_event (h))) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT)
      gst_event_replace (&last, ev);
    gst_event_unref (ev);
  }
  fail_unless (last != NULL);
  const GstSegment *got;
  gst_event_parse_segment (last, &got);
  fail_unless_equals_int (got->format, GST_FORMAT_TIME);
  fail_unless_equals_uint64 (got->start, 0);
  fail_unless (!GST_CLOCK_TIME_IS_VALID (got->stop));
  gst_event_unref (last);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* GAP: the pending text goes out as a chunk before the GAP is forwarded; the GAP's time ends a
 * buffer that had no duration. The document continues afterwards. */
GST_START_TEST (test_gap_flushes)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "document-id", "talk",
      "max-latency", 0, NULL);
  GString *order = g_string_new (NULL);
  GstPad *src = gst_element_get_static_pad (h->element, "src");
  gulong probe = gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, record_order, order, NULL);
  gst_harness_set_src_caps_str (h, "text/plain");

  fail_unless_equals_int (gst_harness_push (h, timed_text ("hello there ", GST_SECOND,
              GST_SECOND / 2)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, timed_text ("general ", 2 * GST_SECOND,
              GST_CLOCK_TIME_NONE)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  fail_unless (gst_harness_push_event (h, gst_event_new_gap (4 * GST_SECOND, GST_SECOND)));
  fail_unless_equals_string (order->str, "BG");

  GstBuffer *b = gst_harness_pull (h);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
  fail_unless_equals_string (m->text, "hello there general ");
  fail_unless_equals_uint64 (m->index, 0);
  fail_unless_equals_clocktime (GST_BUFFER_PTS (b), GST_SECOND);
  fail_unless_equals_clocktime (GST_BUFFER_DURATION (b), 3 * GST_SECOND);
  gst_buffer_unref (b);

  /* a GAP with nothing pending is just forwarded */
  fail_unless (gst_harness_push_event (h, gst_event_new_gap (5 * GST_SECOND, GST_SECOND)));
  fail_unless_equals_string (order->str, "BGG");

  fail_unless_equals_int (gst_harness_push (h, timed_text ("kenobi", 6 * GST_SECOND,
              GST_SECOND)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_string (order->str, "BGGB");
  b = gst_harness_pull (h);
  m = gst_buffer_get_text_chunk_meta (b);
  fail_unless_equals_string (m->doc_id, "talk");
  fail_unless_equals_uint64 (m->index, 1);
  fail_unless_equals_uint64 (m->start, strlen ("hello there general "));
  fail_unless_equals_clocktime (GST_BUFFER_PTS (b), 6 * GST_SECOND);
  fail_unless_equals_clocktime (GST_BUFFER_DURATION (b), GST_SECOND);
  gst_buffer_unref (b);

  gst_pad_remove_probe (src, probe);
  gst_object_unref (src);
  g_string_free (order, TRUE);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Time the pending clock wait is for. */
static GstClockTime
pending_wait_time (GstHarness * h)
{
  fail_unless (gst_harness_wait_for_clock_id_waits (h, 1, 10));
  GstTestClock *clock = gst_harness_get_testclock (h);
  GstClockID id = NULL;
  fail_unless (gst_test_clock_peek_next_pending_id (clock, &id));
  GstClockTime t = gst_clock_id_get_time (id);
  gst_clock_id_unref (id);
  gst_object_unref (clock);
  return t;
}

/* max-latency on a GstTestClock: the pending text goes out max-latency after the LAST input,
 * not the first; nothing goes out before. */
GST_START_TEST (test_max_latency_testclock)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-latency", 500, NULL);
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless (gst_harness_set_time (h, 10 * GST_SECOND));

  fail_unless_equals_int (gst_harness_push (h, timed_text ("words that ", GST_SECOND,
              GST_SECOND)), GST_FLOW_OK);
  fail_unless_equals_clocktime (pending_wait_time (h), 10500 * GST_MSECOND);
  fail_unless (gst_harness_set_time (h, 10200 * GST_MSECOND));
  fail_unless_equals_int (gst_harness_push (h, timed_text ("trickle in ", 2 * GST_SECOND,
              GST_SECOND)), GST_FLOW_OK);

  /* the first wait ends without a flush: more text came; the next wait is 500 ms after it */
  fail_unless (gst_harness_crank_single_clock_wait (h));
  fail_unless_equals_clocktime (pending_wait_time (h), 10700 * GST_MSECOND);
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  fail_unless (gst_harness_crank_single_clock_wait (h));

  GstBuffer *b = gst_harness_pull (h);  /* blocks until the timer thread pushed */
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
  fail_unless_equals_string (m->text, "words that trickle in ");
  fail_unless_equals_clocktime (GST_BUFFER_PTS (b), GST_SECOND);
  fail_unless_equals_clocktime (GST_BUFFER_DURATION (b), 2 * GST_SECOND);
  gst_buffer_unref (b);

  /* the document goes on */
  fail_unless_equals_int (gst_harness_push (h, timed_text ("later", 5 * GST_SECOND,
              GST_SECOND)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  b = gst_harness_pull (h);
  m = gst_buffer_get_text_chunk_meta (b);
  fail_unless_equals_uint64 (m->index, 1);
  fail_unless_equals_string (m->text, "later");
  gst_buffer_unref (b);
  fail_unless_equals_int (gst_harness_buffers_received (h), 2);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* max-latency=-1 (default): 1000 ms when upstream is live (the harness is, by default), with
 * untimestamped text as a transcriber sends it; reported in the latency query. */
GST_START_TEST (test_max_latency_auto_live)
{
  GstHarness *h = gst_harness_new ("textchunker");
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless_equals_clocktime (gst_harness_query_latency (h), GST_SECOND);
  fail_unless (gst_harness_set_time (h, 3 * GST_SECOND));
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("what was said\n")),
      GST_FLOW_OK);
  fail_unless_equals_clocktime (pending_wait_time (h), 4 * GST_SECOND);
  fail_unless (gst_harness_crank_single_clock_wait (h));
  GstBuffer *b = gst_harness_pull (h);
  fail_unless_equals_string (gst_buffer_get_text_chunk_meta (b)->text, "what was said\n");
  fail_unless (!GST_BUFFER_PTS_IS_VALID (b));
  fail_unless (!GST_BUFFER_DURATION_IS_VALID (b));
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* ... and off when upstream is not live: offline input keeps full chunks. */
GST_START_TEST (test_max_latency_auto_not_live)
{
  GstHarness *h = gst_harness_new ("textchunker");
  gst_harness_set_live (h, FALSE);
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless_equals_clocktime (gst_harness_query_latency (h), 0);
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("offline text ")),
      GST_FLOW_OK);
  fail_if (gst_harness_wait_for_clock_id_waits (h, 1, 1));
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The real system clock: the chunk comes about max-latency after the text, from the timer
 * thread, while nothing else happens. */
GST_START_TEST (test_max_latency_system_clock)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-latency", 100, NULL);
  gst_harness_use_systemclock (h);
  gst_harness_set_src_caps_str (h, "text/plain");
  gint64 t0 = g_get_monotonic_time ();
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("spoken now ")), GST_FLOW_OK);
  GstBuffer *b = gst_harness_pull (h);
  gint64 waited = g_get_monotonic_time () - t0;
  fail_unless (b != NULL);
  fail_unless (waited >= 90 * 1000 && waited < 10 * G_USEC_PER_SEC, "waited %" G_GINT64_FORMAT
      " us", waited);
  fail_unless_equals_string (gst_buffer_get_text_chunk_meta (b)->text, "spoken now ");
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Flushing or stopping while a max-latency wait is pending: the dropped text never comes out,
 * no deadlock, no leak (ASan). */
GST_START_TEST (test_max_latency_flush_and_stop)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-latency", 500, NULL);
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("to be dropped ")),
      GST_FLOW_OK);
  pending_wait_time (h);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  fail_unless (gst_harness_set_time (h, GST_SECOND));
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("kept ")), GST_FLOW_OK);
  /* the dropped text's wait was cancelled: the only wait left is the new text's */
  fail_unless_equals_clocktime (pending_wait_time (h), 1500 * GST_MSECOND);
  fail_unless (gst_harness_crank_single_clock_wait (h));
  GstBuffer *b = gst_harness_pull (h);
  GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
  fail_unless_equals_string (m->text, "kept ");
  fail_unless_equals_uint64 (m->index, 0);
  gst_buffer_unref (b);
  fail_unless_equals_int (gst_harness_buffers_received (h), 1);

  /* text waiting while the element goes to NULL */
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("never flushed ")),
      GST_FLOW_OK);
  pending_wait_time (h);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* PLAYING->PAUSED cancels the wait (the clock does not run for us); PAUSED->PLAYING waits
 * max-latency again from then. */
GST_START_TEST (test_max_latency_pause_resume)
{
  GstHarness *h = test_harness_new ("textchunker", NULL, "max-latency", 300, NULL);
  gst_harness_set_src_caps_str (h, "text/plain");
  fail_unless (gst_harness_set_time (h, GST_SECOND));
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer ("paused text ")),
      GST_FLOW_OK);
  fail_unless_equals_clocktime (pending_wait_time (h), 1300 * GST_MSECOND);
  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_PAUSED),
      GST_STATE_CHANGE_SUCCESS);
  fail_if (gst_harness_wait_for_clock_id_waits (h, 1, 1));
  fail_unless (gst_harness_set_time (h, 5 * GST_SECOND));
  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_PLAYING),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_clocktime (pending_wait_time (h), 5300 * GST_MSECOND);
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  fail_unless (gst_harness_crank_single_clock_wait (h));
  GstBuffer *b = gst_harness_pull (h);
  fail_unless_equals_string (gst_buffer_get_text_chunk_meta (b)->text, "paused text ");
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* ---- documents: framing events, invalid UTF-8 policies ------------------------------------- */

/* What left the chunker, split into documents by its framing events. */
typedef struct
{
  GstStructure *start, *end;
  GPtrArray *chunks;            /* GstBuffer */
} ChunkDoc;

typedef struct
{
  gchar *frame;                 /* the recorded letters without S, C, G, E: "<BB>~<B>" */
  GPtrArray *docs;              /* ChunkDoc */
} ChunkOut;

static void
chunk_doc_free (ChunkDoc * d)
{
  if (d->start)
    gst_structure_free (d->start);
  if (d->end)
    gst_structure_free (d->end);
  g_ptr_array_unref (d->chunks);
  g_free (d);
}

static void
chunk_out_clear (ChunkOut * out)
{
  g_free (out->frame);
  g_ptr_array_unref (out->docs);
}

/* Everything the recorder saw, taken from the harness's queues in that order. Every chunk
 * must be inside a document, every end must close the open document with the same id. */
static ChunkOut
collect_chunks (GstHarness * h, TestRecorder * r)
{
  ChunkOut out = { NULL, g_ptr_array_new_with_free_func ((GDestroyNotify) chunk_doc_free) };
  gchar *seq = test_recorder_get (r);
  GString *frame = g_string_new (NULL);
  ChunkDoc *doc = NULL;
  for (const gchar * c = seq; *c; c++) {
    if (*c == '!' || *c == '~') {
      g_string_append_c (frame, *c);
      continue;
    }
    if (*c == 'B') {
      GstBuffer *b = gst_harness_try_pull (h);
      fail_unless (b != NULL);
      fail_unless (doc != NULL, "a chunk outside a document: %s", seq);
      g_ptr_array_add (doc->chunks, b);
      g_string_append_c (frame, 'B');
      continue;
    }
    GstEvent *ev = gst_harness_try_pull_event (h);
    fail_unless (ev != NULL);
    fail_unless_equals_int (test_event_letter (ev), *c);
    const GstStructure *s = gst_event_get_structure (ev);
    if (*c == '<') {
      fail_unless (doc == NULL, "a start inside a document: %s", seq);
      doc = g_new0 (ChunkDoc, 1);
      doc->chunks = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
      doc->start = gst_structure_copy (s);
      g_ptr_array_add (out.docs, doc);
      g_string_append_c (frame, '<');
    } else if (*c == '>') {
      fail_unless (doc != NULL, "an end outside a document: %s", seq);
      fail_unless_equals_string (gst_structure_get_string (s, "id"),
          gst_structure_get_string (doc->start, "id"));
      doc->end = gst_structure_copy (s);
      doc = NULL;
      g_string_append_c (frame, '>');
    } else if (*c == '?' || *c == '$') {
      g_string_append_c (frame, *c);
    }
    gst_event_unref (ev);
  }
  fail_unless (gst_harness_try_pull (h) == NULL);
  fail_unless (gst_harness_try_pull_event (h) == NULL);
  g_free (seq);
  out.frame = g_string_free (frame, FALSE);
  return out;
}

/* A harness with a recorder on its sink pad and a bus (errors and warnings recorded too),
 * text caps set. */
static GstHarness *
doc_harness (const gchar * policy, GstBus ** bus, TestRecorder ** r)
{
  /* invalid-utf8 is read when the element starts: set it before the harness does */
  GstElement *e = gst_element_factory_make ("textchunker", NULL);
  g_object_set (e, "max-tokens", 12, "max-latency", 0, NULL);
  if (policy)
    gst_util_set_object_arg (G_OBJECT (e), "invalid-utf8", policy);
  *bus = gst_bus_new ();
  gst_element_set_bus (e, *bus);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  *r = test_recorder_new (h->sinkpad, *bus);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  return h;
}

static void
doc_harness_free (GstHarness * h, GstBus * bus, TestRecorder * r)
{
  test_recorder_free (r);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

static guint64
doc_uint64 (const GstStructure * s, const gchar * field)
{
  guint64 v;
  fail_unless (gst_structure_get_uint64 (s, field, &v), "no guint64 %s in %" GST_PTR_FORMAT,
      field, s);
  return v;
}

/* The chunks of @d tile [0, @len) of @text (overlap 0), with offsets, metadata and text, and the
 * document-end counts them. Returns the summed tokens. */
static guint64
check_doc_chunks (const ChunkDoc * d, const gchar * text, gsize len)
{
  const gchar *id = gst_structure_get_string (d->start, "id");
  guint64 pos = 0, tokens = 0;
  fail_unless (d->chunks->len > 0);
  for (guint i = 0; i < d->chunks->len; i++) {
    GstBuffer *b = g_ptr_array_index (d->chunks, i);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    fail_unless (m != NULL);
    fail_unless_equals_string (m->doc_id, id);
    fail_unless_equals_uint64 (m->index, i);
    fail_unless_equals_uint64 (m->start, pos);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), m->start);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (b), m->end);
    fail_unless_equals_uint64 (gst_buffer_get_size (b), m->end - m->start);
    fail_unless (gst_buffer_memcmp (b, 0, text + m->start, m->end - m->start) == 0);
    fail_unless (m->text_len == m->end - m->start
        && memcmp (m->text, text + m->start, m->text_len) == 0);
    fail_unless (m->n_tokens > 2 && m->n_tokens <= 12);
    tokens += m->n_tokens;
    pos = m->end;
  }
  fail_unless_equals_uint64 (pos, len);
  return tokens;
}

static const gchar doc_one[] = "The first document has a few sentences. Each of them is short. "
    "But together they need more than one chunk of twelve tokens, caf\xc3\xa9 included.\n";
static const gchar doc_two[] = "A second document, shorter. Still two chunks at least.";

static GstEvent *
start_event (const gchar * id, const gchar * hash, guint64 seq, gint64 bad)
{
  GstStructure *s = gst_structure_new ("textembed/document-start", "id", G_TYPE_STRING, id,
      "path", G_TYPE_STRING, "/corpus/file.txt", "size", G_TYPE_INT64, (gint64) 1234,
      "mtime", G_TYPE_INT64, (gint64) 1700000000, "seq", G_TYPE_UINT64, seq,
      "total-documents", G_TYPE_INT64, (gint64) 2, "total-bytes", G_TYPE_INT64, (gint64) 5678,
      "invalid-utf8-offset", G_TYPE_INT64, bad, NULL);
  if (hash)
    gst_structure_set (s, "hash", G_TYPE_STRING, hash, NULL);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s);
}

static GstEvent *
end_event (const gchar * id, const gchar * reason)
{
  GstStructure *s = gst_structure_new ("textembed/document-end", "id", G_TYPE_STRING, id,
      "status", G_TYPE_STRING, reason ? "skipped" : "complete", NULL);
  if (reason)
    gst_structure_set (s, "reason", G_TYPE_STRING, reason, NULL);
  return gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, s);
}

/* Upstream's document events are consumed and re-sent, once each, around the chunks: the start
 * with every field upstream gave, the end with chunks, tokens, bytes and the hash (upstream's,
 * else the SHA-256 of the bytes). Indices and offsets restart with each document. */
GST_START_TEST (test_document_events)
{
  GstBus *bus;
  TestRecorder *r;
  GstHarness *h = doc_harness (NULL, &bus, &r);
  GstEvent *start1 = start_event ("one", "sha256:from-upstream", 0, -1);
  GstStructure *want_start1 = gst_structure_copy (gst_event_get_structure (start1));
  fail_unless (gst_harness_push_event (h, start1));
  fail_unless_equals_int (test_push_pieces (h, doc_one, strlen (doc_one), 7), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, end_event ("one", NULL)));
  fail_unless (gst_harness_push_event (h, start_event ("two", NULL, 1, -1)));
  fail_unless_equals_int (test_push_pieces (h, doc_two, strlen (doc_two), 5), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, end_event ("two", NULL)));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  ChunkOut out = collect_chunks (h, r);
  fail_unless (g_regex_match_simple ("^<BB+><BB+>$", out.frame, 0, 0), "%s", out.frame);

  ChunkDoc *d = g_ptr_array_index (out.docs, 0);
  /* the chunker adds its settings, which stores make part of the embedding identity */
  fail_unless (g_regex_match_simple ("^max-tokens=[0-9]+,overlap=[0-9]+$",
          gst_structure_get_string (d->start, "chunking"), 0, 0));
  gst_structure_set (want_start1, "chunking", G_TYPE_STRING,
      gst_structure_get_string (d->start, "chunking"), NULL);
  fail_unless (gst_structure_is_equal (d->start, want_start1), "%" GST_PTR_FORMAT, d->start);
  guint64 tokens = check_doc_chunks (d, doc_one, strlen (doc_one));
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "complete");
  fail_unless (!gst_structure_has_field (d->end, "reason"));
  fail_unless_equals_uint64 (doc_uint64 (d->end, "chunks"), d->chunks->len);
  fail_unless_equals_uint64 (doc_uint64 (d->end, "tokens"), tokens);
  fail_unless_equals_uint64 (doc_uint64 (d->end, "bytes"), strlen (doc_one));
  fail_unless_equals_string (gst_structure_get_string (d->end, "hash"), "sha256:from-upstream");

  d = g_ptr_array_index (out.docs, 1);
  fail_unless_equals_string (gst_structure_get_string (d->start, "id"), "two");
  fail_unless_equals_uint64 (doc_uint64 (d->start, "seq"), 1);
  tokens = check_doc_chunks (d, doc_two, strlen (doc_two));
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "complete");
  fail_unless_equals_uint64 (doc_uint64 (d->end, "chunks"), d->chunks->len);
  fail_unless_equals_uint64 (doc_uint64 (d->end, "tokens"), tokens);
  fail_unless_equals_uint64 (doc_uint64 (d->end, "bytes"), strlen (doc_two));
  gchar *hash = test_sha256 (doc_two, strlen (doc_two));
  fail_unless_equals_string (gst_structure_get_string (d->end, "hash"), hash);
  g_free (hash);

  gst_structure_free (want_start1);
  chunk_out_clear (&out);
  doc_harness_free (h, bus, r);
}
GST_END_TEST;

/* A prompt: it goes out in the document-start (once per document) and at the end of the
 * chunking settings (the identity a store compares); the chunks stay source text and tile it,
 * each within max-tokens with the prompt's tokens counted. */
GST_START_TEST (test_prompt_document_start)
{
  GstElement *e = gst_element_factory_make ("textchunker", NULL);
  g_object_set (e, "max-tokens", 12, "max-latency", 0, "prompt", "passage: ", NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  TestRecorder *r = test_recorder_new (h->sinkpad, bus);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  fail_unless (gst_harness_push_event (h, start_event ("one", NULL, 0, -1)));
  fail_unless_equals_int (test_push_pieces (h, doc_one, strlen (doc_one), 7), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, end_event ("one", NULL)));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  ChunkOut out = collect_chunks (h, r);
  ChunkDoc *d = g_ptr_array_index (out.docs, 0);
  fail_unless_equals_string (gst_structure_get_string (d->start, "prompt"), "passage: ");
  fail_unless_equals_string (gst_structure_get_string (d->start, "chunking"),
      "max-tokens=12,overlap=0,prompt=\"passage: \"");
  check_doc_chunks (d, doc_one, strlen (doc_one));
  /* "passage" ":" take 2 of the 10 tokens between [CLS] and [SEP]: the text gets 8 at most, and
   * the counts include the prompt's */
  for (guint i = 0; i < d->chunks->len; i++) {
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (g_ptr_array_index (d->chunks, i));
    fail_unless (m->n_tokens >= 5 && m->n_tokens <= 12, "%u", m->n_tokens);
  }
  chunk_out_clear (&out);
  test_recorder_free (r);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Prompt settings that cannot work are errors when the element starts, naming the problem. */
GST_START_TEST (test_prompt_settings_errors)
{
  static const struct
  {
    const gchar *prop, *value, *prop2, *value2, *message;
  } cases[] = {
    {"prompt", "x: ", "instruction", "Find it", "only one of"},
    {"prompt-name", "query", NULL, NULL, "no prompt named \"query\""},
    {"prompt", "a prompt far longer than the few tokens this chunk size leaves", NULL, NULL,
        "leave no room for text"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstElement *e = gst_element_factory_make ("textchunker", NULL);
    g_object_set (e, "max-tokens", 8, cases[i].prop, cases[i].value, NULL);
    if (cases[i].prop2)
      g_object_set (e, cases[i].prop2, cases[i].value2, NULL);
    gchar *msg = test_start_failure_text (e);
    fail_unless (msg && strstr (msg, cases[i].message), "%s", msg);
    g_free (msg);
    gst_object_unref (e);
  }
}
GST_END_TEST;

/* Plain input without events (filesrc): a document-start at the first byte and a document-end
 * at EOS or at a new STREAM_START are made up, with the SHA-256 of the bytes; ids doc-N. */
GST_START_TEST (test_unframed_documents)
{
  GstBus *bus;
  TestRecorder *r;
  GstHarness *h = doc_harness (NULL, &bus, &r);
  fail_unless_equals_int (test_push_pieces (h, doc_one, strlen (doc_one), 11), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("second")));
  fail_unless_equals_int (test_push_pieces (h, doc_two, strlen (doc_two), 3), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  ChunkOut out = collect_chunks (h, r);
  fail_unless (g_regex_match_simple ("^<BB+><BB+>$", out.frame, 0, 0), "%s", out.frame);
  const gchar *texts[] = { doc_one, doc_two };
  for (guint i = 0; i < 2; i++) {
    ChunkDoc *d = g_ptr_array_index (out.docs, i);
    gchar *id = g_strdup_printf ("doc-%u", i);
    fail_unless_equals_string (gst_structure_get_string (d->start, "id"), id);
    g_free (id);
    fail_unless_equals_uint64 (doc_uint64 (d->start, "seq"), i);
    guint64 tokens = check_doc_chunks (d, texts[i], strlen (texts[i]));
    fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "complete");
    fail_unless_equals_uint64 (doc_uint64 (d->end, "chunks"), d->chunks->len);
    fail_unless_equals_uint64 (doc_uint64 (d->end, "tokens"), tokens);
    fail_unless_equals_uint64 (doc_uint64 (d->end, "bytes"), strlen (texts[i]));
    gchar *hash = test_sha256 (texts[i], strlen (texts[i]));
    fail_unless_equals_string (gst_structure_get_string (d->end, "hash"), hash);
    g_free (hash);
  }
  chunk_out_clear (&out);
  doc_harness_free (h, bus, r);
}
GST_END_TEST;

/* Upstream's skipped documents (corpussrc's empty or unreadable files: a start and a skipped
 * end, no text) pass as start + skipped end with upstream's reason; an end without a start
 * still gets its start. */
GST_START_TEST (test_upstream_skipped_documents)
{
  GstBus *bus;
  TestRecorder *r;
  GstHarness *h = doc_harness (NULL, &bus, &r);
  fail_unless (gst_harness_push_event (h, start_event ("empty.txt", NULL, 0, -1)));
  fail_unless (gst_harness_push_event (h, end_event ("empty.txt", "empty document")));
  fail_unless (gst_harness_push_event (h, end_event ("orphan", "cannot open: gone")));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  ChunkOut out = collect_chunks (h, r);
  fail_unless_equals_string (out.frame, "<><>");
  ChunkDoc *d = g_ptr_array_index (out.docs, 0);
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
  fail_unless_equals_string (gst_structure_get_string (d->end, "reason"), "empty document");
  d = g_ptr_array_index (out.docs, 1);
  fail_unless_equals_string (gst_structure_get_string (d->start, "id"), "orphan");
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
  fail_unless_equals_string (gst_structure_get_string (d->end, "reason"), "cannot open: gone");
  chunk_out_clear (&out);
  doc_harness_free (h, bus, r);
}
GST_END_TEST;

/* Text of chunks of @d concatenated. */
static GString *
doc_text (const ChunkDoc * d)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < d->chunks->len; i++) {
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (g_ptr_array_index (d->chunks, i));
    g_string_append_len (s, m->text, m->text_len);
  }
  return s;
}

static const gchar bad_doc[] = "First sentence here. Second sentence follows it. "
    "Third one too. \xff and what comes after the bad byte.";
#define BAD_AT 64

/* invalid-utf8=error: the chunks of the text before the bad byte are pushed, then the document
 * ends as skipped with the offset in the reason, then the error names document and offset. The
 * same for framed and unframed input. */
GST_START_TEST (test_invalid_utf8_error_policy)
{
  fail_unless_equals_int ((guchar) bad_doc[BAD_AT], 0xff);
  for (int framed = 0; framed < 2; framed++) {
    GstBus *bus;
    TestRecorder *r;
    GstHarness *h = doc_harness ("error", &bus, &r);
    if (framed)
      fail_unless (gst_harness_push_event (h, start_event ("bad-doc", NULL, 0, -1)));
    else
      g_object_set (h->element, "document-id", "bad-doc", NULL);
    fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (bad_doc,
                BAD_AT - 10)), GST_FLOW_OK);
    fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (bad_doc + BAD_AT - 10,
                sizeof bad_doc - 1 - (BAD_AT - 10))), GST_FLOW_ERROR);

    ChunkOut out = collect_chunks (h, r);
    fail_unless (g_regex_match_simple ("^<BB+>!$", out.frame, 0, 0), "%s", out.frame);
    ChunkDoc *d = g_ptr_array_index (out.docs, 0);
    GString *text = doc_text (d);
    fail_unless_equals_string (text->str, "First sentence here. Second sentence follows it. "
        "Third one too. ");
    g_string_free (text, TRUE);
    fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
    const gchar *reason = gst_structure_get_string (d->end, "reason");
    fail_unless (reason && strstr (reason, "at byte 64"), "%s", reason);
    gchar *msg = test_pop_message_text (bus, GST_MESSAGE_ERROR);
    fail_unless (msg && strstr (msg, "bad-doc") && strstr (msg, "at byte 64"), "%s", msg);
    g_free (msg);
    chunk_out_clear (&out);
    doc_harness_free (h, bus, r);
  }
}
GST_END_TEST;

/* Python's bytes.decode ("utf-8", "replace") (the WHATWG decoder): each maximal subpart of an
 * ill-formed sequence (Unicode table 3-7) becomes U+FFFD. */
static GString *
replace_decode (const guint8 * s, gsize len)
{
  GString *out = g_string_new (NULL);
  gsize i = 0;
  while (i < len) {
    guint8 c = s[i], lo = 0x80, hi = 0xbf;
    gsize n;
    if (c < 0x80) {
      g_string_append_c (out, c);
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      lo = c == 0xe0 ? 0xa0 : 0x80;
      hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      lo = c == 0xf0 ? 0x90 : 0x80;
      hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
      g_string_append (out, "\xef\xbf\xbd");
      i++;
      continue;
    }
    gsize k = 1;
    while (k < n && i + k < len && s[i + k] >= (k == 1 ? lo : 0x80)
        && s[i + k] <= (k == 1 ? hi : 0xbf))
      k++;
    if (k == n)
      g_string_append_len (out, (const gchar *) s + i, n);
    else
      g_string_append (out, "\xef\xbf\xbd");
    i += k;
  }
  return out;
}

static const gchar replace_src[] = "Caf\xc3\xa9 ok. Bad \xff byte. Truncated \xe2\x82 seq. "
    "Surrogate \xed\xa0\x80 here. Overlong \xc0\xaf too. Big \xf4\x90\x80\x80 end. "
    "Lone \x80 cont. Cut at end \xe2\x82";
/* what Python 3.11 gives for replace_src */
static const gchar replace_want[] = "Caf\xc3\xa9 ok. Bad \xef\xbf\xbd byte. Truncated "
    "\xef\xbf\xbd seq. Surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd here. Overlong "
    "\xef\xbf\xbd\xef\xbf\xbd too. Big \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end. "
    "Lone \xef\xbf\xbd cont. Cut at end \xef\xbf\xbd";

/* invalid-utf8=replace: chunk texts hold U+FFFD exactly where Python's decoder puts it, while
 * GST_BUFFER_OFFSET/OFFSET_END and the meta's start/end count source bytes and tile the source.
 * Input in 3-byte pieces: ill-formed sequences are cut across buffers too. */
GST_START_TEST (test_invalid_utf8_replace_policy)
{
  gsize len = sizeof replace_src - 1;
  GString *oracle = replace_decode ((const guint8 *) replace_src, len);
  fail_unless_equals_string (oracle->str, replace_want);
  g_string_free (oracle, TRUE);

  GstBus *bus;
  TestRecorder *r;
  GstHarness *h = doc_harness ("replace", &bus, &r);
  fail_unless (gst_harness_push_event (h, start_event ("replaced", NULL, 0, 14)));
  fail_unless_equals_int (test_push_pieces (h, replace_src, len, 3), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, end_event ("replaced", NULL)));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  ChunkOut out = collect_chunks (h, r);
  fail_unless (g_regex_match_simple ("^<BBB+>$", out.frame, 0, 0), "%s", out.frame);
  ChunkDoc *d = g_ptr_array_index (out.docs, 0);
  guint64 pos = 0;
  GString *all = g_string_new (NULL);
  for (guint i = 0; i < d->chunks->len; i++) {
    GstBuffer *b = g_ptr_array_index (d->chunks, i);
    GstTextChunkMeta *m = gst_buffer_get_text_chunk_meta (b);
    fail_unless_equals_uint64 (m->index, i);
    fail_unless_equals_uint64 (m->start, pos);
    fail_unless (m->end > m->start && m->end <= len);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), m->start);
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (b), m->end);
    GString *want = replace_decode ((const guint8 *) replace_src + m->start, m->end - m->start);
    fail_unless_equals_int (m->text_len, want->len);
    fail_unless (memcmp (m->text, want->str, want->len) == 0, "chunk %u: \"%s\", want \"%s\"",
        i, m->text, want->str);
    fail_unless_equals_int (gst_buffer_get_size (b), want->len);
    fail_unless (gst_buffer_memcmp (b, 0, want->str, want->len) == 0);
    g_string_free (want, TRUE);
    g_string_append_len (all, m->text, m->text_len);
    pos = m->end;
  }
  fail_unless_equals_uint64 (pos, len);
  fail_unless_equals_string (all->str, replace_want);
  g_string_free (all, TRUE);
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "complete");
  fail_unless_equals_uint64 (doc_uint64 (d->end, "bytes"), len);
  gchar *hash = test_sha256 (replace_src, len);
  fail_unless_equals_string (gst_structure_get_string (d->end, "hash"), hash);
  g_free (hash);
  fail_unless (test_pop_message_text (bus, GST_MESSAGE_ERROR | GST_MESSAGE_WARNING) == NULL);
  chunk_out_clear (&out);
  doc_harness_free (h, bus, r);
}
GST_END_TEST;

/* invalid-utf8=skip-document: the document ends as skipped (offset in the reason) with a
 * warning, the rest of its bytes are dropped, and the next documents are chunked as usual. */
GST_START_TEST (test_invalid_utf8_skip_policy)
{
  GstBus *bus;
  TestRecorder *r;
  GstHarness *h = doc_harness ("skip-document", &bus, &r);
  fail_unless (gst_harness_push_event (h, start_event ("bad-doc", NULL, 0, -1)));
  fail_unless_equals_int (test_push_pieces (h, bad_doc, sizeof bad_doc - 1, 10), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, end_event ("bad-doc", NULL)));
  fail_unless (gst_harness_push_event (h, start_event ("good", NULL, 1, -1)));
  fail_unless_equals_int (test_push_pieces (h, doc_two, strlen (doc_two), 10), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, end_event ("good", NULL)));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  ChunkOut out = collect_chunks (h, r);
  /* the chunks before the bad byte were out already (a store rolls them back) */
  fail_unless (g_regex_match_simple ("^<B*>~<BB+>$", out.frame, 0, 0), "%s", out.frame);
  ChunkDoc *d = g_ptr_array_index (out.docs, 0);
  GString *text = doc_text (d);
  fail_unless (g_str_has_prefix ("First sentence here. Second sentence follows it. "
          "Third one too. ", text->str), "%s", text->str);
  g_string_free (text, TRUE);
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
  const gchar *reason = gst_structure_get_string (d->end, "reason");
  fail_unless (reason && strstr (reason, "at byte 64"), "%s", reason);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (msg && strstr (msg, "bad-doc") && strstr (msg, "at byte 64"), "%s", msg);
  g_free (msg);
  fail_unless (test_pop_message_text (bus, GST_MESSAGE_ERROR) == NULL);

  d = g_ptr_array_index (out.docs, 1);
  fail_unless_equals_string (gst_structure_get_string (d->start, "id"), "good");
  check_doc_chunks (d, doc_two, strlen (doc_two));
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "complete");
  chunk_out_clear (&out);
  doc_harness_free (h, bus, r);
}
GST_END_TEST;

/* Unframed input under skip-document: the document ends as skipped at the bad byte, the rest
 * up to EOS is dropped, and a new stream is a new document. */
GST_START_TEST (test_invalid_utf8_skip_unframed)
{
  GstBus *bus;
  TestRecorder *r;
  GstHarness *h = doc_harness ("skip-document", &bus, &r);
  fail_unless_equals_int (test_push_pieces (h, bad_doc, sizeof bad_doc - 1, 10), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, test_text_buffer (" more text, dropped")),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("next")));
  fail_unless_equals_int (test_push_pieces (h, doc_two, strlen (doc_two), 10), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  ChunkOut out = collect_chunks (h, r);
  fail_unless (g_regex_match_simple ("^<B*>~<BB+>$", out.frame, 0, 0), "%s", out.frame);
  ChunkDoc *d = g_ptr_array_index (out.docs, 0);
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
  fail_unless (!gst_structure_has_field (d->end, "hash"));
  d = g_ptr_array_index (out.docs, 1);
  fail_unless_equals_string (gst_structure_get_string (d->start, "id"), "doc-1");
  check_doc_chunks (d, doc_two, strlen (doc_two));
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "complete");
  chunk_out_clear (&out);
  doc_harness_free (h, bus, r);
}
GST_END_TEST;

/* A document-start that already names the first bad byte (corpussrc's hash pass found it):
 * under skip-document, start and skipped end go out at once with a warning and no chunk at
 * all, whatever text follows; the next document is chunked. */
GST_START_TEST (test_known_invalid_offset_skipped)
{
  GstBus *bus;
  TestRecorder *r;
  GstHarness *h = doc_harness ("skip-document", &bus, &r);
  fail_unless (gst_harness_push_event (h, start_event ("bad-doc", "sha256:abc", 0, BAD_AT)));
  gchar *now = test_recorder_get (r);
  fail_unless (g_str_has_suffix (now, "<~>") || g_str_has_suffix (now, "<>~"), "%s", now);
  g_free (now);
  fail_unless_equals_int (test_push_pieces (h, bad_doc, sizeof bad_doc - 1, 10), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, end_event ("bad-doc", NULL)));
  fail_unless (gst_harness_push_event (h, start_event ("good", NULL, 1, -1)));
  fail_unless_equals_int (test_push_pieces (h, doc_two, strlen (doc_two), 10), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, end_event ("good", NULL)));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  ChunkOut out = collect_chunks (h, r);
  gchar *frame = g_strdelimit (g_strdup (out.frame), "~", ' ');
  gchar **parts = g_strsplit (frame, " ", -1);
  gchar *no_warn = g_strjoinv ("", parts);
  g_strfreev (parts);
  g_free (frame);
  fail_unless (g_regex_match_simple ("^<><BB+>$", no_warn, 0, 0), "%s", out.frame);
  g_free (no_warn);
  ChunkDoc *d = g_ptr_array_index (out.docs, 0);
  fail_unless_equals_int (d->chunks->len, 0);
  fail_unless_equals_string (gst_structure_get_string (d->end, "status"), "skipped");
  const gchar *reason = gst_structure_get_string (d->end, "reason");
  fail_unless (reason && strstr (reason, "at byte 64"), "%s", reason);
  fail_unless_equals_uint64 (doc_uint64 (d->end, "chunks"), 0);
  gchar *msg = test_pop_message_text (bus, GST_MESSAGE_WARNING);
  fail_unless (msg && strstr (msg, "bad-doc") && strstr (msg, "64"), "%s", msg);
  g_free (msg);
  fail_unless (test_pop_message_text (bus, GST_MESSAGE_WARNING) == NULL);
  d = g_ptr_array_index (out.docs, 1);
  check_doc_chunks (d, doc_two, strlen (doc_two));
  chunk_out_clear (&out);
  doc_harness_free (h, bus, r);
}
GST_END_TEST;

static Suite *
textchunker_suite (void)
{
  Suite *s = suite_create ("textchunker");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_tiles_document);
  tcase_add_test (tc, test_doc_id_from_filesrc);
  tcase_add_test (tc, test_overlap);
  tcase_add_test (tc, test_max_tokens_clamped);
  tcase_add_test (tc, test_invalid_utf8_is_error);
  tcase_add_test (tc, test_split_utf8);
  tcase_add_test (tc, test_flush_resets);
  tcase_add_test (tc, test_bad_model_is_error);
  tcase_add_test (tc, test_prompt_document_start);
  tcase_add_test (tc, test_prompt_settings_errors);
  tcase_add_test (tc, test_timestamps_exact);
  tcase_add_test (tc, test_timestamps_overlap);
  tcase_add_test (tc, test_timestamps_none);
  tcase_add_test (tc, test_timestamps_partial);
  tcase_add_test (tc, test_span_queue_bounded);
  tcase_add_test (tc, test_markup_input);
  tcase_add_test (tc, test_ssaparse_input);
  tcase_add_test (tc, test_segment_passthrough);
  tcase_add_test (tc, test_bytes_segment_becomes_time);
  tcase_add_test (tc, test_gap_flushes);
  tcase_add_test (tc, test_max_latency_testclock);
  tcase_add_test (tc, test_max_latency_auto_live);
  tcase_add_test (tc, test_max_latency_auto_not_live);
  tcase_add_test (tc, test_max_latency_system_clock);
  tcase_add_test (tc, test_max_latency_flush_and_stop);
  tcase_add_test (tc, test_max_latency_pause_resume);
  tcase_add_test (tc, test_document_events);
  tcase_add_test (tc, test_unframed_documents);
  tcase_add_test (tc, test_upstream_skipped_documents);
  tcase_add_test (tc, test_invalid_utf8_error_policy);
  tcase_add_test (tc, test_invalid_utf8_replace_policy);
  tcase_add_test (tc, test_invalid_utf8_skip_policy);
  tcase_add_test (tc, test_invalid_utf8_skip_unframed);
  tcase_add_test (tc, test_known_invalid_offset_skipped);
  return s;
}

GST_CHECK_MAIN (textchunker);
