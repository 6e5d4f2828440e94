# tests/integration/ldap.cmake — common/ldap.hpp's client against a real slapd
# (slapd_server.py), driven through the ldap_probe test tool.
if(TARGET postern_ldap)
  add_executable(ldap_probe ${CMAKE_CURRENT_LIST_DIR}/ldap_probe.cpp)
  target_link_libraries(ldap_probe PRIVATE postern_ldap)
  postern_integration_test(NAME integration.ldap.LdapClientTests
                           UNITTEST test_ldap_client.LdapClientTests TIMEOUT 60)
  set_property(TEST integration.ldap.LdapClientTests APPEND PROPERTY
               ENVIRONMENT "POSTERN_IT_LDAP_PROBE_BIN=$<TARGET_FILE:ldap_probe>")
endif()
