// Files whose damage must be detected, not trusted: a run's checkpoint. The payload is followed by a trailer
// (a magic word, the payload's length and its XXH3-64 hash), written after the payload, so a file cut short, zeroed
// or overwritten anywhere fails the check instead of being read as a slightly different state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mmsr {

// The payload followed by its trailer.
std::string seal(std::string payload);
// The payload of sealed bytes; nothing when the trailer is missing or does not match the payload.
std::optional<std::string_view> unseal(std::string_view bytes);

}  // namespace mmsr
