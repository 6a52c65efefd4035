/* te-backend-null.c — stub, being written (instrumentation backend "null"). */
#include "te-backend.h"
