/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-devices.c — what this build can encode on: every backend, its devices (found without a
 * model), the dtypes each runs, and the options the backend takes (core/te-backend.h). */
#include <stdio.h>
#include <string.h>

#include "te-backend.h"

static const char usage[] =
    "usage: te-devices [--options] [--markdown] [BACKEND...]\n"
    "\n"
    "Lists the encoder backends this build has (or only those named), each with its devices:\n"
    "name, availability on this machine, the dtypes it runs, and a note (features, or why it\n"
    "is not available). Nothing is loaded but the backends' runtimes; no model is needed.\n"
    "\n"
    "  --options   also print each backend's options (npuencoder backend-options, te-embed\n"
    "              --backend-options): name, what it takes, default, meaning\n"
    "  --markdown  the options as the markdown tables of docs/backends.md (implies --options,\n"
    "              no devices)\n"
    "\n"
    "Exit status: 0, 1 when a named backend is not in this build, 2 on a usage error.\n";

int
main (int argc, char **argv)
{
  gboolean options = FALSE, markdown = FALSE;
  GPtrArray *names = g_ptr_array_new ();
  guint n;
  const TeBackendClass *const *classes = te_backend_classes (&n);
  int ret = 0;

  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--options") == 0)
      options = TRUE;
    else if (strcmp (argv[i], "--markdown") == 0)
      markdown = options = TRUE;
    else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
      fputs (usage, stdout);
      g_ptr_array_free (names, TRUE);
      return 0;
    } else if (argv[i][0] == '-') {
      fprintf (stderr, "te-devices: unknown argument %s\n%s", argv[i], usage);
      g_ptr_array_free (names, TRUE);
      return 2;
    } else if (te_backend_class_lookup (argv[i]) == NULL) {
      fprintf (stderr, "te-devices: no backend \"%s\" in this build (it has: %s)\n", argv[i],
          te_backend_class_names ());
      ret = 1;
    } else {
      g_ptr_array_add (names, argv[i]);
    }
  }

  for (guint c = 0; c < n; c++) {
    const TeBackendClass *k = classes[c];
    gboolean wanted = names->len == 0;

    for (guint i = 0; i < names->len; i++)
      wanted |= strcmp (g_ptr_array_index (names, i), k->name) == 0;
    if (!wanted)
      continue;
    if (markdown) {
      char *t = te_backend_options_describe (k, "", TRUE);

      printf ("### `%s`\n\n%s\n\n%s\n", k->name, k->description, t);
      g_free (t);
      continue;
    }
    printf ("%s: %s\n", k->name, k->description);
    GArray *devices = te_backend_list_devices (k);
    for (guint i = 0; i < devices->len; i++) {
      const TeBackendDevice *d = &g_array_index (devices, TeBackendDevice, i);

      printf ("  device %-10s %-13s dtypes %-16s %s%s%s\n", d->name,
          d->available ? "available" : "unavailable", d->dtypes[0] ? d->dtypes : "-",
          d->description, d->note[0] ? "; " : "", d->note);
    }
    if (devices->len == 0)
      printf ("  (no devices)\n");
    g_array_unref (devices);
    if (options) {
      char *t = te_backend_options_describe (k, "    ", FALSE);

      printf ("  options:\n%s", t);
      g_free (t);
    }
  }
  g_ptr_array_free (names, TRUE);
  return ret;
}
