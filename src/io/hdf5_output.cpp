#include "mpipe/hdf5_output.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <span>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <variant>

#include "h5.hpp"
#include "lock.hpp"
#include "mpipe/error.hpp"

namespace mpipe {

namespace fs = std::filesystem;

namespace h5 {

namespace {

std::string message_text(hid_t message) {
  char text[256] = {};
  if (H5Eget_msg(message, nullptr, text, sizeof text) <= 0) return "?";
  return text;
}

herr_t append_frame(unsigned, const H5E_error2_t* frame, void* out) {
  auto& text = *static_cast<std::string*>(out);
  try {
    text += "\n  HDF5: ";
    text += frame->func_name ? frame->func_name : "?";
    text += "(): ";
    text += frame->desc ? frame->desc : "";
    text += " [" + message_text(frame->maj_num) + ": " + message_text(frame->min_num) + "]";
  } catch (...) {
    return -1;  // exceptions must not cross HDF5's C frames
  }
  return 0;
}

}  // namespace

std::string error_stack() {
  std::string text;
  // Downward: the API call the user made first, the low-level cause (errno text, ...) last.
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, append_frame, &text);
  H5Eclear2(H5E_DEFAULT);
  return text;
}

void raise(const std::string& what) { throw io_error(what + error_stack()); }

}  // namespace h5

