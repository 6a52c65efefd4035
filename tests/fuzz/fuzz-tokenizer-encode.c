/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-tokenizer-encode.c — libFuzzer target: the input after its first byte is text (any
 * bytes, invalid UTF-8 included: te_tokenizer_encode() must refuse that with an error naming the
 * byte) encoded by one of the tokenizers in $TE_FUZZ_TOKENIZERS, chosen by the first byte. Each
 * tokenizer type (WordPiece variants today) is one generated tokenizer.json in that directory
 * (tools/fuzz-seeds.py writes them); a new type is a new file there, no change here. Every
 * encoding is checked by fuzz_check_encode(): with and without special tokens, ids, offsets. */
#include "fuzz-common.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  guint n;

  fuzz_init ();
  fuzz_tokenizers (&n);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  static TeEncoding with, without;
  guint n;
  const FuzzTokenizer *toks = fuzz_tokenizers (&n);

  if (size < 1)
    return 0;
  fuzz_check_encode (toks[data[0] % n].tok, (const char *) data + 1, size - 1, TRUE, &with, &without);
  return 0;
}
