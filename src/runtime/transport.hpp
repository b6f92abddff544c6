// Cross-rank messages. Only the rank's main thread touches this (MPI_THREAD_FUNNELED). Sends are
// non-blocking and kept alive until complete, so two ranks that send large items to each other
// at the same moment cannot deadlock in rendezvous.
//
// Three ways to put an item on the wire, because their cost is half the story:
//   boost    - a small object graph (tag string, metadata map, payload) through
//              Boost.Serialization into Boost.MPI's packed archive: the pickle-like path
//              (an edge's tag and metadata, the same for every item, are packed once and
//              decoded once per sender: message_names);
//   datatype - a fixed header described as an MPI derived datatype, plus the payload as
//              contiguous bytes: the schema path;
//   raw      - header and payload as untyped bytes, no conversion.
// For datatype and raw, a payload above kInlinePayload travels as a second, contiguous message
// straight from the item's buffer: one non-contiguous message would lose Open MPI's single-copy
// (CMA) path and crawl through the fragment pipeline (measured: ~3-7 ms per 1 MiB hop instead of
// ~1 ms). Small payloads are copied behind the header into one contiguous message: cheaper
// than a second message's latency (datatype describes it with a committed type per size). The
// tag says which kind, so a receiver needs no other agreement.
#pragma once

#include <mpi.h>

#include <boost/mpi/communicator.hpp>
#include <boost/mpi/packed_oarchive.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mpipe/bytes.hpp"
#include "mpipe/records.hpp"
#include "mpipe/spec.hpp"

namespace mpipe {

using payload_ptr = std::shared_ptr<const byte_buffer>;

// What a boost message says about itself beyond the item: a tag and a metadata map, the same
// for every item of an edge. So they are made once (make_names) and shared, immutable, by every
// message of the edge, packed once for the archive; a receiver decodes them once per sender and
// hands every later message with the same bytes the same object (measured, mpipe bench at 64 B:
// encode 0.18 -> 0.13 us, decode 0.094 -> 0.038; 3 MPI_Packs per message instead of 23).
struct message_names {
  std::string tag;
  std::map<std::string, std::string> meta;
  std::vector<char> packed;  // tag and meta as Boost.MPI's packed archive writes them
};
using names_ptr = std::shared_ptr<const message_names>;

// Packs them (MPI_Pack needs the communicator, hence MPI initialised).
names_ptr make_names(std::string tag, std::map<std::string, std::string> meta, MPI_Comm comm);

struct wire_message {
  std::uint64_t item = 0;
  std::int32_t edge = 0;
  std::int32_t src_replica = 0;  // which copy of the producing stage sent it (credits go back)
  std::int32_t dst_replica = 0;  // which copy of the consuming stage it is for
  std::int64_t sent_ns = 0;      // posted, on rank 0's timeline: emulated links delay from here
  std::uint64_t checksum = 0;    // of the payload, 0 when not verified
  names_ptr names;      // boost only (datatype and raw carry no strings); null travels as null
  payload_ptr payload;  // shared with the other out-edges of the producing stage
};

// The buffers of the boost path's archives, lent per message and given back when it is done, so
// a message costs no buffer allocation: each is an MPI_Alloc_mem (Boost.MPI's allocator), and
// a fresh one per message made a 64 B encode 0.8 us instead of 0.2 (mpipe bench). A send keeps
// its buffer until the send completes, a receive while it decodes. Archives themselves are not
// reused (constructing one is cheap): an archive writes a type's class information only the
// first time, so a second message through the same archive would not decode on its own.
// One pool per process (archive_buffers::shared()), behind a mutex: encode() and
// receive_decoded() are free functions that mpipe bench calls too. It is never destroyed, since
// its buffers come from MPI_Alloc_mem and may not be freed after MPI_Finalize.
class archive_buffers {
 public:
  using buffer = boost::mpi::packed_oarchive::buffer_type;  // packed_iarchive's is the same
  struct give_back {
    void operator()(buffer* b) const;
  };
  using lent = std::unique_ptr<buffer, give_back>;

  static archive_buffers& shared();
  // The buffer given back last (warm in cache) with its old size and contents, or a new one.
  lent take();

