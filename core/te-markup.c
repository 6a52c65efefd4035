/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-markup.c — Pango markup to plain text (see te-markup.h for the rules). Every read is
 * checked against the fragment's end; nothing here can read outside [markup, markup + len). */
#include "te-markup.h"

#include <string.h>

#include "te-utf8.h"

#define TE_MARKUP_MAX_DIGITS 8
/* Longest tag or comment recognised; longer ones are text. Bounds the work per '<' so that
 * input full of unterminated tags stays linear. */
#define TE_MARKUP_MAX_TAG 1024

static gboolean
is_ascii_alpha (guint8 c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Does @s (@avail bytes) start with the NUL-terminated @lit? */
static gboolean
has_prefix (const char *s, gsize avail, const char *lit)
{
  gsize n = strlen (lit);
  return avail >= n && memcmp (s, lit, n) == 0;
}

/* Length of the tag or comment starting at @s[0] == '<' (including the closing '>'), or 0 when
 * it is not one or has no end within @avail bytes (or within TE_MARKUP_MAX_TAG). */
static gsize
tag_length (const char *s, gsize avail)
{
  avail = MIN (avail, TE_MARKUP_MAX_TAG);
  if (avail < 2)
    return 0;
  guint8 c = (guint8) s[1];
  if (!(is_ascii_alpha (c) || c == '/' || c == '!' || c == '?'))
    return 0;

  if (has_prefix (s, avail, "<!--")) {
    for (gsize i = 4; i + 3 <= avail; i++) {
      if (s[i] == '-' && s[i + 1] == '-' && s[i + 2] == '>')
        return i + 3;
    }
    return 0;
  }

  char quote = 0;
  for (gsize i = 1; i < avail; i++) {
    char b = s[i];
    if (quote) {
      if (b == quote)
        quote = 0;
    } else if (b == '"' || b == '\'') {
      quote = b;
    } else if (b == '>') {
      return i + 1;
    }
  }
  return 0;
}

static int
hex_value (guint8 c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decode the entity starting at @s[0] == '&'. Returns its length in the input (including ';')
 * and the UTF-8 bytes in @dst / *@dst_len, or 0 when it is not a well-formed known entity. */
static gsize
entity_decode (const char *s, gsize avail, char dst[4], guint * dst_len)
{
  static const struct {
    const char *name;
    char ch;
  } named[] = {
    {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
  };

  for (guint i = 0; i < G_N_ELEMENTS (named); i++) {
    if (has_prefix (s, avail, named[i].name)) {
      dst[0] = named[i].ch;
      *dst_len = 1;
      return strlen (named[i].name);
    }
  }

  if (avail < 2 || s[1] != '#')
    return 0;
  gsize i = 2;
  gboolean hex = FALSE;
  if (i < avail && (s[i] == 'x' || s[i] == 'X')) {
    hex = TRUE;
    i++;
  }
  gsize digits_start = i;
  guint32 cp = 0;
  while (i < avail && i - digits_start < TE_MARKUP_MAX_DIGITS) {
    int v = hex ? hex_value ((guint8) s[i]) : ((s[i] >= '0' && s[i] <= '9') ? s[i] - '0' : -1);
    if (v < 0)
      break;
    cp = cp * (hex ? 16 : 10) + (guint32) v;   /* 8 digits: at most 0xFFFFFFFF, no overflow */
    i++;
  }
  if (i == digits_start || i >= avail || s[i] != ';')
    return 0;
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  *dst_len = te_utf8_encode (cp, (guint8 *) dst);
  return i + 1;
}

gsize
te_markup_to_text (const char *markup, gsize len, GString * out)
{
  g_return_val_if_fail (out != NULL, 0);
  g_return_val_if_fail (markup != NULL || len == 0, 0);

  gsize before = out->len;
  gsize i = 0;
  while (i < len) {
    /* copy the run of ordinary bytes up to the next '<' or '&' in one go */
    gsize run = i;
    while (run < len && markup[run] != '<' && markup[run] != '&')
      run++;
    if (run > i) {
      g_string_append_len (out, markup + i, run - i);
      i = run;
      continue;
    }

    if (markup[i] == '<') {
      gsize n = tag_length (markup + i, len - i);
      if (n > 0) {
        i += n;
      } else {
        g_string_append_c (out, '<');
        i++;
      }
    } else {
      char dst[4];
      guint dst_len = 0;
      gsize n = entity_decode (markup + i, len - i, dst, &dst_len);
      if (n > 0) {
        g_string_append_len (out, dst, dst_len);
        i += n;
      } else {
        g_string_append_c (out, '&');
        i++;
      }
    }
  }
  return out->len - before;
}
