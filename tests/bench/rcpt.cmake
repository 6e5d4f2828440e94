# tests/bench/rcpt.cmake — postern-rcpt against slapd: `ninja rcpt_bench` builds what
# rcpt_bench.py needs and runs it (figures, not a ctest).
if(TARGET postern-rcpt)
  add_custom_target(rcpt_bench
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/rcpt_bench.py --build ${PROJECT_BINARY_DIR}
    DEPENDS postern-rcpt policy_load
    USES_TERMINAL)
endif()
