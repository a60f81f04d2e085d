// Tensor: a typed, dense, C-order host buffer (weights, constants, interpreter values).
#pragma once

#include "ir/Types.h"

#include <cstring>
#include <memory>
#include <span>
#include <vector>

namespace sinter {

/// Dense row-major host tensor. Copies share the buffer (cheap); use clone() for a deep copy.
class Tensor {
public:
  Tensor() = default;
  /// Zero-filled tensor of the given type. Asserts the size is sane (callers check user sizes).
  explicit Tensor(TensorType type);

  const TensorType& type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  const Shape& shape() const { return type_.shape; }
  int64_t numel() const { return type_.numel(); }
  size_t bytes() const { return data_ ? data_->size() : 0; }
  bool empty() const { return !data_; }

  std::byte* raw() { return data_->data(); }
  const std::byte* raw() const { return data_->data(); }

  template <class T> std::span<T> as() {
    return {reinterpret_cast<T*>(raw()), static_cast<size_t>(numel())};
  }
  template <class T> std::span<const T> as() const {
    return {reinterpret_cast<const T*>(raw()), static_cast<size_t>(numel())};
  }

  /// Element i converted to double (any dtype).
  double get(int64_t i) const;
  /// Stores v converted to this tensor's dtype (rounding for floats, truncation for ints).
  void set(int64_t i, double v);

  /// All elements as doubles / from doubles (the interpreter's working form).
  std::vector<double> toDoubles() const;
  static Tensor fromDoubles(const TensorType& type, std::span<const double> values);

  Tensor clone() const;
  /// Same data viewed with another shape of equal element count.
  Tensor reshaped(Shape shape) const;

  /// Bitwise equality of type and contents.
  bool identical(const Tensor& other) const;

private:
  TensorType type_;
  std::shared_ptr<std::vector<std::byte>> data_;
};

} // namespace sinter
