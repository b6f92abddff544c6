#include "transport.hpp"

#include <boost/mpi/datatype.hpp>
#include <boost/mpi/packed_iarchive.hpp>
#include <boost/serialization/array_wrapper.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <cstring>

#include "mpipe/clock.hpp"
#include "mpipe/error.hpp"

#define MPIPE_MPI_CHECK(call)                                                                  \
  do {                                                                                         \
    if (int mpipe_rc_ = (call); mpipe_rc_ != MPI_SUCCESS) {                                    \
      char mpipe_msg_[MPI_MAX_ERROR_STRING];                                                   \
      int mpipe_len_ = 0;                                                                      \
      MPI_Error_string(mpipe_rc_, mpipe_msg_, &mpipe_len_);                                    \
      throw ::mpipe::mpi_error(std::string(#call) + " failed at " + __FILE__ + ":" +           \
                               std::to_string(__LINE__) + ": " +                               \
                               std::string(mpipe_msg_, static_cast<std::size_t>(mpipe_len_))); \
    }                                                                                          \
  } while (0)

namespace mpipe {

// The fixed-layout header of the datatype and raw paths.
struct wire_header {
  std::uint64_t item;
  std::int64_t sent_ns;
  std::uint64_t checksum;
  std::uint64_t payload_bytes;
  std::int32_t edge;
  std::int32_t reserved;

  // Boost.MPI builds the MPI derived datatype from this member list (is_mpi_datatype below).
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& item& sent_ns& checksum& payload_bytes& edge& reserved;
  }
};

}  // namespace mpipe

BOOST_IS_MPI_DATATYPE(mpipe::wire_header)

namespace mpipe {
namespace {

constexpr int kTagBase = 100;

wire_header header_of(const wire_message& m) {
  return {m.item, m.sent_ns, m.checksum, m.payload ? m.payload->size() : 0, m.edge, 0};
}

void save(boost::mpi::packed_oarchive& ar, const wire_message& m) {
  ar << m.item << m.edge << m.sent_ns << m.checksum << m.tag << m.meta;
  const std::uint64_t n = m.payload ? m.payload->size() : 0;
  ar << n;
  if (n > 0) ar << boost::serialization::make_array(m.payload->data(), n);
}

void load(boost::mpi::packed_iarchive& ar, wire_message& m) {
  ar >> m.item >> m.edge >> m.sent_ns >> m.checksum >> m.tag >> m.meta;
  std::uint64_t n = 0;
  ar >> n;
  auto bytes = std::make_shared<std::vector<unsigned char>>(n);
  if (n > 0) ar >> boost::serialization::make_array(bytes->data(), n);
  m.payload = std::move(bytes);
}

// One datatype for header + payload at their own addresses (MPI_BOTTOM-relative): MPI reads and
// writes both in place, so neither side copies the payload.
MPI_Datatype in_place_type(const void* header, MPI_Datatype header_type, int header_count,
                           const void* payload, int payload_bytes) {
  MPI_Aint addr[2];
  MPIPE_MPI_CHECK(MPI_Get_address(header, &addr[0]));
  MPIPE_MPI_CHECK(MPI_Get_address(payload ? payload : header, &addr[1]));
  int lengths[2] = {header_count, payload_bytes};
  MPI_Datatype types[2] = {header_type, MPI_BYTE};
  MPI_Datatype t;
  MPIPE_MPI_CHECK(MPI_Type_create_struct(payload_bytes > 0 ? 2 : 1, lengths, addr, types, &t));
  MPIPE_MPI_CHECK(MPI_Type_commit(&t));
  return t;
}

}  // namespace

std::uint64_t payload_checksum(const std::vector<unsigned char>& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over 8-byte words, then the tail
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  for (; i < bytes.size(); ++i) h = (h ^ bytes[i]) * 0x100000001b3ull;
  return h == 0 ? 1 : h;
}

int tag_of(serialization_kind how) { return kTagBase + static_cast<int>(how); }

std::optional<serialization_kind> kind_of_tag(int tag) {
  switch (tag - kTagBase) {
    case 0:
      return serialization_kind::boost;
    case 1:
      return serialization_kind::datatype;
    case 2:
      return serialization_kind::raw;
  }
  return std::nullopt;
}

encoded_message::~encoded_message() {
  if (owns_type) MPI_Type_free(&type);
}

std::unique_ptr<encoded_message> encode(serialization_kind how, const wire_message& msg,
                                        MPI_Comm comm) {
  auto e = std::make_unique<encoded_message>();
  e->tag = tag_of(how);
  if (how == serialization_kind::boost) {
    e->archive = std::make_unique<boost::mpi::packed_oarchive>(comm);
    save(*e->archive, msg);
    e->address = e->archive->address();
    e->count = static_cast<int>(e->archive->size());
    e->type = MPI_PACKED;
    e->bytes = e->archive->size();
    return e;
  }
  const wire_header h = header_of(msg);
  e->header.resize(sizeof h);
  std::memcpy(e->header.data(), &h, sizeof h);
  e->payload = msg.payload;
  const int n = static_cast<int>(h.payload_bytes);
  const void* data = msg.payload && n > 0 ? msg.payload->data() : nullptr;
  if (how == serialization_kind::datatype) {
    e->type = in_place_type(e->header.data(), boost::mpi::get_mpi_datatype(h), 1, data, n);
  } else {
    e->type = in_place_type(e->header.data(), MPI_BYTE, static_cast<int>(sizeof h), data, n);
  }
  e->owns_type = true;
  e->address = MPI_BOTTOM;
  e->count = 1;
  e->bytes = sizeof h + h.payload_bytes;
  return e;
}

wire_message receive_decoded(MPI_Comm comm, const MPI_Status& status, std::uint64_t& bytes,
                             std::int64_t& received_ns, std::int64_t& deserialize_ns) {
  const auto how = kind_of_tag(status.MPI_TAG);
  if (!how) throw mpi_error("unexpected message tag " + std::to_string(status.MPI_TAG));
  wire_message m;
  if (*how == serialization_kind::boost) {
    int count = 0;
    MPIPE_MPI_CHECK(MPI_Get_count(&status, MPI_PACKED, &count));
    boost::mpi::packed_iarchive archive(comm, static_cast<std::size_t>(count));
    MPIPE_MPI_CHECK(MPI_Recv(archive.address(), count, MPI_PACKED, status.MPI_SOURCE,
                             status.MPI_TAG, comm, MPI_STATUS_IGNORE));
    received_ns = now_ns();
    load(archive, m);
    bytes = static_cast<std::uint64_t>(count);
    deserialize_ns = now_ns() - received_ns;
    return m;
  }
  int count = 0;
  MPIPE_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &count));
  const int n = count - static_cast<int>(sizeof(wire_header));
  if (n < 0) throw mpi_error("short message: " + std::to_string(count) + " bytes");
  wire_header h{};
  auto payload = std::make_shared<std::vector<unsigned char>>(static_cast<std::size_t>(n));
  void* data = n > 0 ? payload->data() : nullptr;
  MPI_Datatype t = *how == serialization_kind::datatype
                       ? in_place_type(&h, boost::mpi::get_mpi_datatype(h), 1, data, n)
                       : in_place_type(&h, MPI_BYTE, static_cast<int>(sizeof h), data, n);
  const int rc =
      MPI_Recv(MPI_BOTTOM, 1, t, status.MPI_SOURCE, status.MPI_TAG, comm, MPI_STATUS_IGNORE);
  received_ns = now_ns();
  MPI_Type_free(&t);
  MPIPE_MPI_CHECK(rc);
  m.item = h.item;
  m.edge = h.edge;
  m.sent_ns = h.sent_ns;
  m.checksum = h.checksum;
  m.payload = std::move(payload);
  bytes = static_cast<std::uint64_t>(count);
  deserialize_ns = now_ns() - received_ns;
  return m;
}

