/* te-backend.c — stub, to be written */
