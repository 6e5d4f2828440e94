// dkim_sign_bench.cpp — hot paths of postern-dkim: body canonicalization throughput and one
// whole 10 KB message signed (headers, body, RSA-2048 / Ed25519 / dual signatures).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <string>

#include "milters/dkim/canon.hpp"
#include "milters/dkim/keys.hpp"
#include "milters/dkim/signer.hpp"

namespace {

using namespace postern::dkim;

// ~`size` bytes of mail-like text: 72-column lines, some trailing spaces and tabs.
std::string sample_body(size_t size) {
  std::string body;
  const std::string line =
      "Lorem ipsum dolor sit amet,  consectetur\tadipiscing elit, sed do eiusmod ";
  for (size_t i = 0; body.size() < size; ++i) body += line + (i % 5 == 0 ? "  \r\n" : "\r\n");
  return body;
}

void BM_BodyCanon(benchmark::State& state) {
  Canon canon = state.range(0) ? Canon::Relaxed : Canon::Simple;
  std::string body = sample_body(1 << 20);
  BodyCanonicalizer c(canon);
  for (auto _ : state) {
    c.reset();
    for (size_t i = 0; i < body.size(); i += 65536) {
      benchmark::DoNotOptimize(c.update(std::string_view(body).substr(i, 65536)).size());
    }
    benchmark::DoNotOptimize(c.finish().size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_BodyCanon)->Arg(0)->Arg(1)->ArgNames({"relaxed"});

std::shared_ptr<const PrivateKey> key(const char* type) {
  return PrivateKey::adopt(type[0] == 'R' ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                                          : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"),
                           type);
}

void sign_message(benchmark::State& state, std::vector<SigningKey> keys) {
  SignerConfig config;
  std::string body = sample_body(10 * 1024);
  for (auto _ : state) {
    MessageSigner signer(config, keys);
    signer.add_header("Received", " from client.example.com by mx.example.com; Fri, 1 Jan 2027");
    signer.add_header("From", " Joe <joe@example.com>");
    signer.add_header("To", " Suzie <suzie@example.net>");
    signer.add_header("Subject", " a benchmark\n\tfolded subject");
    signer.add_header("Date", " Fri, 1 Jan 2027 00:00:00 +0000");
    signer.add_header("Message-ID", " <bench@example.com>");
    signer.add_header("MIME-Version", " 1.0");
    signer.add_header("Content-Type", " text/plain; charset=utf-8");
    signer.add_body(body);
    benchmark::DoNotOptimize(signer.finish(1800000000));
  }
}

void BM_Sign10kRsa2048(benchmark::State& state) {
  sign_message(state, {{"example.com", "r", key("RSA")}});
}
void BM_Sign10kEd25519(benchmark::State& state) {
  sign_message(state, {{"example.com", "e", key("ED")}});
}
void BM_Sign10kDual(benchmark::State& state) {
  sign_message(state, {{"example.com", "r", key("RSA")}, {"example.com", "e", key("ED")}});
}
BENCHMARK(BM_Sign10kRsa2048)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Sign10kEd25519)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Sign10kDual)->Unit(benchmark::kMicrosecond);

}  // namespace
