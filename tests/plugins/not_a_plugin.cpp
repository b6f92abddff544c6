// A shared library that is not an mpipe plugin (no MPIPE_PLUGIN entry points), for
// tests/cli/user_code.sh: mpipe must say so, naming the file.
extern "C" int not_a_plugin_answer() { return 42; }
