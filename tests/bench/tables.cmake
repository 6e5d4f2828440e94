# postern-tables: socketmap_load, a socketmap-protocol load generator (tables_bench.py).
add_executable(socketmap_load ${CMAKE_CURRENT_LIST_DIR}/socketmap_load.cpp)
target_link_libraries(socketmap_load PRIVATE Threads::Threads)
