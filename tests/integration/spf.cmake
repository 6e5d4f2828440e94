# tests/integration/spf.cmake — postern-spf integration tests beyond test_spf_postfix (which
# tests/integration/CMakeLists.txt registers): the check budget, the result cache with its
# /metrics counters, and --skip-hostnames, each behind a real Postfix.
if(TARGET postern-spf)
  foreach(cls SpfCheckBudgetTests SpfResultCacheTests SpfSkipHostnamesTests)
    postern_integration_test(NAME integration.spf.${cls}
                             UNITTEST test_spf_policy.${cls} TIMEOUT 120)
  endforeach()
endif()
