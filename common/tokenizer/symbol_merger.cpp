#include "common/tokenizer/symbol_merger.h"

#include <algorithm>
#include <queue>

#include "common/tokenizer/unicode.h"

namespace ps {

namespace {

struct Symbol {
  size_t begin;
  size_t len;  // 0 once merged into its left neighbour
  int prev, next;
};

struct Candidate {
  double price;
  int left, right;
  size_t len;  // left.len + right.len when proposed; stale once either has changed
};

struct LaterCandidate {  // top of the queue: lowest price, then leftmost
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.price > b.price || (a.price == b.price && a.left > b.left);
  }
};

}  // namespace

std::vector<std::string_view> MergeSymbols(std::string_view text, const MergePrice& price) {
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = std::min(text.size() - pos, unicode::Utf8SequenceLength(static_cast<uint8_t>(text[pos])));
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({pos, len, index - 1, pos + len == text.size() ? -1 : index + 1});
    pos += len;
  }
  const auto view = [&](const Symbol& s) { return text.substr(s.begin, s.len); };

  std::priority_queue<Candidate, std::vector<Candidate>, LaterCandidate> queue;
  const auto propose = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    if (const auto p = price(view(symbols[left]), view(symbols[right]))) {
      queue.push({*p, left, right, symbols[left].len + symbols[right].len});
    }
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) propose(i - 1, i);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    if (left.len == 0 || right.len == 0 || left.len + right.len != c.len) continue;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    propose(left.prev, c.left);
    propose(c.left, left.next);
  }

  std::vector<std::string_view> out;
  for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) out.push_back(view(symbols[i]));
  return out;
}

}  // namespace ps
