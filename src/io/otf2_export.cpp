// `mpipe export --format otf2` (src/io/otf2_export.hpp). The model, one run -> one archive:
//   system tree: the run, then a node per host; location group (process): a rank;
//   locations: per rank, "rank R" (id R, its MPI thread: the MPI_SEND / MPI_RECV records, and
//     the member of MPI_COMM_WORLD for rank R) and one thread per stage instance on it
//     ("rank R: Y", or "rank R: Y[1]" for replica 1), so that stages running at once on one
//     rank stay properly nested regions;
//   regions: one per stage, ENTER at started_ns and LEAVE at finished_ns of every event row;
//   messages: one MpiSend at posted_ns on the sender and one MpiRecv at received_ns on the
//     receiver per message row: tag = edge id, length = bytes on the wire, MPI_COMM_WORLD;
//   every record carries the item as the attribute "item";
//   time: ns on rank 0's clock (the stored stamps) since the run's start, shifted so none is
//     negative; ClockProperties: 1 GHz, the trace's length, utc_start as realtime.
#include "io/otf2_export.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <limits>
#include <map>
#include <system_error>
#include <tuple>
#include <variant>
#include <vector>

#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "mpipe/records.hpp"
#include "mpipe/version.hpp"

#ifdef MPIPE_HAVE_OTF2
#include <otf2/otf2.h>
#endif

namespace mpipe {

namespace fs = std::filesystem;

namespace {

#ifdef MPIPE_HAVE_OTF2

std::string text_attr(const run_record& r, const std::string& name) {
  const auto* v = r.get(name);
  return v != nullptr && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v)
                                                                 : std::string();
}

// The run asked for, or the newest pipeline run (`kind` absent or "run"), read whole.
run_record pick_run(const std::string& results, const std::string& run_id) {
  std::error_code ec;
  if (!fs::is_regular_file(results, ec))
    throw io_error(results + ": cannot export: " +
                   (fs::exists(results, ec) ? "not a regular file" : "no such file"));
  const auto ids = list_runs(results);
  std::string id = run_id;
  const auto kind = [&](const std::string& i) {
    const auto k = text_attr(read_run(results, i, run_part::attributes), "kind");
    return k.empty() ? std::string("run") : k;
  };
  if (id.empty()) {
    for (auto it = ids.rbegin(); it != ids.rend() && id.empty(); ++it)
      if (kind(*it) == "run") id = *it;
    if (id.empty())
      throw io_error(results + ": cannot export: no pipeline run among its " +
                     std::to_string(ids.size()) + " run(s)");
  } else if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
    throw io_error(results + ": cannot export: no run '" + id + "' (" + std::to_string(ids.size()) +
                   " run(s)" + (ids.empty() ? std::string() : ", the newest " + ids.back()) + ")");
  } else if (const auto k = kind(id); k != "run") {
    throw io_error(results + " run " + id + ": cannot export: a '" + k +
                   "' run, not a pipeline run (mpipe run)");
  }
  auto run = read_run(results, id);
  run.run_id = id;
  return run;
}

fs::path out_folder(const std::string& results, const std::string& run_id, const std::string& out) {
  if (!out.empty()) return fs::path(out);
  fs::path p = fs::absolute(results);
  return p.replace_extension().concat("-" + run_id + ".otf2");
}

// One record of one location, before the shift to non-negative times.
struct record {
  enum kind_t { leave, enter, send, recv } kind;  // leave first: at one time, LEAVE then ENTER
  std::int64_t t = 0;
  std::uint32_t ref = 0;  // region (stage) or peer rank
  std::uint32_t tag = 0;  // edge
  std::uint64_t bytes = 0;
  std::uint64_t item = 0;
};

struct location {
  std::uint64_t id = 0;
  std::string name;
  std::int32_t rank = 0;
  std::vector<record> records;
};

struct trace {
  std::vector<location> locations;  // the first `ranks` are the ranks' MPI threads
  std::int32_t ranks = 0;
  std::vector<std::string> hosts;                   // per rank
  std::map<std::int32_t, std::uint32_t> region_of;  // stage id -> region
  std::vector<std::string> regions;
  std::int64_t t0 = 0, t1 = 0;  // earliest and latest stamp
};

