# The gateway image (issue 8): deploy/postern-config tested without Docker against the seed
# images' documented examples (test_config_seeds.py), and the image itself built and run under
# a private dockerd (test_image_gateway.py; skips when dockerd cannot start here).
# MikenyeScanVerifyTests: ENABLE_CLAMAV (postern-av, a generated EICAR database) and
# ENABLE_LDAP_RECIPIENT_ACCESS (postern-rcpt against a real slapd). MikenyeGreylistTests:
# ENABLE_POSTGREY (postern-greylist, its LMDB store and mikenye's whitelist). A16bitsysopTests:
# REDIS (postern-tables against a real redis-server, entries made with redis-cli).
foreach(cls BokyTests MikenyeTests MikenyeAliasesTests MikenyeScanVerifyTests MikenyeGreylistTests
            MikenyeWhitelistUpdateTests Turgon37Tests
            ServercontainersTests A16bitsysopTests SafetyTests)
  postern_integration_test(NAME integration.config.${cls}
                           UNITTEST test_config_seeds.${cls} TIMEOUT 180)
  if(TARGET postern-av)
    set_property(TEST integration.config.${cls} APPEND PROPERTY ENVIRONMENT
                 POSTERN_IT_AV_BIN=$<TARGET_FILE:postern-av>)
  endif()
  if(TARGET postern-rcpt)
    set_property(TEST integration.config.${cls} APPEND PROPERTY ENVIRONMENT
                 POSTERN_IT_RCPT_BIN=$<TARGET_FILE:postern-rcpt>)
  endif()
  foreach(d greylist tables)
    string(TOUPPER ${d} D)
    if(TARGET postern-${d})
      set_property(TEST integration.config.${cls} APPEND PROPERTY ENVIRONMENT
                   POSTERN_IT_${D}_BIN=$<TARGET_FILE:postern-${d}>)
    endif()
  endforeach()
endforeach()

# The image itself: built from this tree's daemons (BINARIES=prebuilt) under a private dockerd,
# run with a read-only root; signing, s6 restarts, HEALTHCHECK, clean stop, and a second
# container on the sandbox bridge with 25 and 587 published (-p) on base+15, base+16 (PORTS 18).
# A cold machine (no cached base image or layers) spends ~5 min in debootstrap and apt; warm
# runs ~1 min.
if(TARGET postern-dkim AND TARGET postern-spf AND TARGET postern-av AND TARGET postern-rcpt
   AND TARGET postern-greylist AND TARGET postern-tables)
  postern_integration_test(NAME integration.image.ImageTests
                           UNITTEST test_image_gateway.ImageTests TIMEOUT 900 PORTS 18)
  set_property(TEST integration.image.ImageTests APPEND PROPERTY ENVIRONMENT
               POSTERN_IT_AV_BIN=$<TARGET_FILE:postern-av>
               POSTERN_IT_RCPT_BIN=$<TARGET_FILE:postern-rcpt>
               POSTERN_IT_GREYLIST_BIN=$<TARGET_FILE:postern-greylist>
               POSTERN_IT_TABLES_BIN=$<TARGET_FILE:postern-tables>)
  if(POSTERN_SANITIZE)
    set_property(TEST integration.image.ImageTests APPEND PROPERTY ENVIRONMENT
                 POSTERN_IT_SANITIZE=1)
  endif()
endif()

# The compose recipes (deploy/compose/) under docker-compose against the same private dockerd
# and image cache: outbound-relay and dropin-daemons brought up, exchange-gateway validated.
# Both image tests start and stop the dockerd in the one cache directory: never at the same
# time (RESOURCE_LOCK).
if(TEST integration.image.ImageTests)
  postern_integration_test(NAME integration.image.ComposeTests
                           UNITTEST test_image_compose.ComposeTests TIMEOUT 600 PORTS 12)
  set_property(TEST integration.image.ComposeTests APPEND PROPERTY ENVIRONMENT
               POSTERN_IT_AV_BIN=$<TARGET_FILE:postern-av>
               POSTERN_IT_RCPT_BIN=$<TARGET_FILE:postern-rcpt>
               POSTERN_IT_GREYLIST_BIN=$<TARGET_FILE:postern-greylist>
               POSTERN_IT_TABLES_BIN=$<TARGET_FILE:postern-tables>)
  if(POSTERN_SANITIZE)
    set_property(TEST integration.image.ComposeTests APPEND PROPERTY ENVIRONMENT
                 POSTERN_IT_SANITIZE=1)
  endif()
  set_tests_properties(integration.image.ImageTests integration.image.ComposeTests
                       PROPERTIES RESOURCE_LOCK postern-image-dockerd)
endif()