namespace {

constexpr std::int64_t schema_version = 1;
constexpr const char* runs_group = "runs";
constexpr const char* version_attribute = "mpipe_schema_version";

// ---------------------------------------------------------------------------------------------
// Tables: one compound dataset per row struct, described once and used for writing and reading.

template <class Row>
using member = std::variant<std::int32_t Row::*, std::int64_t Row::*, std::uint64_t Row::*,
                            double Row::*, std::string Row::*>;

template <class Row>
struct column {
  const char* name;
  member<Row> field;
};

const column<event_row> event_columns[] = {
    {"item", &event_row::item},
    {"stage", &event_row::stage},
    {"replica", &event_row::replica},
    {"rank", &event_row::rank},
    {"received_ns", &event_row::received_ns},
    {"started_ns", &event_row::started_ns},
    {"finished_ns", &event_row::finished_ns},
    {"sent_ns", &event_row::sent_ns},
};

const column<message_row> message_columns[] = {
    {"item", &message_row::item},
    {"edge", &message_row::edge},
    {"src_rank", &message_row::src_rank},
    {"dst_rank", &message_row::dst_rank},
    {"bytes", &message_row::bytes},
    {"send_start_ns", &message_row::send_start_ns},
    {"serialize_ns", &message_row::serialize_ns},
    {"posted_ns", &message_row::posted_ns},
    {"received_ns", &message_row::received_ns},
    {"deserialize_ns", &message_row::deserialize_ns},
    {"transfer_ns", &message_row::transfer_ns},
    {"clock_error_ns", &message_row::clock_error_ns},
    {"below_clock_error", &message_row::below_clock_error},
    {"src_replica", &message_row::src_replica},
    {"dst_replica", &message_row::dst_replica},
    {"available_ns", &message_row::available_ns},
    {"credit_wait_ns", &message_row::credit_wait_ns},
};

const column<handoff_row> handoff_columns[] = {
    {"item", &handoff_row::item},
    {"edge", &handoff_row::edge},
    {"rank", &handoff_row::rank},
    {"src_replica", &handoff_row::src_replica},
    {"dst_replica", &handoff_row::dst_replica},
    {"available_ns", &handoff_row::available_ns},
    {"credit_wait_ns", &handoff_row::credit_wait_ns},
};

const column<item_row> item_columns[] = {
    {"item", &item_row::item},
    {"emitted_ns", &item_row::emitted_ns},
    {"completed_ns", &item_row::completed_ns},
    {"latency_ns", &item_row::latency_ns},
};

const column<rank_row> rank_columns[] = {
    {"rank", &rank_row::rank},
    {"host", &rank_row::host},
    {"pid", &rank_row::pid},
    {"omp_max_threads", &rank_row::omp_max_threads},
    {"hardware_threads", &rank_row::hardware_threads},
    {"usable_cores", &rank_row::usable_cores},
    {"cpus", &rank_row::cpus},
    {"omp_places", &rank_row::omp_places},
    {"clock_offset_ns", &rank_row::clock_offset_ns},
    {"clock_offset_end_ns", &rank_row::clock_offset_end_ns},
    {"clock_drift_ppm", &rank_row::clock_drift_ppm},
    {"clock_error_ns", &rank_row::clock_error_ns},
    {"clock_rtt_ns", &rank_row::clock_rtt_ns},
    {"stages", &rank_row::stages},
};

const column<stage_row> stage_columns[] = {
    {"id", &stage_row::id},
    {"name", &stage_row::name},
    {"kernel", &stage_row::kernel},
    {"work_ms", &stage_row::work_ms},
    {"threads", &stage_row::threads},
    {"payload_bytes", &stage_row::payload_bytes},
    {"rank", &stage_row::rank},
    {"replicas", &stage_row::replicas},
    {"dispatch", &stage_row::dispatch},
    {"ordered", &stage_row::ordered},
    {"ranks", &stage_row::ranks},
    {"function", &stage_row::function},
    {"pipe_us", &stage_row::pipe_us},
};

const column<edge_row> edge_columns[] = {
    {"id", &edge_row::id},
    {"from", &edge_row::from},
    {"to", &edge_row::to},
    {"from_name", &edge_row::from_name},
    {"to_name", &edge_row::to_name},
    {"from_rank", &edge_row::from_rank},
    {"to_rank", &edge_row::to_rank},
    {"tier", &edge_row::tier},
    {"transport", &edge_row::transport},
    {"serialization", &edge_row::serialization},
    {"payload_bytes", &edge_row::payload_bytes},
    {"tier_split", &edge_row::tier_split},
    {"data_type", &edge_row::data_type},
};

const column<edge_instance_row> edge_instance_columns[] = {
    {"edge", &edge_instance_row::edge},
    {"src_replica", &edge_instance_row::src_replica},
    {"dst_replica", &edge_instance_row::dst_replica},
    {"from_rank", &edge_instance_row::from_rank},
    {"to_rank", &edge_instance_row::to_rank},
    {"tier", &edge_instance_row::tier},
    {"transport", &edge_instance_row::transport},
    {"items", &edge_instance_row::items},
};

const column<calibration_row> calibration_columns[] = {
    {"tier", &calibration_row::tier},
    {"method", &calibration_row::method},
    {"points", &calibration_row::points},
    {"alpha_us", &calibration_row::alpha_us},
    {"ns_per_byte", &calibration_row::ns_per_byte},
    {"bandwidth_mb_s", &calibration_row::bandwidth_mb_s},
    {"r2", &calibration_row::r2},
    {"serialize_us", &calibration_row::serialize_us},
    {"serialize_ns_per_byte", &calibration_row::serialize_ns_per_byte},
    {"deserialize_us", &calibration_row::deserialize_us},
    {"deserialize_ns_per_byte", &calibration_row::deserialize_ns_per_byte},
};

const column<sweep_point_row> sweep_point_columns[] = {
    {"point", &sweep_point_row::point},
    {"transport", &sweep_point_row::transport},
    {"placement", &sweep_point_row::placement},
    {"placement_resolved", &sweep_point_row::placement_resolved},
    {"work_scale", &sweep_point_row::work_scale},
    {"time_scale", &sweep_point_row::time_scale},
    {"work_per_stage_ms", &sweep_point_row::work_per_stage_ms},
    {"work_per_item_ms", &sweep_point_row::work_per_item_ms},
    {"payload_bytes", &sweep_point_row::payload_bytes},
    {"serialization", &sweep_point_row::serialization},
    {"emulated_link", &sweep_point_row::emulated_link},
    {"replicas", &sweep_point_row::replicas},
    {"threads", &sweep_point_row::threads},
    {"repeats", &sweep_point_row::repeats},
    {"warmup", &sweep_point_row::warmup},
    {"stopped_early", &sweep_point_row::stopped_early},
    {"latency_median_ms", &sweep_point_row::latency_median_ms},
    {"latency_mean_ms", &sweep_point_row::latency_mean_ms},
    {"latency_q1_ms", &sweep_point_row::latency_q1_ms},
    {"latency_q3_ms", &sweep_point_row::latency_q3_ms},
    {"latency_iqr_ms", &sweep_point_row::latency_iqr_ms},
    {"latency_p95_ms", &sweep_point_row::latency_p95_ms},
    {"latency_min_ms", &sweep_point_row::latency_min_ms},
    {"latency_max_ms", &sweep_point_row::latency_max_ms},
    {"latency_ci_low_ms", &sweep_point_row::latency_ci_low_ms},
    {"latency_ci_high_ms", &sweep_point_row::latency_ci_high_ms},
    {"throughput_median_items_per_s", &sweep_point_row::throughput_median_items_per_s},
    {"throughput_ci_low_items_per_s", &sweep_point_row::throughput_ci_low_items_per_s},
    {"throughput_ci_high_items_per_s", &sweep_point_row::throughput_ci_high_items_per_s},
    {"critical_path_ms", &sweep_point_row::critical_path_ms},
    {"predicted_latency_ms", &sweep_point_row::predicted_latency_ms},
    {"ideal_latency_ms", &sweep_point_row::ideal_latency_ms},
    {"seconds", &sweep_point_row::seconds},
};

const column<sweep_repeat_row> sweep_repeat_columns[] = {
    {"point", &sweep_repeat_row::point},
    {"round", &sweep_repeat_row::round},
    {"repeat", &sweep_repeat_row::repeat},
    {"warmup", &sweep_repeat_row::warmup},
    {"order", &sweep_repeat_row::order},
    {"latency_mean_ms", &sweep_repeat_row::latency_mean_ms},
    {"latency_min_ms", &sweep_repeat_row::latency_min_ms},
    {"latency_max_ms", &sweep_repeat_row::latency_max_ms},
    {"throughput_items_per_s", &sweep_repeat_row::throughput_items_per_s},
    {"started_s", &sweep_repeat_row::started_s},
    {"duration_s", &sweep_repeat_row::duration_s},
    {"run_id", &sweep_repeat_row::run_id},
};

const column<break_even_row> break_even_columns[] = {
    {"quantity", &break_even_row::quantity},
    {"local", &break_even_row::local},
    {"distributed", &break_even_row::distributed},
    {"status", &break_even_row::status},
    {"work_per_stage_ms", &break_even_row::work_per_stage_ms},
    {"ci_low_ms", &break_even_row::ci_low_ms},
    {"ci_high_ms", &break_even_row::ci_high_ms},
    {"work_per_item_ms", &break_even_row::work_per_item_ms},
    {"found_fraction", &break_even_row::found_fraction},
    {"predicted_status", &break_even_row::predicted_status},
    {"predicted_work_per_stage_ms", &break_even_row::predicted_work_per_stage_ms},
    {"predicted_work_per_item_ms", &break_even_row::predicted_work_per_item_ms},
};

const column<latency_tolerance_row> latency_tolerance_columns[] = {
    {"settings", &latency_tolerance_row::settings},
    {"placement", &latency_tolerance_row::placement},
    {"scope", &latency_tolerance_row::scope},
    {"slowdown_pct", &latency_tolerance_row::slowdown_pct},
    {"base_ms", &latency_tolerance_row::base_ms},
    {"predicted_base_ms", &latency_tolerance_row::predicted_base_ms},
    {"predicted_ms", &latency_tolerance_row::predicted_ms},
    {"status", &latency_tolerance_row::status},
    {"measured_ms", &latency_tolerance_row::measured_ms},
    {"min_tried_ms", &latency_tolerance_row::min_tried_ms},
    {"max_tried_ms", &latency_tolerance_row::max_tried_ms},
    {"error_pct", &latency_tolerance_row::error_pct},
};

const column<bench_row> bench_columns[] = {
    {"tier", &bench_row::tier},
    {"method", &bench_row::method},
    {"size_bytes", &bench_row::size_bytes},
    {"reps", &bench_row::reps},
    {"latency_us", &bench_row::latency_us},
    {"latency_p95_us", &bench_row::latency_p95_us},
    {"bandwidth_mb_s", &bench_row::bandwidth_mb_s},
    {"latency_ratio", &bench_row::latency_ratio},
    {"bandwidth_ratio", &bench_row::bandwidth_ratio},
    {"serialize_us", &bench_row::serialize_us},
    {"deserialize_us", &bench_row::deserialize_us},
};

// Memory holds strings as `const char*`, which is how HDF5 exchanges variable-length strings.
template <class Row>
std::size_t memory_size(const member<Row>& field) {
  return std::visit(
      [](auto pointer) -> std::size_t {
        using value = std::remove_reference_t<decltype(std::declval<Row&>().*pointer)>;
        if constexpr (std::is_same_v<value, std::string>) {
          return sizeof(const char*);
        } else {
          return sizeof(value);
        }
      },
      field);
}

// The memory type (native, naturally aligned) and the file type (little-endian, packed, so that
// numpy sees plain structured arrays without padding fields) of one table.
template <class Row>
struct table_layout {
  std::vector<std::size_t> offsets;
  std::size_t stride = 0;
  h5::handle memory_type;
  h5::handle file_type;

