// av_engine_test.cpp — the libclamav engine on test databases generated here (the EICAR test
// string as .ndb and .hdb, synthetic signatures): load, scan from memory and from a file, MIME
// decoding, load errors with reasons, EngineSlot swaps, and EngineReloader (inotify change,
// request, failed load keeping the old engine). Real libclamav, no network.
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "milters/av/engine.hpp"
#include "milters/av/reloader.hpp"

namespace postern::av {
namespace {

namespace fs = std::filesystem;

// The EICAR anti-virus test file (https://www.eicar.org), 68 bytes.
std::string eicar() {
  return std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$") + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
}

std::string hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string md5_hex(const std::string& bytes) {
  unsigned char digest[16];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_md5(), nullptr);
  return hex(std::string(reinterpret_cast<char*>(digest), len));
}

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A database directory: EICAR as .ndb (body) or .hdb (MD5 of the whole file), plus `extra`
// synthetic body signatures that match nothing in these tests.
class TestDb {
 public:
  explicit TestDb(const std::string& name)
      : dir_(fs::path(::testing::TempDir()) / ("av_engine_" + name)) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~TestDb() { fs::remove_all(dir_); }
  void add_ndb(const std::string& file = "eicar.ndb", const std::string& name = "Test.EICAR-NDB") {
    write_file(dir_ / file, name + ":0:*:" + hex(eicar()) + "\n");
  }
  void add_hdb() { write_file(dir_ / "eicar.hdb", md5_hex(eicar()) + ":68:Test.EICAR-HDB\n"); }
  void add_synthetic(int count) {
    std::string text;
    for (int i = 0; i < count; ++i) {
      text += "Test.Synthetic-" + std::to_string(i) +
              ":0:*:" + hex("postern synthetic signature number " + std::to_string(i) + "!") + "\n";
    }
    write_file(dir_ / "synthetic.ndb", text);
  }
  EngineOptions options() const {
    EngineOptions o;
    o.database_dir = dir_.string();
    o.tmp_dir = ::testing::TempDir();
    o.bytecode = false;
    return o;
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

std::string mime_with_attachment(const std::string& attachment) {
  return "From: a@example.com\r\nTo: b@example.net\r\nSubject: test\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
         "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
         "--b1\r\nContent-Type: application/octet-stream; name=\"x.com\"\r\n"
         "Content-Transfer-Encoding: base64\r\n"
         "Content-Disposition: attachment; filename=\"x.com\"\r\n\r\n" +
         base64(attachment) + "\r\n--b1--\r\n";
}

TEST(AvEngine, DetectsEicarFromMemoryAndFile) {
  TestDb db("detect");
  db.add_ndb();
  db.add_synthetic(1000);
  auto engine = Engine::load(db.options());
  EXPECT_EQ(engine->signatures(), 1001u);

  ScanResult hit = engine->scan_memory(eicar());
  EXPECT_EQ(hit.kind, ScanResult::Kind::Virus);
  EXPECT_EQ(hit.signature.rfind("Test.EICAR-NDB", 0), 0u) << "got " << hit.signature;

  ScanResult clean = engine->scan_memory("From: a@example.com\r\n\r\nhello\r\n");
  EXPECT_EQ(clean.kind, ScanResult::Kind::Clean) << clean.error;

  // base64 inside MIME: libclamav decodes it.
  std::string message = mime_with_attachment(eicar());
  EXPECT_EQ(message.find(eicar()), std::string::npos);
  EXPECT_EQ(engine->scan_memory(message).kind, ScanResult::Kind::Virus);
  EXPECT_EQ(engine->scan_memory(mime_with_attachment("harmless")).kind, ScanResult::Kind::Clean);

  std::string path = ::testing::TempDir() + "/av_engine_msg";
  write_file(path, message);
  int fd = ::open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::lseek(fd, 0, SEEK_END);  // scan_fd rewinds
  ScanResult from_file = engine->scan_fd(fd);
  EXPECT_EQ(from_file.kind, ScanResult::Kind::Virus);
  EXPECT_EQ(from_file.signature, engine->scan_memory(message).signature);
  ::close(fd);
  ::unlink(path.c_str());
}

TEST(AvEngine, HashSignature) {
  TestDb db("hdb");
  db.add_hdb();
  auto engine = Engine::load(db.options());
  ScanResult hit = engine->scan_memory(eicar());
  EXPECT_EQ(hit.kind, ScanResult::Kind::Virus);
  EXPECT_EQ(hit.signature.rfind("Test.EICAR-HDB", 0), 0u) << "got " << hit.signature;
  EXPECT_EQ(engine->scan_memory(eicar() + "x").kind, ScanResult::Kind::Clean);
}

TEST(AvEngine, LoadErrorsSayWhy) {
  TestDb empty("empty");
  try {
    Engine::load(empty.options());
    FAIL() << "an empty database directory must not give an engine";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find(empty.dir().string()), std::string::npos) << e.what();
  }
  EngineOptions missing = empty.options();
  missing.database_dir = "/nonexistent/postern-av-db";
  EXPECT_THROW(Engine::load(missing), EngineError);

  TestDb broken("broken");
  write_file(broken.dir() / "bad.ndb", "Broken:0:*:zz-not-hex\n");
  try {
    Engine::load(broken.options());
    FAIL() << "a malformed signature must fail the load";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot load database"), std::string::npos) << e.what();
  }
}

TEST(AvEngine, SlotKeepsOldEngineAliveForItsHolder) {
  TestDb db("slot");
  db.add_ndb();
  EngineSlot slot;
  EXPECT_EQ(slot.get(), nullptr);
  slot.swap(Engine::load(db.options()));
  std::shared_ptr<const Engine> in_flight = slot.get();
  auto old = slot.swap(Engine::load(db.options()));
  EXPECT_EQ(old, in_flight);
  old.reset();
  EXPECT_EQ(in_flight->scan_memory(eicar()).kind, ScanResult::Kind::Virus);
  EXPECT_NE(slot.get(), in_flight);
}

// Collects reloader callbacks for the test thread.
struct Events {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> seen;  // "loaded:REASON:SIGS" / "failed:REASON:kept|none"

