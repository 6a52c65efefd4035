/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-unicode.h — Unicode character classes more than one core module needs, kept in one place
 * so that they cannot drift apart. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The CJK ideographs BertNormalizer's handle_chinese_chars isolates (Hugging Face tokenizers'
 * is_chinese_char, exact ranges — note the gap U+2B820..U+2B91F). The tokenizer pads them with
 * spaces; the chunker therefore treats a position beside one as a word boundary. */
static inline gboolean
te_unichar_is_cjk_ideograph (gunichar c)
{
  if (c < 0x3400)
    return FALSE;
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)
      || (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F)
      || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
      || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

G_END_DECLS
