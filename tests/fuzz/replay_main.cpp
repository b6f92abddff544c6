// Replays fuzz inputs through fuzz_spec.cpp's LLVMFuzzerTestOneInput without libFuzzer, so the
// seed corpus and every input the fuzzer once crashed on (tests/fuzz/regressions/) run in the
// normal test suite with any compiler. Arguments: files or directories (their regular files, in
// name order). Each input is named before it runs, so a crash or an escaping exception -- which
// ends the program through std::terminate -- points at the input that caused it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    if (fs::is_directory(arg)) {
      for (const auto& entry : fs::directory_iterator(arg)) {
        if (entry.is_regular_file()) inputs.push_back(entry.path());
      }
    } else if (fs::is_regular_file(arg)) {
      inputs.push_back(arg);
    } else {
      std::cerr << "replay: no such file or directory: " << arg << "\n";
      return 2;
    }
  }
  std::sort(inputs.begin(), inputs.end());
  for (const auto& path : inputs) {
    std::cout << "replay: " << path.string() << std::endl;
    std::ifstream in(path, std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
  }
  std::cout << "replay: " << inputs.size() << " inputs, none crashed" << std::endl;
  return inputs.empty() ? 1 : 0;
}