  EngineReloader::Callbacks callbacks() {
    EngineReloader::Callbacks c;
    c.loaded = [this](const Engine& e, LoadReason r, double) {
      push(std::string("loaded:") + reason_name(r) + ":" + std::to_string(e.signatures()));
    };
    c.failed = [this](const std::string&, LoadReason r, bool kept) {
      push(std::string("failed:") + reason_name(r) + ":" + (kept ? "kept" : "none"));
    };
    return c;
  }
  void push(std::string s) {
    std::lock_guard lock(mutex);
    seen.push_back(std::move(s));
    cv.notify_all();
  }
  // The next event after the first `index` ones, or "timeout".
  std::string wait(size_t index) {
    std::unique_lock lock(mutex);
    bool got = cv.wait_for(lock, std::chrono::seconds(10), [&] { return seen.size() > index; });
    return got ? seen[index] : "timeout";
  }
};

TEST(AvReloader, LoadsOnChangeAndRequestKeepsOldOnFailure) {
  TestDb db("reload");
  Events events;
  EngineSlot slot;
  EngineReloader reloader(db.options(), slot, events.callbacks(), true, 100);
  reloader.start();
  EXPECT_EQ(events.wait(0), "failed:startup:none");
  EXPECT_EQ(slot.get(), nullptr);

  db.add_ndb();  // the directory changes: loaded once it is quiet
  EXPECT_EQ(events.wait(1), "loaded:change:1");
  auto first = slot.get();
  ASSERT_NE(first, nullptr);

  db.add_synthetic(50);
  EXPECT_EQ(events.wait(2), "loaded:change:51");
  EXPECT_NE(slot.get(), first);
  EXPECT_EQ(first->scan_memory(eicar()).kind, ScanResult::Kind::Virus) << "old engine still scans";

  write_file(db.dir() / "bad.ndb", "Broken:0:*:zz\n");
  EXPECT_EQ(events.wait(3), "failed:change:kept");
  ASSERT_NE(slot.get(), nullptr);
  EXPECT_EQ(slot.get()->signatures(), 51u);

  fs::remove(db.dir() / "bad.ndb");
  EXPECT_EQ(events.wait(4), "loaded:change:51");
  reloader.request_reload();
  EXPECT_EQ(events.wait(5), "loaded:request:51");
  reloader.stop();
}

}  // namespace
}  // namespace postern::av
