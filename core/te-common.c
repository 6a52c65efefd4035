/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-common.c — the core error domain and the JSON nesting guard. */
#include "te-common.h"

#include <unistd.h>

G_DEFINE_QUARK (textembed-error-quark, te_error);

gboolean
te_json_nesting_ok (const char *data, gsize len, guint max_depth)
{
  gboolean in_string = FALSE, escaped = FALSE;
  guint depth = 0;

  /* json-glib's parser recurses once per nesting level, so "[[[[..." a few MB long would
   * overflow the stack: measure the depth first (brackets inside strings do not count). */
  for (gsize i = 0; i < len; i++) {
    char c = data[i];
    if (in_string) {
      if (escaped)
        escaped = FALSE;
      else if (c == '\\')
        escaped = TRUE;
      else if (c == '"')
        in_string = FALSE;
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return FALSE;
    } else if ((c == ']' || c == '}') && depth > 0) {
      depth--;
    }
  }
  return TRUE;
}

void
te_log_to_stderr (void)
{
#if GLIB_CHECK_VERSION (2, 68, 0)
  g_log_writer_default_set_use_stderr (TRUE);
#endif
}

FILE *
te_reserve_stdout (void)
{
  int fd;
  FILE *out;

  fflush (stdout);
  fd = dup (STDOUT_FILENO);
  if (fd < 0)
    return NULL;
  out = fdopen (fd, "w");
  if (out == NULL) {
    close (fd);
    return NULL;
  }
  if (dup2 (STDERR_FILENO, STDOUT_FILENO) < 0) {
    fclose (out);
    return NULL;
  }
  return out;
}
