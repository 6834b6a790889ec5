#pragma once

#include <string>
#include <string_view>

namespace deferbench {

// Unicode NFKC normalization with case folding (utf8proc: NFKC_Casefold-like, via
// UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STABLE). Invalid UTF-8 bytes
// are replaced by U+FFFD rather than rejected, so that one bad byte does not stop a run.
std::string normalize_text(std::string_view utf8);

}  // namespace deferbench
