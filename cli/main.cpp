// pipeshard: command-line entry. main() only parses arguments and calls into cli/ commands.
#include <cstdio>

int main(int argc, char** argv) {
  (void)argv;
  if (argc < 2) {
    std::fprintf(stderr, "usage: pipeshard <run|tokenize|gguf-info|make-model> ...\n");
    return 2;
  }
  std::fprintf(stderr, "pipeshard: commands are being wired up\n");
  return 1;
}
