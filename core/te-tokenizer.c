/* te-tokenizer.c — stub, to be written */