 private:
  void put(buffer* b);
  std::mutex m_;
  std::vector<std::unique_ptr<buffer>> free_;
  std::size_t kept_bytes_ = 0;  // capacity of free_, all buffers
};

// 64-bit checksum of the payload bytes (never 0, so 0 can mean "not computed").
std::uint64_t payload_checksum(const byte_buffer& bytes);

// Largest payload sent inside the header's message by datatype and raw.
inline constexpr std::size_t kInlinePayload = 8192;

// A message as MPI will send it: one or two parts (address, count, datatype, tag), plus whatever
// must outlive the send (the archive's buffer, the header copy, the committed struct datatype).
// Always send it with send_encoded / isend_encoded, which send every part in order. One object
// serves message after message (encode() clears it first), so a sender that keeps it once its
// send is done pays no allocation for the next: the transport keeps such spares (measured: two
// of a relaying rank's ~6 mallocs per item were this object and its header).
class encoded_message {
 public:
  encoded_message() = default;
  encoded_message(const encoded_message&) = delete;
  encoded_message& operator=(const encoded_message&) = delete;
  // Empty again, as new but for the header's capacity: the archive's buffer goes back to its
  // pool and the payload's reference is dropped, so an idle spare holds neither.
  void clear();

  const void* address = nullptr;
  int count = 0;
  MPI_Datatype type = MPI_BYTE;
  int tag = 0;
  std::uint64_t bytes = 0;  // on the wire, all parts
  // Second part (payload_count > 0): contiguous payload bytes, tag payload_tag.
  const void* payload_address = nullptr;
  int payload_count = 0;
  int payload_tag = 0;

  // internals kept alive for the send
  archive_buffers::lent archive;  // boost: the packed archive's bytes
  byte_buffer header;
  payload_ptr payload;
};

// Clears `into`, then encodes msg into it.
void encode(serialization_kind how, const wire_message& msg, MPI_Comm comm, encoded_message& into);

// Sends every part (blocking).
void send_encoded(const encoded_message& e, int dest, MPI_Comm comm);
// Posts every part; fills requests[0..n) and returns n (1 or 2).
int isend_encoded(const encoded_message& e, int dest, MPI_Comm comm, MPI_Request requests[2]);

// The serialization a message tag stands for, or nullopt for tags that are not mpipe items.
std::optional<serialization_kind> kind_of_tag(int tag);
int tag_of(serialization_kind how);

// Receives the message a matched probe (MPI_Mprobe / MPI_Improbe) found, `message` with its
// `status`, and decodes it. deserialize_ns gets the time spent decoding after the receive.
wire_message receive_decoded(MPI_Comm comm, MPI_Message& message, const MPI_Status& status,
                             std::uint64_t& bytes, std::int64_t& received_ns,
                             std::int64_t& deserialize_ns);

// Small fixed-size messages between the ranks' communication threads, beside the items:
// credit = a replica took an item off its queue, so the producer may send it another (on-demand
// dispatch); stop = every item is complete, the rank's stages can end.
enum class control_kind : std::int32_t { credit = 1, stop = 2 };
struct control_message {
  control_kind kind = control_kind::credit;
  std::int32_t edge = 0, src_replica = 0, dst_replica = 0;
  int source = 0;  // filled on receipt
};

struct received_message {
  int source = 0;
  serialization_kind how = serialization_kind::boost;
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

  // Serializes and posts; sets msg.sent_ns and leaves the rest of msg as it was, so a caller
  // may keep one message per edge with its tag and metadata and change only the item's fields.
  // Fills the sender half of `row`: bytes, serialize_ns, posted_ns (raw local clock).
  // `to_timeline` maps a local stamp onto rank 0's timeline for msg.sent_ns.
  void post(int dest, serialization_kind how, wire_message& msg, message_row& row,
            std::int64_t to_timeline);
  // Completes finished sends; true if any did. done_to (if given) gets each one's destination:
  // an eager message may reach its receiver only now, so that is when to ring its doorbell.
  bool progress_sends(std::vector<int>* done_to = nullptr);
  bool sends_pending() const { return !pending_.empty(); }
  // A message if one has arrived (never blocks). Control messages that arrive meanwhile are
  // received and kept for take_controls().
  std::optional<received_message> try_receive();
  // Posts a control message (non-blocking; completes with the other sends).
  void post_control(int dest, const control_message& c);
  // The control messages received so far, swapped into `into` (cleared first): a caller that
  // keeps `into` between calls costs no allocation (an empty std::deque allocates). False: none
  // came, and `into` is empty.
  bool take_controls(std::deque<control_message>& into);

 private:
  struct pending_send {
    MPI_Request requests[2];
    int count;
    std::unique_ptr<encoded_message> message;  // must outlive the send
    int dest = 0;
  };
  void keep_until_sent(pending_send p);
  std::unique_ptr<encoded_message> spare();             // a kept one, or a new one
  void keep_spare(std::unique_ptr<encoded_message> e);  // its send is done
  boost::mpi::communicator comm_;
  std::deque<pending_send> pending_;
  std::vector<std::unique_ptr<encoded_message>> spares_;
  std::deque<control_message> controls_;
};

}  // namespace mpipe
