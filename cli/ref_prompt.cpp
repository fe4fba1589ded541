#include "cli/ref_prompt.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace ps::cli {

namespace {

// Ordinary English, repeated as often as needed: words that are whole tokens in Llama
// vocabularies, so a cut between two tokens is a cut between two words.
constexpr const char* kPassage =
    "The river rose slowly through the night, and by morning the old stone bridge stood in water up "
    "to its arches. People from the village gathered on the hill to watch the current carry branches, "
    "fence posts and a small wooden boat past the church. Nobody spoke much. The baker brought bread, "
    "the teacher counted the children twice, and the miller said the water would fall again by "
    "evening, as it always had. ";

}  // namespace

std::string PromptOfTokens(const Tokenizer& tokenizer, int32_t tokens) {
  const size_t wanted = tokens > 0 ? static_cast<size_t>(tokens) : 0;
  std::string text;
  std::vector<int32_t> ids;
  // Repeat the passage until it is long enough (doubling, so that a long prompt costs a few
  // tokenizations, not one per repetition).
  for (size_t repeats = 1; ids.size() <= wanted; repeats *= 2) {
    text.clear();
    for (size_t i = 0; i < repeats; ++i) text += kPassage;
    ids = tokenizer.Encode(text, /*add_bos=*/true, /*parse_special=*/false);
    if (ids.empty()) return "";  // a tokenizer that makes nothing of English; nothing to cut
  }
  // The first `wanted` tokens, of which the BOS renders as no text but counts, as it does when
  // llama-cli tokenizes the prompt.
  std::string prompt;
  for (size_t i = 0; i < wanted; ++i) prompt += tokenizer.TokenToPiece(ids[i]);
  // SentencePiece vocabularies render the first word with the space the tokenizer put in front
  // of it, and would add another when the text is tokenized again.
  const size_t first = prompt.find_first_not_of(' ');
  return first == std::string::npos ? std::string() : prompt.substr(first);
}

Result<std::unique_ptr<PromptFile>> PromptFile::Create(const std::string& text) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  if (ec) dir = "/tmp";
  std::string path = (dir / "pipeshard-ref-prompt-XXXXXX").string();
  const int fd = mkstemp(path.data());
  if (fd < 0) return Status::IOError(path + ": cannot create the reference's prompt file: " + std::strerror(errno));
  auto file = std::unique_ptr<PromptFile>(new PromptFile(path));
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      close(fd);
      return Status::IOError(path + ": cannot write the reference's prompt file: " + std::strerror(err));
    }
    written += static_cast<size_t>(n);
  }
  if (close(fd) != 0) return Status::IOError(path + ": cannot write the reference's prompt file: " + std::strerror(errno));
  return file;
}

PromptFile::~PromptFile() { unlink(path_.c_str()); }

}  // namespace ps::cli
