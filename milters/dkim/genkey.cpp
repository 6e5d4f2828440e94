// genkey.cpp — see genkey.hpp.
#include "milters/dkim/genkey.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include <openssl/pem.h>

#include "common/openssl.hpp"
#include "milters/dkim/keys.hpp"

namespace postern::dkim {
namespace {

namespace po = boost::program_options;

constexpr size_t kMaxTxtString = 255;  // RFC 1035 §3.3 character-string

struct GenkeyOptions {
  std::string domain;
  std::string selector;
  std::string algorithm = "rsa";
  int bits = 2048;
  std::string out_dir = ".";
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

po::options_description genkey_options(GenkeyOptions& o) {
  po::options_description options("postern-dkim genkey options");
  options.add_options()           //
      ("help", "show this help")  //
      ("domain", po::value(&o.domain)->required()->value_name("DOMAIN"),
       "signing domain (d=)")  //
      ("selector", po::value(&o.selector)->required()->value_name("SELECTOR"),
       "selector (s=)")  //
      ("algorithm", po::value(&o.algorithm)->default_value("rsa")->value_name("ALG"),
       "rsa or ed25519")  //
      ("bits", po::value(&o.bits)->default_value(2048)->value_name("N"),
       "RSA key size, 1024..4096")  //
      ("out-dir", po::value(&o.out_dir)->default_value(".")->value_name("DIR"),
       "where S.private and S.txt go");
  return options;
}

bool valid_label_text(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

void validate(const GenkeyOptions& o) {
  if (!valid_label_text(o.domain))
    throw UsageError("--domain '" + o.domain + "' is not a domain name");
  if (!valid_label_text(o.selector) || o.selector.find('/') != std::string::npos) {
    throw UsageError("--selector '" + o.selector + "' is not a DNS label");
  }
  if (o.algorithm != "rsa" && o.algorithm != "ed25519") {
    throw UsageError("--algorithm '" + o.algorithm + "': want rsa or ed25519");
  }
  if (o.algorithm == "rsa" && (o.bits < 1024 || o.bits > 4096)) {
    throw UsageError("--bits " + std::to_string(o.bits) + ": want 1024..4096 (RFC 8301 §3.2)");
  }
}

EvpPkey generate(const GenkeyOptions& o) {
  EVP_PKEY* pkey = o.algorithm == "rsa"
                       ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(o.bits))
                       : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (pkey == nullptr) throw std::runtime_error("key generation failed: " + openssl_error());
  return EvpPkey(pkey);
}

std::string pkcs8_pem(EVP_PKEY* pkey) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw std::runtime_error("PEM_write_bio_PrivateKey: " + openssl_error());
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

// Creates `path` with `mode`, failing if it exists, and writes `text`.
void write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    throw std::runtime_error(
        path + ": " +
        (errno == EEXIST ? std::string("exists; not overwritten") : std::strerror(errno)));
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      throw std::runtime_error(path + ": " + std::strerror(saved));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) throw std::runtime_error(path + ": " + std::strerror(errno));
}

// Parses argv into `o`; returns false after printing help.
bool parse(int argc, const char* const argv[], GenkeyOptions& o, std::ostream& out) {
  po::options_description options = genkey_options(o);
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).run(), values);
    if (values.count("help")) {
      out << "usage: postern-dkim genkey --domain D --selector S [--algorithm rsa|ed25519] "
             "[--bits N] [--out-dir DIR]\n"
          << options;
      return false;
    }
    po::notify(values);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  validate(o);
  return true;
}

int generate_and_write(const GenkeyOptions& o, std::ostream& out) {
  EvpPkey pkey = generate(o);
  std::string pem = pkcs8_pem(pkey.get());
  auto key = PrivateKey::adopt(pkey.release(), "generated key");
  std::string txt = dkim_txt_record(key->key_type_name(), key->public_key_base64());
  std::string record = zone_file_record(o.selector, o.domain, txt);
  std::string base = o.out_dir + "/" + o.selector;
  write_new_file(base + ".private", pem, 0600);
  write_new_file(base + ".txt", record, 0644);
  out << record;
  return 0;
}

}  // namespace

std::string dkim_txt_record(std::string_view key_type, std::string_view public_key_base64) {
  return "v=DKIM1; k=" + std::string(key_type) + "; p=" + std::string(public_key_base64);
}

std::string zone_file_record(std::string_view selector, std::string_view domain,
                             std::string_view txt) {
  std::string record = std::string(selector) + "._domainkey." + std::string(domain) + ". IN TXT (";
  while (!txt.empty()) {
    std::string_view piece = txt.substr(0, kMaxTxtString);
    record += " \"" + std::string(piece) + "\"";
    txt.remove_prefix(piece.size());
  }
  record += " )\n";
  return record;
}

int run_genkey(int argc, const char* const argv[], std::ostream& out, std::ostream& err) {
  GenkeyOptions o;
  try {
    if (!parse(argc, argv, o, out)) return 0;
    return generate_and_write(o, out);
  } catch (const UsageError& e) {
    err << "postern-dkim genkey: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const std::exception& e) {
    err << "postern-dkim genkey: " << e.what() << "\n";
    return 1;
  }
}

int run_genkey(int argc, const char* const argv[]) {
  return run_genkey(argc, argv, std::cout, std::cerr);
}

}  // namespace postern::dkim
