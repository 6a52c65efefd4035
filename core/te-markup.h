/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-markup.h — Pango markup (GStreamer's text/x-raw,format=pango-markup, as subparse and
 * ssaparse emit subtitles) to plain UTF-8 text: tags removed, entities decoded. Plain C, no
 * GStreamer; safe on any input bytes. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Append the plain text of the markup fragment @markup (@len bytes, need not be NUL-terminated,
 * may contain NULs) to @out and return the number of bytes appended. Each call is independent:
 * a fragment is one complete markup string (one GStreamer buffer, e.g. one subtitle cue).
 *
 * Removed:
 *  - a tag: '<' followed by an ASCII letter, '/', '!' or '?', up to and including the next '>'
 *    that is not inside a quoted ("..." or '...') attribute value;
 *  - a comment "<!--" ... "-->".
 * Decoded (to their UTF-8 bytes):
 *  - &amp; &lt; &gt; &quot; &apos;
 *  - &#NNN; (decimal) and &#xHHH; / &#XHHH; (hexadecimal), at most 8 digits, for code points
 *    U+0001..U+10FFFF except the surrogates U+D800..U+DFFF.
 * Kept literally (malformed markup is text, never an error):
 *  - '<' that does not start a tag as above ("a < b");
 *  - a tag or comment with no end inside the fragment, or longer than 1024 bytes: the '<' is
 *    text and scanning continues after it (each further '<' is examined again);
 *  - '&' not starting one of the entities above, or one without its ';' (unknown names, &#0;,
 *    out-of-range or surrogate code points, missing digits): the '&' is kept and scanning
 *    continues after it;
 *  - every other byte, including invalid UTF-8 (left for the caller to reject).
 * The output is never longer than the input. */
gsize te_markup_to_text (const char *markup, gsize len, GString * out);

G_END_DECLS
