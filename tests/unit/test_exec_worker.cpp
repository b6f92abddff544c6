// exec_worker (`kernel: exec`, the process side): framing, large frames, env and cwd, stderr,
// and every way a worker can go wrong, each reported in words and quickly. No MPI: the workers
// are tests/data/workers/*.py (under /usr/bin/python3: the first python3 on PATH may be another
// build) and /bin/cat, which echoes a one-input request as its own reply.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "exec_worker.hpp"
#include "mpipe/error.hpp"

namespace mpipe {
namespace {

using clock_type = std::chrono::steady_clock;
const std::string workers = std::string(MPIPE_TEST_DATA) + "/workers/";
const std::string label = "stage T#0 on rank 0";

exec_command python_worker(const std::string& script, std::vector<std::string> args = {},
                           int inputs = 1) {
  exec_command c;
  c.argv = {"/usr/bin/python3", workers + script};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.env = {{"MPIPE_INPUTS", std::to_string(inputs)}};
  c.label = label;
  return c;
}

exec_command program(std::vector<std::string> argv) {
  exec_command c;
  c.argv = std::move(argv);
  c.label = label;
  return c;
}

byte_buffer buffer(const std::string& text) { return byte_buffer(text.begin(), text.end()); }

std::string call_text(exec_worker& w, const std::vector<std::string>& texts) {
  std::vector<byte_buffer> frames;
  for (const std::string& t : texts) frames.push_back(buffer(t));
  std::vector<const byte_buffer*> pointers;
  for (const byte_buffer& f : frames) pointers.push_back(&f);
  byte_buffer reply;
  w.call(pointers, reply);
  return std::string(reply.begin(), reply.end());
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// The message of the mpipe::error that f throws ("" when it does not throw one).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

bool gone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

// Not running: no such process, or a zombie that is no longer ours to reap (a grandchild).
bool not_running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto paren = line.rfind(')');
  return paren != std::string::npos && line.substr(paren + 2, 1) == "Z";
}

TEST(ExecWorker, JoinsThreeFramesInOrder) {
  exec_worker w(python_worker("join.py", {}, 3));
  EXPECT_EQ(call_text(w, {"a", "bc", "def"}), "a|bc|def");
  EXPECT_EQ(call_text(w, {"x", "", "zz"}), "x||zz");  // the second request: replies stay in step
  EXPECT_EQ(call_text(w, {std::string("\0\n\xff", 3), "2", "3"}), std::string("\0\n\xff|2|3", 7));
}

TEST(ExecWorker, EmptyFramesAndEmptyReplies) {
  exec_worker three(python_worker("join.py", {}, 3));
  EXPECT_EQ(call_text(three, {"", "", ""}), "||");
  exec_worker one(python_worker("join.py"));
  EXPECT_EQ(call_text(one, {""}), "");
  EXPECT_EQ(call_text(one, {"after"}), "after");
  exec_worker cat(program({"cat"}));  // on PATH
  EXPECT_EQ(call_text(cat, {""}), "");
  byte_buffer reply = buffer("old");
  cat.call({nullptr}, reply);  // a null frame is an empty one
  EXPECT_TRUE(reply.empty());
}

TEST(ExecWorker, SixtyFourMiBFrameRoundTrip) {
  byte_buffer frame(std::size_t{64} << 20);
  for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<unsigned char>(i * 131 + 7);
  exec_worker cat(program({"/bin/cat"}));  // replies while it still reads: needs both at once
  byte_buffer reply;
  const auto start = clock_type::now();
  cat.call({&frame}, reply);
  EXPECT_TRUE(reply == frame);
  std::printf("64 MiB through /bin/cat: %.3f s\n", seconds_since(start));
  exec_worker join(python_worker("join.py", {}, 2));  // the Python helper with large frames
  byte_buffer small = buffer("tail");
  join.call({&frame, &small}, reply);
  ASSERT_EQ(reply.size(), frame.size() + 5);
  EXPECT_TRUE(std::equal(frame.begin(), frame.end(), reply.begin()));
  EXPECT_EQ(std::string(reply.end() - 5, reply.end()), "|tail");
}

TEST(ExecWorker, EnvironmentAndWorkingDirectoryArrive) {
  ::setenv("MPIPE_TEST_REPLACED", "parent", 1);
  ::setenv("MPIPE_TEST_INHERITED", "kept", 1);
  exec_command c = python_worker("env.py");
  c.env = {{"MPIPE_STAGE", "T"},
           {"MPIPE_REPLICA", "0"},
           {"MPIPE_RANK", "3"},
           {"MPIPE_INPUTS", "1"},
           {"MPIPE_TEST_REPLACED", "worker"}};
  c.cwd = "/tmp";
  exec_worker w(c);
  EXPECT_EQ(call_text(w, {"MPIPE_STAGE MPIPE_REPLICA MPIPE_RANK MPIPE_INPUTS"}),
            "MPIPE_STAGE=T\nMPIPE_REPLICA=0\nMPIPE_RANK=3\nMPIPE_INPUTS=1\n");
  EXPECT_EQ(call_text(w, {"MPIPE_TEST_REPLACED MPIPE_TEST_INHERITED <cwd>"}),
            "MPIPE_TEST_REPLACED=worker\nMPIPE_TEST_INHERITED=kept\n<cwd>=/tmp\n");
}

TEST(ExecWorker, NoOtherDescriptorsLeakIntoTheWorker) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::dup2(fds[0], 100), 100);  // inheritable on purpose: the worker must still not get
  ASSERT_EQ(::dup2(fds[1], 101), 101);  // them (nor fds[0] and fds[1])
  exec_worker w(python_worker("env.py"));
  const std::string open = call_text(w, {"<fds>"});
  for (int fd : {fds[0], fds[1], 100, 101}) ::close(fd);
  EXPECT_EQ(open, "<fds>=0 1 2 3 4\n");  // 3: the helper's own stdout for replies, 4: the listing
}

