#include "services/ingest/ingest_service.h"
#include "services/worker/worker_main.h"

int main(int argc, char** argv) {
  return framepair::WorkerMain(
      argc, argv, "framepair-ingest",
      "framepair-ingest: decodes footage from the storage root and writes its frame table\n"
      "(positions, duplicates, analysis thumbnails) for the coordinator's jobs.",
      [](framepair::StorageRoot storage, framepair::TaskRunner* runner) {
        return std::make_unique<framepair::IngestService>(std::move(storage), runner);
      });
}