  explicit table_layout(std::span<const column<Row>> columns) {
    std::size_t file_size = 0;
    for (const auto& c : columns) {
      const std::size_t size = memory_size(c.field);
      stride = (stride + size - 1) / size * size;
      offsets.push_back(stride);
      stride += size;
      file_size += size;
    }
    stride = (stride + 7) / 8 * 8;
    memory_type = h5::handle(H5Tcreate(H5T_COMPOUND, stride), "create compound memory type");
    file_type = h5::handle(H5Tcreate(H5T_COMPOUND, file_size), "create compound file type");
    const h5::handle string_type = h5::utf8_string_type();
    std::size_t file_offset = 0;
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const auto [native, standard] = std::visit(
          [&](auto pointer) -> std::pair<hid_t, hid_t> {
            using value = std::remove_reference_t<decltype(std::declval<Row&>().*pointer)>;
            if constexpr (std::is_same_v<value, std::int32_t>) {
              return {H5T_NATIVE_INT32, H5T_STD_I32LE};
            } else if constexpr (std::is_same_v<value, std::int64_t>) {
              return {H5T_NATIVE_INT64, H5T_STD_I64LE};
            } else if constexpr (std::is_same_v<value, std::uint64_t>) {
              return {H5T_NATIVE_UINT64, H5T_STD_U64LE};
            } else if constexpr (std::is_same_v<value, double>) {
              return {H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE};
            } else {
              return {string_type, string_type};
            }
          },
          columns[i].field);
      const std::string what = std::string("add column ") + columns[i].name;
      h5::check(H5Tinsert(memory_type, columns[i].name, offsets[i], native), what);
      h5::check(H5Tinsert(file_type, columns[i].name, file_offset, standard), what);
      file_offset += memory_size(columns[i].field);
    }
  }
};

