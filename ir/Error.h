// Error and Expected<T>: how user-input failures travel; asserts are for our own bugs.
#pragma once

#include <cassert>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace sinter {

/// A failure caused by user input (a model, a file, a flag). Empty message = success.
class [[nodiscard]] Error {
public:
  Error() = default;
  /// Invalid: malformed input. Unsupported: a valid input that Sinter does not handle (an op,
  /// dtype or attribute value outside what it claims; conformance runs count these apart).
  /// Usage: a wrong command line (the CLI exits 2 instead of 1).
  enum class Kind : uint8_t { Invalid, Unsupported, Usage };
  explicit Error(std::string message, Kind kind = Kind::Invalid) : message_(std::move(message)), kind_(kind) {}
  static Error success() { return Error(); }
  static Error unsupported(std::string message) { return Error(std::move(message), Kind::Unsupported); }
  static Error usage(std::string message) { return Error(std::move(message), Kind::Usage); }
  bool isUnsupported() const { return kind_ == Kind::Unsupported; }
  bool isUsage() const { return kind_ == Kind::Usage; }

  /// True when this holds a failure.
  explicit operator bool() const { return !message_.empty(); }
  const std::string& message() const { return message_; }

  /// Prefixes the message with context, e.g. a file or node name: "ctx: message".
  Error context(std::string_view ctx) const & {
    return Error(fmt::format("{}: {}", ctx, message_), kind_);
  }

private:
  std::string message_;
  Kind kind_ = Kind::Invalid;
};

/// Builds an Error from a fmt format string.
template <class... Args> Error makeError(fmt::format_string<Args...> f, Args&&... args) {
  return Error(fmt::format(f, std::forward<Args>(args)...));
}

/// Builds an "unsupported" Error (see Error::unsupported) from a fmt format string.
template <class... Args> Error makeUnsupported(fmt::format_string<Args...> f, Args&&... args) {
  return Error::unsupported(fmt::format(f, std::forward<Args>(args)...));
}

/// A value or an Error.
template <class T> class [[nodiscard]] Expected {
public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Error e) : v_(std::move(e)) { assert(std::get<Error>(v_) && "Expected built from success"); }

  explicit operator bool() const { return v_.index() == 0; }
  bool ok() const { return v_.index() == 0; }
  T& operator*() & { assert(ok()); return std::get<0>(v_); }
  const T& operator*() const & { assert(ok()); return std::get<0>(v_); }
  T&& operator*() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { assert(ok()); return &std::get<0>(v_); }
  const T* operator->() const { assert(ok()); return &std::get<0>(v_); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  Error takeError() { return ok() ? Error() : std::get<1>(v_); }

private:
  std::variant<T, Error> v_;
};

[[noreturn]] void unreachableInternal(const char* msg, const char* file, int line);

} // namespace sinter

#define SINTER_UNREACHABLE(msg) ::sinter::unreachableInternal(msg, __FILE__, __LINE__)

/// Propagates an Error from an expression returning Error.
#define SINTER_CHECK(expr)                                                                         \
  do {                                                                                             \
    if (::sinter::Error sinter_err_ = (expr))                                                      \
      return sinter_err_;                                                                          \
  } while (0)
