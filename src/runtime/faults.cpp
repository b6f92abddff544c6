// Signals, fault injection, the stall watchdog and the alarm channel (faults.hpp).
#include "mpipe/faults.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include "mpipe/error.hpp"
#include "mpipe/hdf5_output.hpp"
#include "util.hpp"
#include "watchdog.hpp"

namespace mpipe {

// ---- Signals --------------------------------------------------------------------------------

namespace {

std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  int none = 0;
  if (!g_signal.compare_exchange_strong(none, sig) && sig == SIGINT) _exit(128 + SIGINT);
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // MPI's and the kernels' system calls carry on; we poll the flag
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

int pending_signal() { return g_signal.load(std::memory_order_relaxed); }

std::string signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGKILL:
      return "SIGKILL";
    default:
      return "signal " + std::to_string(sig);
  }
}

// ---- Fault injection ------------------------------------------------------------------------

std::vector<fault> parse_faults(const std::string& text, const std::string& field) {
  std::vector<fault> out;
  std::stringstream in(text);
  std::string entry;
  while (std::getline(in, entry, ',')) {
    if (entry.empty()) continue;
    const auto bad = [&](const std::string& why) {
      return spec_error("<environment or command line>", 0, field,
                        "'" + entry + "': " + why +
                            " (expected KIND:STAGE:ITEM, KIND stall, crash, fail or corrupt, e.g. "
                            "'stall:C2:5' or 'crash:C3#1:0')");
    };
    const auto c1 = entry.find(':');
    const auto c2 = c1 == std::string::npos ? c1 : entry.find(':', c1 + 1);
    if (c2 == std::string::npos) throw bad("not three fields");
    fault f;
    const std::string kind = entry.substr(0, c1);
    if (kind == "stall") {
      f.what = fault::kind::stall;
    } else if (kind == "crash") {
      f.what = fault::kind::crash;
    } else if (kind == "fail") {
      f.what = fault::kind::fail;
    } else if (kind == "corrupt") {
      f.what = fault::kind::corrupt;
    } else {
      throw bad("unknown kind '" + kind + "'");
    }
    f.stage = entry.substr(c1 + 1, c2 - c1 - 1);
    if (const auto hash = f.stage.find('#'); hash != std::string::npos) {
      const std::string r = f.stage.substr(hash + 1);
      if (r.empty() || r.find_first_not_of("0123456789") != std::string::npos || r.size() > 6)
        throw bad("replica '" + r + "' is not a number");
      f.replica = std::stoi(r);
      f.stage.resize(hash);
    }
    if (f.stage.empty()) throw bad("no stage");
    const std::string item = entry.substr(c2 + 1);
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos ||
        item.size() > 18)
      throw bad("item '" + item + "' is not a number");
    f.item = std::stoull(item);
    out.push_back(f);
  }
  return out;
}

