/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-utf8.h — UTF-8 as every core module reads and writes it, written once: validation by
 * Unicode's (and Rust str's) rules — no overlongs, surrogates or code points above U+10FFFF,
 * NUL and noncharacters accepted — streaming checks, and decoders/encoder for the hot loops. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Length of the sequence lead byte @b announces; 0 for a byte that cannot start one. */
static inline guint
te_utf8_seq_len (guint8 b)
{
  if (b < 0x80)
    return 1;
  if (b >= 0xC2 && b <= 0xDF)
    return 2;
  if (b >= 0xE0 && b <= 0xEF)
    return 3;
  if (b >= 0xF0 && b <= 0xF4)
    return 4;
  return 0;
}

/* The sequence at @s, @avail bytes available: its length when complete and valid, 0 when
 * ill-formed, -1 when a valid prefix is cut by the end of the input. */
int te_utf8_check (const guint8 * s, gsize avail);

/* Length of the maximal subpart of the ill-formed sequence at @s (what one U+FFFD replaces
 * under Unicode's "best practice", as Python and WHATWG decoders do): at least 1. */
gsize te_utf8_invalid_len (const guint8 * s, gsize avail);

/* Whether @len bytes are valid UTF-8; if not, the offset of the first bad sequence goes to
 * @bad (may be NULL). ASCII runs are checked 8 bytes at a time. */
gboolean te_utf8_validate (const guint8 * s, gsize len, gsize * bad);

/* Streaming validation over consecutive pieces (sequences may straddle them): where the first
 * ill-formed byte is, counting from the first piece. Init, push every piece, then finish. */
typedef struct {
  guint8 carry[4];      /* a valid prefix cut by the end of the last piece */
  guint carry_len;
  guint64 offset;       /* source offset of carry[0], or of the next piece */
  gint64 bad;           /* offset of the first ill-formed sequence, -1 none so far */
} TeUtf8Scan;

void te_utf8_scan_init (TeUtf8Scan * sc);
void te_utf8_scan_push (TeUtf8Scan * sc, const guint8 * data, gsize len);
/* The end of the input: a sequence still cut there is ill-formed. Returns the offset of the
 * first ill-formed byte, or -1 when all of it was valid. */
gint64 te_utf8_scan_finish (TeUtf8Scan * sc);

/* Decode one code point of VALID UTF-8 at @s into @c; returns its length in bytes. */
static inline guint
te_utf8_decode (const guint8 * s, gunichar * c)
{
  guint8 b = s[0];

  if (b < 0x80) {
    *c = b;
    return 1;
  }
  if (b < 0xE0) {
    *c = ((gunichar) (b & 0x1F) << 6) | (s[1] & 0x3F);
    return 2;
  }
  if (b < 0xF0) {
    *c = ((gunichar) (b & 0x0F) << 12) | ((gunichar) (s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    return 3;
  }
  *c = ((gunichar) (b & 0x07) << 18) | ((gunichar) (s[1] & 0x3F) << 12)
      | ((gunichar) (s[2] & 0x3F) << 6) | (s[3] & 0x3F);
  return 4;
}

/* Start of the code point of VALID UTF-8 that ends right before @end (@end > @start). */
static inline const guint8 *
te_utf8_prev (const guint8 * start, const guint8 * end)
{
  const guint8 *p = end - 1;

  while (p > start && (*p & 0xC0) == 0x80)
    p--;
  return p;
}

/* Encode @c (a Unicode scalar value) into @o; returns the length, 1..4. */
static inline guint
te_utf8_encode (gunichar c, guint8 * o)
{
  if (c < 0x80) {
    o[0] = (guint8) c;
    return 1;
  }
  if (c < 0x800) {
    o[0] = (guint8) (0xC0 | (c >> 6));
    o[1] = (guint8) (0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    o[0] = (guint8) (0xE0 | (c >> 12));
    o[1] = (guint8) (0x80 | ((c >> 6) & 0x3F));
    o[2] = (guint8) (0x80 | (c & 0x3F));
    return 3;
  }
  o[0] = (guint8) (0xF0 | (c >> 18));
  o[1] = (guint8) (0x80 | ((c >> 12) & 0x3F));
  o[2] = (guint8) (0x80 | ((c >> 6) & 0x3F));
  o[3] = (guint8) (0x80 | (c & 0x3F));
  return 4;
}

G_END_DECLS
