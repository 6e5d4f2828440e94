# Decision parity of postern-greylist with Debian's postgrey (test_greylist_parity.py): one
# generated request trace through both, on one libfaketime clock (postgrey_peer.py). The class
# with postgrey's default options, GreylistParityTests, is registered by greylist.cmake
# (integration.greylist.GreylistParityTests); this one runs the trace with other options.
if(TARGET postern-greylist)
  postern_integration_test(NAME integration.greylist_parity.GreylistParityTunedTests
                           UNITTEST test_greylist_parity.GreylistParityTunedTests TIMEOUT 120)
  set_property(TEST integration.greylist_parity.GreylistParityTunedTests APPEND PROPERTY
               ENVIRONMENT POSTERN_IT_GREYLIST_BIN=$<TARGET_FILE:postern-greylist>)
endif()
