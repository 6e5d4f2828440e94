# postern-av (issue 7): tests/bench/av_throughput.py — postern-av vs clamav-milter + clamd through
# a real Postfix (unix and TCP), small and ~500,000-signature generated databases, CPU per
# message, RSS idle/under load/during reload. A script, not a ctest: run it by hand as root,
#   tests/bench/av_throughput.py --build build [--messages N] [--rounds N] [--skip-large]
# or through this target.
if(TARGET postern-av)
  add_custom_target(bench_av
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/av_throughput.py --build ${PROJECT_BINARY_DIR}
    DEPENDS postern-av
    USES_TERMINAL
    COMMENT "postern-av vs clamav-milter + clamd through Postfix")
endif()
