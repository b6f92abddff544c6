// How stages.hpp turns a user's type into something the runtime can carry without knowing it:
// a table of functions (type_ops) made once per type by a template, so a typed stage can live in
// a plugin that the mpipe binary never saw at compile time. Not for direct use.
#pragma once

#include <mpi.h>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/core/demangle.hpp>
#include <boost/mpi/datatype.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>
#include <cstdint>
#include <cstring>
#include <istream>
#include <memory>
#include <ostream>
#include <streambuf>
#include <string>
#include <type_traits>
#include <typeinfo>

#include "mpipe/bytes.hpp"
#include "mpipe/error.hpp"
#include "mpipe/spec.hpp"

namespace mpipe::detail {

// What the runtime needs of a type: its name (errors, records), which serializations are legal
// for it, and how to turn one into bytes and back. Objects travel as shared_ptr<void>.
struct type_ops {
  std::string name;     // demangled, e.g. "Image"
  std::string mangled;  // identity: compared across a plugin boundary by name
  serialization_kind natural = serialization_kind::boost;
  bool byte_string = false;  // mpipe::blob or std::string: bytes from any stage turn into one
  bool legal[3] = {false, false, false};  // by serialization_kind
  void (*to_bytes)(const void* object, serialization_kind how, byte_buffer& out) = nullptr;
  std::shared_ptr<void> (*from_bytes)(const unsigned char* data, std::size_t size,
                                      serialization_kind how) = nullptr;
  bool can(serialization_kind how) const { return legal[static_cast<int>(how)]; }
};

// bytes and strings: "raw" is their contents, not their object representation.
template <class T>
inline constexpr bool is_byte_string =
    std::is_same_v<T, blob> || std::is_same_v<T, std::string> || std::is_same_v<T, byte_buffer>;

template <class T>
concept has_serialize = requires(T& t, boost::archive::binary_oarchive& a) {
  t.serialize(a, 0u);
}
|| requires(T& t, boost::archive::binary_oarchive& a) { serialize(a, t, 0u); };

// Trivially copyable types are Boost-serializable only when they say how; anything else must
// be (Boost.Serialization then names the missing serialize() at compile time).
template <class T>
inline constexpr bool boost_legal =
    is_byte_string<T> || !std::is_trivially_copyable_v<T> || has_serialize<T>;
template <class T>
inline constexpr bool raw_legal = is_byte_string<T> || std::is_trivially_copyable_v<T>;
template <class T>
inline constexpr bool datatype_legal = boost::mpi::is_mpi_datatype<T>::value;

// Appends what an archive writes straight into a byte_buffer (no string in between).
class append_buf : public std::streambuf {
 public:
  explicit append_buf(byte_buffer& out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.insert(out_.end(), s, s + n);
    return n;
  }
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) out_.push_back(static_cast<unsigned char>(c));
    return c;
  }

 private:
  byte_buffer& out_;
};

class read_buf : public std::streambuf {
 public:
  read_buf(const unsigned char* data, std::size_t size) {
    char* p = const_cast<char*>(reinterpret_cast<const char*>(data));  // read only
    setg(p, p, p + size);
  }
};

constexpr unsigned archive_flags = boost::archive::no_header | boost::archive::no_codecvt;

template <class T>
void to_bytes(const void* object, serialization_kind how, byte_buffer& out) {
  const T& t = *static_cast<const T*>(object);
  out.clear();
  if (how == serialization_kind::raw) {
    if constexpr (is_byte_string<T>) {
      out.assign(t.begin(), t.end());
    } else if constexpr (raw_legal<T>) {
      out.resize(sizeof(T));
      std::memcpy(out.data(), &t, sizeof(T));
    }
  } else if (how == serialization_kind::datatype) {
    if constexpr (datatype_legal<T>) {
      MPI_Datatype type = boost::mpi::get_mpi_datatype<T>(t);
      int size = 0, position = 0;
      MPI_Pack_size(1, type, MPI_COMM_SELF, &size);
      out.resize(static_cast<std::size_t>(size));
      MPI_Pack(&t, 1, type, out.data(), size, &position, MPI_COMM_SELF);
      out.resize(static_cast<std::size_t>(position));
    }
  } else if constexpr (boost_legal<T>) {
    append_buf buf(out);
    boost::archive::binary_oarchive archive(buf, archive_flags);
    archive << t;
  }
}

