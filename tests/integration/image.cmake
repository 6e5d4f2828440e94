# The gateway image (issue 8): deploy/postern-config tested without Docker against the seed
# images' documented examples (test_config_seeds.py), and the image itself built and run under
# a private dockerd (test_image_gateway.py; skips when dockerd cannot start here).
foreach(cls BokyTests MikenyeTests Turgon37Tests ServercontainersTests SafetyTests)
  postern_integration_test(NAME integration.config.${cls}
                           UNITTEST test_config_seeds.${cls} TIMEOUT 180)
endforeach()
