// Text from files and the network made safe for a one-line message: control characters (escape
// sequences included), DEL, C1 controls and bytes that are not UTF-8 become \xNN; valid UTF-8 stays as it is;
// past `max_bytes` the rest is cut and counted. Every error that reaches a terminal or a log goes
// through it at the edge (the CLI's ReportError, the servers' exit lines).
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ps {

std::string Printable(std::string_view text, size_t max_bytes = 4096);

}  // namespace ps
