// engine.cpp — libclamav engine load, compile and scan.
#include "milters/av/engine.hpp"

#include <unistd.h>

#include <mutex>

#include "common/log.hpp"

namespace postern::av {
namespace {

// The last error or warning libclamav reported on this thread (cl_load explains its failures
// only through the message callback).
thread_local std::string last_clamav_message;

// libclamav's message callback: warnings and errors become log lines; info/debug are dropped.
void on_clamav_message(cl_msg severity, const char* fullmsg, const char* msg, void*) {
  std::string text = msg ? msg : (fullmsg ? fullmsg : "");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (severity == CL_MSG_ERROR) {
    last_clamav_message = text;
    log::error("clamav-message").kv("text", text);
  } else if (severity == CL_MSG_WARN) {
    last_clamav_message = text;
    log::warning("clamav-message").kv("text", text);
  }
}

void init_library() {
  static std::once_flag once;
  std::call_once(once, [] {
    cl_set_clcb_msg(on_clamav_message);
    if (cl_error_t rc = cl_init(CL_INIT_DEFAULT); rc != CL_SUCCESS) {
      throw EngineError(std::string("cl_init failed: ") + cl_strerror(rc));
    }
  });
}

std::string failure(const std::string& what, const std::string& dir, cl_error_t rc) {
  std::string text = what + " " + dir + ": " + cl_strerror(rc);
  if (!last_clamav_message.empty()) text += " (" + last_clamav_message + ")";
  return text;
}

void set_num(cl_engine* engine, cl_engine_field field, long long value, const char* name) {
  if (cl_error_t rc = cl_engine_set_num(engine, field, value); rc != CL_SUCCESS) {
    throw EngineError(std::string("cannot set engine limit ") + name + ": " + cl_strerror(rc));
  }
}

void set_limits(cl_engine* engine, const EngineLimits& limits) {
  set_num(engine, CL_ENGINE_MAX_SCANSIZE, static_cast<long long>(limits.max_scan_size),
          "max-scan-size");
  set_num(engine, CL_ENGINE_MAX_FILESIZE, static_cast<long long>(limits.max_file_size),
          "max-file-size");
  set_num(engine, CL_ENGINE_MAX_RECURSION, limits.max_recursion, "max-recursion");
  set_num(engine, CL_ENGINE_MAX_FILES, limits.max_files, "max-files");
  set_num(engine, CL_ENGINE_MAX_SCANTIME, limits.max_scan_time_ms, "max-scan-time");
}

ScanResult to_result(cl_error_t rc, const char* virname) {
  ScanResult result;
  if (rc == CL_CLEAN) {
    result.kind = ScanResult::Kind::Clean;
  } else if (rc == CL_VIRUS) {
    result.kind = ScanResult::Kind::Virus;
    result.signature = virname ? virname : "unnamed";
  } else {
    result.kind = ScanResult::Kind::Error;
    result.error = cl_strerror(rc);
    result.timeout = rc == CL_ETIMEOUT;
  }
  return result;
}

}  // namespace

std::shared_ptr<const Engine> Engine::load(const EngineOptions& options) {
  init_library();
  last_clamav_message.clear();
  std::shared_ptr<Engine> engine(new Engine());
  engine->database_dir_ = options.database_dir;
  engine->heuristic_alerts_ = options.heuristic_alerts;
  engine->engine_.reset(cl_engine_new());
  if (!engine->engine_) throw EngineError("cl_engine_new failed (out of memory?)");
  cl_engine* raw = engine->engine_.get();
  set_limits(raw, options.limits);
  if (!options.tmp_dir.empty()) {
    if (cl_error_t rc = cl_engine_set_str(raw, CL_ENGINE_TMPDIR, options.tmp_dir.c_str());
        rc != CL_SUCCESS) {
      throw EngineError("cannot set temp dir " + options.tmp_dir + ": " + cl_strerror(rc));
    }
  }
  unsigned int db_options = CL_DB_PHISHING | CL_DB_PHISHING_URLS;
  if (options.bytecode) db_options |= CL_DB_BYTECODE;
  unsigned int signatures = 0;
  if (cl_error_t rc = cl_load(options.database_dir.c_str(), raw, &signatures, db_options);
      rc != CL_SUCCESS) {
    throw EngineError(failure("cannot load database", options.database_dir, rc));
  }
  if (signatures == 0) {
    throw EngineError("cannot load database " + options.database_dir + ": no signatures");
  }
  if (cl_error_t rc = cl_engine_compile(raw); rc != CL_SUCCESS) {
    throw EngineError(failure("cannot compile database", options.database_dir, rc));
  }
  engine->signatures_ = signatures;
  return engine;
}

cl_scan_options Engine::scan_options() const {
  cl_scan_options options{};
  options.parse = ~0u;  // every format libclamav knows: MIME, archives, documents ...
  if (heuristic_alerts_) options.general |= CL_SCAN_GENERAL_HEURISTICS;
  return options;
}

ScanResult Engine::scan_memory(std::string_view data) const {
  clamav::FmapHandle map(cl_fmap_open_memory(data.data(), data.size()));
  if (!map) {
    ScanResult result;
    result.error = "cl_fmap_open_memory failed";
    return result;
  }
  const char* virname = nullptr;
  unsigned long scanned = 0;
  cl_scan_options options = scan_options();
  cl_error_t rc =
      cl_scanmap_callback(map.get(), nullptr, &virname, &scanned, engine_.get(), &options, nullptr);
  return to_result(rc, virname);
}

ScanResult Engine::scan_fd(int fd) const {
  if (::lseek(fd, 0, SEEK_SET) != 0) {
    ScanResult result;
    result.error = "cannot rewind the spool file";
    return result;
  }
  const char* virname = nullptr;
  unsigned long scanned = 0;
  cl_scan_options options = scan_options();
  cl_error_t rc = cl_scandesc(fd, nullptr, &virname, &scanned, engine_.get(), &options);
  return to_result(rc, virname);
}

std::string clamav_version() {
  const char* version = cl_retver();
  return version ? version : "unknown";
}

}  // namespace postern::av