std::int32_t rank_count(const run_record& run) {
  std::int32_t n = 0;
  for (const auto& r : run.ranks) n = std::max(n, r.rank + 1);
  for (const auto& e : run.events) n = std::max(n, e.rank + 1);
  for (const auto& m : run.messages) n = std::max({n, m.src_rank + 1, m.dst_rank + 1});
  return n;
}

void add_ranks(const run_record& run, trace& tr) {
  tr.ranks = rank_count(run);
  tr.hosts.assign(static_cast<std::size_t>(tr.ranks), "unknown host");
  for (const auto& r : run.ranks)
    if (r.rank >= 0 && !r.host.empty()) tr.hosts[static_cast<std::size_t>(r.rank)] = r.host;
  for (std::int32_t r = 0; r < tr.ranks; ++r)
    tr.locations.push_back({static_cast<std::uint64_t>(r), "rank " + std::to_string(r), r, {}});
  for (const auto& s : run.stages) {
    tr.region_of[s.id] = static_cast<std::uint32_t>(tr.regions.size());
    tr.regions.push_back(s.name);
  }
}

std::uint32_t region_for(trace& tr, std::int32_t stage) {
  const auto it = tr.region_of.find(stage);
  if (it != tr.region_of.end()) return it->second;
  tr.regions.push_back("stage " + std::to_string(stage));  // a row of no known stage
  return tr.region_of[stage] = static_cast<std::uint32_t>(tr.regions.size() - 1);
}

// ENTER/LEAVE per event row, on its stage instance's thread, in time order and never
// overlapping on one thread.
void add_events(const run_record& run, trace& tr) {
  std::map<std::tuple<std::int32_t, std::int32_t, std::int32_t>, std::vector<event_row>> by;
  for (const auto& e : run.events) by[{e.rank, e.stage, e.replica}].push_back(e);
  for (auto& [key, rows] : by) {
    const auto [rank, stage, replica] = key;
    const std::uint32_t region = region_for(tr, stage);
    location loc{
        tr.locations.size(), "rank " + std::to_string(rank) + ": " + tr.regions[region], rank, {}};
    if (replica != 0) loc.name += "[" + std::to_string(replica) + "]";
    std::sort(rows.begin(), rows.end(),
              [](const event_row& a, const event_row& b) { return a.started_ns < b.started_ns; });
    std::int64_t last = std::numeric_limits<std::int64_t>::min();
    for (const auto& e : rows) {
      const std::int64_t in = std::max(e.started_ns, last);
      last = std::max(in, e.finished_ns);
      loc.records.push_back({record::enter, in, region, 0, 0, e.item});
      loc.records.push_back({record::leave, last, region, 0, 0, e.item});
    }
    tr.locations.push_back(std::move(loc));
  }
}

void add_messages(const run_record& run, trace& tr) {
  for (const auto& m : run.messages) {
    const auto tag = static_cast<std::uint32_t>(m.edge);
    tr.locations[static_cast<std::size_t>(m.src_rank)].records.push_back(
        {record::send, m.posted_ns, static_cast<std::uint32_t>(m.dst_rank), tag, m.bytes, m.item});
    tr.locations[static_cast<std::size_t>(m.dst_rank)].records.push_back(
        {record::recv, m.received_ns, static_cast<std::uint32_t>(m.src_rank), tag, m.bytes,
         m.item});
  }
}

trace build_trace(const run_record& run) {
  trace tr;
  add_ranks(run, tr);
  add_events(run, tr);
  add_messages(run, tr);
  bool any = false;
  for (auto& loc : tr.locations) {
    std::stable_sort(loc.records.begin(), loc.records.end(), [](const record& a, const record& b) {
      return a.t != b.t ? a.t < b.t : a.kind < b.kind;
    });
    for (const auto& r : loc.records) {
      tr.t0 = any ? std::min(tr.t0, r.t) : r.t;
      tr.t1 = any ? std::max(tr.t1, r.t) : r.t;
      any = true;
    }
  }
  tr.t0 = std::min<std::int64_t>(tr.t0, 0);  // time 0 is the run's start unless a stamp is earlier
  return tr;
}

