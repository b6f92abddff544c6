#include "mpi_info.hpp"

#include <dlfcn.h>
#include <mpi.h>

#include <cstring>
#include <vector>

namespace mpipe {
namespace {

// Reads a string MPI_T control variable such as Open MPI's "pml" or "btl"; "" if absent.
std::string cvar_string(const char* wanted) {
  int provided = 0;
  if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) return "";
  std::string value;
  int count = 0;
  MPI_T_cvar_get_num(&count);
  for (int i = 0; i < count && value.empty(); ++i) {
    char name[256];
    int name_len = sizeof name;
    int verbosity = 0, bind = 0, scope = 0;
    MPI_Datatype type;
    MPI_T_enum enumtype;
    if (MPI_T_cvar_get_info(i, name, &name_len, &verbosity, &type, &enumtype, nullptr, nullptr,
                            &bind, &scope) != MPI_SUCCESS)
      continue;
    if (std::strcmp(name, wanted) != 0 || type != MPI_CHAR) continue;
    MPI_T_cvar_handle handle;
    int elements = 0;
    if (MPI_T_cvar_handle_alloc(i, nullptr, &handle, &elements) != MPI_SUCCESS) continue;
    std::vector<char> buf(static_cast<std::size_t>(elements > 0 ? elements : 1) + 1, '\0');
    if (MPI_T_cvar_read(handle, buf.data()) == MPI_SUCCESS) value = buf.data();
    if (value.empty()) value = "(default)";
    MPI_T_cvar_handle_free(&handle);
  }
  MPI_T_finalize();
  return value;
}

// Open MPI keeps the chosen PML in a global component struct whose first field block starts
// with the MCA version header; its component name sits at a fixed place in that header.
std::string open_mpi_selected_pml() {
  void* sym = dlsym(RTLD_DEFAULT, "mca_pml_base_selected_component");
  if (sym == nullptr) return "";
  // mca_base_component_t: int mca_major, minor, release; char mca_type_name[32];
  // int type major, minor, release; char mca_component_name[64]; ...
  const char* base = static_cast<const char*>(sym);
  const char* name = base + 3 * sizeof(int) + 32 + 3 * sizeof(int);
  std::string out(name, strnlen(name, 64));
  for (char c : out)
    if (c < 'a' || c > 'z') return "";  // not what we expected: say nothing rather than guess
  return out;
}

}  // namespace

std::string mpi_library_version() {
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, static_cast<std::size_t>(len));
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string mpi_standard_version() {
  int major = 0, minor = 0;
  MPI_Get_version(&major, &minor);
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string mpi_transport() {
  std::string out;
  const std::string pml = open_mpi_selected_pml();
  if (!pml.empty()) out = "pml=" + pml + " ";
  out += "requested pml='" + cvar_string("pml") + "' btl='" + cvar_string("btl") + "'";
  return out;
}

}  // namespace mpipe
