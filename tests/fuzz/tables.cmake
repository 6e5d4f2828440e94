# postern-tables: the socketmap request parser (netstrings, "name key", CIDR key generation).
if(TARGET postern_tables_core)
  postern_fuzz_target(tables_socketmap_fuzz tables_socketmap_fuzz.cpp LIBS postern_tables_core)
endif()
