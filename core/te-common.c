/* te-common.c — the core error domain. */
#include "te-common.h"

G_DEFINE_QUARK (textembed-error-quark, te_error);
