/* te-backend-cpu.c — stub, to be written */
