# postern-dkim's integration tests beyond tests/integration/CMakeLists.txt (issue 3):
# DMARC through SPF alignment (the real postern-spf) and pct= sampling.
if(TARGET postern-dkim)
  foreach(cls DmarcSpfAlignmentTests DmarcPctTests)
    postern_integration_test(NAME integration.dkim.${cls}
                             UNITTEST test_dkim_dmarc.${cls})
  endforeach()
endif()
# --dns-trust-anchor: DNSSEC validation of key lookups (bogus → temperror).
if(TARGET postern-dkim)
  postern_integration_test(NAME integration.dkim.DnssecTests UNITTEST test_dkim_dnssec.DnssecTests)
endif()