transport::~transport() {
  // Normally empty: the runtime drains sends before returning. On an error path, cancel what is
  // left rather than leak requests that point into freed buffers.
  for (auto& p : pending_) {
    MPI_Cancel(&p.request);
    MPI_Request_free(&p.request);
  }
}

void transport::post(int dest, serialization_kind how, wire_message msg, message_row& row,
                     std::int64_t to_timeline) {
  const std::int64_t t0 = now_ns();
  msg.sent_ns = t0 - to_timeline;
  pending_send p{MPI_REQUEST_NULL, encode(how, msg, comm_)};
  const std::int64_t t1 = now_ns();
  MPIPE_MPI_CHECK(MPI_Isend(p.message->address, p.message->count, p.message->type, dest,
                            p.message->tag, comm_, &p.request));
  row.bytes = p.message->bytes;
  row.serialize_ns = t1 - t0;
  row.posted_ns = t1;
  pending_.push_back(std::move(p));
}

bool transport::progress_sends() {
  bool any = false;
  for (auto it = pending_.begin(); it != pending_.end();) {
    int done = 0;
    MPIPE_MPI_CHECK(MPI_Test(&it->request, &done, MPI_STATUS_IGNORE));
    if (done) {
      it = pending_.erase(it);
      any = true;
    } else {
      ++it;
    }
  }
  return any;
}

std::optional<received_message> transport::try_receive() {
  int flag = 0;
  MPI_Status status;
  MPIPE_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, &status));
  if (!flag) return std::nullopt;
  received_message r;
  r.source = status.MPI_SOURCE;
  r.how = kind_of_tag(status.MPI_TAG).value_or(serialization_kind::boost);
  r.msg = receive_decoded(comm_, status, r.bytes, r.received_ns, r.deserialize_ns);
  return r;
}

}  // namespace mpipe
