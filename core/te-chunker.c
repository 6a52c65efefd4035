/* te-chunker.c — stub, to be written */
