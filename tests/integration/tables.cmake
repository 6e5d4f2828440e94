# tests/integration/tables.cmake — postern-tables behind a real Postfix with a real redis-server
# (test_tables_postfix.py) and a real slapd (test_tables_ldap.py).
if(TARGET postern-tables)
  foreach(cls SeedExampleTests FaultTests PostscreenTests ParityTests LdapTests
              CheckConfigTests FormsTests FormsParityTests)
    postern_integration_test(NAME integration.tables.${cls}
                             UNITTEST test_tables_postfix.${cls} TIMEOUT 120)
    set_property(TEST integration.tables.${cls} APPEND PROPERTY
                 ENVIRONMENT "POSTERN_IT_TABLES_BIN=$<TARGET_FILE:postern-tables>")
  endforeach()
endif()
