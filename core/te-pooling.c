/* te-pooling.c — stub, to be written */
