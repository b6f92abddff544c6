// The serial reference: the image steps in order, in one process, no mpipe and no MPI, on each
// FILE (image.yaml's inputs: data/*.pgm). Writes OUTPUT_DIR/<the file's name> for each: what
// mpipe's `outputs:` must hold, byte for byte. The steps' results do not depend on the number of
// OpenMP threads; check.sh runs this one with OMP_NUM_THREADS=1.
//   image_reference OUTPUT_DIR FILE...
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "image.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<unsigned char> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: image_reference OUTPUT_DIR FILE...\n";
    return 2;
  }
  try {
    fs::create_directories(argv[1]);
    for (int i = 2; i < argc; ++i) {
      const fs::path file = argv[i];
      write_bytes(fs::path(argv[1]) / file.filename(),
                  image::process(read_bytes(file), file.string()));
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "image_reference: " << e.what() << "\n";
    return 2;
  }
}
