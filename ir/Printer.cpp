// .sir printer: deterministic text for a graph (see docs/IR.md for the grammar).
#include "ir/Printer.h"

#include <charconv>
#include <cmath>
#include <unordered_map>

namespace sinter {

namespace {
bool isBareChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}
bool allDigits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  return true;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\', out += c;
    else if (c == '\n')
      out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20)
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    else
      out += c;
  }
  return out + "\"";
}

// Shortest round-trip spelling, always with a '.' or exponent so it reads back as a float.
template <class F> std::string formatReal(F v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, p);
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s;
}

std::string formatTensor(const Tensor& t) {
  std::string out = fmt::format("dense<{}: [", t.type().str());
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i)
      out += ",";
    double v = t.get(i);
    if (t.dtype() == DType::F32)
      out += formatReal(static_cast<float>(v));
    else if (isFloat(t.dtype()))
      out += formatDouble(v);
    else if (t.dtype() == DType::I64)
      out += fmt::format("{}", t.as<int64_t>()[i]);
    else
      out += fmt::format("{}", static_cast<int64_t>(v));
  }
  return out + "]>";
}

std::string printGraphText(const Graph& g, const std::string& indent);
} // namespace

std::string formatAttrValue(const AttrValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t>)
          return fmt::format("{}", x);
        else if constexpr (std::is_same_v<T, double>)
          return formatDouble(x);
        else if constexpr (std::is_same_v<T, std::string>)
          return quote(x);
        else if constexpr (std::is_same_v<T, std::vector<int64_t>>)
          return fmt::format("[{}]", fmt::join(x, ","));
        else if constexpr (std::is_same_v<T, std::vector<double>>) {
          std::vector<std::string> parts;
          for (double d : x)
            parts.push_back(formatDouble(d));
          return fmt::format("[{}]", fmt::join(parts, ","));
        } else if constexpr (std::is_same_v<T, Tensor>)
          return formatTensor(x);
        else
          return printGraphText(*x, "");
      },
      v);
}

std::string ValueNamer::operator()(const Value* v) {
  if (!v->name().empty())
    return valueRef(v->name());
  auto it = numbers_.find(v);
  if (it == numbers_.end())
    it = numbers_.emplace(v, numbers_.size()).first;
  return fmt::format("%{}", it->second);
}

namespace {
std::string humanBytes(int64_t b) {
  if (b >= 1000000000)
    return fmt::format("{:.1f} GB", b / 1e9);
  if (b >= 1000000)
    return fmt::format("{:.1f} MB", b / 1e6);
  if (b >= 1000)
    return fmt::format("{:.1f} kB", b / 1e3);
  return fmt::format("{} B", b);
}
} // namespace

std::string valueRef(std::string_view name) { return "%" + identifier(name); }

std::string identifier(std::string_view name) {
  bool bare = !name.empty() && !allDigits(name);
  for (char c : name)
    bare = bare && isBareChar(c);
  return bare ? std::string(name) : quote(name);
}

std::string formatDouble(double v) { return formatReal(v); }

namespace {
// The graph text without the header comment; `indent` prefixes every line after the first.
std::string printGraphText(const Graph& g, const std::string& indent) {
  ValueNamer name;
  std::vector<std::string> ins, outs;
  for (const Value* v : g.inputs())
    ins.push_back(fmt::format("{}: {}", name(v), v->type().str()));
  // Outputs are named after their values, which are defined below: number the body first.
  std::string body;
  for (const Value* p : g.params())
    body += fmt::format("{}  param {}: {}\n", indent, name(p), p->type().str());
  for (const auto& n : g.nodes()) {
    std::vector<std::string> res, types, operands;
    for (const Value* v : n->outputs()) {
      res.push_back(name(v));
      types.push_back(v->offset() >= 0 ? fmt::format("{} @{}", v->type().str(), v->offset()) : v->type().str());
    }
    for (const Value* v : n->inputs())
      operands.push_back(name(v));
    body += fmt::format("{}  {} = {}({})", indent, fmt::join(res, ", "), n->op().name, fmt::join(operands, ", "));
    if (n->attrs().size()) {
      std::vector<std::string> attrs;
      for (const auto& [k, v] : n->attrs()) {
        const auto* sub = std::get_if<std::shared_ptr<const Graph>>(&v);
        attrs.push_back(fmt::format("{}={}", k, sub ? printGraphText(**sub, indent + "    ") : formatAttrValue(v)));
      }
      body += fmt::format(" {{{}}}", fmt::join(attrs, ", "));
    }
    body += fmt::format(" : {}\n", fmt::join(types, ", "));
  }
  const auto inPlace = g.updates().empty() ? std::unordered_map<const Value*, Value*>{} : g.inPlaceUpdates();
  for (const auto& [param, value] : g.updates())
    body += fmt::format("{}  update {} = {}{}\n", indent, name(param), name(value),
                        inPlace.count(value) ? "  // in place: the kernel writes the parameter" : "");
  std::vector<std::string> rets;
  for (const Value* v : g.outputs()) {
    outs.push_back(fmt::format("{}: {}", name(v), v->type().str()));
    rets.push_back(name(v));
  }
  return fmt::format("graph @{}({}) -> ({}) {{\n{}{}  return {}\n{}}}", identifier(g.name()), fmt::join(ins, ", "),
                     fmt::join(outs, ", "), body, indent, fmt::join(rets, ", "), indent);
}
} // namespace

std::string printGraph(const Graph& g) {
  int64_t paramBytes = 0;
  for (const Value* p : g.params())
    paramBytes += p->type().bytes();
  return fmt::format("// sinter ir: {} nodes, {} parameters in {} tensors ({})\n{}\n", g.numNodes(),
                     g.parameterCount(), g.params().size(), humanBytes(paramBytes), printGraphText(g, ""));
}

} // namespace sinter