template <class Row>
void write_table(hid_t group, const char* name, const std::vector<Row>& rows,
                 std::span<const column<Row>> columns) {
  const std::string what = std::string("dataset '") + name + "'";
  const table_layout<Row> layout(columns);
  std::vector<unsigned char> buffer(rows.size() * layout.stride);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    unsigned char* out = buffer.data() + r * layout.stride;
    for (std::size_t i = 0; i < columns.size(); ++i) {
      std::visit(
          [&](auto pointer) {
            const auto& value = rows[r].*pointer;
            if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::string>) {
              const char* text = value.c_str();
              std::memcpy(out + layout.offsets[i], &text, sizeof text);
            } else {
              std::memcpy(out + layout.offsets[i], &value, sizeof value);
            }
          },
          columns[i].field);
    }
  }
  // Always created, also with zero rows, so a notebook can rely on every dataset being there.
  const hsize_t count = rows.size();
  const h5::handle space(H5Screate_simple(1, &count, nullptr), "create dataspace of " + what);
  const h5::handle dataset(
      H5Dcreate2(group, name, layout.file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      "create " + what);
  if (count > 0) {
    h5::check(H5Dwrite(dataset, layout.memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()),
              "write " + what);
  }
}

template <class Row>
std::vector<Row> read_table(hid_t group, const char* name, std::span<const column<Row>> columns) {
  const std::string what = std::string("dataset '") + name + "'";
  const table_layout<Row> layout(columns);
  const h5::handle dataset(H5Dopen2(group, name, H5P_DEFAULT), "open " + what);
  const h5::handle space(H5Dget_space(dataset), "get dataspace of " + what);
  if (H5Sget_simple_extent_ndims(space) != 1) throw io_error(what + " is not one-dimensional");
  hsize_t count = 0;
  H5Sget_simple_extent_dims(space, &count, nullptr);
  std::vector<Row> rows(count);
  if (count == 0) return rows;
  std::vector<unsigned char> buffer(count * layout.stride);
  h5::check(H5Dread(dataset, layout.memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()),
            "read " + what);
  // HDF5 allocated every string; free them however the copying below ends.
  struct reclaimer {
    hid_t type, space;
    void* data;
    ~reclaimer() { h5::reclaim(type, space, data); }
  } guard{layout.memory_type, space, buffer.data()};
  for (std::size_t r = 0; r < count; ++r) {
    const unsigned char* in = buffer.data() + r * layout.stride;
    for (std::size_t i = 0; i < columns.size(); ++i) {
      std::visit(
          [&](auto pointer) {
            auto& value = rows[r].*pointer;
            if constexpr (std::is_same_v<std::decay_t<decltype(value)>, std::string>) {
              const char* text = nullptr;
              std::memcpy(&text, in + layout.offsets[i], sizeof text);
              value = text ? text : "";
            } else {
              std::memcpy(&value, in + layout.offsets[i], sizeof value);
            }
          },
          columns[i].field);
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Attributes.

void write_attribute(hid_t object, const std::string& name, const attribute_value& value) {
  const std::string what = "attribute '" + name + "'";
  const h5::handle space = h5::scalar_space();
  std::visit(
      [&](const auto& v) {
        using type = std::decay_t<decltype(v)>;
        h5::handle owned;
        hid_t file_type = H5I_INVALID_HID;
        hid_t memory_type = H5I_INVALID_HID;
        if constexpr (std::is_same_v<type, std::string>) {
          owned = h5::utf8_string_type();
          file_type = memory_type = owned;
        } else if constexpr (std::is_same_v<type, std::int64_t>) {
          file_type = H5T_STD_I64LE;
          memory_type = H5T_NATIVE_INT64;
        } else if constexpr (std::is_same_v<type, double>) {
          file_type = H5T_IEEE_F64LE;
          memory_type = H5T_NATIVE_DOUBLE;
        } else {
          owned = h5::bool_type();
          file_type = memory_type = owned;
        }
        const h5::handle attr(
            H5Acreate2(object, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT),
            "create " + what);
        if constexpr (std::is_same_v<type, std::string>) {
          const char* text = v.c_str();
          h5::check(H5Awrite(attr, memory_type, &text), "write " + what);
        } else if constexpr (std::is_same_v<type, bool>) {
          const signed char flag = v ? 1 : 0;
          h5::check(H5Awrite(attr, memory_type, &flag), "write " + what);
        } else {
          h5::check(H5Awrite(attr, memory_type, &v), "write " + what);
        }
      },
      value);
}

attribute_value read_attribute(hid_t object, const std::string& name) {
  const std::string what = "attribute '" + name + "'";
  const h5::handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT), "open " + what);
  const h5::handle type(H5Aget_type(attr), "get type of " + what);
  const h5::handle space(H5Aget_space(attr), "get dataspace of " + what);
  if (H5Sget_simple_extent_npoints(space) != 1) {
    throw io_error(what + " is not a single value");
  }
  switch (H5Tget_class(type)) {
    case H5T_STRING: {
      if (h5::check_tri(H5Tis_variable_str(type), "inspect " + what)) {
        const h5::handle memory(H5Tget_native_type(type, H5T_DIR_ASCEND), "type of " + what);
        char* text = nullptr;
        h5::check(H5Aread(attr, memory, &text), "read " + what);
        std::string result = text ? text : "";
        h5::reclaim(memory, space, &text);
        return result;
      }
      std::string text(H5Tget_size(type), '\0');
      h5::check(H5Aread(attr, type, text.data()), "read " + what);
      text.resize(std::strlen(text.c_str()));
      return text;
    }
    case H5T_INTEGER: {
      std::int64_t v = 0;
      h5::check(H5Aread(attr, H5T_NATIVE_INT64, &v), "read " + what);
      return v;
    }
    case H5T_FLOAT: {
      double v = 0;
      h5::check(H5Aread(attr, H5T_NATIVE_DOUBLE, &v), "read " + what);
      return v;
    }
    case H5T_ENUM: {
      // Converting to our own FALSE/TRUE enum matches members by name, so any other enum fails.
      const h5::handle boolean = h5::bool_type();
      signed char flag = 0;
      h5::check(H5Aread(attr, boolean, &flag), "read " + what + " as a FALSE/TRUE boolean");
      return flag != 0;
    }
    default:
      throw io_error(what + " has a type mpipe does not write (not string/int/float/bool)");
  }
}

herr_t collect_name(hid_t, const char* name, const H5A_info_t*, void* out) {
  try {
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  } catch (...) {
    return -1;
  }
  return 0;
}

std::vector<std::string> attribute_names(hid_t object) {
  // Creation order when the object tracks it (mpipe's run groups do), so a record reads back in
  // the order it was written; name order otherwise.
  H5_index_t index = H5_INDEX_NAME;
  if (H5Iget_type(object) == H5I_GROUP) {
    const h5::handle plist(H5Gget_create_plist(object), "get group creation properties");
    unsigned flags = 0;
    h5::check(H5Pget_attr_creation_order(plist, &flags), "get attribute creation order");
    if (flags & H5P_CRT_ORDER_INDEXED) index = H5_INDEX_CRT_ORDER;
  }
  std::vector<std::string> names;
  h5::check(H5Aiterate2(object, index, H5_ITER_INC, nullptr, collect_name, &names),
            "list attributes");
  return names;
}

// ---------------------------------------------------------------------------------------------
// Files.

bool is_hdf5(const std::string& path) {
#if H5_VERSION_GE(1, 12, 0)
  return H5Fis_accessible(path.c_str(), H5P_DEFAULT) > 0;
#else
  return H5Fis_hdf5(path.c_str()) > 0;
#endif
}

// Opens an existing results file and its /runs group, or throws io_error saying why this file is
// not one mpipe may append to. Nothing here writes.
struct results_file {
  h5::handle file;
  h5::handle runs;
};

results_file open_results(const std::string& path, unsigned mode) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    throw io_error("results file '" + path + "' does not exist or cannot be reached" +
                   (ec ? ": " + ec.message() : ""));
  }
  if (!fs::is_regular_file(status)) {
    throw io_error("results file '" + path + "' exists but is not a regular file");
  }
  if (::access(path.c_str(), R_OK) != 0) {
    throw io_error("results file '" + path + "' is not readable: " + std::strerror(errno));
  }
  if (!is_hdf5(path)) {
    H5Eclear2(H5E_DEFAULT);
    throw io_error("'" + path +
                   "' exists and is not an HDF5 file; mpipe will not touch it (choose another "
                   "--out, or move the file away)");
  }
  results_file r;
  r.file = h5::handle(H5Fopen(path.c_str(), mode, H5P_DEFAULT), "cannot open '" + path + "'");
  if (h5::check_tri(H5Aexists(r.file, version_attribute), "inspect '" + path + "'")) {
    const attribute_value version = read_attribute(r.file, version_attribute);
    if (!std::holds_alternative<std::int64_t>(version) ||
        std::get<std::int64_t>(version) != schema_version) {
      throw io_error("'" + path + "' has a results schema version this mpipe (version " +
                     std::to_string(schema_version) + ") does not know; refusing to touch it");
    }
  }
  const bool has_runs =
      h5::check_tri(H5Lexists(r.file, runs_group, H5P_DEFAULT), "inspect '" + path + "'");
  if (!has_runs || H5Oexists_by_name(r.file, runs_group, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw io_error("'" + path +
                   "' is an HDF5 file but not an mpipe results file (it has no /runs group); "
                   "mpipe will not touch it");
  }
  const hid_t runs = H5Gopen2(r.file, runs_group, H5P_DEFAULT);
  if (runs < 0) {
    throw io_error("'" + path + "' has a /runs that is not a group; mpipe will not touch it" +
                   h5::error_stack());
  }
  r.runs = h5::handle(runs, "open /runs");
  return r;
}

