// The image steps as mpipe stages, registered under the names image.yaml's `kernel:` uses. One
// list for both forms: the plugin (stages.cpp, MPIPE_PLUGIN) and the program (main.cpp).
#pragma once

#include <mpipe/stages.hpp>

#include "image.hpp"

namespace image {

inline void register_stages(mpipe::stage_registry& registry) {
  registry
      .add("image_decode", [](const mpipe::source_item& in) { return decode(in.data, in.file); })
      .add("image_blur", [](const Image& in) { return blur(in); })
      .add("image_edges", [](const Image& in) { return edges(in); })
      .add("image_histogram", [](const Image& in) { return histogram(in); })
      // In-edges in the spec's order: Edges -> Encode, then Hist -> Encode.
      .add("image_encode", [](const Image& img, const Histogram& hist) -> mpipe::blob {
        return encode(img, hist);
      });
}

}  // namespace image
