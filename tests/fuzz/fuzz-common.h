/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-common.h — what the libFuzzer targets in tests/fuzz share: a fatal invariant check, a
 * private scratch directory, file writing, and the tokenizers the targets run (the default model
 * and the generated tokenizer.json variants named by $TE_FUZZ_TOKENIZERS). */
#pragma once

#include <glib.h>
#include <stdint.h>
#include "te-tokenizer.h"

G_BEGIN_DECLS

/* A broken invariant is a finding like a crash: print it and abort (libFuzzer keeps the input). */
#define FUZZ_CHECK(cond, ...) G_STMT_START { \
    if (G_UNLIKELY (!(cond))) { \
      fuzz_fail (__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } \
  } G_STMT_END

G_GNUC_NORETURN G_GNUC_PRINTF (4, 5)
void fuzz_fail (const char *file, int line, const char *cond, const char *fmt, ...);

/* Once per process: GLib criticals (a failed g_return_if_fail in core) become aborts. */
void fuzz_init (void);

/* A directory of this process's own, removed at exit. */
const char *fuzz_scratch_dir (void);

/* Write @len bytes to @path (replacing it); aborts when the file system refuses. */
void fuzz_write_file (const char *path, const void *data, gsize len);

/* The default model's tokenizer ($TE_TEST_MODEL, else te_default_model_dir()); aborts if it
 * cannot be loaded. Owned by the process. */
const TeTokenizer *fuzz_default_tokenizer (void);

/* Every *.json in $TE_FUZZ_TOKENIZERS (sorted by name), loaded; the default model's tokenizer
 * alone when the variable is unset. Aborts when a file there does not load: the list is meant
 * to hold valid tokenizers only. */
typedef struct {
  char *name;
  TeTokenizer *tok;
} FuzzTokenizer;
const FuzzTokenizer *fuzz_tokenizers (guint * n);

/* Whether @len bytes are valid UTF-8, checked naively (independently of core's te-utf8); the
 * offset of the first ill-formed sequence goes to @bad. */
gboolean fuzz_utf8_valid (const guint8 * s, gsize len, gsize * bad);
/* At @s (@avail > 0 bytes): the length of the well-formed sequence there (*@complete TRUE), or
 * of its maximal ill-formed subpart, what one U+FFFD replaces (*@complete FALSE). */
gsize fuzz_utf8_prefix (const guint8 * s, gsize avail, gboolean * complete);

/* Encode @len bytes of @text with and without special tokens and check what the header promises:
 * success exactly when the text is valid UTF-8 (else TE_ERROR_INVALID naming the first bad
 * byte); ids inside the vocabulary; offsets inside the text, on character boundaries and in
 * order; the post-processor's tokens (special, empty (0, 0) range) numbering
 * te_tokenizer_num_special_tokens() and the rest equal to the encoding without them.
 * !@must_encode (a tokenizer from untrusted bytes): valid text may also fail with some TE_ERROR
 * (one that cannot encode everything) and ids need not have a token string (a post-processor
 * may name ids the vocabulary lacks); with @must_encode (our valid tokenizers) neither.
 * @with and @without are reused between calls. */
void fuzz_check_encode (const TeTokenizer * tok, const char *text, gsize len,
    gboolean must_encode, TeEncoding * with, TeEncoding * without);

/* A small deterministic generator for choices derived from the input. */
static inline guint32
fuzz_rand (guint64 * state)
{
  guint64 x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return (guint32) (x >> 32);
}

G_END_DECLS
