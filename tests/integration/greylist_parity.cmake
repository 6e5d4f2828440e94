# Decision parity of postern-greylist with Debian's postgrey (test_greylist_parity.py): one
# generated request trace through both, on one libfaketime clock (postgrey_peer.py).
if(TARGET postern-greylist)
  foreach(cls ParityTunedOptions ParityDefaults)
    postern_integration_test(NAME integration.greylist_parity.${cls}
                             UNITTEST test_greylist_parity.${cls} TIMEOUT 120)
    set_property(TEST integration.greylist_parity.${cls} APPEND PROPERTY
                 ENVIRONMENT POSTERN_IT_GREYLIST_BIN=$<TARGET_FILE:postern-greylist>)
  endforeach()
endif()
