/* te-bert.c — stub, to be written */
