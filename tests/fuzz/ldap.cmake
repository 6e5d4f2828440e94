# tests/fuzz/ldap.cmake — common/ldap.hpp: query filter expansion of untrusted recipients.
if(TARGET postern_ldap)
  postern_fuzz_target(ldap_filter_fuzz ldap_filter_fuzz.cpp LIBS postern_ldap)
endif()