template <class T>
std::shared_ptr<void> from_bytes(const unsigned char* data, std::size_t size,
                                 serialization_kind how) {
  auto t = std::make_shared<T>();
  if (how == serialization_kind::raw) {
    if constexpr (is_byte_string<T>) {
      t->assign(data, data + size);
    } else if constexpr (raw_legal<T>) {
      if (size != sizeof(T))
        throw error("raw bytes of a " + boost::core::demangle(typeid(T).name()) + ": got " +
                    std::to_string(size) + " bytes, the type has " + std::to_string(sizeof(T)));
      std::memcpy(static_cast<void*>(t.get()), data, sizeof(T));
    }
  } else if (how == serialization_kind::datatype) {
    if constexpr (datatype_legal<T>) {
      int position = 0;
      MPI_Unpack(data, static_cast<int>(size), &position, t.get(), 1,
                 boost::mpi::get_mpi_datatype<T>(*t), MPI_COMM_SELF);
    }
  } else if constexpr (boost_legal<T>) {
    read_buf buf(data, size);
    boost::archive::binary_iarchive archive(buf, archive_flags);
    archive >> *t;
  }
  return t;
}

// The natural serialization: the schema path where Boost.MPI knows the type, the contents for
// trivially copyable types and byte strings, Boost.Serialization for everything else.
template <class T>
constexpr serialization_kind natural_serialization() {
  if constexpr (is_byte_string<T>) return serialization_kind::raw;
  if constexpr (datatype_legal<T>) return serialization_kind::datatype;
  if constexpr (raw_legal<T>) return serialization_kind::raw;
  return serialization_kind::boost;
}

template <class T>
const type_ops* ops_of() {
  static_assert(std::is_default_constructible_v<T>, "a stage's input type needs T() to receive");
  static const type_ops ops = [] {
    type_ops o;
    o.name = boost::core::demangle(typeid(T).name());
    o.mangled = typeid(T).name();
    o.natural = natural_serialization<T>();
    o.byte_string = is_byte_string<T>;
    o.legal[static_cast<int>(serialization_kind::boost)] = boost_legal<T>;
    o.legal[static_cast<int>(serialization_kind::datatype)] = datatype_legal<T>;
    o.legal[static_cast<int>(serialization_kind::raw)] = raw_legal<T>;
    o.to_bytes = &detail::to_bytes<T>;
    o.from_bytes = &detail::from_bytes<T>;
    return o;
  }();
  return &ops;
}

// A callable's parameter and result types (function pointers, lambdas, function objects).
template <class F>
struct signature : signature<decltype(&F::operator())> {};
template <class R, class... A>
struct signature<R (*)(A...)> {
  using result = R;
  using params = std::tuple<A...>;
};
template <class R, class... A>
struct signature<R(A...)> : signature<R (*)(A...)> {};
template <class C, class R, class... A>
struct signature<R (C::*)(A...) const> : signature<R (*)(A...)> {};
template <class C, class R, class... A>
struct signature<R (C::*)(A...)> : signature<R (*)(A...)> {};

// One argument from a shared object: a reference when the function takes one, else a copy, or
// the object itself moved out when no other consumer holds it.
template <class P>
decltype(auto) argument(std::shared_ptr<void>& p) {
  using T = std::remove_cvref_t<P>;
  static_assert(!std::is_lvalue_reference_v<P> || std::is_const_v<std::remove_reference_t<P>>,
                "stage inputs are shared with other consumers: take T, const T& or T&&");
  T& object = *static_cast<T*>(p.get());
  if constexpr (std::is_lvalue_reference_v<P>) {
    return static_cast<const T&>(object);
  } else {
    if (p.use_count() == 1) return T(std::move(object));
    return T(object);
  }
}

}  // namespace mpipe::detail
