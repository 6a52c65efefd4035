/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-export-cache.h — the read side of the export cache that tools/te-export.py fills:
 * static-shape encoder graphs per (model content hash, target, dtype, batch x seq), each in a
 * directory with a manifest.json that records its key and the SHA-256 of its files. The NPU
 * backends find their graphs here; they never build them. */
#pragma once

#include <glib.h>
#include "te-common.h"

G_BEGIN_DECLS

typedef struct {
  int batch;
  int seq_len;
  char *dtype;      /* "fp32", "fp16", "a16w8" */
  char *target;     /* "onnx", "qnn-htp" */
  char *dir;        /* the entry's directory */
  char *artifact;   /* full path of the file a runtime loads */
} TeExportEntry;

void te_export_entry_free (TeExportEntry * entry);

/* The model content hash that keys the cache: SHA-256 (hex) of the text
 * "config.json:<sha256>\ntokenizer.json:<sha256>\nmodel.safetensors:<sha256>\n" over the files
 * of @model_dir, exactly as tools/te-export.py computes it. */
char *te_export_model_hash (const char *model_dir, GError ** error);

/* @cache_dir when not NULL, else $XDG_CACHE_HOME/textembed (~/.cache/textembed when unset),
 * the exporter's default. Free with g_free(). */
char *te_export_cache_dir (const char *cache_dir);

/* Every entry of model @model_hash for @target and @dtype under @cache_dir, as a GPtrArray of
 * TeExportEntry sorted by (seq_len, batch); empty (not an error) when there are none. An entry
 * whose manifest is unreadable or disagrees with its directory name, or (with @verify) whose
 * files are missing or do not match their recorded size and SHA-256, is an error naming it. */
GPtrArray *te_export_cache_find (const char *cache_dir, const char *model_hash,
    const char *target, const char *dtype, gboolean verify, GError ** error);

/* The exporter command line that (re)builds the entries, for error messages. */
char *te_export_command (const char *model_dir, const char *cache_dir, const char *dtype);

G_END_DECLS