void inject_fault(const std::vector<fault>& faults, const std::string& stage, int replica,
                  std::uint64_t item, const std::atomic<bool>& give_up) {
  for (const auto& f : faults) {
    if (f.item != item || f.stage != stage || (f.replica >= 0 && f.replica != replica)) continue;
    const std::string where = "stage " + stage +
                              (f.replica >= 0 ? "#" + std::to_string(replica) : "") + " at item " +
                              std::to_string(item) + " (pid " + std::to_string(::getpid()) + ")";
    switch (f.what) {
      case fault::kind::stall:
        std::fprintf(stderr, "[mpipe] injected fault: stalling %s\n", where.c_str());
        while (!give_up.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return;
      case fault::kind::crash:
        std::fprintf(stderr, "[mpipe] injected fault: SIGKILL in %s\n", where.c_str());
        std::fflush(nullptr);
        ::raise(SIGKILL);
        return;
      case fault::kind::fail:
        throw error("injected fault: failure in " + where);
      case fault::kind::corrupt:
        return;  // on the wire: corrupts()
    }
  }
}

bool corrupts(const std::vector<fault>& faults, const std::string& stage, int replica,
              std::uint64_t item) {
  return std::any_of(faults.begin(), faults.end(), [&](const fault& f) {
    return f.what == fault::kind::corrupt && f.item == item && f.stage == stage &&
           (f.replica < 0 || f.replica == replica);
  });
}

// ---- Stall watchdog -------------------------------------------------------------------------

double default_timeout_s(double critical_path_ms) { return 10.0 * critical_path_ms / 1e3 + 60.0; }

watchdog::watchdog(double timeout_s, std::vector<std::string> names, int rank)
    : timeout_s_(timeout_s),
      names_(std::move(names)),
      slots_(std::make_unique<slot[]>(names_.size())),
      rank_(rank) {}

// Release stores, acquire loads: a reader that sees `since` sees the item stored before it, and
// the stage's thread pays a plain store (a sequentially consistent one is a locked exchange, ~20
// ns twice per item on the hot path).
void watchdog::busy(std::size_t s, std::uint64_t item, std::int64_t now_ns) {
  slots_[s].item.store(item, std::memory_order_relaxed);
  slots_[s].since.store(now_ns, std::memory_order_release);
}

void watchdog::idle(std::size_t s) { slots_[s].since.store(0, std::memory_order_release); }

void watchdog::progress(std::int64_t now_ns) {
  last_progress_.store(now_ns, std::memory_order_release);
}

std::optional<std::string> watchdog::stuck_stage(std::int64_t now_ns) const {
  if (timeout_s_ <= 0.0) return std::nullopt;
  const auto limit = static_cast<std::int64_t>(timeout_s_ * 1e9);
  std::size_t oldest = names_.size();
  std::int64_t oldest_since = 0;
  for (std::size_t s = 0; s < names_.size(); ++s) {
    const std::int64_t since = slots_[s].since.load(std::memory_order_acquire);
    if (since != 0 && now_ns - since > limit && (oldest == names_.size() || since < oldest_since)) {
      oldest = s;
      oldest_since = since;
    }
  }
  if (oldest == names_.size()) return std::nullopt;
  std::ostringstream m;
  m.setf(std::ios::fixed);
  m.precision(1);
  m << "stall: stage " << names_[oldest] << " on rank " << rank_ << " (host " << host_name()
    << ", pid " << ::getpid() << ") has held item " << slots_[oldest].item.load() << " for "
    << static_cast<double>(now_ns - oldest_since) / 1e9 << " s without finishing it (--timeout "
    << timeout_s_ << " s)";
  return m.str();
}

std::optional<double> watchdog::source_stalled(std::int64_t now_ns) const {
  const std::int64_t last = last_progress_.load(std::memory_order_acquire);
  if (timeout_s_ <= 0.0 || last == 0) return std::nullopt;
  const double quiet = static_cast<double>(now_ns - last) / 1e9;
  if (quiet <= 1.25 * timeout_s_ + 2.0) return std::nullopt;
  return quiet;
}

// ---- Alarm channel --------------------------------------------------------------------------

namespace {

constexpr int kAlarmTag = 7001;
constexpr int kAnswerTag = 7002;  // rank 0's answers: heard, saving S, saved, failed
constexpr double kHeardS = 30.0;  // after "heard": time for rank 0 to gather its rows

// The channel of the run in progress in this process, if any (append_or_rescue answers on it).
std::atomic<alarm_channel*> g_live{nullptr};

int rank_of(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}

// Rank != 0: the next answer from rank 0, if one arrived (non-blocking).
std::optional<std::string> answer(MPI_Comm comm) {
  int flag = 0;
  MPI_Status st;
  if (MPI_Iprobe(0, kAnswerTag, comm, &flag, &st) != MPI_SUCCESS || !flag) return std::nullopt;
  int count = 0;
  MPI_Get_count(&st, MPI_CHAR, &count);
  std::string word(static_cast<std::size_t>(count), '\0');
  MPI_Recv(word.data(), count, MPI_CHAR, 0, kAnswerTag, comm, MPI_STATUS_IGNORE);
  return word;
}

// The deadline an answer from rank 0 sets, counted from now.
double seconds_after(const std::string& word, double wait_s) {
  if (word == "heard") return kHeardS;
  if (word.rfind("saving ", 0) == 0) {
    const double s = std::strtod(word.c_str() + 7, nullptr);
    return std::isfinite(s) && s > 0.0 ? std::min(s, 1e6) : wait_s;
  }
  return wait_s;  // saved / failed: rank 0 ends the job now
}

}  // namespace

double save_allowance_s(std::uint64_t file_bytes, std::uint64_t run_bytes) {
  return 10.0 + (2.0 * static_cast<double>(file_bytes) + static_cast<double>(run_bytes)) /
                    (20.0 * 1024 * 1024);
}

alarm_channel::alarm_channel(MPI_Comm comm) {
  MPI_Comm_dup(comm, &comm_);
  // A dead peer must not turn an answer into rank 0's own abort in the middle of its save.
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  g_live.store(this);
}

alarm_channel::~alarm_channel() {
  alarm_channel* self = this;
  g_live.compare_exchange_strong(self, nullptr);
  for (auto& r : sends_)
    if (r != MPI_REQUEST_NULL) MPI_Request_free(&r);  // completes in the background
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void alarm_channel::raise(const std::string& why, double wait_s) {
  if (rank_of(comm_) == 0) return;
  MPI_Request req = MPI_REQUEST_NULL;
  if (MPI_Isend(why.data(), static_cast<int>(why.size()), MPI_CHAR, 0, kAlarmTag, comm_, &req) !=
      MPI_SUCCESS)
    return;
  using clock = std::chrono::steady_clock;
  auto end = clock::now() + std::chrono::duration<double>(wait_s);
  while (clock::now() < end) {
    int done = 0;
    if (req != MPI_REQUEST_NULL) MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    while (auto word = answer(comm_))
      end = clock::now() + std::chrono::duration<double>(seconds_after(*word, wait_s));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Rank 0 normally ended the job by now; the caller aborts it otherwise.
}

std::optional<std::string> alarm_channel::poll() {
  int flag = 0;
  MPI_Status st;
  if (MPI_Iprobe(MPI_ANY_SOURCE, kAlarmTag, comm_, &flag, &st) != MPI_SUCCESS || !flag)
    return std::nullopt;
  int count = 0;
  MPI_Get_count(&st, MPI_CHAR, &count);
  std::string why(static_cast<std::size_t>(count), '\0');
  MPI_Recv(why.data(), count, MPI_CHAR, st.MPI_SOURCE, kAlarmTag, comm_, MPI_STATUS_IGNORE);
  raisers_.push_back(st.MPI_SOURCE);
  tell("heard");
  return why;
}

// Rank 0: sends `word` to the ranks that may be waiting for it, without waiting for delivery.
void alarm_channel::tell(const std::string& word) {
  int size = 1;
  MPI_Comm_size(comm_, &size);
  std::vector<int> to = raisers_;
  if (pending_signal() == 0) {
    to.clear();
    for (int r = 1; r < size; ++r) to.push_back(r);
  }
  for (const int r : to) {
    words_.push_back(std::make_unique<std::string>(word));
    MPI_Request req = MPI_REQUEST_NULL;
    const std::string& w = *words_.back();
    if (MPI_Isend(w.data(), static_cast<int>(w.size()), MPI_CHAR, r, kAnswerTag, comm_, &req) ==
        MPI_SUCCESS)
      sends_.push_back(req);
  }
  for (auto& r : sends_) {
    int done = 0;
    if (r != MPI_REQUEST_NULL) MPI_Test(&r, &done, MPI_STATUS_IGNORE);
  }
}

void alarm_channel::saving(const std::string& path, const run_record& run) {
  if (rank_of(comm_) != 0) return;
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);  // follows a symlink
  const std::uint64_t rows = run.events.size() * sizeof(event_row) +
                             run.messages.size() * sizeof(message_row) +
                             run.items.size() * sizeof(item_row);
  char word[64];
  // The append may first wait for another job's lock (then rescue the run).
  const double s = lock_wait_s() + save_allowance_s(ec ? 0 : bytes, rows);
  std::snprintf(word, sizeof word, "saving %.1f", s);
  tell(word);
}

void alarm_channel::saved(bool ok) {
  if (rank_of(comm_) == 0) tell(ok ? "saved" : "failed");
}

void abort_job(MPI_Comm comm, int code) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  MPI_Abort(comm, code);
  std::_Exit(code);  // MPI_Abort does not return; should it, leave anyway
}

// ---- A run cut short ------------------------------------------------------------------------

namespace {

// append_or_rescue without the answers to ranks that wait for rank 0's save.
saved_run append_or_rescue_quietly(const std::string& path, const run_record& run) {
  saved_run out;
  try {
    out.id = append_run(path, run);
    out.file = path;
    return out;
  } catch (const std::exception& e) {
    out.problem = e.what();
  }
  const std::filesystem::path target(path);
  std::vector<std::filesystem::path> dirs{target.has_parent_path() ? target.parent_path() : "."};
  if (const char* t = std::getenv("TMPDIR"); t != nullptr && *t != '\0') dirs.emplace_back(t);
  dirs.emplace_back("/tmp");
  static int n = 0;
  for (const auto& dir : dirs) {
    const auto rescue = dir / (target.filename().string() + ".rescued-" +
                               std::to_string(::getpid()) + "-" + std::to_string(n++) + ".h5");
    try {
      out.id = append_run(rescue.string(), run);
      out.file = rescue.string();
      return out;
    } catch (const std::exception& e) {
      out.problem += std::string("; rescue file '") + rescue.string() + "' failed too: " + e.what();
    }
  }
  return out;
}

}  // namespace

saved_run append_or_rescue(const std::string& path, const run_record& run) {
  alarm_channel* live = g_live.load();
  if (live != nullptr) live->saving(path, run);
  saved_run out = append_or_rescue_quietly(path, run);
  if (live != nullptr) live->saved(!out.file.empty());
  return out;
}

void mark_incomplete(run_record& rec, const std::string& reason, std::uint64_t items_completed,
                     const std::string& rows_from_ranks) {
  rec.set("complete", false);
  rec.set("incomplete_reason", reason);
  rec.set("items_completed", static_cast<std::int64_t>(items_completed));
  rec.set("rows_from_ranks", rows_from_ranks);
}

}  // namespace mpipe
