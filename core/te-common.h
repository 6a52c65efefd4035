/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-common.h — error domain and small helpers shared by every core module.
 * The core library is plain C on GLib; it has no GStreamer dependency. */
#pragma once

#include <glib.h>
#include <stdio.h>

G_BEGIN_DECLS

#define TE_ERROR (te_error_quark ())
GQuark te_error_quark (void);

typedef enum {
  TE_ERROR_IO,            /* a file could not be read */
  TE_ERROR_PARSE,         /* malformed JSON / safetensors header / config */
  TE_ERROR_UNSUPPORTED,   /* valid input this build does not implement (tokenizer type, dtype...) */
  TE_ERROR_INVALID,       /* inconsistent input: shape mismatch, offsets out of range, bad UTF-8 */
  TE_ERROR_TOO_LONG,      /* a sequence longer than the model accepts */
  TE_ERROR_BACKEND,       /* a backend failed to open or run */
} TeError;

/* Every JSON input (model files are untrusted) goes through this first.
 * FALSE when JSON text nests arrays/objects deeper than @max_depth. Check before handing
 * untrusted JSON to json-glib, whose recursive parser would otherwise overflow the stack. */
gboolean te_json_nesting_ok (const char *data, gsize len, guint max_depth);

/* For command-line tools whose stdout is data: GLib's default log writer sends INFO and DEBUG
 * messages (G_MESSAGES_DEBUG) to stdout; this sends every level to stderr. */
void te_log_to_stderr (void);

/* For the same tools: some runtimes a backend loads print on stdout (the QNN HTP simulator
 * does, at load). This points file descriptor 1 at stderr and returns a stream on the original
 * stdout, the only place the tool's data goes. NULL (errno set) when the descriptors cannot be
 * duplicated. */
FILE *te_reserve_stdout (void);

G_END_DECLS
