// Items from files and results to files (src/io/item_files.hpp), in a scratch directory.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "item_files.hpp"
#include "mpipe/error.hpp"

namespace fs = std::filesystem;
using bytes = std::vector<unsigned char>;

namespace {

class ItemFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/mpipe-item-files-XXXXXX";
    ASSERT_NE(::mkdtemp(name), nullptr);
    dir_ = name;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string put(const std::string& name, const bytes& data = {'x'}) const {
    std::ofstream out(path(name), std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    return path(name);
  }
  bytes contents(const std::string& name) const {
    std::ifstream in(path(name), std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(in), {});
  }
  std::set<std::string> entries(const std::string& sub = "") const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(path(sub)))
      names.insert(e.path().filename().string());
    return names;
  }
  std::vector<std::string> list(const std::string& pattern, std::uint64_t max = 1 << 20) const {
    return mpipe::list_input_files(pattern, dir_, "spec.yaml", 7, max);
  }
  // what() of the spec_error listing `pattern` throws; fails the test if it throws nothing.
  std::string list_error(const std::string& pattern, std::uint64_t max = 1 << 20) const {
    try {
      list(pattern, max);
    } catch (const mpipe::spec_error& e) {
      EXPECT_EQ(e.file(), "spec.yaml");
      EXPECT_EQ(e.line(), 7);
      EXPECT_EQ(e.field(), "inputs");
      return e.what();
    }
    ADD_FAILURE() << "no spec_error for '" << pattern << "'";
    return "";
  }

  std::string dir_;
};

std::string what_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const mpipe::error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no mpipe::error";
  return "";
}

// Whether f ends (returns or throws) within `seconds`: run in a child, which is killed if not.
bool ends_within(double seconds, const std::function<void()>& f) {
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      f();
    } catch (...) {
    }
    ::_exit(0);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

bytes pattern_bytes(std::size_t n) {
  bytes data(n);
  std::uint32_t x = 12345;
  for (auto& b : data) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<unsigned char>(x >> 24);
  }
  return data;
}

TEST_F(ItemFiles, DirectoryListsItsFilesInByteOrderSkippingHiddenAndSubdirectories) {
  for (const char* name : {"b", "a", "B", "10", "9", ".hidden"}) put(name);
  fs::create_directory(path("sub"));
  put("sub/inner");
  const std::vector<std::string> expected{path("10"), path("9"), path("B"), path("a"), path("b")};
  EXPECT_EQ(list("."), (std::vector<std::string>{dir_ + "/./10", dir_ + "/./9", dir_ + "/./B",
                                                 dir_ + "/./a", dir_ + "/./b"}));
  EXPECT_EQ(mpipe::list_input_files(dir_, "", "s", 1), expected);  // absolute, base unused
  EXPECT_EQ(mpipe::list_input_files(dir_ + "/", "/elsewhere", "s", 1).size(), 5u);
}

TEST_F(ItemFiles, GlobMatchesFilesSortedAndAbsolute) {
  for (const char* name : {"y.pgm", "x.pgm", "z.txt", ".h.pgm"}) put(name);
  fs::create_directory(path("data"));
  put("data/b.pgm");
  put("data/a.pgm");
  EXPECT_EQ(list("*.pgm"), (std::vector<std::string>{path("x.pgm"), path("y.pgm")}));
  EXPECT_EQ(list("data/*.pgm"), (std::vector<std::string>{path("data/a.pgm"), path("data/b.pgm")}));
  EXPECT_EQ(list("data/[b]*"), std::vector<std::string>{path("data/b.pgm")});
  EXPECT_EQ(list("z.txt"), std::vector<std::string>{path("z.txt")});  // a plain file name
  EXPECT_EQ(mpipe::list_input_files(dir_ + "/*.txt", "", "s", 1),
            std::vector<std::string>{path("z.txt")});
}

TEST_F(ItemFiles, GlobMetacharactersInTheBaseDirectoryAreLiteral) {
  fs::create_directory(path("run[1]"));
  put("run[1]/a.pgm");
  fs::create_directory(path("run1"));
  put("run1/decoy.pgm");
  const auto files = mpipe::list_input_files("*.pgm", path("run[1]"), "s", 1);
  EXPECT_EQ(files, std::vector<std::string>{path("run[1]/a.pgm")});
}

