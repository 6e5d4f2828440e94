// greylist_store_bench — the greylisting decision on the LMDB store, without sockets:
// N distinct triplets decided through Greylister (each a store read and a write), then the
// same N again (all known: early retries), with CPU time per decision, the store's size in
// use and the process RSS. Figures for the 1-million-triplet question of issue 5.
//
// usage: greylist_store_bench [--triplets 1000000] [--dir DIR] [--sync-interval 1]
// Prints key=value lines. Not a test: figures only.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "policyd/greylist/greylister.hpp"
#include "policyd/greylist/lmdb_store.hpp"

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  long n = 1000000;
  std::string dir;
  double sync_interval = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--triplets")) n = std::atol(argv[i + 1]);
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    if (!std::strcmp(argv[i], "--sync-interval")) sync_interval = std::atof(argv[i + 1]);
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    std::string templ =
        (std::filesystem::temp_directory_path() / "postern-glbench-XXXXXX").string();
    dir = mkdtemp(templ.data());
  }
  int64_t now = 1'700'000'000;
  postern::greylist::LmdbOptions o;
  o.path = dir + "/greylist.mdb";
  o.map_size_bytes = size_t{4} << 30;
  o.sync_interval_seconds = sync_interval;
  o.sweep_interval_seconds = 0;
  double rss_before = rss_mib();
  {
    postern::greylist::LmdbStore store(o, [&now] { return now; });
    postern::greylist::Greylister g(
        {}, store, [&now] { return now; }, nullptr);
    char client[32], sender[64];
    for (int pass = 0; pass < 2; ++pass) {
      auto wall = std::chrono::steady_clock::now();
      double cpu = cpu_seconds();
      long greylisted = 0;
      for (long i = 0; i < n; ++i) {
        std::snprintf(client, sizeof client, "10.%ld.%ld.1", (i >> 8) & 255, i & 255);
        std::snprintf(sender, sizeof sender, "user%ldx@sender%ld.example", i, i % 5000);
        auto v = g.decide({client, "unknown", sender, "rcpt@example.net", ""});
        greylisted += v.outcome == postern::greylist::Outcome::Greylisted;
      }
      double cpu_us = (cpu_seconds() - cpu) * 1e6 / static_cast<double>(n);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
      std::printf(
          "pass=%s triplets=%ld greylisted=%ld seconds=%.2f decisions_per_s=%.0f "
          "cpu_us_per_decision=%.2f\n",
          pass == 0 ? "new" : "known", n, greylisted, secs, static_cast<double>(n) / secs, cpu_us);
      now += 60;
    }
    store.sync();
    std::printf("records=%zu store_used_mib=%.1f rss_mib=%.1f rss_growth_mib=%.1f\n", store.count(),
                static_cast<double>(store.used_bytes()) / (1 << 20), rss_mib(),
                rss_mib() - rss_before);
  }
  std::printf("file_mib=%.1f\n",
              static_cast<double>(std::filesystem::file_size(o.path)) / (1 << 20));
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
