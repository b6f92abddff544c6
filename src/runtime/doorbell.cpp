#include "doorbell.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <boost/mpi/collectives.hpp>
#include <chrono>
#include <climits>
#include <cstdio>
#include <ctime>
#include <functional>
#include <new>

namespace mpipe {

// One rank's doorbell: `rings` counts rings (the futex word), `sleeping` says whether to make
// the system call. A cache line each, so ranks ringing their neighbours do not share lines.
struct alignas(64) doorbell::slot {
  std::atomic<std::uint32_t> rings{0};
  std::atomic<std::uint32_t> sleeping{0};
};

namespace {

long futex(std::atomic<std::uint32_t>* word, int op, std::uint32_t value, const timespec* t) {
  // Not FUTEX_PRIVATE: the word may live in memory that other processes map.
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), op, value, t, nullptr, 0);
}

// The segment's name: unique to the job (rank 0's pid and clock) and to the host's first rank.
std::string segment_name(std::uint64_t job, int first_rank) {
  char name[64];
  std::snprintf(name, sizeof name, "/mpipe-bell-%llx-%d", static_cast<unsigned long long>(job),
                first_rank);
  return name;
}

void* map_segment(const std::string& name, std::size_t bytes, bool create) {
  const int fd = ::shm_open(name.c_str(), create ? O_CREAT | O_EXCL | O_RDWR : O_RDWR, 0600);
  if (fd < 0) return nullptr;
  if (create && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    ::close(fd);
    ::shm_unlink(name.c_str());
    return nullptr;
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

doorbell::doorbell(const boost::mpi::communicator& comm, const std::vector<std::string>& hosts,
                   bool heard)
    : rank_(comm.rank()), local_index_(hosts.size(), -1), heard_(heard) {
  int first = -1, count = 0;
  for (std::size_t r = 0; r < hosts.size(); ++r) {
    if (hosts[r] != hosts[static_cast<std::size_t>(rank_)]) continue;
    if (first < 0) first = static_cast<int>(r);
    local_index_[r] = count++;
  }
  bytes_ = sizeof(slot) * static_cast<std::size_t>(count);
  std::uint64_t job = 0;
  if (rank_ == 0)
    job = static_cast<std::uint64_t>(::getpid()) << 32 ^
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  boost::mpi::broadcast(comm, job, 0);
  const std::string name = segment_name(job, first);
  void* p = rank_ == first ? map_segment(name, bytes_, true) : nullptr;
  comm.barrier();  // the segment exists (or its creation failed) before the others open it
  if (rank_ != first) p = map_segment(name, bytes_, false);
  const bool ok = boost::mpi::all_reduce(comm, p != nullptr, std::logical_and<bool>());
  comm.barrier();  // everyone has it mapped: the name can go, so nothing outlives the job
  if (rank_ == first) ::shm_unlink(name.c_str());
  if (ok) {
    slots_ = new (p) slot[static_cast<std::size_t>(count)];  // zero pages: constructors agree
    shared_ = true;
  } else {
    if (p != nullptr) ::munmap(p, bytes_);
    bytes_ = sizeof(slot);
    slots_ = new slot[1];
    std::fill(local_index_.begin(), local_index_.end(), -1);
    local_index_[static_cast<std::size_t>(rank_)] = 0;
  }
  all_peers_ring_ = ok && count == comm.size();
}

doorbell::~doorbell() {
  if (shared_)
    ::munmap(slots_, bytes_);
  else
    delete[] slots_;
}

doorbell::slot* doorbell::slot_of(int rank) const {
  const int i = local_index_[static_cast<std::size_t>(rank)];
  return i < 0 ? nullptr : &slots_[i];
}

void doorbell::ring(int rank) {
  if (!heard_) return;
  slot* s = slot_of(rank);
  if (s == nullptr) return;
  s->rings.fetch_add(1, std::memory_order_seq_cst);
  if (s->sleeping.load(std::memory_order_seq_cst) != 0)
    futex(&s->rings, FUTEX_WAKE, INT_MAX, nullptr);
}

std::uint32_t doorbell::ticket() const {
  return slot_of(rank_)->rings.load(std::memory_order_seq_cst);
}

bool doorbell::sleep(std::uint32_t ticket, std::chrono::nanoseconds at_most) {
  slot* s = slot_of(rank_);
  const auto ns = at_most.count();
  const timespec t{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  // The flag first, then the word: a ringer either sees the flag and wakes us, or rang before
  // the futex compares the word with the ticket, which then does not sleep.
  s->sleeping.fetch_add(1, std::memory_order_seq_cst);
  futex(&s->rings, FUTEX_WAIT, ticket, &t);
  s->sleeping.fetch_sub(1, std::memory_order_seq_cst);
  return s->rings.load(std::memory_order_seq_cst) != ticket;
}

}  // namespace mpipe
