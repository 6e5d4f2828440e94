# postern-greylist: request attributes and Redis values (greylist_input_fuzz), postgrey
# whitelist files (greylist_whitelist_fuzz).
if(TARGET postern_greylist_core)
  postern_fuzz_target(greylist_input_fuzz greylist_input_fuzz.cpp LIBS postern_greylist_core)
  postern_fuzz_target(greylist_whitelist_fuzz greylist_whitelist_fuzz.cpp LIBS postern_greylist_core)
endif()
