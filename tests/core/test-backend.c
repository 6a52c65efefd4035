/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-backend.c — the backend interface itself (te-backend.h): every backend's option table
 * checked centrally (unknown keys, each type's bad values, ranges, choices), the typed reads,
 * the descriptions gst-inspect and docs print, device listing, and the latency hint. */
#include <math.h>
#include <string.h>
#include <glib.h>

#include "te-backend.h"
#include "te-cpu.h"
#include "te-kern.h"

static void
check_error (GError * err, const char *klass, const char *needle)
{
  g_assert_nonnull (err);
  g_assert_true (g_error_matches (err, TE_ERROR, TE_ERROR_BACKEND));
  if (strstr (err->message, klass) == NULL || strstr (err->message, needle) == NULL)
    g_error ("error \"%s\" does not name \"%s\" and \"%s\"", err->message, klass, needle);
}

static gboolean
validate1 (const TeBackendClass * k, const char *key, const char *value, GError ** err)
{
  GHashTable *h = g_hash_table_new (g_str_hash, g_str_equal);
  gboolean ok;

  g_hash_table_insert (h, (gpointer) key, (gpointer) value);
  ok = te_backend_options_validate (k, h, err);
  g_hash_table_unref (h);
  return ok;
}

static void
expect_ok (const TeBackendClass * k, const char *key, const char *value)
{
  GError *err = NULL;

  if (!validate1 (k, key, value, &err))
    g_error ("%s: %s=%s refused: %s", k->name, key, value, err->message);
}

static void
expect_bad (const TeBackendClass * k, const char *key, const char *value, const char *needle)
{
  GError *err = NULL;
  char *kv = g_strdup_printf ("%s=\"%s\"", key, value);

  g_assert_false (validate1 (k, key, value, &err));
  check_error (err, k->name, kv);
  check_error (err, k->name, needle);
  g_error_free (err);
  g_free (kv);
}

/* Every option of every backend, through the one validator: what it takes passes, the rest is
 * an error naming the backend, the key, the value and what it takes. */
static void
test_option_tables (void)
{
  guint n;
  const TeBackendClass *const *classes = te_backend_classes (&n);

  g_assert_cmpuint (n, >=, 2);
  for (guint c = 0; c < n; c++) {
    const TeBackendClass *k = classes[c];
    GError *err = NULL;

    g_assert_true (te_backend_class_lookup (k->name) == k);
    g_assert_nonnull (k->options);
    g_assert_true (te_backend_options_validate (k, NULL, &err));
    g_assert_false (validate1 (k, "no-such-option", "1", &err));
    check_error (err, k->name, "unknown option \"no-such-option\" (known: ");
    g_clear_error (&err);

    for (const TeBackendOption * o = k->options; o->name; o++) {
      char buf[64];

      g_assert_true (o->doc != NULL && strlen (o->doc) > 10);
      for (const TeBackendOption * p = o + 1; p->name; p++)
        g_assert_cmpstr (o->name, !=, p->name);
      switch (o->type) {
        case TE_OPTION_STRING:
          expect_ok (k, o->name, "anything at all");
          break;
        case TE_OPTION_ENUM:{
          char **choices = g_strsplit (o->choices, "|", -1);

          g_assert_cmpuint (g_strv_length (choices), >=, 2);
          for (char **ch = choices; *ch; ch++)
            expect_ok (k, o->name, *ch);
          expect_bad (k, o->name, "nope", "is not one of");
          expect_bad (k, o->name, "", "is not one of");
          /* a prefix of a choice is not the choice */
          choices[0][1] = '\0';
          expect_bad (k, o->name, choices[0], "is not one of");
          g_strfreev (choices);
          break;
        }
        case TE_OPTION_INT:
          g_snprintf (buf, sizeof buf, "%.0f", o->min);
          expect_ok (k, o->name, buf);
          g_snprintf (buf, sizeof buf, "%.0f", o->max);
          expect_ok (k, o->name, buf);
          g_snprintf (buf, sizeof buf, "%.0f", o->min - 1);
          expect_bad (k, o->name, buf, "is not an integer in");
          g_snprintf (buf, sizeof buf, "%.0f", o->max + 1);
          expect_bad (k, o->name, buf, "is not an integer in");
          expect_bad (k, o->name, "2.5", "is not an integer in");
          expect_bad (k, o->name, "x", "is not an integer in");
          expect_bad (k, o->name, "", "is not an integer in");
          break;
        case TE_OPTION_DOUBLE:
          g_snprintf (buf, sizeof buf, "%.17g", o->min);
          expect_ok (k, o->name, buf);
          g_snprintf (buf, sizeof buf, "%.17g", o->max);
          expect_ok (k, o->name, buf);
          g_snprintf (buf, sizeof buf, "%.17g", o->min - 1);
          expect_bad (k, o->name, buf, "is not a number in");
          expect_bad (k, o->name, "nan", "is not a number in");
          expect_bad (k, o->name, "inf", "is not a number in");
          expect_bad (k, o->name, "1ms", "is not a number in");
          break;
        case TE_OPTION_BOOL:
          expect_ok (k, o->name, "true");
          expect_ok (k, o->name, "0");
          expect_bad (k, o->name, "maybe", "is not true or false");
          break;
      }
    }

    /* the texts gst-inspect and docs/backends.md print */
    char *text = te_backend_options_describe (k, "  ", FALSE);
    char *md = te_backend_options_describe (k, "", TRUE);
    for (const TeBackendOption * o = k->options; o->name; o++) {
      char *needle = g_strdup_printf ("  %s=<", o->name), *cell = g_strdup_printf ("| `%s` |",
          o->name);
      g_assert_nonnull (strstr (text, needle));
      g_assert_nonnull (strstr (md, cell));
      g_free (needle);
      g_free (cell);
    }
    g_assert_true (g_str_has_prefix (md, "| option | takes | default | meaning |\n"));
    g_free (text);
    g_free (md);
  }
}

static void
test_typed_reads (void)
{
  GError *err = NULL;
  GHashTable *h = te_backend_options_parse (" threads = 3 , latency-ms=2.5,verify=no,s=x ",
      &err);

  g_assert_no_error (err);
  g_assert_cmpint (te_backend_option_int (h, "threads", 7), ==, 3);
  g_assert_cmpint (te_backend_option_int (h, "absent", 7), ==, 7);
  g_assert_cmpfloat (te_backend_option_double (h, "latency-ms", 0), ==, 2.5);
  g_assert_false (te_backend_option_bool (h, "verify", TRUE));
  g_assert_true (te_backend_option_bool (h, "absent", TRUE));
  g_assert_cmpstr (te_backend_option_string (h, "s", NULL), ==, "x");
  g_assert_null (te_backend_option_string (NULL, "s", NULL));
  g_hash_table_unref (h);

  g_assert_null (te_backend_options_parse ("a=1,b", &err));
  g_assert_true (g_error_matches (err, TE_ERROR, TE_ERROR_INVALID));
  g_clear_error (&err);
  g_assert_null (te_backend_options_parse ("=1", &err));
  g_clear_error (&err);
}

static TeModel *
load_model (void)
{
  const char *dir = g_getenv ("TE_TEST_MODEL");
  GError *err = NULL;
  TeModel *m;

  g_assert_nonnull (dir);
  m = te_model_load (dir, &err);
  g_assert_no_error (err);
  return m;
}

/* te_backend_new() validates before open(): a bad value never reaches the backend; the null
 * backend's latency-ms comes back as its latency hint. */
static void
test_new_validates_and_hints (void)
{
  TeModel *m = load_model ();
  GError *err = NULL;
  GHashTable *h = te_backend_options_parse ("latency-ms=7.5", &err);
  TeBackendCaps caps;
  TeBackend *b;

  b = te_backend_new ("null", m, h, &err);
  g_assert_no_error (err);
  te_backend_get_caps (b, &caps);
  g_assert_cmpfloat (caps.latency_ms, ==, 7.5);
  te_backend_free (b);
  g_hash_table_unref (h);

  h = te_backend_options_parse ("fail-after=-1", &err);
  g_assert_null (te_backend_new ("null", m, h, &err));
  check_error (err, "null", "fail-after=\"-1\" is not an integer in 0..");
  g_clear_error (&err);
  g_hash_table_unref (h);

  h = te_backend_options_parse ("latency-ms=5", &err);
  g_assert_null (te_backend_new ("cpu", m, h, &err));
  check_error (err, "cpu", "unknown option \"latency-ms\" (known: kernels, dtype, threads)");
  g_clear_error (&err);
  g_hash_table_unref (h);

  g_assert_null (te_backend_new ("warp", m, NULL, &err));
  g_assert_nonnull (strstr (err->message, te_backend_class_names ()));
  g_clear_error (&err);
  te_model_free (m);
}

/* Devices come without a model; the built-in ones are always there. */
static void
test_devices (void)
{
  guint n;
  const TeBackendClass *const *classes = te_backend_classes (&n);

  for (guint c = 0; c < n; c++) {
    GArray *d = te_backend_list_devices (classes[c]);

    g_assert_cmpuint (d->len, >=, 1);
    for (guint i = 0; i < d->len; i++) {
      const TeBackendDevice *dev = &g_array_index (d, TeBackendDevice, i);
      g_assert_cmpuint (strlen (dev->name), >, 0);
      if (dev->available)
        g_assert_cmpuint (strlen (dev->dtypes), >, 0);
      else
        g_assert_cmpuint (strlen (dev->note), >, 0);   /* says why */
    }
    if (strcmp (classes[c]->name, "cpu") == 0 || strcmp (classes[c]->name, "null") == 0) {
      const TeBackendDevice *dev = &g_array_index (d, TeBackendDevice, 0);
      g_assert_true (dev->available);
      g_assert_cmpstr (dev->name, ==, classes[c]->name);
      g_assert_true (g_str_has_prefix (dev->dtypes, "fp32"));
    }
    g_array_unref (d);
  }
}

/* dtype=int8 where the CPU's int8 multiply-adds are no faster than its fp32 ones warns, naming
 * the fix; elsewhere it is silent (a warning is fatal in GLib tests). The rate is measured once
 * per process, so the test sees the same number as the backend. */
static void
test_cpu_int8_warns_where_it_cannot_pay (void)
{
  TeModel *m = load_model ();
  GError *err = NULL;
  GHashTable *h = te_backend_options_parse ("dtype=int8,threads=1", &err);
  char why[256];
  int level = te_cpu_level_select (why, sizeof why);
  double r;
  TeBackend *b;

  g_assert_cmpint (level, >=, 0);
  r = te_cpu_int8_speedup (level);
  g_test_message ("level %s: int8 kernel %s, int8/fp32 multiply-add rate %.2f",
      te_cpu_level_name (level), te_kern_q8_name_for (level), r);
#if defined(__x86_64__)
  if (level == TE_CPU_AVX2 || level == TE_CPU_AVX512)
    g_assert_cmpfloat (r, >, 0.3);       /* measured, and plausible */
#endif
  if (r > 0.0 && r < TE_CPU_INT8_PAYS)
    g_test_expect_message ("textembed", G_LOG_LEVEL_WARNING,
        "*dtype=int8 gains nothing on this CPU*Use dtype=fp32*");
  else if (level != TE_CPU_PORTABLE && strcmp (te_kern_q8_name_for (level), "portable") == 0)
    g_test_expect_message ("textembed", G_LOG_LEVEL_WARNING,
        "*portable C int8 kernel*Use dtype=fp32*");
  b = te_backend_new ("cpu", m, h, &err);
  g_assert_no_error (err);
  g_test_assert_expected_messages ();
  te_backend_free (b);
  /* once per process */
  b = te_backend_new ("cpu", m, h, &err);
  g_assert_no_error (err);
  te_backend_free (b);
  g_hash_table_unref (h);
  te_model_free (m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/backend/option-tables", test_option_tables);
  g_test_add_func ("/backend/typed-reads", test_typed_reads);
  g_test_add_func ("/backend/new-validates-and-hints", test_new_validates_and_hints);
  g_test_add_func ("/backend/devices", test_devices);
  g_test_add_func ("/backend/cpu-int8-warns-where-it-cannot-pay",
      test_cpu_int8_warns_where_it_cannot_pay);
  return g_test_run ();
}
