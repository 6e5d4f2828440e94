// greylist_state_test.cpp — the triplet state machine (Greylister) with an injected clock,
// table-driven as sequences of (time, request) → verdict, run on both real stores: LMDB in a
// temp dir and Redis (a real redis-server on a unix socket). Also LMDB expiry sweeps.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/redis.hpp"
#include "policyd/greylist/greylister.hpp"
#include "policyd/greylist/lmdb_store.hpp"
#include "policyd/greylist/redis_store.hpp"
#include "tests/unit/redis_server.hpp"

namespace postern::greylist {
namespace {

constexpr int64_t t0 = 1'700'000'000;
constexpr int64_t day = 86400;

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string templ =
        (std::filesystem::temp_directory_path() / "postern-greylist-XXXXXX").string();
    path = mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// One store under test plus what keeps it alive.
struct Backend {
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<postern::testing::RedisServer> redis_server;
  std::unique_ptr<redis::Client> redis_client;
  std::unique_ptr<Store> store;
};

Backend make_backend(const std::string& kind, const std::function<int64_t()>& clock) {
  Backend b;
  if (kind == "lmdb") {
    b.dir = std::make_unique<TempDir>();
    LmdbOptions o;
    o.path = (b.dir->path / "greylist.mdb").string();
    o.map_size_bytes = 64 << 20;
    o.sweep_interval_seconds = 0;
    b.store = std::make_unique<LmdbStore>(o, clock);
  } else {
    b.redis_server = std::make_unique<postern::testing::RedisServer>();
    b.redis_client =
        std::make_unique<redis::Client>(redis::parse_url(b.redis_server->url()), redis::Options{});
    b.store = std::make_unique<RedisStore>(*b.redis_client);
  }
  return b;
}

struct Step {
  int64_t at;  // seconds after t0
  const char* client_address;
  const char* sender;
  const char* recipient;
  Outcome want;
  int64_t want_left = 0;     // Greylisted
  bool want_header = false;  // Passed: first pass
  const char* instance = "";
};

struct Scenario {
  const char* name;
  GreylistSettings settings;
  std::vector<Step> steps;
};

GreylistSettings with_awl(unsigned n) {
  GreylistSettings s;
  s.auto_whitelist_clients = n;
  return s;
}

std::vector<Scenario> scenarios() {
  const char* a = "192.0.2.10";
  const char* s = "alice@example.com";
  const char* r = "bob@example.net";
  return {
      {"new, early retry, pass, known",
       {},
       {{0, a, s, r, Outcome::Greylisted, 300},
        {100, a, s, r, Outcome::Greylisted, 200},
        {299, a, s, r, Outcome::Greylisted, 1},
        {300, a, s, r, Outcome::Passed, 0, true},
        {301, a, s, r, Outcome::Passed, 0, false},
        {10 * day, a, s, r, Outcome::Passed, 0, false}}},
      {"same /24 and normalized sender share a triplet",
       {},
       {{0, "192.0.2.10", "list+123@example.com", r, Outcome::Greylisted, 300},
        {400, "192.0.2.99", "LIST+456@EXAMPLE.COM", "Bob@Example.NET", Outcome::Passed, 0, true},
        {401, "192.0.3.10", s, r, Outcome::Greylisted, 300}}},
      {"retry after the retry window starts again",
       {},
       {{0, a, s, r, Outcome::Greylisted, 300},
        {2 * day + 1, a, s, r, Outcome::Greylisted, 300},
        {2 * day + 301, a, s, r, Outcome::Passed, 0, true}}},
      {"passed triplet forgotten after max-age unseen",
       {},
       {{0, a, s, r, Outcome::Greylisted, 300},
        {300, a, s, r, Outcome::Passed, 0, true},
        {300 + 35 * day + 1, a, s, r, Outcome::Greylisted, 300}}},
      {"pending triplet forgotten after the retry window unseen",
       {},
       {{0, a, s, r, Outcome::Greylisted, 300},
        {100, a, s, r, Outcome::Greylisted, 200},
        {100 + 2 * day + 1, a, s, r, Outcome::Greylisted, 300}}},
      {"one header per message instance",
       {},
       {{0, a, s, r, Outcome::Greylisted, 300, false, "A1"},
        {0, a, s, "carol@example.net", Outcome::Greylisted, 300, false, "A1"},
        {300, a, s, r, Outcome::Passed, 0, true, "A2"},
        {300, a, s, "carol@example.net", Outcome::Passed, 0, false, "A2"}}},
      {"auto-whitelist after 2 passes an hour apart",
       with_awl(2),
       {{0, a, "x1@example.com", r, Outcome::Greylisted, 300},
        {300, a, "x1@example.com", r, Outcome::Passed, 0, true},
        {400, a, "x2@example.com", r, Outcome::Greylisted, 300},
        {700, a, "x2@example.com", r, Outcome::Passed, 0, true},  // < 1 h after: not counted
        {3700, a, "x3@example.com", r, Outcome::Greylisted, 300},
        {4000, a, "x3@example.com", r, Outcome::Passed, 0, true},  // counted: 2
        {4001, a, "x4@example.com", r, Outcome::AutoWhitelisted},
        {4002, "192.0.2.11", "x4@example.com", r, Outcome::Greylisted, 300}}},  // by address
      {"auto-whitelist off",
       with_awl(0),
       {{0, a, s, r, Outcome::Greylisted, 300},
        {300, a, s, r, Outcome::Passed, 0, true},
        {5000, a, "y@example.com", r, Outcome::Greylisted, 300}}},
      {"not an address: not greylisted", {}, {{0, "unknown", s, r, Outcome::BadClientAddress}}},
      {"IPv6 /64",
       {},
       {{0, "2001:db8:1:2::5", s, r, Outcome::Greylisted, 300},
        {300, "2001:db8:1:2:ffff::1", s, r, Outcome::Passed, 0, true},
        {301, "2001:db8:1:3::5", s, r, Outcome::Greylisted, 300}}},
  };
}

class StateMachine : public ::testing::TestWithParam<std::string> {};

TEST_P(StateMachine, Scenarios) {
  for (const auto& sc : scenarios()) {
    SCOPED_TRACE(sc.name);
    int64_t now = t0;
    Backend b = make_backend(GetParam(), [&now] { return now; });
    Greylister g(
        sc.settings, *b.store, [&now] { return now; }, nullptr);
    size_t i = 0;
    for (const auto& st : sc.steps) {
      ++i;
      now = t0 + st.at;
      Verdict v = g.decide({st.client_address, "unknown", st.sender, st.recipient, st.instance});
      EXPECT_EQ(outcome_name(v.outcome), outcome_name(st.want)) << "step " << i;
      if (st.want == Outcome::Greylisted) {
        EXPECT_EQ(v.seconds_left, st.want_left) << "step " << i;
      }
      if (st.want == Outcome::Passed) {
        EXPECT_EQ(v.first_pass, st.want_header) << "step " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, StateMachine, ::testing::Values("lmdb", "redis"));

TEST(Greylister, WhitelistsComeFirst) {
  int64_t now = t0;
  Backend b = make_backend("lmdb", [&now] { return now; });
  auto lists = std::make_shared<Whitelists>();
  lists->clients.add("mx.example.org\n", "t");
  lists->recipients.add("postmaster@\n", "t");
  Greylister g(
      {}, *b.store, [&now] { return now; }, lists);
  EXPECT_EQ(g.decide({"192.0.2.1", "mx.example.org", "a@b", "c@d", ""}).outcome,
            Outcome::ClientWhitelisted);
  EXPECT_EQ(g.decide({"192.0.2.1", "unknown", "a@b", "postmaster@d", ""}).outcome,
            Outcome::RecipientWhitelisted);
  EXPECT_EQ(g.decide({"192.0.2.1", "unknown", "a@b", "c@d", ""}).outcome, Outcome::Greylisted);
  g.set_whitelists(std::make_shared<Whitelists>());  // reload: gone
  EXPECT_EQ(g.decide({"192.0.2.1", "mx.example.org", "a@b", "x@d", ""}).outcome,
            Outcome::Greylisted);
}

TEST(Greylister, VeryLongAddressesStillPassAfterTheDelay) {
  int64_t now = t0;
  Backend b = make_backend("lmdb", [&now] { return now; });
  Greylister g(
      {}, *b.store, [&now] { return now; }, nullptr);
  std::string rcpt = std::string(600, 'r') + "@example.net";    // over LMDB's 511-byte key limit
  std::string other = std::string(600, 'r') + "x@example.net";  // same first 400 bytes
  EXPECT_EQ(g.decide({"192.0.2.1", "unknown", "a@b", rcpt, ""}).outcome, Outcome::Greylisted);
  now += 300;
  EXPECT_EQ(g.decide({"192.0.2.1", "unknown", "a@b", rcpt, ""}).outcome, Outcome::Passed);
  EXPECT_EQ(g.decide({"192.0.2.1", "unknown", "a@b", other, ""}).outcome, Outcome::Greylisted);
}

TEST(LmdbStore, SweepDeletesOnlyExpiredAndSurvivesReopen) {
  TempDir dir;
  int64_t now = t0;
  LmdbOptions o;
  o.path = (dir.path / "g.mdb").string();
  o.map_size_bytes = 64 << 20;
  o.sweep_interval_seconds = 0;
  o.sweep_batch = 7;  // many small batches
  {
    LmdbStore store(o, [&now] { return now; });
    for (int i = 0; i < 100; ++i) {
      StoreUpdate u;
      u.triplet = {"k" + std::to_string(i), TripletRecord{t0, t0, t0 + (i % 2 ? 10 : 1000)}};
      store.save(u);
    }
    EXPECT_EQ(store.count(), 100u);
    EXPECT_TRUE(store.load("k1", "", t0).triplet);
    EXPECT_FALSE(store.load("k1", "", t0 + 10).triplet)
        << "expired records are absent before the sweep";
    EXPECT_EQ(store.sweep(t0 + 10), 50u);
    EXPECT_EQ(store.count(), 50u);
    EXPECT_TRUE(store.load("k0", "", t0 + 10).triplet);
  }
  LmdbStore again(o, [&now] { return now; });
  EXPECT_EQ(again.count(), 50u) << "records must persist across reopen";
}

TEST(LmdbStore, BadPathIsAStoreError) {
  LmdbOptions o;
  o.path = "/nonexistent/dir/g.mdb";
  EXPECT_THROW(LmdbStore(o, [] { return t0; }), StoreError);
}

// Writes `bytes` at `offset` of `path` (damage done by an OS crash, simulated).
void overwrite(const std::filesystem::path& path, long offset, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fseek(f, offset, SEEK_SET), 0);
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
}

// A store of `n` triplets at `o.path`, closed.
void fill(const LmdbOptions& o, int n) {
  LmdbStore store(o, [] { return t0; });
  for (int i = 0; i < n; ++i) {
    StoreUpdate u;
    u.triplet = {"triplet-" + std::to_string(i), TripletRecord{t0, t0, t0 + day}};
    store.save(u);
  }
}

std::vector<std::filesystem::path> damaged_copies(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().find(".damaged-") != std::string::npos)
      out.push_back(e.path());
  }
  return out;
}

TEST(LmdbStore, DamagedFileIsMovedAsideAndTheStoreStartsEmpty) {
  struct Case {
    const char* what;
    long offset;  // bytes into the file
    std::string bytes;
  };
  const std::vector<Case> cases = {
      // both meta pages' flags cleared (magic intact): mdb_env_open says MDB_INVALID
      {"meta pages", 10, std::string(2, '\0')},
      // data pages overwritten (pages 2.. hold the B-trees): the walk at open fails
      {"data pages", 2 * 4096, std::string(8 * 4096, '\xA5')},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    for (bool subdir : {false, true}) {
      TempDir dir;
      LmdbOptions o;
      std::filesystem::path data = subdir ? dir.path / "data.mdb" : dir.path / "g.mdb";
      o.path = subdir ? dir.path.string() : data.string();
      o.map_size_bytes = 64 << 20;
      o.sweep_interval_seconds = 0;
      fill(o, 2000);
      overwrite(data, c.offset, c.bytes);
      if (std::string(c.what) == "meta pages") overwrite(data, 4096 + 10, std::string(2, '\0'));
      LmdbStore store(o, [] { return t0; });
      EXPECT_EQ(store.count(), 0u) << "a damaged store starts empty";
      EXPECT_FALSE(store.quarantined().empty());
      auto moved = damaged_copies(dir.path);
      ASSERT_EQ(moved.size(), 1u) << "the damaged file is kept for a post-mortem";
      EXPECT_EQ(moved[0].string(), store.quarantined());
      StoreUpdate u;
      u.triplet = {"after", TripletRecord{t0, t0, t0 + day}};
      store.save(u);
      EXPECT_TRUE(store.load("after", "", t0).triplet) << "the new store works";
    }
  }
}

TEST(LmdbStore, IntactFileIsKeptAndANonLmdbFileIsRefused) {
  TempDir dir;
  LmdbOptions o;
  o.path = (dir.path / "g.mdb").string();
  o.map_size_bytes = 64 << 20;
  o.sweep_interval_seconds = 0;
  fill(o, 500);
  {
    LmdbStore store(o, [] { return t0; });
    EXPECT_EQ(store.count(), 500u);
    EXPECT_TRUE(store.quarantined().empty());
  }
  // Not an LMDB file (no magic): never moved or overwritten, a StoreError instead.
  std::filesystem::path other = dir.path / "notes.txt";
  {
    std::FILE* f = std::fopen(other.c_str(), "wb");
    std::string text(3 * 4096, 'x');
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  o.path = other.string();
  EXPECT_THROW(LmdbStore(o, [] { return t0; }), StoreError);
  EXPECT_TRUE(std::filesystem::exists(other));
  EXPECT_TRUE(damaged_copies(dir.path).empty());
}

TEST(RedisStore, RecordsCarryTtlAndBadValuesAreIgnored) {
  postern::testing::RedisServer server;
  redis::Client client(redis::parse_url(server.url()), {});
  RedisStore store(client, "p:");
  StoreUpdate u;
  u.triplet = {"net/a@b/c@d", TripletRecord{t0, t0 + 5, t0 + 5 + 3600}};
  store.save(u);
  long long ttl = client.command({"TTL", "p:t:net/a@b/c@d"}).integer;
  EXPECT_GT(ttl, 3590);
  EXPECT_LE(ttl, 3600);
  auto got = store.load("net/a@b/c@d", "", t0 + 10).triplet;
  ASSERT_TRUE(got);
  EXPECT_EQ(got->first_seen, t0);
  EXPECT_EQ(got->last_seen, t0 + 5);
  client.command({"SET", "p:t:junk", "12,x,3"});
  EXPECT_FALSE(store.load("junk", "", t0).triplet);
  server.kill();
  EXPECT_THROW(store.load("net/a@b/c@d", "", t0), StoreError);
}

TEST(ParseRecord, Table) {
  EXPECT_TRUE(parse_record("1,2,3"));
  EXPECT_TRUE(parse_record("-1,0,9223372036854775807"));
  for (const char* bad :
       {"", "1,2", "1,2,3,", "1,,3", "a,b,c", "1,2,3 ", "1,2,99999999999999999999"}) {
    EXPECT_FALSE(parse_record(bad)) << bad;
  }
}

}  // namespace
}  // namespace postern::greylist
