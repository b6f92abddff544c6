#include "transport.hpp"

#include <boost/mpi/datatype.hpp>
#include <boost/mpi/packed_iarchive.hpp>
#include <boost/serialization/array_wrapper.hpp>
#include <boost/serialization/string.hpp>
#include <cstring>
#include <unordered_map>

#include "clock.hpp"
#include "mpipe/error.hpp"
#include "util.hpp"

namespace mpipe {

// The fixed-layout header of the datatype and raw paths.
struct wire_header {
  std::uint64_t item;
  std::int64_t sent_ns;
  std::uint64_t checksum;
  std::uint64_t payload_bytes;
  std::int32_t edge;
  std::int32_t split;  // 1: the payload follows as its own message (tag + kPayloadTagOffset)
  std::int32_t src_replica;
  std::int32_t dst_replica;

  // Boost.MPI builds the MPI derived datatype from this member list (is_mpi_datatype below).
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& item& sent_ns& checksum& payload_bytes& edge& split& src_replica& dst_replica;
  }
};

}  // namespace mpipe

BOOST_IS_MPI_DATATYPE(mpipe::wire_header)

namespace mpipe {
namespace {

constexpr int kTagBase = 100;
constexpr int kPayloadTagOffset = 10;
constexpr int kControlTag = 300;

wire_header header_of(const wire_message& m) {
  const std::uint64_t n = m.payload ? m.payload->size() : 0;
  return {m.item,        m.sent_ns,    m.checksum, n, m.edge, n > kInlinePayload ? 1 : 0,
          m.src_replica, m.dst_replica};
}

// `into` is the buffer `ar` writes to.
// The metadata map entry by entry, as strings: the same bytes of information, without the
// per-object class and tracking bookkeeping Boost.Serialization does for a std::map (measured:
// a quarter of a 64 B message's whole cost on the engine).
void save_meta(boost::mpi::packed_oarchive& ar, const std::map<std::string, std::string>& meta) {
  const std::uint64_t n = meta.size();
  ar << n;
  for (const auto& [key, value] : meta) ar << key << value;
}

void load_meta(boost::mpi::packed_iarchive& ar, std::map<std::string, std::string>& meta) {
  std::uint64_t n = 0;
  ar >> n;
  meta.clear();
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string key, value;
    ar >> key >> value;
    meta.emplace_hint(meta.end(), std::move(key), std::move(value));
  }
}

}  // namespace

// Bytes packed here are copied into later archives as they are: MPI_Pack's output depends on
// the data only, not on where in a buffer it lands (Open MPI's native representation has no
// per-pack header). The round-trip tests decode them.
names_ptr make_names(std::string tag, std::map<std::string, std::string> meta, MPI_Comm comm) {
  archive_buffers::buffer scratch;
  {
    boost::mpi::packed_oarchive ar(comm, scratch);
    ar << tag;
    save_meta(ar, meta);
  }
  auto p = std::make_shared<message_names>();
  p->tag = std::move(tag);
  p->meta = std::move(meta);
  p->packed.assign(scratch.begin(), scratch.end());
  return p;
}

