/* te-kernels.c — stub, to be written */
