#include "transport.hpp"

#include <boost/mpi/packed_iarchive.hpp>
#include <boost/serialization/array_wrapper.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>

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
namespace {

constexpr int kTagItem = 7;

void save(boost::mpi::packed_oarchive& ar, const wire_message& m) {
  ar << m.item << m.edge << m.tag << m.meta;
  const std::uint64_t n = m.payload ? m.payload->size() : 0;
  ar << n;
  if (n > 0) ar << boost::serialization::make_array(m.payload->data(), n);
}

void load(boost::mpi::packed_iarchive& ar, wire_message& m) {
  ar >> m.item >> m.edge >> m.tag >> m.meta;
  std::uint64_t n = 0;
  ar >> n;
  auto bytes = std::make_shared<std::vector<unsigned char>>(n);
  if (n > 0) ar >> boost::serialization::make_array(bytes->data(), n);
  m.payload = std::move(bytes);
}

}  // namespace

transport::~transport() {
  // Normally empty: the runtime drains sends before returning. On an error path, cancel what is
  // left rather than leak requests that point into freed archives.
  for (auto& p : pending_) {
    MPI_Cancel(&p.request);
    MPI_Request_free(&p.request);
  }
}

void transport::post(int dest, const wire_message& msg, message_row& row) {
  const std::int64_t t0 = now_ns();
  auto archive = std::make_unique<boost::mpi::packed_oarchive>(static_cast<MPI_Comm>(comm_));
  save(*archive, msg);
  const std::int64_t t1 = now_ns();
  pending_send p{MPI_REQUEST_NULL, std::move(archive)};
  MPIPE_MPI_CHECK(MPI_Isend(const_cast<void*>(p.archive->address()),
                            static_cast<int>(p.archive->size()), MPI_PACKED, dest, kTagItem,
                            static_cast<MPI_Comm>(comm_), &p.request));
  row.bytes = p.archive->size();
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
  MPIPE_MPI_CHECK(
      MPI_Iprobe(MPI_ANY_SOURCE, kTagItem, static_cast<MPI_Comm>(comm_), &flag, &status));
  if (!flag) return std::nullopt;
  int count = 0;
  MPIPE_MPI_CHECK(MPI_Get_count(&status, MPI_PACKED, &count));
  boost::mpi::packed_iarchive archive(static_cast<MPI_Comm>(comm_),
                                      static_cast<std::size_t>(count));
  MPIPE_MPI_CHECK(MPI_Recv(archive.address(), count, MPI_PACKED, status.MPI_SOURCE, kTagItem,
                           static_cast<MPI_Comm>(comm_), MPI_STATUS_IGNORE));
  received_message r;
  r.source = status.MPI_SOURCE;
  r.bytes = static_cast<std::uint64_t>(count);
  r.received_ns = now_ns();
  load(archive, r.msg);
  r.deserialize_ns = now_ns() - r.received_ns;
  return r;
}

}  // namespace mpipe
