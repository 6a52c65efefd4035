/* te-safetensors.c — stub, to be written */
