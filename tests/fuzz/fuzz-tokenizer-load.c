/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-tokenizer-load.c — libFuzzer target: the input is a tokenizer.json. Loading it must
 * either fail with an error or give a tokenizer that then encodes (the input itself and a few
 * fixed texts) within every invariant fuzz_check_encode() checks. */
#include <string.h>

#include "fuzz-common.h"

static const char *const texts[] = {
  "Hello, world! Unaffable caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 [CLS] <x> a##b [UNK]",
  "  \t\n  ",
  "",
};

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  static TeEncoding with, without;
  GError *err = NULL;
  TeTokenizer *tok = te_tokenizer_new_from_data ((const char *) data, size, &err);

  if (tok == NULL) {
    FUZZ_CHECK (err != NULL && err->domain == TE_ERROR && err->message[0] != '\0',
        "load failed without a TE_ERROR");
    g_error_free (err);
    return 0;
  }
  FUZZ_CHECK (err == NULL, "loaded and set an error: %s", err->message);
  FUZZ_CHECK (strlen (te_tokenizer_fingerprint (tok)) > 0, "empty fingerprint");
  guint vocab = te_tokenizer_vocab_size (tok);
  for (guint id = 0; id < vocab && id < 64; id++) {
    const char *s = te_tokenizer_id_to_token (tok, (gint32) id);
    if (s != NULL)
      FUZZ_CHECK (te_tokenizer_token_to_id (tok, s) >= 0, "token \"%s\" (id %u) not found "
          "by its string", s, id);
  }
  FUZZ_CHECK (te_tokenizer_id_to_token (tok, (gint32) vocab) == NULL, "id %u beyond the "
      "vocabulary has a string", vocab);
  (void) te_tokenizer_pad_id (tok);

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    fuzz_check_encode (tok, texts[i], strlen (texts[i]), FALSE, &with, &without);
  fuzz_check_encode (tok, (const char *) data, MIN (size, 2048), FALSE, &with, &without);
  te_tokenizer_free (tok);
  return 0;
}
