// DecodePng alone (the images inside the TFRecords): faster to explore than through the
// TFRecord framing, and the place where a hostile header meets an allocation.
#include "fuzz/fuzz_util.h"
#include "png/png.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<framepair::RgbImage> image =
      framepair::DecodePng(framepair::fuzz::AsView(data, size));
  if (!image.ok()) return 0;
  FP_FUZZ_CHECK(image->width > 0 && image->height > 0 &&
                    image->pixels.size() == static_cast<size_t>(image->width) * 3 * image->height,
                "%dx%d image with %zu bytes", image->width, image->height, image->pixels.size());
  // What decodes re-encodes to the same pixels (8-bit RGB is all DecodePng accepts).
  absl::StatusOr<std::string> png = framepair::EncodePng(*image);
  FP_FUZZ_CHECK(png.ok(), "re-encoding failed: %s", png.status().ToString().c_str());
  absl::StatusOr<framepair::RgbImage> again = framepair::DecodePng(*png);
  FP_FUZZ_CHECK(again.ok() && again->pixels == image->pixels, "round trip changed the pixels");
  return 0;
}
