int main (void) { return 77; } /* stub: to be written */