namespace {

// Appends n bytes to the archive's buffer with a memcpy: vector::insert through Boost.MPI's
// allocator copies byte by byte (1 MiB: ~250 us, see save()).
void append(archive_buffers::buffer& into, const void* bytes, std::size_t n) {
  const std::size_t at = into.size();
  into.resize(at + n);
  std::memcpy(into.data() + at, bytes, n);
}

// The fixed fields, as two arrays of one type each: two MPI_Packs of a basic type instead of
// one per field. (One pack of wire_header's struct datatype measured slower still: mpipe bench's
// 64 B boost encode took 0.20 us with it, 0.18 field by field, 0.13 as these two arrays.)
struct fixed_fields {
  std::uint64_t wide[4];   // item, sent_ns, checksum, payload bytes
  std::int32_t narrow[4];  // edge, src_replica, dst_replica, bytes of the packed names
};

void save(boost::mpi::packed_oarchive& ar, archive_buffers::buffer& into, const wire_message& m) {
  const std::uint64_t n = m.payload ? m.payload->size() : 0;
  const std::size_t names = m.names ? m.names->packed.size() : 0;  // 0: no names
  const fixed_fields f{{m.item, static_cast<std::uint64_t>(m.sent_ns), m.checksum, n},
                       {m.edge, m.src_replica, m.dst_replica, static_cast<std::int32_t>(names)}};
  ar << boost::serialization::make_array(f.wide, 4)
     << boost::serialization::make_array(f.narrow, 4);
  if (names > 0) append(into, m.names->packed.data(), names);
  if (n == 0) return;
#ifdef BOOST_MPI_HOMOGENEOUS
  // The payload as one block, by hand. Through the archive (make_array) it is one block too, but
  // appended with vector::insert, which Boost.MPI's allocator turns into a copy byte by byte
  // (1 MiB: ~250 us). A homogeneous archive stores an array as its raw bytes, so these are the
  // same bytes, in a memset and a memcpy (~35 us); load() reads them back with make_array.
  append(into, m.payload->data(), n);
#else
  ar << boost::serialization::make_array(m.payload->data(), n);
#endif
}

// The receiving side of message_names: per (source, edge), the names decoded last. A message
// whose packed names are byte for byte those shares them instead of unpacking 15 strings and
// counts. thread_local: each thread that receives keeps its own (the runtime has one, its MPI
// thread).
struct names_seen {
  std::map<std::pair<int, int>, names_ptr> last;
  std::vector<char> bytes;  // scratch: the names of the message being decoded
};

names_ptr unpack_names(const std::vector<char>& bytes, MPI_Comm comm) {
  archive_buffers::buffer b(bytes.begin(), bytes.end());
  boost::mpi::packed_iarchive ar(comm, b);
  auto p = std::make_shared<message_names>();
  ar >> p->tag;
  load_meta(ar, p->meta);
  p->packed = bytes;
  return p;
}

// `length` comes off the wire: at most the message's `count` bytes.
names_ptr load_names(boost::mpi::packed_iarchive& ar, int source, int edge, int length, int count,
                     MPI_Comm comm) {
  if (length < 0 || length > count)
    throw mpi_error("corrupt boost message: " + std::to_string(length) + " B of names in " +
                    std::to_string(count));
  if (length == 0) return nullptr;
  thread_local names_seen seen;
  seen.bytes.resize(static_cast<std::size_t>(length));
  ar.load_binary(seen.bytes.data(), seen.bytes.size());
  auto& last = seen.last[{source, edge}];
  if (!last || last->packed != seen.bytes) last = unpack_names(seen.bytes, comm);
  return last;
}

void load(boost::mpi::packed_iarchive& ar, int source, int count, wire_message& m, MPI_Comm comm) {
  fixed_fields f{};
  ar >> boost::serialization::make_array(f.wide, 4) >>
      boost::serialization::make_array(f.narrow, 4);
  m.item = f.wide[0];
  m.sent_ns = static_cast<std::int64_t>(f.wide[1]);
  m.checksum = f.wide[2];
  m.edge = f.narrow[0];
  m.src_replica = f.narrow[1];
  m.dst_replica = f.narrow[2];
  m.names = load_names(ar, source, m.edge, f.narrow[3], count, comm);
  const std::uint64_t n = f.wide[3];
  auto bytes = std::make_shared<byte_buffer>(n);
  if (n > 0) ar >> boost::serialization::make_array(bytes->data(), n);
  m.payload = std::move(bytes);
}

// The datatype of a header followed by n payload bytes in one buffer (a small payload copied
// behind its header, as raw does): made and committed once per n and kept, since every
// message of an edge usually has the same size. A type made per message, describing the
// header and the payload in place, cost a create and a commit on both sides: at 64 B the
// datatype hop was 1.04 us one way against raw's 0.43 (mpipe bench). Sizes are at most
// kInlinePayload, so the cache is bounded; its types are never freed (MPI_Type_free after
// MPI_Finalize is an error). thread_local: encode and receive run on the MPI thread.
MPI_Datatype header_and_bytes(int n) {
  thread_local std::unordered_map<int, MPI_Datatype> made;
  const auto found = made.find(n);
  if (found != made.end()) return found->second;
  const MPI_Aint at[2] = {0, static_cast<MPI_Aint>(sizeof(wire_header))};
  const int lengths[2] = {1, n};
  MPI_Datatype types[2] = {boost::mpi::get_mpi_datatype(wire_header{}), MPI_BYTE};
  MPI_Datatype t;
  MPIPE_MPI_CHECK(MPI_Type_create_struct(2, lengths, at, types, &t));
  MPIPE_MPI_CHECK(MPI_Type_commit(&t));
  made.emplace(n, t);
  return t;
}

// At most this many free buffers and bytes stay in the pool: enough for mpipe bench's windows
// (64 x 1 MiB, 16 x 4 MiB) and a deep pipeline of MiB items; anything beyond is freed on return,
// so a run that once sent a 1 GiB item does not keep it.
constexpr std::size_t kPoolBuffers = 64;
constexpr std::size_t kPoolBytes = 128u << 20;

// At most this many spare messages per transport, as many as a deep pipeline keeps in flight.
// Each holds only its header's capacity (at most a header and kInlinePayload bytes).
constexpr std::size_t kSpareMessages = 64;

}  // namespace

