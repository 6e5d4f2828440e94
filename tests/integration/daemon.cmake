# The daemon skeleton (common/daemon.hpp) as the milters use it: a prompt SIGTERM stop with
# status 0, and a message in progress still answered (test_milter_stop.py, no Postfix).
if(TARGET postern-av)
  postern_integration_test(NAME integration.daemon.AvStopTests
                           UNITTEST test_milter_stop.AvStopTests TIMEOUT 60)
  set_property(TEST integration.daemon.AvStopTests APPEND PROPERTY ENVIRONMENT
               POSTERN_IT_AV_BIN=$<TARGET_FILE:postern-av>)
endif()
if(TARGET postern-dkim)
  postern_integration_test(NAME integration.daemon.DkimStopTests
                           UNITTEST test_milter_stop.DkimStopTests TIMEOUT 60)
endif()
