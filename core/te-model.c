/* te-model.c — stub, to be written */