TEST_F(ItemFiles, NoMatchNamesThePatternAndWhereItLooked) {
  put("a.txt");
  const std::string e = list_error("data/*.pgm");
  EXPECT_NE(e.find("'data/*.pgm' matches no file"), std::string::npos) << e;
  EXPECT_NE(e.find("looked in " + dir_ + "/data"), std::string::npos) << e;
  fs::create_directory(path("empty"));
  put("empty/.only-hidden");
  const std::string empty = list_error("empty");
  EXPECT_NE(empty.find("'empty' matches no file"), std::string::npos) << empty;
  EXPECT_NE(list_error("").find("is empty"), std::string::npos);
}

TEST_F(ItemFiles, FifoIsRefusedWithoutHanging) {
  put("a.raw");
  ASSERT_EQ(::mkfifo(path("pipe").c_str(), 0600), 0);
  EXPECT_TRUE(ends_within(5, [&] { list("."); }));
  const std::string in_dir = list_error(".");
  EXPECT_NE(in_dir.find("/pipe, not a regular file (a FIFO)"), std::string::npos) << in_dir;
  EXPECT_NE(list_error("p*").find(path("pipe")), std::string::npos);
  // Read directly (a FIFO put in place of a listed file): refused, not waited on.
  EXPECT_TRUE(ends_within(5, [&] { (void)mpipe::read_item_file(path("pipe")); }));
  const std::string read = what_of([&] { (void)mpipe::read_item_file(path("pipe")); });
  EXPECT_NE(read.find(path("pipe")), std::string::npos) << read;
  EXPECT_NE(read.find("FIFO"), std::string::npos) << read;
}

TEST_F(ItemFiles, GlobMatchingADirectoryIsRefused) {
  put("a.pgm");
  fs::create_directory(path("sub.pgm"));
  const std::string e = list_error("*.pgm");
  EXPECT_NE(e.find(path("sub.pgm") + "/, a directory"), std::string::npos) << e;
}

TEST_F(ItemFiles, DanglingSymlinkIsRefused) {
  put("a.pgm");
  fs::create_symlink(path("gone"), path("b.pgm"));
  const std::string e = list_error("*.pgm");
  EXPECT_NE(e.find(path("b.pgm") + ", which cannot be read (No such file"), std::string::npos) << e;
}

TEST_F(ItemFiles, FileOverTheLimitIsRefusedNamingSizeAndLimit) {
  put("small", bytes(99));
  put("big", bytes(100));
  EXPECT_EQ(list(".", 100).size(), 2u);
  const std::string e = list_error(".", 99);
  EXPECT_NE(e.find(path("./big") + ", 100 bytes, over the limit of 99 bytes"), std::string::npos)
      << e;
  put("huge", bytes(2 << 20));
  const std::string mib = list_error("huge", 1 << 20);
  EXPECT_NE(mib.find("2 MiB (2097152 bytes), over the limit of 1 MiB"), std::string::npos) << mib;
}

TEST_F(ItemFiles, ReadItemFileGivesTheExactBytes) {
  bytes all(256);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(mpipe::read_item_file(put("all", all)), all);
  EXPECT_EQ(mpipe::read_item_file(put("empty", {})), bytes{});
  const bytes big = pattern_bytes(5 << 20);
  EXPECT_EQ(mpipe::read_item_file(put("big", big)), big);
  const std::string e = what_of([&] { (void)mpipe::read_item_file(path("missing")); });
  EXPECT_NE(e.find(path("missing") + ": No such file or directory"), std::string::npos) << e;
}

TEST_F(ItemFiles, OutputsRefuseToOverwriteAndLeaveTheFileAlone) {
  const bytes old{'o', 'l', 'd'};
  put("b.out", old);
  const std::string one = what_of([&] { mpipe::output_files(dir_, {"a.out", "b.out"}); });
  EXPECT_NE(one.find("outputs: " + path("b.out") + " exists: mpipe never overwrites results"),
            std::string::npos)
      << one;
  put("c.out");
  put("d.out");
  const std::string three = what_of([&] {
    mpipe::output_files(dir_, {"a.out", "d.out", "c.out", "b.out"});
  });
  EXPECT_NE(three.find(path("d.out") + " exists (and 2 more)"), std::string::npos) << three;
  EXPECT_NE(three.find("choose an empty directory or remove them"), std::string::npos) << three;
  EXPECT_EQ(contents("b.out"), old);
  EXPECT_NO_THROW(mpipe::output_files(dir_, {"a.out", "x.out"}));  // others' files are fine
}