archive_buffers& archive_buffers::shared() {
  static auto* const pool = new archive_buffers;  // never freed: see the class comment
  return *pool;
}

archive_buffers::lent archive_buffers::take() {
  std::unique_ptr<buffer> b;
  {
    const std::lock_guard lk(m_);
    if (!free_.empty()) {
      b = std::move(free_.back());
      free_.pop_back();
      kept_bytes_ -= b->capacity();
    }
  }
  if (!b) b = std::make_unique<buffer>();
  return lent(b.release());
}

void archive_buffers::put(buffer* raw) {
  std::unique_ptr<buffer> b(raw);
  const std::lock_guard lk(m_);
  if (free_.size() >= kPoolBuffers || kept_bytes_ + b->capacity() > kPoolBytes) return;
  kept_bytes_ += b->capacity();
  free_.push_back(std::move(b));
}

void archive_buffers::give_back::operator()(buffer* b) const { shared().put(b); }

std::uint64_t payload_checksum(const byte_buffer& bytes) {
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
  // Payload parts (tag + kPayloadTagOffset) are received with their header, never on their own.
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

void encoded_message::clear() {
  address = nullptr;
  count = 0;
  type = MPI_BYTE;
  tag = 0;
  bytes = 0;
  payload_address = nullptr;
  payload_count = 0;
  payload_tag = 0;
  archive.reset();
  header.clear();
  payload.reset();
}

void encode(serialization_kind how, const wire_message& msg, MPI_Comm comm, encoded_message& e) {
  e.clear();
  e.tag = tag_of(how);
  if (how == serialization_kind::boost) {
    // A fresh archive (it is small) over a lent buffer (it is the size of the payload).
    e.archive = archive_buffers::shared().take();
    e.archive->clear();  // the archive appends; clear() keeps the capacity
    boost::mpi::packed_oarchive archive(comm, *e.archive);
    save(archive, *e.archive, msg);
    e.address = e.archive->data();
    e.count = static_cast<int>(e.archive->size());
    e.type = MPI_PACKED;
    e.bytes = e.archive->size();
    return;
  }
  const wire_header h = header_of(msg);
  e.payload = msg.payload;
  const int n = static_cast<int>(h.payload_bytes);
  e.bytes = sizeof h + h.payload_bytes;
  if (h.split) {  // the payload goes on its own, contiguous, straight from the item's buffer
    e.payload_address = msg.payload->data();
    e.payload_count = n;
    e.payload_tag = e.tag + kPayloadTagOffset;
  }
  const int inline_n = h.split ? 0 : n;
  if (how == serialization_kind::raw || inline_n > 0) {
    // Header and a small payload copied into one buffer: one contiguous message (datatype:
    // described by header_and_bytes).
    e.header.resize(sizeof h + static_cast<std::size_t>(inline_n));
    std::memcpy(e.header.data(), &h, sizeof h);
    if (inline_n > 0)
      std::memcpy(e.header.data() + sizeof h, msg.payload->data(),
                  static_cast<std::size_t>(inline_n));
    e.address = e.header.data();
    e.count = how == serialization_kind::raw ? static_cast<int>(e.header.size()) : 1;
    e.type = how == serialization_kind::raw ? MPI_BYTE : header_and_bytes(inline_n);
    return;
  }
  // The header alone: Boost.MPI's committed datatype for it, cached.
  e.header.resize(sizeof h);
  std::memcpy(e.header.data(), &h, sizeof h);
  e.type = boost::mpi::get_mpi_datatype(h);
  e.address = e.header.data();
  e.count = 1;
}

void send_encoded(const encoded_message& e, int dest, MPI_Comm comm) {
  MPIPE_MPI_CHECK(MPI_Send(e.address, e.count, e.type, dest, e.tag, comm));
  if (e.payload_count > 0)
    MPIPE_MPI_CHECK(
        MPI_Send(e.payload_address, e.payload_count, MPI_BYTE, dest, e.payload_tag, comm));
}

int isend_encoded(const encoded_message& e, int dest, MPI_Comm comm, MPI_Request requests[2]) {
  MPIPE_MPI_CHECK(MPI_Isend(e.address, e.count, e.type, dest, e.tag, comm, &requests[0]));
  if (e.payload_count == 0) return 1;
  MPIPE_MPI_CHECK(MPI_Isend(e.payload_address, e.payload_count, MPI_BYTE, dest, e.payload_tag, comm,
                            &requests[1]));
  return 2;
}

wire_message receive_decoded(MPI_Comm comm, MPI_Message& message, const MPI_Status& status,
                             std::uint64_t& bytes, std::int64_t& received_ns,
                             std::int64_t& deserialize_ns) {
  const auto how = kind_of_tag(status.MPI_TAG);
  if (!how) throw mpi_error("unexpected message tag " + std::to_string(status.MPI_TAG));
  wire_message m;
  if (*how == serialization_kind::boost) {
    int count = 0;
    MPIPE_MPI_CHECK(MPI_Get_count(&status, MPI_PACKED, &count));
    // Into a lent buffer, grown only when too small: resize() zero-fills what it adds, and the
    // archive reads no further than the message's own end, so old bytes past it do no harm.
    const auto buffer = archive_buffers::shared().take();
    if (buffer->size() < static_cast<std::size_t>(count))
      buffer->resize(static_cast<std::size_t>(count));
    boost::mpi::packed_iarchive archive(comm, *buffer);
    MPIPE_MPI_CHECK(MPI_Mrecv(buffer->data(), count, MPI_PACKED, &message, MPI_STATUS_IGNORE));
    received_ns = now_ns();
    load(archive, status.MPI_SOURCE, count, m, comm);
    bytes = static_cast<std::uint64_t>(count);
    deserialize_ns = now_ns() - received_ns;
    return m;
  }
  // datatype / raw: the header's message, with the payload inline or following on its own.
  int count = 0;
  MPIPE_MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &count));
  const int inline_n = count - static_cast<int>(sizeof(wire_header));
  if (inline_n < 0) throw mpi_error("short message: " + std::to_string(count) + " bytes");
  wire_header h{};
  std::shared_ptr<byte_buffer> payload;
  if (inline_n == 0) {  // the header alone (see encode): straight into h, no buffer
    const MPI_Datatype t =
        *how == serialization_kind::raw ? MPI_BYTE : boost::mpi::get_mpi_datatype(h);
    const int n = *how == serialization_kind::raw ? count : 1;
    MPIPE_MPI_CHECK(MPI_Mrecv(&h, n, t, &message, MPI_STATUS_IGNORE));
  } else {
    // Into the payload's own buffer, the header then moved out of its front: one allocation.
    payload = std::make_shared<byte_buffer>(static_cast<std::size_t>(count));
    if (*how == serialization_kind::raw)
      MPIPE_MPI_CHECK(MPI_Mrecv(payload->data(), count, MPI_BYTE, &message, MPI_STATUS_IGNORE));
    else
      MPIPE_MPI_CHECK(
          MPI_Mrecv(payload->data(), 1, header_and_bytes(inline_n), &message, MPI_STATUS_IGNORE));
    std::memcpy(&h, payload->data(), sizeof h);
    payload->erase(payload->begin(), payload->begin() + sizeof h);
  }
  if (h.split) {
    // The sender posted the payload right after the header: same source, its own tag, so this
    // receive matches it and nothing else.
    payload = std::make_shared<byte_buffer>(h.payload_bytes);
    MPIPE_MPI_CHECK(MPI_Recv(payload->data(), static_cast<int>(h.payload_bytes), MPI_BYTE,
                             status.MPI_SOURCE, status.MPI_TAG + kPayloadTagOffset, comm,
                             MPI_STATUS_IGNORE));
  } else if (!payload) {
    payload = std::make_shared<byte_buffer>();
  }
  received_ns = now_ns();
  const std::int64_t decode_start = received_ns;
  m.item = h.item;
  m.edge = h.edge;
  m.src_replica = h.src_replica;
  m.dst_replica = h.dst_replica;
  m.sent_ns = h.sent_ns;
  m.checksum = h.checksum;
  m.payload = std::move(payload);
  bytes = static_cast<std::uint64_t>(count) + (h.split ? h.payload_bytes : 0);
  deserialize_ns = now_ns() - decode_start;
  return m;
}

