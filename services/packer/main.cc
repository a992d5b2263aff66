#include "services/packer/packer_service.h"
#include "services/worker/worker_main.h"

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  framepair::PackerOptions packer;
  return framepair::WorkerMain(
      argc, argv, "framepair-packer",
      "framepair-packer: decodes the frames of one shard's windows, encodes PNGs and writes the\n"
      "TFRecord shard into the job's work directory for the coordinator to publish.",
      [&packer](framepair::StorageRoot storage, framepair::TaskRunner* runner) {
        return std::make_unique<framepair::PackerService>(std::move(storage), packer, runner);
      },
      framepair::MemoryBudget::kFlag,
      [&packer](po::options_description& flags) {
        flags.add_options()("pack-threads",
                            po::value(&packer.threads)->default_value(packer.threads),
                            "decode and PNG threads per shard (0 = all cores)");
        framepair::AddMaxFramePixelsFlag(flags, &packer.max_frame_pixels);
      });
}
