/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-tokenize.c — command-line front end of the core tokenizer: encodes texts read from stdin
 * and prints one JSON object per text (ids, type_ids, byte offsets). Used by tests and benches. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "te-tokenizer.h"
#include "te-utf8.h"

static const char usage[] =
    "usage: te-tokenize TOKENIZER_JSON|MODEL_DIR [OPTIONS] < input\n"
    "\n"
    "Encodes each input text and prints one line per text:\n"
    "  {\"ids\":[...],\"type_ids\":[...],\"offsets\":[[start,end],...]}\n"
    "Offsets are byte offsets into the UTF-8 of that text ([0,0] for special tokens).\n"
    "\n"
    "Input modes:\n"
    "  (default)       one text per line; lines are split on '\\n' only, every other byte\n"
    "                  (\\r, \\t, control characters) belongs to the text\n"
    "  --json-lines    each non-empty line is a JSON string literal (e.g. \"a\\u0000b\"); any\n"
    "                  text, including NUL and newlines, can be given this way\n"
    "  --whole         the whole of stdin is a single text\n"
    "Options:\n"
    "  --no-special    do not add the post-processor's special tokens ([CLS], [SEP])\n"
    "  --quiet         do not print the encodings (benchmarking)\n"
    "  --stats         print texts, bytes, tokens and throughput to stderr\n";

/* Decode one JSON string literal (the whole line, surrounding blanks allowed) into @out.
 * json-glib is not used here: it hands strings out NUL-terminated, so "\u0000" would be lost. */
static gboolean
decode_json_string (const char *s, gsize len, GString * out, const char **why)
{
  gsize i = 0;

  g_string_truncate (out, 0);
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
    i++;
  while (len > i && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
    len--;
  if (len - i < 2 || s[i] != '"' || s[len - 1] != '"') {
    *why = "not a JSON string literal";
    return FALSE;
  }
  i++;
  len--;
  while (i < len) {
    char c = s[i++];
    guint32 u;
    if (c == '"') {
      *why = "unescaped '\"' inside the string";
      return FALSE;
    }
    if (c != '\\') {
      g_string_append_c (out, c);
      continue;
    }
    if (i >= len) {
      *why = "dangling backslash";
      return FALSE;
    }
    c = s[i++];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        g_string_append_c (out, c);
        continue;
      case 'b':
        g_string_append_c (out, '\b');
        continue;
      case 'f':
        g_string_append_c (out, '\f');
        continue;
      case 'n':
        g_string_append_c (out, '\n');
        continue;
      case 'r':
        g_string_append_c (out, '\r');
        continue;
      case 't':
        g_string_append_c (out, '\t');
        continue;
      case 'u':
        break;
      default:
        *why = "unknown escape";
        return FALSE;
    }
    {
      gint k, h;
      u = 0;
      if (len - i < 4) {
        *why = "short \\u escape";
        return FALSE;
      }
      for (k = 0; k < 4; k++) {
        if ((h = g_ascii_xdigit_value (s[i + k])) < 0) {
          *why = "bad \\u escape";
          return FALSE;
        }
        u = u * 16 + (guint32) h;
      }
      i += 4;
    }
    if (u >= 0xD800 && u <= 0xDBFF) {
      guint32 lo = 0;
      gint k, h;
      if (len - i < 6 || s[i] != '\\' || s[i + 1] != 'u') {
        *why = "unpaired surrogate";
        return FALSE;
      }
      for (k = 0; k < 4; k++) {
        if ((h = g_ascii_xdigit_value (s[i + 2 + k])) < 0) {
          *why = "bad \\u escape";
          return FALSE;
        }
        lo = lo * 16 + (guint32) h;
      }
      if (lo < 0xDC00 || lo > 0xDFFF) {
        *why = "unpaired surrogate";
        return FALSE;
      }
      i += 6;
      u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    } else if (u >= 0xDC00 && u <= 0xDFFF) {
      *why = "unpaired surrogate";
      return FALSE;
    }
    {
      guint8 buf[4];
      guint n = te_utf8_encode (u, buf);
      g_string_append_len (out, (const char *) buf, n);
    }
  }
  return TRUE;
}

static void
print_encoding (GString * o, const TeEncoding * enc)
{
  guint i;

  g_string_append (o, "{\"ids\":[");
  for (i = 0; i < enc->n; i++)
    g_string_append_printf (o, i ? ",%d" : "%d", enc->ids[i]);
  g_string_append (o, "],\"type_ids\":[");
  for (i = 0; i < enc->n; i++)
    g_string_append_printf (o, i ? ",%d" : "%d", enc->type_ids[i]);
  g_string_append (o, "],\"offsets\":[");
  for (i = 0; i < enc->n; i++)
    g_string_append_printf (o, i ? ",[%u,%u]" : "[%u,%u]", enc->starts[i], enc->ends[i]);
  g_string_append (o, "]}\n");
}

