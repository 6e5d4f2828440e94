# tests/integration/rcpt.cmake — postern-rcpt behind a real Postfix with a real slapd.
if(TARGET postern-rcpt)
  foreach(cls RcptVerdictTests RcptFaultTests RcptBindRefusedTests RcptFinalActionTests
              RcptRedisTests RcptRedisFrozenTests RcptRedisCacheTests
              RcptCheckConfigTests)
    postern_integration_test(NAME integration.rcpt.${cls}
                             UNITTEST test_rcpt_postfix.${cls} TIMEOUT 90)
    set_property(TEST integration.rcpt.${cls} APPEND PROPERTY
                 ENVIRONMENT "POSTERN_IT_RCPT_BIN=$<TARGET_FILE:postern-rcpt>")
  endforeach()
endif()