// Everything check_writable and append_run demand of a file that already exists.
void check_existing(const std::string& path) {
  { const results_file r = open_results(path, H5F_ACC_RDONLY); }
  // The append replaces the file by rename, which only needs the directory to be writable; a
  // results file someone made read-only is honoured anyway rather than silently replaced.
  if (::access(path.c_str(), W_OK) != 0) {
    throw io_error("results file '" + path + "' is not writable: " + std::strerror(errno));
  }
}

fs::path directory_of(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

void create_directory_of(const std::string& path) {
  const fs::path dir = directory_of(path);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw io_error("cannot create directory '" + dir.string() + "' for results file '" + path +
                   "': " + ec.message());
  }
  if (!fs::is_directory(dir, ec)) {
    throw io_error("'" + dir.string() + "' (directory of results file '" + path +
                   "') is not a directory");
  }
}

std::string errno_text() { return std::strerror(errno); }

// The file a results path names, spelled one way whatever way the user spelled it: absolute,
// symlinks followed (a chain too, and one that dangles: the file it points to is then made), and
// "." / ".." resolved as the kernel resolves them. The lock is taken on this spelling and the copy
// renamed over it, so two jobs that reach one file by two spellings still take turns.
fs::path results_target(const std::string& path) {
  fs::path p = fs::absolute(path);
  for (int hops = 0; fs::is_symlink(p); ++hops) {
    if (hops == 40) throw io_error("too many levels of symbolic links in '" + path + "'");
    const fs::path to = fs::read_symlink(p);
    p = to.is_absolute() ? to : p.parent_path() / to;
  }
  return fs::weakly_canonical(p);
}