static gboolean
read_all (FILE * f, GString * buf)
{
  char chunk[65536];
  size_t n;

  while ((n = fread (chunk, 1, sizeof (chunk), f)) > 0)
    g_string_append_len (buf, chunk, n);
  return !ferror (f);
}

int
main (int argc, char **argv)
{
  const char *path = NULL;
  gboolean no_special = FALSE, json_lines = FALSE, whole = FALSE, quiet = FALSE, stats = FALSE;
  TeTokenizer *tok;
  GError *err = NULL;
  GString *in, *text, *out;
  TeEncoding enc;
  gsize pos = 0, line_no = 0, n_texts = 0, n_bytes = 0, n_tokens = 0;
  gint64 t_encode = 0;
  char *tj = NULL;
  int i, rc = 0;

  for (i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--no-special") == 0)
      no_special = TRUE;
    else if (strcmp (argv[i], "--json-lines") == 0)
      json_lines = TRUE;
    else if (strcmp (argv[i], "--whole") == 0)
      whole = TRUE;
    else if (strcmp (argv[i], "--quiet") == 0)
      quiet = TRUE;
    else if (strcmp (argv[i], "--stats") == 0)
      stats = TRUE;
    else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
      fputs (usage, stdout);
      return 0;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf (stderr, "te-tokenize: unknown option %s\n%s", argv[i], usage);
      return 1;
    } else if (!path)
      path = argv[i];
    else {
      fprintf (stderr, "te-tokenize: unexpected argument %s\n%s", argv[i], usage);
      return 1;
    }
  }
  if (!path || (json_lines && whole)) {
    fputs (usage, stderr);
    return 1;
  }

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    path = tj = g_build_filename (path, "tokenizer.json", NULL);
  tok = te_tokenizer_new_from_file (path, &err);
  g_free (tj);
  if (!tok) {
    fprintf (stderr, "te-tokenize: %s\n", err->message);
    g_error_free (err);
    return 1;
  }

  in = g_string_new (NULL);
  if (!read_all (stdin, in)) {
    fprintf (stderr, "te-tokenize: cannot read stdin: %s\n", g_strerror (errno));
    te_tokenizer_free (tok);
    g_string_free (in, TRUE);
    return 1;
  }

  text = g_string_new (NULL);
  out = g_string_sized_new (1 << 16);
  te_encoding_init (&enc);

  while (whole ? n_texts == 0 : pos < in->len) {
    const char *line, *t;
    gsize len, tlen;
    gint64 t0;

    if (whole) {
      line = in->str;
      len = in->len;
      pos = in->len;
    } else {
      const char *nl = memchr (in->str + pos, '\n', in->len - pos);
      line = in->str + pos;
      len = nl ? (gsize) (nl - line) : in->len - pos;
      pos += len + 1;
    }
    line_no++;
    t = line;
    tlen = len;
    if (json_lines) {
      const char *why = NULL;
      gsize k;
      for (k = 0; k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'); k++);
      if (k == len)
        continue;               /* blank line */
      if (!decode_json_string (line, len, text, &why)) {
        fprintf (stderr, "te-tokenize: line %" G_GSIZE_FORMAT ": %s\n", line_no, why);
        rc = 1;
        break;
      }
      t = text->str;
      tlen = text->len;
    }

    t0 = g_get_monotonic_time ();
    if (!te_tokenizer_encode (tok, t, tlen, !no_special, &enc, &err)) {
      fprintf (stderr, "te-tokenize: line %" G_GSIZE_FORMAT ": %s\n", line_no, err->message);
      g_clear_error (&err);
      rc = 1;
      break;
    }
    t_encode += g_get_monotonic_time () - t0;
    n_texts++;
    n_bytes += tlen;
    n_tokens += enc.n;

    if (!quiet) {
      print_encoding (out, &enc);
      if (out->len > (1 << 16)) {
        fwrite (out->str, 1, out->len, stdout);
        g_string_truncate (out, 0);
      }
    }
  }
  if (out->len)
    fwrite (out->str, 1, out->len, stdout);
  if (fflush (stdout) != 0) {
    fprintf (stderr, "te-tokenize: cannot write stdout: %s\n", g_strerror (errno));
    rc = 1;
  }
  if (stats) {
    double secs = t_encode / 1e6;
    fprintf (stderr,
        "te-tokenize: %" G_GSIZE_FORMAT " texts, %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT
        " tokens, %.3f s encoding, %.1f MB/s\n", n_texts, n_bytes, n_tokens, secs,
        secs > 0 ? n_bytes / secs / 1e6 : 0.0);
  }

  te_encoding_clear (&enc);
  g_string_free (out, TRUE);
  g_string_free (text, TRUE);
  g_string_free (in, TRUE);
  te_tokenizer_free (tok);
  return rc;
}
