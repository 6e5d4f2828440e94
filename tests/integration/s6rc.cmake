# s6-overlay/s6-rc.d checked by s6-rc-compile's documented source rules (Debian 12 has no
# s6-rc to compile it), plus deploy/s6-scandir's translation of it: Python, no root, no
# daemon, a few seconds, so it runs with the unit tests.
add_test(NAME unit.s6rc_source
         COMMAND ${POSTERN_IT_PYTHON} -m unittest -v test_s6rc_source
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(unit.s6rc_source PROPERTIES
    ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1;PYTHONUNBUFFERED=1"
    TIMEOUT 120
    LABELS unit)
