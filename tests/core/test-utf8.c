/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-utf8.c — core/te-utf8: the validator against GLib's on random and edge-case bytes, the
 * streaming check and maximal-subpart length, and encode/decode over every scalar value. */
#include <string.h>
#include <glib.h>

#include "te-utf8.h"

/* GLib's validator as the reference: same rules, except that it stops at NUL. */
static gboolean
ref_validate (const guint8 * s, gsize len, gsize * bad)
{
  guint8 *copy = g_memdup2 (s, len ? len : 1);
  const gchar *end;
  gboolean ok;

  for (gsize i = 0; i < len; i++)
    if (copy[i] == 0)
      copy[i] = 'a';
  ok = g_utf8_validate_len ((const gchar *) copy, len, &end);
  *bad = (gsize) ((const guint8 *) end - copy);
  g_free (copy);
  return ok;
}

static void
test_validate_random (void)
{
  GRand *r = g_rand_new_with_seed (7);
  static const guint8 pool[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
    0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF
  };

  for (int iter = 0; iter < 200000; iter++) {
    guint8 s[12];
    gsize len = (gsize) g_rand_int_range (r, 0, sizeof (s) + 1), bad = 0, ref_bad = 0;
    gboolean ok, ref;

    for (gsize i = 0; i < len; i++)
      s[i] = pool[g_rand_int_range (r, 0, G_N_ELEMENTS (pool))];
    ok = te_utf8_validate (s, len, &bad);
    ref = ref_validate (s, len, &ref_bad);
    g_assert_cmpint (ok, ==, ref);
    if (!ok)
      g_assert_cmpuint (bad, ==, ref_bad);
  }
  g_rand_free (r);
}

/* The streaming scan over random splits finds what te_utf8_validate finds on the whole. */
static void
test_scan_pieces (void)
{
  GRand *r = g_rand_new_with_seed (11);
  static const guint8 pool[] = { 0x41, 0x20, 0x80, 0xA0, 0xBF, 0xC2, 0xDF, 0xE0, 0xE2, 0xED,
    0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x82, 0x9F, 0x90
  };

  for (int iter = 0; iter < 50000; iter++) {
    guint8 s[24];
    gsize len = (gsize) g_rand_int_range (r, 0, sizeof (s) + 1), bad = 0;
    for (gsize i = 0; i < len; i++)
      s[i] = pool[g_rand_int_range (r, 0, G_N_ELEMENTS (pool))];
    gboolean ok = te_utf8_validate (s, len, &bad);
    TeUtf8Scan sc;
    te_utf8_scan_init (&sc);
    for (gsize off = 0; off < len;) {
      gsize want = (gsize) g_rand_int_range (r, 0, 6);     /* MIN evaluates twice */
      gsize n = MIN (want, len - off);
      te_utf8_scan_push (&sc, s + off, n);
      off += n;
    }
    gint64 got = te_utf8_scan_finish (&sc);
    g_assert_cmpint (got, ==, ok ? -1 : (gint64) bad);
  }
  g_rand_free (r);
}

static void
test_check_and_subpart (void)
{
  /* complete, ill-formed, cut short */
  g_assert_cmpint (te_utf8_check ((const guint8 *) "\xE2\x82\xAC", 3), ==, 3);
  g_assert_cmpint (te_utf8_check ((const guint8 *) "\xE2\x82", 2), ==, -1);
  g_assert_cmpint (te_utf8_check ((const guint8 *) "\xE2\x41", 2), ==, 0);
  g_assert_cmpint (te_utf8_check ((const guint8 *) "\xED\xA0\x80", 3), ==, 0);   /* surrogate */
  g_assert_cmpint (te_utf8_check ((const guint8 *) "\xF4\x90\x80\x80", 4), ==, 0);
  g_assert_cmpint (te_utf8_check ((const guint8 *) "\xC0\x80", 2), ==, 0);       /* overlong */
  g_assert_cmpint (te_utf8_check ((const guint8 *) "\xF0\x9F\x98", 3), ==, -1);
  /* maximal subparts, as Python's decoder replaces them */
  g_assert_cmpuint (te_utf8_invalid_len ((const guint8 *) "\xF0\x9F\x98\x41", 4), ==, 3);
  g_assert_cmpuint (te_utf8_invalid_len ((const guint8 *) "\xE0\x80\x80", 3), ==, 1);
  g_assert_cmpuint (te_utf8_invalid_len ((const guint8 *) "\xFF", 1), ==, 1);
  g_assert_cmpuint (te_utf8_invalid_len ((const guint8 *) "\xE2\x82", 2), ==, 2);
}

static void
test_encode_decode_all (void)
{
  for (gunichar c = 0; c <= 0x10FFFF; c++) {
    guint8 buf[4];
    gchar ref[6];
    gunichar back;
    guint n;

    if (c >= 0xD800 && c <= 0xDFFF)
      continue;
    n = te_utf8_encode (c, buf);
    g_assert_cmpint (n, ==, g_unichar_to_utf8 (c, ref));
    g_assert_cmpmem (buf, n, ref, n);
    g_assert_cmpint (te_utf8_check (buf, n), ==, (int) n);
    g_assert_cmpuint (te_utf8_seq_len (buf[0]), ==, n);
    g_assert_cmpuint (te_utf8_decode (buf, &back), ==, n);
    g_assert_cmpuint (back, ==, c);
    g_assert_true (te_utf8_prev (buf, buf + n) == buf);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/utf8/validate-random", test_validate_random);
  g_test_add_func ("/utf8/check-and-subpart", test_check_and_subpart);
  g_test_add_func ("/utf8/scan-pieces", test_scan_pieces);
  g_test_add_func ("/utf8/encode-decode-all", test_encode_decode_all);
  return g_test_run ();
}
