// Attribute values, defaults and the attribute map.
#include "ir/Attr.h"

#include "ir/Graph.h"

namespace sinter {

std::string_view attrKindName(AttrKind k) {
  constexpr std::string_view names[] = {"none",   "int",    "float", "string",
                                        "ints",   "floats", "tensor", "graph"};
  return names[static_cast<size_t>(k)];
}

AttrKind kindOf(const AttrValue& v) {
  constexpr AttrKind kinds[] = {AttrKind::Int,    AttrKind::Float,  AttrKind::String, AttrKind::Ints,
                                AttrKind::Floats, AttrKind::Tensor, AttrKind::Graph};
  return kinds[v.index()];
}

AttrValue AttrDefault::materialize() const {
  switch (kind) {
  case AttrKind::Int: return i;
  case AttrKind::Float: return f;
  case AttrKind::String: return std::string(s);
  case AttrKind::Ints: return std::vector<int64_t>(ints.begin(), ints.begin() + n);
  default: SINTER_UNREACHABLE("attribute default of this kind cannot be declared");
  }
}

const AttrValue* Attrs::find(std::string_view name) const {
  for (const auto& [k, v] : items_)
    if (k == name)
      return &v;
  return nullptr;
}

void Attrs::set(std::string_view name, AttrValue v) {
  for (auto& [k, old] : items_)
    if (k == name) {
      old = std::move(v);
      return;
    }
  items_.emplace_back(std::string(name), std::move(v));
}

namespace {
template <class T> const T& getAs(const Attrs& a, std::string_view name) {
  const AttrValue* v = a.find(name);
  assert(v && "attribute missing: the verifier should have caught this");
  const T* t = std::get_if<T>(v);
  assert(t && "attribute of the wrong kind: the verifier should have caught this");
  return *t;
}
} // namespace

int64_t Attrs::getInt(std::string_view n) const { return getAs<int64_t>(*this, n); }
double Attrs::getFloat(std::string_view n) const { return getAs<double>(*this, n); }
const std::string& Attrs::getString(std::string_view n) const { return getAs<std::string>(*this, n); }
const std::vector<int64_t>& Attrs::getInts(std::string_view n) const {
  return getAs<std::vector<int64_t>>(*this, n);
}
const std::vector<double>& Attrs::getFloats(std::string_view n) const {
  return getAs<std::vector<double>>(*this, n);
}
const Tensor& Attrs::getTensor(std::string_view n) const { return getAs<Tensor>(*this, n); }
const Graph& Attrs::getGraph(std::string_view n) const {
  return *getAs<std::shared_ptr<const Graph>>(*this, n);
}

bool Attrs::operator==(const Attrs& o) const {
  if (items_.size() != o.items_.size())
    return false;
  for (size_t i = 0; i < items_.size(); ++i) {
    const std::string& ka = items_[i].first;
    const AttrValue& va = items_[i].second;
    const std::string& kb = o.items_[i].first;
    const AttrValue& vb = o.items_[i].second;
    if (ka != kb || va.index() != vb.index())
      return false;
    bool same = std::visit(
        [&](const auto& x) -> bool {
          using T = std::decay_t<decltype(x)>;
          const T& y = std::get<T>(vb);
          if constexpr (std::is_same_v<T, Tensor>)
            return x.identical(y);
          else
            return x == y;
        },
        va);
    if (!same)
      return false;
  }
  return true;
}

} // namespace sinter