TEST(ExecWorker, StderrIsForwardedWithAPrefixAndItsTailKept) {
  testing::internal::CaptureStderr();
  std::string tail;
  {
    exec_worker w(python_worker("misbehave.py", {"stderr"}));
    EXPECT_EQ(call_text(w, {"x"}), "ok");
    const auto start = clock_type::now();
    while (w.stderr_tail().find("line 29") == std::string::npos && seconds_since(start) < 5) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    tail = w.stderr_tail();
  }
  const std::string forwarded = testing::internal::GetCapturedStderr();
  EXPECT_NE(forwarded.find("[stage T#0 on rank 0] line 0\n"), std::string::npos) << forwarded;
  EXPECT_NE(forwarded.find("[stage T#0 on rank 0] line 29\n"), std::string::npos);
  std::string expected;
  for (int i = 10; i < 30; ++i) expected += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(tail, expected);  // the last 20 lines
}

TEST(ExecWorker, ExitMidStreamNamesStatusAndStderr) {
  exec_worker w(python_worker("misbehave.py", {"exit3"}));
  EXPECT_EQ(call_text(w, {"first"}), "first");
  const auto start = clock_type::now();
  const std::string e = error_of([&] { call_text(w, {"second"}); });
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_NE(e.find("exec stage T#0 on rank 0: '/usr/bin/python3 "), std::string::npos) << e;
  EXPECT_NE(e.find("misbehave.py exit3' ended before replying (exit status 3)"), std::string::npos)
      << e;
  EXPECT_NE(e.find("\n    boom"), std::string::npos) << e;
  EXPECT_NE(e.find("noise 24"), std::string::npos) << e;
  EXPECT_EQ(e.find("noise 0\n"), std::string::npos) << e;    // only the tail
  EXPECT_EQ(error_of([&] { call_text(w, {"third"}); }), e);  // stays broken, says why
}

