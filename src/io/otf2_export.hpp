// `mpipe export --format otf2`: one run of a results file as an OTF2 archive (Debian's
// libotf2-trace-dev) for otf2-print and Vampir. Internal to the CLI; the mapping is in
// docs/analysis.md ("OTF2 export").
#pragma once

#include <cstdint>
#include <string>

namespace mpipe {

// What export_otf2 wrote, for the line the command prints.
struct otf2_export_result {
  std::string run_id;
  std::string anchor;         // <out>/traces.otf2, the file otf2-print and Vampir open
  std::uint64_t regions = 0;  // region definitions: one per stage
  std::uint64_t locations = 0;
  std::uint64_t enters = 0;    // = leaves: one per event row
  std::uint64_t messages = 0;  // MPI_SEND records = MPI_RECV records: one per message row
};

// False when mpipe was built without OTF2: export_otf2 then throws, naming the package.
bool otf2_available();

// Writes run `run_id` of `results` ("" = the newest pipeline run) into the new folder `out`
// ("" = <results without extension>-<run id>.otf2 next to it). An existing `out` is refused,
// never replaced. Throws io_error naming the file, the run or OTF2's error; a folder it began
// to write is removed again.
otf2_export_result export_otf2(const std::string& results, const std::string& run_id,
                               const std::string& out);

}  // namespace mpipe
