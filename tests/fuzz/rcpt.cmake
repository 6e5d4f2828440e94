# tests/fuzz/rcpt.cmake — postern-rcpt: the access(5) override table parser.
if(TARGET postern_rcpt_core)
  postern_fuzz_target(rcpt_access_table_fuzz rcpt_access_table_fuzz.cpp LIBS postern_rcpt_core)
endif()