// utc_start ("2026-12-01T18:16:26.688373Z") as ns since the epoch; 0 if it does not read.
std::uint64_t utc_ns(const std::string& utc) {
  std::tm tm{};
  int n = 0;
  if (std::sscanf(utc.c_str(), "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::time_t s = timegm(&tm);
  if (s < 0) return 0;
  std::uint64_t frac = 0, scale = 1000000000ULL;  // the digits after the point, as ns
  if (utc[static_cast<std::size_t>(n)] == '.')
    for (std::size_t i = static_cast<std::size_t>(n) + 1; i < utc.size() && scale > 1; ++i) {
      if (utc[i] < '0' || utc[i] > '9') break;
      scale /= 10;
      frac += static_cast<std::uint64_t>(utc[i] - '0') * scale;
    }
  return static_cast<std::uint64_t>(s) * 1000000000ULL + frac;
}

void check(OTF2_ErrorCode code, const char* what) {
  if (code != OTF2_SUCCESS)
    throw io_error(std::string("OTF2: ") + what + ": " + OTF2_Error_GetName(code) + ": " +
                   OTF2_Error_GetDescription(code));
}

OTF2_FlushType pre_flush(void*, OTF2_FileType, OTF2_LocationRef, void*, bool) { return OTF2_FLUSH; }

// The string table: a name's String record is written the first time it is used, so (the
// arguments of a definition being evaluated before it is written) it precedes its first user.
struct strings {
  OTF2_GlobalDefWriter* g;
  std::map<std::string, OTF2_StringRef> ids;
  OTF2_StringRef operator()(const std::string& text) {
    const auto it = ids.find(text);
    if (it != ids.end()) return it->second;
    const auto id = static_cast<OTF2_StringRef>(ids.size());
    check(OTF2_GlobalDefWriter_WriteString(g, id, text.c_str()), "string");
    return ids[text] = id;
  }
};

constexpr OTF2_AttributeRef item_attribute = 0;
constexpr OTF2_CommRef comm_world = 0;
constexpr OTF2_GroupRef world_locations = 0, world_group = 1;

void write_record(OTF2_EvtWriter* w, OTF2_AttributeList* attrs, const record& r, std::int64_t t0) {
  const auto t = static_cast<OTF2_TimeStamp>(r.t - t0);
  check(OTF2_AttributeList_RemoveAllAttributes(attrs), "attribute list");
  check(OTF2_AttributeList_AddUint64(attrs, item_attribute, r.item), "attribute list");
  switch (r.kind) {
    case record::enter:
      check(OTF2_EvtWriter_Enter(w, attrs, t, r.ref), "ENTER");
      break;
    case record::leave:
      check(OTF2_EvtWriter_Leave(w, attrs, t, r.ref), "LEAVE");
      break;
    case record::send:
      check(OTF2_EvtWriter_MpiSend(w, attrs, t, r.ref, comm_world, r.tag, r.bytes), "MPI_SEND");
      break;
    case record::recv:
      check(OTF2_EvtWriter_MpiRecv(w, attrs, t, r.ref, comm_world, r.tag, r.bytes), "MPI_RECV");
      break;
  }
}

void write_events(OTF2_Archive* archive, const trace& tr) {
  check(OTF2_Archive_OpenEvtFiles(archive), "opening the event files");
  OTF2_AttributeList* attrs = OTF2_AttributeList_New();
  if (attrs == nullptr) throw io_error("OTF2: cannot allocate an attribute list");
  try {
    for (const auto& loc : tr.locations) {
      OTF2_EvtWriter* w = OTF2_Archive_GetEvtWriter(archive, loc.id);
      if (w == nullptr) throw io_error("OTF2: no event writer for " + loc.name);
      for (const auto& r : loc.records) write_record(w, attrs, r, tr.t0);
      check(OTF2_Archive_CloseEvtWriter(archive, w), "closing an event writer");
    }
  } catch (...) {
    OTF2_AttributeList_Delete(attrs);
    throw;
  }
  OTF2_AttributeList_Delete(attrs);
  check(OTF2_Archive_CloseEvtFiles(archive), "closing the event files");
  // Local definitions: none, but every location has its (empty) file, as readers expect.
  check(OTF2_Archive_OpenDefFiles(archive), "opening the definition files");
  for (const auto& loc : tr.locations) {
    OTF2_DefWriter* d = OTF2_Archive_GetDefWriter(archive, loc.id);
    if (d == nullptr) throw io_error("OTF2: no definition writer for " + loc.name);
    check(OTF2_Archive_CloseDefWriter(archive, d), "closing a definition writer");
  }
  check(OTF2_Archive_CloseDefFiles(archive), "closing the definition files");
}

// System tree (run, hosts), location groups (ranks), locations.
void write_places(OTF2_GlobalDefWriter* g, const trace& tr, strings& s, const std::string& run_id) {
  check(OTF2_GlobalDefWriter_WriteSystemTreeNode(g, 0, s("mpipe run " + run_id), s("machine"),
                                                 OTF2_UNDEFINED_SYSTEM_TREE_NODE),
        "system tree");
  std::map<std::string, OTF2_SystemTreeNodeRef> node;
  for (const auto& h : tr.hosts) {
    if (node.count(h) != 0) continue;
    const auto id = static_cast<OTF2_SystemTreeNodeRef>(node.size() + 1);
    node[h] = id;
    check(OTF2_GlobalDefWriter_WriteSystemTreeNode(g, id, s(h), s("node"), 0), "system tree");
  }
  for (std::int32_t r = 0; r < tr.ranks; ++r)
    check(OTF2_GlobalDefWriter_WriteLocationGroup(
              g, static_cast<OTF2_LocationGroupRef>(r), s("rank " + std::to_string(r)),
              OTF2_LOCATION_GROUP_TYPE_PROCESS, node.at(tr.hosts[static_cast<std::size_t>(r)]),
              OTF2_UNDEFINED_LOCATION_GROUP),
          "location group");
  for (const auto& loc : tr.locations)
    check(OTF2_GlobalDefWriter_WriteLocation(g, loc.id, s(loc.name), OTF2_LOCATION_TYPE_CPU_THREAD,
                                             loc.records.size(),
                                             static_cast<OTF2_LocationGroupRef>(loc.rank)),
          "location");
}

// Regions (stages), the item attribute, MPI_COMM_WORLD over the ranks' MPI threads.
void write_names(OTF2_GlobalDefWriter* g, const trace& tr, strings& s) {
  for (std::size_t i = 0; i < tr.regions.size(); ++i)
    check(OTF2_GlobalDefWriter_WriteRegion(g, static_cast<OTF2_RegionRef>(i), s(tr.regions[i]),
                                           s(tr.regions[i]), s("mpipe stage " + tr.regions[i]),
                                           OTF2_REGION_ROLE_FUNCTION, OTF2_PARADIGM_USER,
                                           OTF2_REGION_FLAG_NONE, s(""), 0, 0),
          "region");
  check(OTF2_GlobalDefWriter_WriteAttribute(g, item_attribute, s("item"),
                                            s("the item this record belongs to"), OTF2_TYPE_UINT64),
        "attribute");
  check(OTF2_GlobalDefWriter_WriteParadigm(g, OTF2_PARADIGM_MPI, s("MPI"),
                                           OTF2_PARADIGM_CLASS_PROCESS),
        "paradigm");
  std::vector<std::uint64_t> locs, ranks;
  for (std::int32_t r = 0; r < tr.ranks; ++r) {
    locs.push_back(static_cast<std::uint64_t>(r));  // rank r's MPI thread has location id r
    ranks.push_back(static_cast<std::uint64_t>(r));
  }
  const auto n = static_cast<std::uint32_t>(locs.size());
  check(OTF2_GlobalDefWriter_WriteGroup(g, world_locations, s("MPI ranks"),
                                        OTF2_GROUP_TYPE_COMM_LOCATIONS, OTF2_PARADIGM_MPI,
                                        OTF2_GROUP_FLAG_NONE, n, locs.data()),
        "group");
  check(OTF2_GlobalDefWriter_WriteGroup(g, world_group, s("MPI_COMM_WORLD"),
                                        OTF2_GROUP_TYPE_COMM_GROUP, OTF2_PARADIGM_MPI,
                                        OTF2_GROUP_FLAG_NONE, n, ranks.data()),
        "group");
  check(OTF2_GlobalDefWriter_WriteComm(g, comm_world, s("MPI_COMM_WORLD"), world_group,
                                       OTF2_UNDEFINED_COMM, OTF2_COMM_FLAG_NONE),
        "communicator");
}

void write_definitions(OTF2_Archive* archive, const trace& tr, const run_record& run) {
  OTF2_GlobalDefWriter* g = OTF2_Archive_GetGlobalDefWriter(archive);
  if (g == nullptr) throw io_error("OTF2: no global definition writer");
  // ClockProperties first, as readers expect.
  const std::uint64_t utc = utc_ns(text_attr(run, "utc_start"));
  check(OTF2_GlobalDefWriter_WriteClockProperties(
            g, 1000000000ULL, 0, static_cast<std::uint64_t>(tr.t1 - tr.t0),
            utc == 0 ? OTF2_UNDEFINED_TIMESTAMP
                     : static_cast<std::uint64_t>(static_cast<std::int64_t>(utc) + tr.t0)),
        "clock properties");
  strings s{g, {}};
  write_places(g, tr, s, run.run_id);
  write_names(g, tr, s);
}

void write_archive(const fs::path& dir, const trace& tr, const run_record& run) {
  OTF2_Archive* archive =
      OTF2_Archive_Open(dir.c_str(), "traces", OTF2_FILEMODE_WRITE, 1024 * 1024, 4 * 1024 * 1024,
                        OTF2_SUBSTRATE_POSIX, OTF2_COMPRESSION_NONE);
  if (archive == nullptr) throw io_error(dir.string() + ": OTF2 cannot create the archive");
  try {
    OTF2_FlushCallbacks flush{pre_flush, nullptr};  // no post-flush: no BufferFlush records
    check(OTF2_Archive_SetFlushCallbacks(archive, &flush, nullptr), "flush callbacks");
    check(OTF2_Archive_SetSerialCollectiveCallbacks(archive), "collective callbacks");
    check(OTF2_Archive_SetCreator(archive, (std::string("mpipe ") + version).c_str()), "creator");
    check(OTF2_Archive_SetDescription(archive, ("mpipe run " + run.run_id).c_str()), "description");
    write_events(archive, tr);
    write_definitions(archive, tr, run);
  } catch (...) {
    OTF2_Archive_Close(archive);
    throw;
  }
  check(OTF2_Archive_Close(archive), "closing the archive");
}

#endif  // MPIPE_HAVE_OTF2

}  // namespace

bool otf2_available() {
#ifdef MPIPE_HAVE_OTF2
  return true;
#else
  return false;
#endif
}

otf2_export_result export_otf2(const std::string& results, const std::string& run_id,
                               const std::string& out) {
#ifndef MPIPE_HAVE_OTF2
  (void)results, (void)run_id, (void)out;
  throw io_error(
      "--format otf2: this mpipe was built without OTF2; install Debian's libotf2-trace-dev "
      "(apt-get install libotf2-trace-dev otf2-tools, or scripts/setup.sh) and rebuild");
#else
  const auto run = pick_run(results, run_id);
  const fs::path dir = out_folder(results, run.run_id, out);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dir, ec)))
    throw io_error(dir.string() + " exists: an OTF2 export never replaces it; choose another -o");
  const auto tr = build_trace(run);
  try {
    if (dir.has_parent_path()) fs::create_directories(dir.parent_path());
    write_archive(dir, tr, run);
  } catch (const std::exception& e) {
    fs::remove_all(dir, ec);  // it did not exist before: what is there is a partial archive
    throw io_error(dir.string() + ": cannot write the OTF2 archive: " + e.what());
  }
  otf2_export_result res{run.run_id,        (dir / "traces.otf2").string(),
                         tr.regions.size(), tr.locations.size(),
                         run.events.size(), run.messages.size()};
  return res;
#endif
}

}  // namespace mpipe
