# postern-greylist: the decision on the LMDB store without sockets (greylist_store_bench, plain
# C++), and the end-to-end comparison with postgrey (greylist_bench.py, uses policy_load).
if(TARGET postern_greylist_core)
  add_executable(greylist_store_bench greylist_store_bench.cpp)
  target_link_libraries(greylist_store_bench PRIVATE postern_greylist_core)
endif()