// MPIPE_TEST_SAVE_DELAY_S (a testing aid, like MPIPE_FAULT): seconds every append sleeps after
// writing its copy and before renaming it into place, to test a slow save of a large file.
double save_delay_s() {
  const char* v = std::getenv("MPIPE_TEST_SAVE_DELAY_S");
  if (v == nullptr || *v == '\0') return 0.0;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(s >= 0.0 && s <= 3600.0))
    throw io_error(std::string("MPIPE_TEST_SAVE_DELAY_S='") + v +
                   "' is not a number of seconds from 0 to 3600");
  return s;
}

// The name of the copy an append of `target` writes: .<name>.tmp.<pid>, next to it.
fs::path copy_name(const fs::path& target, const std::string& pid) {
  return directory_of(target) / ("." + target.filename().string() + ".tmp." + pid);
}

// Removes the copies that writers of `target` killed mid-append left behind. Called under
// target's lock: every writer makes its copy only while it holds that lock and removes or renames
// it before letting go, so a copy found now belongs to no live writer, on any host.
void remove_stale_copies(const fs::path& target) {
  const std::string prefix = copy_name(target, "").filename().string();
  std::error_code ec;
  for (fs::directory_iterator it(directory_of(target), ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
        name.find_first_not_of("0123456789", prefix.size()) == std::string::npos) {
      std::error_code rm;
      fs::remove(it->path(), rm);
    }
  }
}

