// dkim_tag_list_fuzz.cpp — tag-list and key record parsers on arbitrary bytes: must not crash,
// hang or throw; a parsed tag's offsets must lie inside the text and agree with its value,
// names must not repeat, and a usable key record must not be both revoked and loadable.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "milters/dkim/key_record.hpp"
#include "milters/dkim/tag_list.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  postern::dkim::TagList list = postern::dkim::parse_tag_list(text);
  if (list.tags.size() > postern::dkim::kMaxTags) std::abort();
  for (size_t i = 0; i < list.tags.size(); ++i) {
    const postern::dkim::Tag& tag = list.tags[i];
    if (tag.value_begin > tag.value_end || tag.value_end > text.size()) std::abort();
    if (tag.name.empty() || tag.value.data() + tag.value.size() != text.data() + tag.value_end) {
      std::abort();
    }
    for (size_t j = 0; j < i; ++j) {
      if (list.tags[j].name == tag.name) std::abort();
    }
  }
  postern::dkim::split_colon_list(text);
  postern::dkim::KeyRecordParse key = postern::dkim::parse_key_record(text);
  if (key.record.has_value() != key.reason.empty()) std::abort();
  if (key.record && !key.record->revoked()) {
    postern::dkim::PublicKey loaded = postern::dkim::load_public_key(*key.record);
    if (!loaded.pkey == loaded.reason.empty()) std::abort();
  }
  return 0;
}
