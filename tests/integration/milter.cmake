# The libmilter adapter's protocol negotiation (common/milter.cpp), spoken to by an MTA played
# in Python with varying SMFIP_* offers (test_milter_negotiate.py, fault_milter, no Postfix).
postern_integration_test(NAME integration.milter.NegotiationTests
                         UNITTEST test_milter_negotiate.MilterNegotiationTests TIMEOUT 60)

# fault_milter (defined in CMakeLists.txt) stops through Daemon::serve_milter: prompt SIGTERM.
target_link_libraries(fault_milter PRIVATE postern_daemon)