transport::~transport() {
  // Normally empty: the runtime drains sends before returning. On an error path, cancel what is
  // left rather than leak requests that point into freed buffers.
  for (auto& p : pending_) {
    for (int i = 0; i < p.count; ++i) {
      MPI_Cancel(&p.requests[i]);
      MPI_Request_free(&p.requests[i]);
    }
  }
}

void transport::post(int dest, serialization_kind how, wire_message& msg, message_row& row,
                     std::int64_t to_timeline) {
  const std::int64_t t0 = now_ns();
  msg.sent_ns = t0 - to_timeline;
  pending_send p{{MPI_REQUEST_NULL, MPI_REQUEST_NULL}, 0, spare()};
  encode(how, msg, comm_, *p.message);
  const std::int64_t t1 = now_ns();
  p.count = isend_encoded(*p.message, dest, comm_, p.requests);
  p.dest = dest;
  row.bytes = p.message->bytes;
  row.serialize_ns = t1 - t0;
  row.posted_ns = t1;
  keep_until_sent(std::move(p));
}

// A small message usually leaves in the send call itself (the shared-memory transport's
// immediate send): then it is done now, and not a pending entry that a later turn tests.
void transport::keep_until_sent(pending_send p) {
  int done = 0;
  MPIPE_MPI_CHECK(MPI_Testall(p.count, p.requests, &done, MPI_STATUSES_IGNORE));
  if (done)
    keep_spare(std::move(p.message));
  else
    pending_.push_back(std::move(p));
}

