// The image example's steps (image.hpp).
#include "image.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace image {

namespace {

// Reads the PGM header's next number, skipping whitespace and '#' comments.
int header_number(const std::vector<unsigned char>& b, std::size_t& pos, const std::string& what) {
  for (;;) {
    while (pos < b.size() && std::isspace(b[pos])) ++pos;
    if (pos < b.size() && b[pos] == '#') {
      while (pos < b.size() && b[pos] != '\n') ++pos;
      continue;
    }
    break;
  }
  long value = 0;
  const std::size_t start = pos;
  while (pos < b.size() && std::isdigit(b[pos]) && value < 100000)
    value = value * 10 + (b[pos++] - '0');
  if (pos == start || value >= 100000) throw std::runtime_error(what + ": not a binary PGM header");
  return static_cast<int>(value);
}

std::size_t at(int x, int y, int w) {
  return static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x);
}

int clamped(int v, int hi) { return std::clamp(v, 0, hi); }

// Integer Gaussian weights for offsets -r..r, r = 3 sigma.
std::vector<std::uint32_t> gaussian_weights() {
  const int r = 3 * blur_sigma;
  std::vector<std::uint32_t> w;
  for (int k = -r; k <= r; ++k)
    w.push_back(static_cast<std::uint32_t>(
        std::lround(256.0 * std::exp(-(k * k) / (2.0 * blur_sigma * blur_sigma)))));
  return w;
}

// One pass along x (dx = 1) or y: out[x,y] = sum_k w[k] * in[x + k dx, y + k dy] (edges clamped).
template <class In>
std::vector<std::uint64_t> blur_pass(const std::vector<In>& in, int w, int h, bool along_x,
                                     const std::vector<std::uint32_t>& weights) {
  const int r = static_cast<int>(weights.size() / 2);
  std::vector<std::uint64_t> out(in.size());
#pragma omp parallel for schedule(static)
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::uint64_t sum = 0;
      for (int k = -r; k <= r; ++k) {
        const std::size_t i =
            along_x ? at(clamped(x + k, w - 1), y, w) : at(x, clamped(y + k, h - 1), w);
        sum += weights[static_cast<std::size_t>(k + r)] * static_cast<std::uint64_t>(in[i]);
      }
      out[at(x, y, w)] = sum;
    }
  }
  return out;
}

int sobel(const Image& in, int x, int y) {
  const auto p = [&](int dx, int dy) {
    return static_cast<int>(in.px[at(clamped(x + dx, in.w - 1), clamped(y + dy, in.h - 1), in.w)]);
  };
  const int gx = p(1, -1) + 2 * p(1, 0) + p(1, 1) - p(-1, -1) - 2 * p(-1, 0) - p(-1, 1);
  const int gy = p(-1, 1) + 2 * p(0, 1) + p(1, 1) - p(-1, -1) - 2 * p(0, -1) - p(1, -1);
  const double magnitude = std::sqrt(static_cast<double>(gx * gx + gy * gy));  // exact IEEE
  return std::min(255, static_cast<int>(std::lround(2 * magnitude)));
}

}  // namespace

Image decode(const std::vector<unsigned char>& pgm, const std::string& what) {
  if (pgm.size() < 2 || pgm[0] != 'P' || pgm[1] != '5')
    throw std::runtime_error(what + ": not a binary PGM (P5)");
  std::size_t pos = 2;
  Image img;
  img.w = header_number(pgm, pos, what);
  img.h = header_number(pgm, pos, what);
  const int maxval = header_number(pgm, pos, what);
  if (img.w <= 0 || img.h <= 0 || maxval <= 0 || maxval > 255)
    throw std::runtime_error(what + ": only 8-bit PGMs of at least 1 x 1 pixels");
  ++pos;  // the single whitespace after maxval
  const std::size_t n = at(0, img.h, img.w);
  if (pos > pgm.size() || pgm.size() - pos < n)
    throw std::runtime_error(what + ": the PGM is truncated");
  const auto first = pgm.begin() + static_cast<std::ptrdiff_t>(pos);
  img.px.assign(first, first + static_cast<std::ptrdiff_t>(n));
  return img;
}

Image blur(const Image& in) {
  static const std::vector<std::uint32_t> weights = gaussian_weights();
  std::uint64_t total = 0;
  for (const auto w : weights) total += w;
  const auto rows = blur_pass(in.px, in.w, in.h, true, weights);
  const auto both = blur_pass(rows, in.w, in.h, false, weights);
  const std::uint64_t norm = total * total;
  Image out{in.w, in.h, std::vector<unsigned char>(in.px.size())};
  for (std::size_t i = 0; i < both.size(); ++i)
    out.px[i] = static_cast<unsigned char>((both[i] + norm / 2) / norm);
  return out;
}

Image edges(const Image& in) {
  Image out{in.w, in.h, std::vector<unsigned char>(in.px.size())};
#pragma omp parallel for schedule(static)
  for (int y = 0; y < in.h; ++y)
    for (int x = 0; x < in.w; ++x)
      out.px[at(x, y, in.w)] = static_cast<unsigned char>(sobel(in, x, y));
  return out;
}

Histogram histogram(const Image& in) {
  Histogram hist;
  for (const unsigned char v : in.px) ++hist.bins[v];
  return hist;
}

std::vector<unsigned char> encode(const Image& img, const Histogram& hist) {
  std::string header = "P5\n# mpipe examples/image: Sobel edges of a Gaussian blur (sigma " +
                       std::to_string(blur_sigma) + ")\n# histogram of the edge image, bins 0-255:";
  for (std::size_t i = 0; i < hist.bins.size(); ++i)
    header += (i % 16 == 0 ? "\n#" : "") + (" " + std::to_string(hist.bins[i]));
  header += "\n" + std::to_string(img.w) + " " + std::to_string(img.h) + "\n255\n";
  std::vector<unsigned char> out(header.begin(), header.end());
  out.insert(out.end(), img.px.begin(), img.px.end());
  return out;
}

std::vector<unsigned char> process(const std::vector<unsigned char>& pgm, const std::string& what) {
  const Image e = edges(blur(decode(pgm, what)));
  return encode(e, histogram(e));
}

}  // namespace image
