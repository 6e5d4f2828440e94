# postern-greylist --skip-spf-pass (issue 5) behind a real Postfix, with SPF resolved through
# tests/dns/zone_server.py on loopback (test_greylist_spf.py).
if(TARGET postern-greylist)
  postern_integration_test(NAME integration.greylist.GreylistSpfTests
                           UNITTEST test_greylist_spf.GreylistSpfTests TIMEOUT 120)
  set_property(TEST integration.greylist.GreylistSpfTests APPEND PROPERTY
               ENVIRONMENT POSTERN_IT_GREYLIST_BIN=$<TARGET_FILE:postern-greylist>)
endif()
