# The shared Redis client (common/redis.hpp) against real redis-server and redis-sentinel:
# redis_probe drives one long-lived client from the Python tests (test_redis_client.py).
if(TARGET postern_redis)
  add_executable(redis_probe redis_probe.cpp)
  target_link_libraries(redis_probe PRIVATE postern_redis)
  foreach(cls RedisTcpTests RedisSentinelTests)
    postern_integration_test(NAME integration.redis.${cls}
                             UNITTEST test_redis_client.${cls} TIMEOUT 90)
    set_property(TEST integration.redis.${cls} APPEND PROPERTY
                 ENVIRONMENT POSTERN_IT_REDIS_PROBE_BIN=$<TARGET_FILE:redis_probe>)
  endforeach()
endif()
