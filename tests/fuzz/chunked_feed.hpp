// chunked_feed.hpp — what the fuzz targets of streaming parsers share: abort on a violated
// property, and feeding bytes to a parser in chunks as socket reads would deliver them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postern::fuzz {

/// Aborts (the fuzzer's failure signal) when a checked property does not hold.
inline void check(bool ok) {
  if (!ok) std::abort();
}

/// What a parser gave for one input: the items take() returned, in order, and the error of the
/// first State::Error ("" when there was none; parsing stops there).
template <typename Item>
struct ChunkedRun {
  std::vector<Item> items;
  std::string error;
};

/// Feeds `text` to `parser` in pieces of `chunk` bytes (the last one shorter). Parser: a
/// streaming parser with State feed(std::string_view, size_t& consumed), take() and error(),
/// State being {NeedMore, Complete, Error} (PolicyRequestParser, NetstringParser). Checks on
/// every call: consumed <= the bytes fed; an Error has a message; NeedMore consumed them all.
template <typename Parser>
auto feed_in_chunks(Parser& parser, std::string_view text, size_t chunk) {
  using State = typename Parser::State;
  ChunkedRun<decltype(parser.take())> run;
  for (size_t at = 0; at < text.size(); at += chunk) {
    std::string_view piece = text.substr(at, chunk);
    while (!piece.empty()) {
      size_t consumed = 0;
      State state = parser.feed(piece, consumed);
      check(consumed <= piece.size());
      if (state == State::Error) {
        check(!parser.error().empty());
        run.error = parser.error();
        return run;
      }
      check(state == State::Complete || consumed == piece.size());
      if (state == State::Complete) run.items.push_back(parser.take());
      piece.remove_prefix(consumed);
    }
  }
  return run;
}

/// A fuzz input fed twice, each time to a new parser make_parser() returns: whole, and in
/// chunks whose size (1..17) the input's first byte picks; the rest of the input is the text.
/// Returns {whole, chunked}; nullopt for an empty input (nothing to run).
template <typename MakeParser>
auto feed_whole_and_chunked(const uint8_t* data, size_t size, MakeParser make_parser) {
  using Run = decltype(feed_in_chunks(std::declval<decltype(make_parser())&>(), "", 1));
  std::optional<std::pair<Run, Run>> runs;
  if (size == 0) return runs;
  size_t chunk = data[0] % 17 + 1;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto whole_parser = make_parser();
  auto chunked_parser = make_parser();
  runs.emplace(feed_in_chunks(whole_parser, text, text.size() + 1),
               feed_in_chunks(chunked_parser, text, chunk));
  return runs;
}

}  // namespace postern::fuzz