std::unique_ptr<encoded_message> transport::spare() {
  if (spares_.empty()) return std::make_unique<encoded_message>();
  auto e = std::move(spares_.back());
  spares_.pop_back();
  return e;
}

void transport::keep_spare(std::unique_ptr<encoded_message> e) {
  if (spares_.size() >= kSpareMessages) return;
  e->clear();
  spares_.push_back(std::move(e));
}

void transport::post_control(int dest, const control_message& c) {
  pending_send p{{MPI_REQUEST_NULL, MPI_REQUEST_NULL}, 1, spare(), dest};
  auto& e = *p.message;
  e.header.resize(4 * sizeof(std::int32_t));
  const std::int32_t words[4] = {static_cast<std::int32_t>(c.kind), c.edge, c.src_replica,
                                 c.dst_replica};
  std::memcpy(e.header.data(), words, sizeof words);
  MPIPE_MPI_CHECK(
      MPI_Isend(e.header.data(), 4, MPI_INT32_T, dest, kControlTag, comm_, &p.requests[0]));
  keep_until_sent(std::move(p));
}

bool transport::take_controls(std::deque<control_message>& into) {
  into.clear();  // the turn's usual case: already empty, so this costs next to nothing
  if (controls_.empty()) return false;
  into.swap(controls_);
  return true;
}

bool transport::progress_sends(std::vector<int>* done_to) {
  bool any = false;
  for (auto it = pending_.begin(); it != pending_.end();) {
    int done = 0;
    MPIPE_MPI_CHECK(MPI_Testall(it->count, it->requests, &done, MPI_STATUSES_IGNORE));
    if (done) {
      if (done_to) done_to->push_back(it->dest);
      keep_spare(std::move(it->message));
      it = pending_.erase(it);
      any = true;
    } else {
      ++it;
    }
  }
  return any;
}

// A matched probe: the message found is taken off MPI's queue then and received by its handle,
// one matching per message instead of a probe's and then a receive's.
std::optional<received_message> transport::try_receive() {
  int flag = 0;
  MPI_Status status;
  MPI_Message message = MPI_MESSAGE_NULL;
  while (true) {
    MPIPE_MPI_CHECK(MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_, &flag, &message, &status));
    if (!flag) return std::nullopt;
    if (status.MPI_TAG != kControlTag) break;
    std::int32_t c[4];
    MPIPE_MPI_CHECK(MPI_Mrecv(c, 4, MPI_INT32_T, &message, MPI_STATUS_IGNORE));
    controls_.push_back({static_cast<control_kind>(c[0]), c[1], c[2], c[3], status.MPI_SOURCE});
  }
  received_message r;
  r.source = status.MPI_SOURCE;
  r.how = kind_of_tag(status.MPI_TAG).value_or(serialization_kind::boost);
  r.msg = receive_decoded(comm_, message, status, r.bytes, r.received_ns, r.deserialize_ns);
  return r;
}

}  // namespace mpipe