TEST(ExecWorker, CrashBySignalIsNamed) {
  exec_worker w(python_worker("misbehave.py", {"segv"}));
  const auto start = clock_type::now();
  const std::string e = error_of([&] { call_text(w, {"x"}); });
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_NE(e.find("ended before replying (killed by signal 11 (Segmentation fault)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("about to crash"), std::string::npos) << e;
}

TEST(ExecWorker, HugeReplyLengthIsRefusedWithoutWaiting) {
  const auto start = clock_type::now();
  {
    exec_worker w(python_worker("misbehave.py", {"huge"}));  // then sleeps a minute
    const std::string e = error_of([&] { call_text(w, {"x"}); });
    EXPECT_NE(e.find("sent a reply length of 4611686018427387904 bytes, over the limit of "
                     "1073741824 bytes (max_reply_bytes) (mpipe stopped it)"),
              std::string::npos)
        << e;
  }
  EXPECT_LT(seconds_since(start), 3.0);
  exec_command c = program({"/bin/cat"});
  c.max_reply_bytes = 4;
  exec_worker cat(c);
  EXPECT_EQ(call_text(cat, {"four"}), "four");
  const std::string e = error_of([&] { call_text(cat, {"fives"}); });
  EXPECT_NE(e.find("a reply length of 5 bytes, over the limit of 4 bytes"), std::string::npos) << e;
}

TEST(ExecWorker, TruncatedReplySaysHowMuchArrived) {
  exec_worker w(python_worker("misbehave.py", {"truncated"}));
  const std::string e = error_of([&] { call_text(w, {"x"}); });
  EXPECT_NE(e.find("sent 10 of 100 reply bytes, then ended (exit status 0)"), std::string::npos)
      << e;
  EXPECT_NE(e.find("it wrote nothing to stderr"), std::string::npos) << e;
}

TEST(ExecWorker, CommandThatCannotStartThrowsInTheConstructor) {
  const auto start = clock_type::now();
  std::string e = error_of([] { exec_worker w(program({"mpipe-no-such-worker", "--x"})); });
  EXPECT_EQ(e,
            "exec stage T#0 on rank 0: cannot start 'mpipe-no-such-worker --x': No such file or "
            "directory");
  e = error_of([] { exec_worker w(program({std::string(MPIPE_TEST_DATA) + "/small.yaml"})); });
  EXPECT_NE(e.find("small.yaml': Permission denied"), std::string::npos) << e;  // not executable
  exec_command c = program({"/bin/cat"});
  c.cwd = "/nonexistent-mpipe-dir";
  e = error_of([&] { exec_worker w(c); });
  EXPECT_EQ(e,
            "exec stage T#0 on rank 0: cannot start '/bin/cat' in '/nonexistent-mpipe-dir': No "
            "such file or directory");
  EXPECT_NE(error_of([] { exec_worker w(program({})); }).find("no command"), std::string::npos);
  EXPECT_LT(seconds_since(start), 1.0);
}

// kill() from another thread ends a call blocked reading the reply (a) or writing the request (b).
TEST(ExecWorker, KillFromAnotherThreadEndsABlockedCall) {
  for (const bool writing : {false, true}) {
    exec_worker w(writing ? program({"/bin/sleep", "1000"})  // never reads its stdin
                          : python_worker("misbehave.py", {"hang"}));
    const byte_buffer frame(writing ? std::size_t{16} << 20 : 1);
    byte_buffer reply;
    clock_type::time_point killed_at;
    std::thread watchdog([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      killed_at = clock_type::now();
      w.kill();
      w.kill();  // twice is fine
    });
    const std::string e = error_of([&] { w.call({&frame}, reply); });
    const double after_kill = seconds_since(killed_at);
    watchdog.join();
    EXPECT_LT(after_kill, 1.0);
    EXPECT_NE(e.find("was killed by mpipe (watchdog or abort)"), std::string::npos) << e;
  }
}

TEST(ExecWorker, DestructorLeavesNoProcessBehind) {
  pid_t pid;
  auto start = clock_type::now();
  {
    exec_worker w(program({"/bin/cat"}));
    pid = w.pid();
    EXPECT_EQ(call_text(w, {"x"}), "x");
  }
  EXPECT_TRUE(gone(pid));
  EXPECT_LT(seconds_since(start), 1.0);  // cat exits at EOF: no waiting for the 2 s grace
  start = clock_type::now();
  {
    exec_worker w(program({"/bin/sleep", "1000"}));  // ignores EOF: killed after the grace
    pid = w.pid();
  }
  EXPECT_TRUE(gone(pid));
  EXPECT_LT(seconds_since(start), 4.0);
}

TEST(ExecWorker, KillReachesAShellWrappersChildren) {
  pid_t child = 0;
  {
    exec_worker w(program({"/bin/sh", "-c", "sleep 1000 & echo $! >&2; exec cat"}));
    EXPECT_EQ(call_text(w, {"y"}), "y");
    const auto start = clock_type::now();
    while (w.stderr_tail().empty() && seconds_since(start) < 5) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    child = static_cast<pid_t>(std::atoi(w.stderr_tail().c_str()));
    ASSERT_GT(child, 0);
    EXPECT_FALSE(not_running(child));
  }
  const auto start = clock_type::now();
  while (!not_running(child) && seconds_since(start) < 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(not_running(child));
}

// Per-item cost of the pipes (printed; only a generous bound is checked).
TEST(ExecWorker, RoundTripTime) {
  exec_worker cat(program({"/bin/cat"}));
  const auto time_calls = [&cat](std::size_t bytes, int calls) {
    byte_buffer frame(bytes, 1), reply;
    cat.call({&frame}, reply);  // warm up
    const auto start = clock_type::now();
    for (int i = 0; i < calls; ++i) cat.call({&frame}, reply);
    EXPECT_EQ(reply.size(), bytes);
    return seconds_since(start) / calls * 1e6;
  };
  const double empty_us = time_calls(0, 1000);
  const double mib_us = time_calls(std::size_t{1} << 20, 100);
  std::printf("exec round trip: 0 B %.1f us, 1 MiB %.1f us\n", empty_us, mib_us);
  EXPECT_LT(empty_us, 50'000.0);
}

}  // namespace
}  // namespace mpipe
