/* stub */ typedef int te_stub_t;