// The copy being written; removed unless it was renamed into place.
class temp_file {
 public:
  explicit temp_file(fs::path path) : path_(std::move(path)) {
    std::error_code ec;
    fs::remove(path_, ec);  // a leftover of a killed process that had our pid
  }
  ~temp_file() {
    if (!committed_) {
      std::error_code ec;
      fs::remove(path_, ec);
    }
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  const fs::path& path() const { return path_; }
  void commit() { committed_ = true; }

 private:
  fs::path path_;
  bool committed_ = false;
};

void sync(const fs::path& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw io_error("cannot open '" + path.string() + "' to sync it: " + errno_text());
  const int rc = ::fsync(fd);
  const std::string reason = rc != 0 ? errno_text() : "";
  ::close(fd);
  if (rc != 0) throw io_error("cannot sync '" + path.string() + "': " + reason);
}

// ---------------------------------------------------------------------------------------------
// Run ids.

std::string two_digits(int v) {
  return {static_cast<char>('0' + v / 10 % 10), static_cast<char>('0' + v % 10)};
}

std::string now_id() {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%S", &utc);
  const auto millis = static_cast<int>(ms % 1000);
  return std::string(text) + "." + std::to_string(millis / 100) + two_digits(millis % 100) + "Z";
}

// "2026-11-24T01:35:12.123456Z" -> "20261124T013512.123Z"; "" unless it has exactly that shape
// (any number of fraction digits, or none).
std::string id_from_utc(const std::string& utc) {
  const auto digits = [&](std::size_t from, std::size_t n) {
    if (from + n > utc.size()) return false;
    return std::all_of(utc.begin() + static_cast<std::ptrdiff_t>(from),
                       utc.begin() + static_cast<std::ptrdiff_t>(from + n),
                       [](char c) { return c >= '0' && c <= '9'; });
  };
  if (utc.size() < 20 || !digits(0, 4) || utc[4] != '-' || !digits(5, 2) || utc[7] != '-' ||
      !digits(8, 2) || utc[10] != 'T' || !digits(11, 2) || utc[13] != ':' || !digits(14, 2) ||
      utc[16] != ':' || !digits(17, 2) || utc.back() != 'Z') {
    return "";
  }
  std::string fraction;
  if (utc.size() > 20) {
    if (utc[19] != '.' || !digits(20, utc.size() - 21) || utc.size() == 21) return "";
    fraction = utc.substr(20, utc.size() - 21);
  } else if (utc[19] != 'Z') {
    return "";
  }
  fraction.resize(3, '0');
  return utc.substr(0, 4) + utc.substr(5, 2) + utc.substr(8, 2) + "T" + utc.substr(11, 2) +
         utc.substr(14, 2) + utc.substr(17, 2) + "." + fraction.substr(0, 3) + "Z";
}

std::string base_id(const run_record& run) {
  if (const auto* start = run.get("utc_start");
      start && std::holds_alternative<std::string>(*start)) {
    if (std::string id = id_from_utc(std::get<std::string>(*start)); !id.empty()) return id;
  }
  return now_id();
}

std::string unique_id(hid_t runs, const std::string& base) {
  const auto taken = [&](const std::string& id) {
    return h5::check_tri(H5Lexists(runs, id.c_str(), H5P_DEFAULT), "look up run '" + id + "'");
  };
  if (!taken(base)) return base;
  for (int n = 2;; ++n) {
    std::string id = base + "-" + std::to_string(n);
    if (!taken(id)) return id;
  }
}

// "X" sorts before "X-2", and "X-9" before "X-10".
std::pair<std::string, long long> sort_key(const std::string& id) {
  const auto dash = id.rfind('-');
  if (dash != std::string::npos && dash > 0 && dash + 1 < id.size() && dash + 19 > id.size() &&
      std::all_of(id.begin() + static_cast<std::ptrdiff_t>(dash + 1), id.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    return {id.substr(0, dash), std::stoll(id.substr(dash + 1))};
  }
  return {id, 1};
}

// ---------------------------------------------------------------------------------------------

void write_run(hid_t runs, const std::string& id, const run_record& run) {
  const h5::handle plist(H5Pcreate(H5P_GROUP_CREATE), "create group properties");
  h5::check(H5Pset_attr_creation_order(plist, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED),
            "track attribute order");
  const h5::handle group(H5Gcreate2(runs, id.c_str(), H5P_DEFAULT, plist, H5P_DEFAULT),
                         "create group /runs/" + id);
  for (const auto& [name, value] : run.attributes) write_attribute(group, name, value);
  write_table<event_row>(group, "events", run.events, event_columns);
  write_table<message_row>(group, "messages", run.messages, message_columns);
  write_table<item_row>(group, "items", run.items, item_columns);
  write_table<rank_row>(group, "ranks", run.ranks, rank_columns);
  write_table<stage_row>(group, "stages", run.stages, stage_columns);
  write_table<edge_row>(group, "edges", run.edges, edge_columns);
  write_table<edge_instance_row>(group, "edge_instances", run.edge_instances,
                                 edge_instance_columns);
  write_table<handoff_row>(group, "handoffs", run.handoffs, handoff_columns);
  write_table<bench_row>(group, "bench", run.bench, bench_columns);
  write_table<calibration_row>(group, "calibration", run.calibration, calibration_columns);
  write_table<sweep_point_row>(group, "sweep_points", run.sweep_points, sweep_point_columns);
  write_table<sweep_repeat_row>(group, "sweep_repeats", run.sweep_repeats, sweep_repeat_columns);
  write_table<break_even_row>(group, "break_even", run.break_even, break_even_columns);
  write_table<latency_tolerance_row>(group, "latency_tolerance", run.latency_tolerance,
                                     latency_tolerance_columns);
}

h5::handle create_results(const std::string& path) {
  h5::handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                  "cannot create '" + path + "'");
  write_attribute(file, version_attribute, schema_version);
  const h5::handle runs(H5Gcreate2(file, runs_group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        "create group /runs");
  return file;
}

}  // namespace

void check_writable(const std::string& path) {
  const h5::quiet_errors quiet;
  if (path.empty()) throw io_error("results file: empty path");
  create_directory_of(path);
  const fs::path target = results_target(path);
  create_directory_of(target.string());
  if (std::error_code ec; fs::is_directory(target, ec)) {
    throw io_error("results file '" + path + "' is a directory");
  }
  // Probing with a real file is the only test that also catches read-only mounts, ACLs and
  // root-squashed NFS, where permission bits say nothing.
  static std::atomic<unsigned> probes{0};
  const fs::path probe =
      directory_of(target) / ("." + target.filename().string() + ".probe." +
                              std::to_string(::getpid()) + "." + std::to_string(probes++));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw io_error("cannot write results file '" + path + "': directory '" +
                   directory_of(target).string() + "' is not writable: " + errno_text());
  }
  ::close(fd);
  ::unlink(probe.c_str());
  if (std::error_code ec; fs::exists(target, ec)) check_existing(path);
  check_free_space(path, 0);  // a full disk is found now, not after the run
  save_delay_s();             // a malformed testing aid fails now too
}

std::string append_run(const std::string& path, run_record run) {
  const h5::quiet_errors quiet;
  const std::string context = "cannot append run to results file '" + path + "': ";
  try {
    if (path.empty()) throw io_error("empty path");
    create_directory_of(path);
    // Through a symlink, replace the file it points to, not the link; lock that file.
    const fs::path target = results_target(path);
    create_directory_of(target.string());
    const append_lock lock(target.string() + ".lock", path);
    const bool existed = fs::exists(target);
    if (existed) check_existing(target.string());

    remove_stale_copies(target);
    temp_file temp(copy_name(target, std::to_string(::getpid())));
    std::string id;
    {
      h5::handle file;
      if (existed) {
        fs::copy_file(target, temp.path(), fs::copy_options::overwrite_existing);
        // The copy was created through the umask; a group-shared file must stay group-writable.
        fs::permissions(temp.path(), fs::status(target).permissions());
        file = h5::handle(H5Fopen(temp.path().c_str(), H5F_ACC_RDWR, H5P_DEFAULT),
                          "cannot open copy '" + temp.path().string() + "'");
      } else {
        file = create_results(temp.path().string());
      }
      {
        const h5::handle runs(H5Gopen2(file, runs_group, H5P_DEFAULT), "open /runs");
        id = unique_id(runs, base_id(run));
        run.run_id = id;
        run.set("run_id", id);
        write_run(runs, id, run);
      }
      h5::close_file(file, "close '" + temp.path().string() + "'");
    }
    if (const double delay = save_delay_s(); delay > 0.0)
      std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    // Data on disk before the name points at it; otherwise a crash right after the rename could
    // leave a file that is complete in name only.
    sync(temp.path(), false);
    if (::rename(temp.path().c_str(), target.c_str()) != 0) {
      throw io_error("cannot rename '" + temp.path().string() + "' to '" + target.string() +
                     "': " + errno_text());
    }
    temp.commit();
    // Best effort: the run is in the file now, and some file systems refuse fsync on directories.
    try {
      sync(directory_of(target), true);
    } catch (const io_error&) {
    }
    return id;
  } catch (const io_error& e) {
    throw io_error(context + e.what());
  } catch (const std::exception& e) {
    throw io_error(context + e.what());
  }
}

