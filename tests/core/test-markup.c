/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-markup.c — te_markup_to_text: tags, entities, malformed markup kept as text, bounds
 * (inputs are copied into exactly-sized heap blocks so that ASan catches any overread). */
#include <string.h>
#include <glib.h>

#include "te-markup.h"

/* Convert @in (NUL-terminated for convenience, passed without its NUL) and return the text. */
static gchar *
convert (const gchar * in)
{
  gsize len = strlen (in);
  gchar *copy = g_malloc (len ? len : 1);
  memcpy (copy, in, len);
  GString *out = g_string_new (NULL);
  gsize n = te_markup_to_text (copy, len, out);
  g_assert_cmpuint (n, ==, out->len);
  g_assert_cmpuint (out->len, <=, len);
  g_free (copy);
  return g_string_free (out, FALSE);
}

static void
check (const gchar * in, const gchar * expect)
{
  gchar *got = convert (in);
  if (g_strcmp0 (got, expect) != 0)
    g_error ("markup \"%s\": expected \"%s\", got \"%s\"", in, expect, got);
  g_free (got);
}

static void
test_plain (void)
{
  check ("", "");
  check ("plain text, no markup at all.", "plain text, no markup at all.");
  check ("caf\xc3\xa9 \xf0\x9f\x98\x80\nsecond line", "caf\xc3\xa9 \xf0\x9f\x98\x80\nsecond line");
}

static void
test_tags (void)
{
  check ("Hello <b>world</b>", "Hello world");
  check ("<i>a</i><u>b</u><s>c</s>", "abc");
  check ("Second <i>line</i>\nwith two rows", "Second line\nwith two rows");
  check ("<span foreground=\"red\" font_desc='Sans 12'>red</span> text", "red text");
  /* a '>' inside a quoted attribute value does not end the tag */
  check ("<span title=\"a>b\">x</span>", "x");
  check ("<span title='a>b'>x</span>", "x");
  check ("<v Bob>Second line</v>", "Second line");      /* WebVTT voice span */
  check ("before<!-- a comment with <b> and > inside -->after", "beforeafter");
  check ("<?xml version=\"1.0\"?>text", "text");
  check ("<br/>x", "x");
}

static void
test_entities (void)
{
  check ("&amp; &lt; &gt; &quot; &apos;", "& < > \" '");
  check ("Tom &amp;amp; Jerry", "Tom &amp; Jerry");     /* decoded once, as subparse escapes */
  check ("&#65;&#x42;&#X43;&#x64;", "ABCd");
  check ("caf&#233; &#x20AC; &#x1F600;", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  check ("&#1;", "\x01");
  check ("&#x10FFFF;", "\xf4\x8f\xbf\xbf");
  check ("&#00000065;", "A");   /* 8 digits is the limit ... */
}

static void
test_malformed (void)
{
  /* '<' not followed by a letter, '/', '!' or '?' is text */
  check ("a < b and c<3", "a < b and c<3");
  check ("<<b>>", "<>");
  check ("<", "<");
  check ("x <", "x <");
  /* unterminated tags and comments: the '<' is text, scanning goes on after it */
  check ("x <b unterminated", "x <b unterminated");
  check ("<b>bold</b> then <i never closed", "bold then <i never closed");
  check ("<span title=\"a>b", "<span title=\"a>b");
  check ("<!-- never closed <b>x</b>", "<!-- never closed x");
  check ("<a \"> <b>", "<a \"> ");
  /* unknown or malformed entities: the '&' is text */
  check ("&unknown; &AMP; &amp", "&unknown; &AMP; &amp");
  check ("& alone, &&, &;", "& alone, &&, &;");
  check ("&#; &#x; &#xZZ; &#12a;", "&#; &#x; &#xZZ; &#12a;");
  check ("&#0; &#x0;", "&#0; &#x0;");        /* NUL is not decoded */
  check ("&#xD800; &#xDFFF;", "&#xD800; &#xDFFF;");   /* surrogates */
  check ("&#x110000; &#1114112;", "&#x110000; &#1114112;");     /* beyond U+10FFFF */
  check ("&#000000065;", "&#000000065;");    /* ... 9 digits are too many */
  check ("&#x41", "&#x41");
  check ("&", "&");
  check ("&#", "&#");
  check ("&#x", "&#x");
  /* invalid UTF-8 passes through for the chunker to reject */
  check ("ab\xff<b>c</b>\xc3", "ab\xff" "c\xc3");
}

static void
test_long_tag_is_text (void)
{
  GString *in = g_string_new ("<span a=\"");
  for (int i = 0; i < 2000; i++)
    g_string_append_c (in, 'x');
  g_string_append (in, "\">y");
  gchar *got = convert (in->str);
  g_assert_cmpstr (got, ==, in->str);   /* longer than 1024 bytes: kept */
  g_free (got);
  g_string_free (in, TRUE);
}

/* Appends, and counts only what it appended. NULs inside the fragment are ordinary bytes. */
static void
test_append_and_nul (void)
{
  GString *out = g_string_new ("prefix:");
  const char in[] = { 'a', '\0', '<', 'b', '>', 'c' };
  gsize n = te_markup_to_text (in, sizeof in, out);
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpuint (out->len, ==, 10);
  g_assert_true (memcmp (out->str, "prefix:a\0c", 10) == 0);
  g_assert_cmpuint (te_markup_to_text (NULL, 0, out), ==, 0);
  g_string_free (out, TRUE);
}

/* Random fragments over the markup alphabet, and every prefix of a tricky string: never longer
 * than the input, no read outside it (ASan), plain text without '<' or '&' unchanged. */
static void
test_random (void)
{
  static const char alphabet[] = "<>&#;xX0123456789abAB\"' /!-?\n\xc3\xa9";
  GRand *r = g_rand_new_with_seed (1234);
  GString *out = g_string_new (NULL);
  for (int iter = 0; iter < 20000; iter++) {
    gsize len = g_rand_int_range (r, 0, 64);
    gchar *buf = g_malloc (len ? len : 1);
    for (gsize i = 0; i < len; i++)
      buf[i] = alphabet[g_rand_int_range (r, 0, sizeof alphabet - 1)];
    g_string_truncate (out, 0);
    gsize n = te_markup_to_text (buf, len, out);
    g_assert_cmpuint (n, <=, len);
    g_free (buf);
  }
  const char *tricky = "<span a='>'>&#x1F600;&amp;<!-- c -->&lt;<b>x</b>&#233;";
  for (gsize len = 0; len <= strlen (tricky); len++) {
    gchar *buf = g_malloc (len ? len : 1);
    memcpy (buf, tricky, len);
    g_string_truncate (out, 0);
    g_assert_cmpuint (te_markup_to_text (buf, len, out), <=, len);
    g_free (buf);
  }
  g_string_free (out, TRUE);
  g_rand_free (r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/markup/plain", test_plain);
  g_test_add_func ("/markup/tags", test_tags);
  g_test_add_func ("/markup/entities", test_entities);
  g_test_add_func ("/markup/malformed", test_malformed);
  g_test_add_func ("/markup/long-tag", test_long_tag_is_text);
  g_test_add_func ("/markup/append-and-nul", test_append_and_nul);
  g_test_add_func ("/markup/random", test_random);
  return g_test_run ();
}
