/* te-markup.c — stub, being written (pango-markup to plain text). */
typedef int te_markup_stub_t;
