// Cross-rank messages. Only the rank's main thread touches this (MPI_THREAD_FUNNELED). Sends are
// non-blocking and kept alive until complete, so two ranks that send large items to each other
// at the same moment cannot deadlock in rendezvous.
#pragma once

#include <mpi.h>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/packed_oarchive.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mpipe/records.hpp"

namespace mpipe {

using payload_ptr = std::shared_ptr<const std::vector<unsigned char>>;

// What travels: the pickle-like path of the article, a small object graph with a string tag
// and a metadata map around the payload bytes, all through Boost.Serialization.
struct wire_message {
  std::uint64_t item = 0;
  std::int32_t edge = 0;
  std::string tag;
  std::map<std::string, std::string> meta;
  payload_ptr payload;  // shared with the other out-edges of the producing stage
};

struct received_message {
  int source = 0;
  wire_message msg;
  std::uint64_t bytes = 0;
  std::int64_t received_ns = 0;     // raw local clock: MPI_Recv complete
  std::int64_t deserialize_ns = 0;  // duration
};

class transport {
 public:
  explicit transport(const boost::mpi::communicator& comm) : comm_(comm) {}
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;
  ~transport();

  // Serializes and posts. Fills the sender half of `row`: bytes, serialize_ns, posted_ns (raw
  // local clock; the caller maps clocks).
  void post(int dest, const wire_message& msg, message_row& row);
  // Completes finished sends; true if any did.
  bool progress_sends();
  bool sends_pending() const { return !pending_.empty(); }
  // A message if one has arrived (never blocks).
  std::optional<received_message> try_receive();

 private:
  struct pending_send {
    MPI_Request request;
    std::unique_ptr<boost::mpi::packed_oarchive> archive;  // must outlive the send
  };
  boost::mpi::communicator comm_;
  std::deque<pending_send> pending_;
};

}  // namespace mpipe