TEST_F(ItemFiles, OutputsMakeMissingParentsAndRefuseAFile) {
  const mpipe::output_files out(path("a/b/out"), {"r.bin"});
  EXPECT_TRUE(fs::is_directory(path("a/b/out")));
  EXPECT_TRUE(out.enabled());
  EXPECT_EQ(out.path_of(0), path("a/b/out/r.bin"));
  EXPECT_THROW((void)out.path_of(1), mpipe::error);
  put("plain");
  const std::string e = what_of([&] { mpipe::output_files(path("plain"), {"r"}); });
  EXPECT_NE(e.find(path("plain") + " exists and is not a directory"), std::string::npos) << e;
  EXPECT_FALSE(mpipe::output_files().enabled());
}

TEST_F(ItemFiles, OutputsRefuseDuplicateAndUnusableNames) {
  const std::string dup = what_of([&] { mpipe::output_files(dir_, {"a", "b", "a"}); });
  EXPECT_NE(dup.find("items 0 and 2 would both be written to " + path("a")), std::string::npos)
      << dup;
  for (const char* bad : {"", ".", "..", "x/y"}) {
    EXPECT_THROW(mpipe::output_files(dir_, {"ok", bad}), mpipe::error) << bad;
  }
}

TEST_F(ItemFiles, WritesLandWholeWithNoTemporaryLeftAndNeverTwice) {
  const mpipe::output_files out(path("out"), {"a.pgm", "b.pgm", "empty"});
  const bytes a = pattern_bytes(100000);
  out.write(0, a.data(), a.size());
  out.write(2, nullptr, 0);
  EXPECT_EQ(contents("out/a.pgm"), a);
  EXPECT_EQ(contents("out/empty"), bytes{});
  EXPECT_EQ(entries("out"), (std::set<std::string>{"a.pgm", "empty"}));
  const bytes again{'2'};
  const std::string e = what_of([&] { out.write(0, again.data(), again.size()); });
  EXPECT_NE(e.find(path("out/a.pgm")), std::string::npos) << e;
  EXPECT_NE(e.find("File exists"), std::string::npos) << e;
  EXPECT_EQ(contents("out/a.pgm"), a);
  EXPECT_EQ(entries("out"), (std::set<std::string>{"a.pgm", "empty"}));
}

TEST_F(ItemFiles, WritesFromSeveralThreads) {
  const auto names = mpipe::output_names({}, 400);
  const mpipe::output_files out(path("out"), names);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t i = t; i < names.size(); i += 4) {
        const std::string text = std::to_string(i);
        out.write(i, reinterpret_cast<const unsigned char*>(text.data()), text.size());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(entries("out").size(), names.size());
  const std::string last = std::to_string(names.size() - 1);
  EXPECT_EQ(contents("out/" + names.back()), bytes(last.begin(), last.end()));
}

TEST(OutputNames, BaseNamesOfInputsOrNumberedAndPadded) {
  EXPECT_EQ(mpipe::output_names({"/d/x/a.pgm", "/d/y/b.raw"}, 2),
            (std::vector<std::string>{"a.pgm", "b.raw"}));
  EXPECT_THROW(mpipe::output_names({"/d/a.pgm"}, 2), mpipe::error);
  EXPECT_EQ(mpipe::output_names({}, 3),
            (std::vector<std::string>{"item-000000.out", "item-000001.out", "item-000002.out"}));
  EXPECT_TRUE(mpipe::output_names({}, 0).empty());
  const auto six = mpipe::output_names({}, 1000000);
  EXPECT_EQ(six.front(), "item-000000.out");
  EXPECT_EQ(six.back(), "item-999999.out");
  const auto seven = mpipe::output_names({}, 1000001);
  EXPECT_EQ(seven.front(), "item-0000000.out");
  EXPECT_EQ(seven.back(), "item-1000000.out");
}

}  // namespace
