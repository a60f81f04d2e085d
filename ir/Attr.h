// Typed node attributes: values, the constexpr schema entries ops declare, and a small map.
#pragma once

#include "ir/Error.h"
#include "ir/Tensor.h"

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sinter {

class Graph;

enum class AttrKind : uint8_t { None, Int, Float, String, Ints, Floats, Tensor, Graph };
std::string_view attrKindName(AttrKind k);

/// One attribute value. Graph holds a fused node's body (shared, treated as immutable).
using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>,
                               Tensor, std::shared_ptr<const Graph>>;
AttrKind kindOf(const AttrValue& v);

/// A constexpr attribute default: scalars and short int/float lists.
struct AttrDefault {
  AttrKind kind = AttrKind::None; // None: the attribute is required
  int64_t i = 0;
  double f = 0;
  std::string_view s{};
  std::array<int64_t, 8> ints{};
  uint8_t n = 0; // length of ints

  AttrValue materialize() const;
};

/// One entry of an op's attribute schema.
struct AttrDef {
  std::string_view name{};
  AttrKind kind = AttrKind::None; // None marks the end of the schema
  AttrDefault def{};
  std::string_view doc{};

  constexpr bool required() const { return def.kind == AttrKind::None; }
};

/// Constructors for schema entries, used inside the op table.
namespace attr {
constexpr AttrDef Int(std::string_view name, int64_t d, std::string_view doc = {}) {
  return {name, AttrKind::Int, {.kind = AttrKind::Int, .i = d}, doc};
}
constexpr AttrDef Float(std::string_view name, double d, std::string_view doc = {}) {
  return {name, AttrKind::Float, {.kind = AttrKind::Float, .f = d}, doc};
}
constexpr AttrDef Str(std::string_view name, std::string_view d, std::string_view doc = {}) {
  return {name, AttrKind::String, {.kind = AttrKind::String, .s = d}, doc};
}
constexpr AttrDef Ints(std::string_view name, std::initializer_list<int64_t> d,
                       std::string_view doc = {}) {
  AttrDefault def{.kind = AttrKind::Ints};
  for (int64_t v : d)
    def.ints[def.n++] = v;
  return {name, AttrKind::Ints, def, doc};
}
constexpr AttrDef Required(std::string_view name, AttrKind kind, std::string_view doc = {}) {
  return {name, kind, {}, doc};
}
} // namespace attr

/// Attribute map of a node, kept in insertion (schema) order for deterministic printing.
class Attrs {
public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<std::string_view, AttrValue>> items) {
    for (const auto& [k, v] : items)
      set(k, v);
  }
  bool has(std::string_view name) const { return find(name) != nullptr; }
  const AttrValue* find(std::string_view name) const;
  void set(std::string_view name, AttrValue v);

  // Typed getters; the verifier guarantees presence and kind for schema attributes.
  int64_t getInt(std::string_view name) const;
  double getFloat(std::string_view name) const;
  const std::string& getString(std::string_view name) const;
  const std::vector<int64_t>& getInts(std::string_view name) const;
  const std::vector<double>& getFloats(std::string_view name) const;
  const Tensor& getTensor(std::string_view name) const;
  const Graph& getGraph(std::string_view name) const;

  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  size_t size() const { return items_.size(); }
  bool operator==(const Attrs& o) const;

private:
  std::vector<std::pair<std::string, AttrValue>> items_;
};

} // namespace sinter
