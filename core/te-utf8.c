/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-utf8.c — the UTF-8 validator and the streaming checks (te-utf8.h). */
#include "te-utf8.h"

#include <string.h>

/* Bounds of the second byte after lead @b: they exclude overlongs (E0, F0), surrogates (ED)
 * and code points above U+10FFFF (F4). */
static inline void
second_byte_range (guint8 b, guint8 * lo, guint8 * hi)
{
  *lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80;
  *hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
}

/* Valid bytes of the sequence at @s (lead included, at most @avail), and its length in @n. */
static inline gsize
valid_prefix (const guint8 * s, gsize avail, guint * n)
{
  guint8 lo, hi;
  gsize i;

  *n = te_utf8_seq_len (s[0]);
  if (*n == 0)
    return 0;
  second_byte_range (s[0], &lo, &hi);
  for (i = 1; i < *n && i < avail; i++) {
    if (s[i] < lo || s[i] > hi)
      break;
    lo = 0x80;
    hi = 0xBF;
  }
  return i;
}

int
te_utf8_check (const guint8 * s, gsize avail)
{
  guint n;
  gsize ok = valid_prefix (s, avail, &n);

  if (n == 0)
    return 0;
  if (ok == n)
    return (int) n;
  return ok == avail ? -1 : 0;
}

gsize
te_utf8_invalid_len (const guint8 * s, gsize avail)
{
  guint n;
  gsize ok = valid_prefix (s, avail, &n);

  return ok ? ok : 1;
}

gboolean
te_utf8_validate (const guint8 * s, gsize len, gsize * bad)
{
  gsize i = 0;

  while (i < len) {
    int r;

    if (s[i] < 0x80) {
      /* ASCII fast path, 8 bytes at a time */
      while (i + 8 <= len) {
        guint64 v;
        memcpy (&v, s + i, 8);
        if (v & 0x8080808080808080ull)
          break;
        i += 8;
      }
      if (i < len && s[i] < 0x80)
        i++;
      continue;
    }
    r = te_utf8_check (s + i, len - i);
    if (r <= 0) {
      if (bad)
        *bad = i;
      return FALSE;
    }
    i += (gsize) r;
  }
  return TRUE;
}

void
te_utf8_scan_init (TeUtf8Scan * sc)
{
  memset (sc, 0, sizeof (*sc));
  sc->bad = -1;
}

void
te_utf8_scan_push (TeUtf8Scan * sc, const guint8 * data, gsize len)
{
  gsize i = 0, bad;

  if (sc->bad >= 0)
    return;
  /* complete a sequence cut by the previous piece */
  while (sc->carry_len > 0 && i < len) {
    sc->carry[sc->carry_len++] = data[i++];
    int r = te_utf8_check (sc->carry, sc->carry_len);
    if (r == 0) {
      sc->bad = (gint64) sc->offset;
      return;
    }
    if (r > 0) {
      sc->offset += (guint64) r;
      sc->carry_len = 0;
    }
  }
  if (sc->carry_len > 0)
    return;                     /* all of @data went into a still incomplete sequence */
  if (te_utf8_validate (data + i, len - i, &bad)) {
    sc->offset += len - i;
    return;
  }
  if (te_utf8_check (data + i + bad, len - i - bad) < 0) {
    /* a valid prefix cut by the end of this piece: wait for the next one */
    sc->offset += bad;
    sc->carry_len = (guint) (len - i - bad);
    memcpy (sc->carry, data + i + bad, sc->carry_len);
    return;
  }
  sc->bad = (gint64) (sc->offset + bad);
}

gint64
te_utf8_scan_finish (TeUtf8Scan * sc)
{
  if (sc->bad < 0 && sc->carry_len > 0)
    sc->bad = (gint64) sc->offset;
  return sc->bad;
}
