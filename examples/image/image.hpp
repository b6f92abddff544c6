// The image example's own code, nothing of mpipe in it: a grayscale image, its histogram, and
// the steps of the pipeline (decode a PGM, blur, Sobel edges, histogram, encode the result).
// Every step is deterministic: the same bytes whatever the number of OpenMP threads, so the
// pipeline's outputs can be compared byte for byte with a serial run (reference.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace image {

// Row-major 8-bit pixels. Not trivially copyable (a vector): crosses ranks by
// Boost.Serialization.
struct Image {
  int w = 0, h = 0;
  std::vector<unsigned char> px;

  template <class Archive>
  void serialize(Archive& a, unsigned) {
    a& w& h& px;
  }
};

// 256 bins of pixel values. Trivially copyable, no serialize(): crosses ranks as its bytes.
struct Histogram {
  std::array<std::uint32_t, 256> bins{};
};

// A binary PGM (P5, maxval 255, '#' comments allowed). Throws std::runtime_error naming `what`
// (a file name, for the message) when the bytes are not one.
Image decode(const std::vector<unsigned char>& pgm, const std::string& what);

// Gaussian blur, sigma = blur_sigma, separable, integer weights; rows in parallel (OpenMP).
inline constexpr int blur_sigma = 3;
Image blur(const Image& in);

// Sobel gradient magnitude, doubled (a blurred image has gentle gradients) and clamped to 255;
// rows in parallel.
Image edges(const Image& in);

Histogram histogram(const Image& in);

// A P5 PGM of `img` whose header comments hold `hist` as text (16 lines of 16 counts).
std::vector<unsigned char> encode(const Image& img, const Histogram& hist);

// All of it in order, as the pipeline does it: what one input file should turn into.
std::vector<unsigned char> process(const std::vector<unsigned char>& pgm, const std::string& what);

}  // namespace image