std::vector<std::string> list_runs(const std::string& path) {
  const h5::quiet_errors quiet;
  const results_file r = open_results(path, H5F_ACC_RDONLY);
  H5G_info_t info{};
  h5::check(H5Gget_info(r.runs, &info), "inspect /runs of '" + path + "'");
  std::vector<std::string> ids;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const auto size =
        H5Lget_name_by_idx(r.runs, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (size < 0) h5::raise("list runs of '" + path + "'");
    std::string name(static_cast<std::size_t>(size) + 1, '\0');
    h5::check(static_cast<herr_t>(H5Lget_name_by_idx(r.runs, ".", H5_INDEX_NAME, H5_ITER_INC, i,
                                                     name.data(), name.size(), H5P_DEFAULT)),
              "list runs of '" + path + "'");
    name.resize(static_cast<std::size_t>(size));
    ids.push_back(std::move(name));
  }
  std::sort(ids.begin(), ids.end(),
            [](const std::string& a, const std::string& b) { return sort_key(a) < sort_key(b); });
  return ids;
}

run_record read_run(const std::string& path, const std::string& run_id, run_part part) {
  const h5::quiet_errors quiet;
  const std::string context = "cannot read run '" + run_id + "' from '" + path + "': ";
  try {
    const results_file r = open_results(path, H5F_ACC_RDONLY);
    if (run_id.empty() || run_id.find('/') != std::string::npos || run_id == "." ||
        !h5::check_tri(H5Lexists(r.runs, run_id.c_str(), H5P_DEFAULT), "look up run")) {
      throw io_error("no such run");
    }
    const h5::handle group(H5Gopen2(r.runs, run_id.c_str(), H5P_DEFAULT), "open run group");
    run_record run;
    run.run_id = run_id;
    for (const auto& name : attribute_names(group)) {
      run.attributes.emplace_back(name, read_attribute(group, name));
    }
    if (part == run_part::attributes) return run;
    run.events = read_table<event_row>(group, "events", event_columns);
    run.messages = read_table<message_row>(group, "messages", message_columns);
    run.items = read_table<item_row>(group, "items", item_columns);
    run.ranks = read_table<rank_row>(group, "ranks", rank_columns);
    run.stages = read_table<stage_row>(group, "stages", stage_columns);
    run.edges = read_table<edge_row>(group, "edges", edge_columns);
    // Runs written before per-instance edges and in-memory hand-off rows: read them as empty.
    if (h5::check_tri(H5Lexists(group, "edge_instances", H5P_DEFAULT), "look up 'edge_instances'"))
      run.edge_instances =
          read_table<edge_instance_row>(group, "edge_instances", edge_instance_columns);
    if (h5::check_tri(H5Lexists(group, "handoffs", H5P_DEFAULT), "look up 'handoffs'"))
      run.handoffs = read_table<handoff_row>(group, "handoffs", handoff_columns);
    // Runs written before `mpipe bench` existed have no bench dataset: they had nothing for it.
    if (h5::check_tri(H5Lexists(group, "bench", H5P_DEFAULT), "look up dataset 'bench'"))
      run.bench = read_table<bench_row>(group, "bench", bench_columns);
    if (h5::check_tri(H5Lexists(group, "calibration", H5P_DEFAULT),
                      "look up dataset 'calibration'"))
      run.calibration = read_table<calibration_row>(group, "calibration", calibration_columns);
    // Runs written before `mpipe sweep` existed have no sweep datasets: read them as empty.
    if (h5::check_tri(H5Lexists(group, "sweep_points", H5P_DEFAULT), "look up 'sweep_points'")) {
      run.sweep_points = read_table<sweep_point_row>(group, "sweep_points", sweep_point_columns);
      run.sweep_repeats =
          read_table<sweep_repeat_row>(group, "sweep_repeats", sweep_repeat_columns);
      run.break_even = read_table<break_even_row>(group, "break_even", break_even_columns);
    }
    // Runs written before the sweep checked latency tolerance: read them as empty.
    if (h5::check_tri(H5Lexists(group, "latency_tolerance", H5P_DEFAULT),
                      "look up 'latency_tolerance'"))
      run.latency_tolerance =
          read_table<latency_tolerance_row>(group, "latency_tolerance", latency_tolerance_columns);
    return run;
  } catch (const io_error& e) {
    throw io_error(context + e.what());
  }
}

}  // namespace mpipe
