# postern-greylist (issue 5): behind a real Postfix (test_greylist_postfix.py) and on a real
# Redis shared by two daemons, with redis-server killed and restarted (test_greylist_redis.py).
if(TARGET postern-greylist)
  foreach(test test_greylist_postfix.GreylistPostfixTests test_greylist_redis.GreylistRedisTests
              test_greylist_parity.GreylistParityTests test_greylist_daemon.GreylistDaemonTests
              test_greylist_redis.GreylistSentinelTests)
    string(REGEX REPLACE "^.*\\." "" cls ${test})
    postern_integration_test(NAME integration.greylist.${cls} UNITTEST ${test} TIMEOUT 120)
    set_property(TEST integration.greylist.${cls} APPEND PROPERTY
                 ENVIRONMENT POSTERN_IT_GREYLIST_BIN=$<TARGET_FILE:postern-greylist>)
  endforeach()
endif()
