// Graphviz rendering of a graph: one box per node (params listed inside), typed edges.
#include "ir/Printer.h"

#include <unordered_map>

namespace sinter {

namespace {
std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}
} // namespace

std::string printDot(const Graph& g) {
  std::string out = fmt::format("digraph \"{}\" {{\n", escape(g.name()));
  out += "  rankdir=TB;\n  node [shape=box, style=rounded, fontname=\"monospace\", fontsize=10];\n"
         "  edge [fontname=\"monospace\", fontsize=9];\n";
  ValueNamer name;
  std::unordered_map<const Value*, std::string> source; // value -> dot node id that defines it
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const Value* v = g.inputs()[i];
    std::string id = fmt::format("in{}", i);
    source[v] = id;
    out += fmt::format("  {} [shape=ellipse, label=\"{}\\n{}\"];\n", id, escape(name(v)),
                       v->type().str());
  }
  size_t k = 0;
  for (const auto& n : g.nodes()) {
    std::string id = fmt::format("n{}", k++);
    for (const Value* v : n->outputs())
      name(v);
    std::string label = fmt::format("{} = {}", escape(name(n->output())), n->op().name);
    for (const Value* v : n->inputs())
      if (v->isParam())
        label += fmt::format("\\l  {}: {}", escape(name(v)), v->type().str());
    for (const auto& [attr, value] : n->attrs())
      if (kindOf(value) != AttrKind::Tensor)
        label += fmt::format("\\l  {}={}", escape(attr), escape(formatAttrValue(value)));
    out += fmt::format("  {} [label=\"{}\\l\"];\n", id, label);
    for (const Value* v : n->inputs())
      if (!v->isParam())
        out += fmt::format("  {} -> {} [label=\"{}\"];\n", source.at(v), id, v->type().str());
    for (const Value* v : n->outputs())
      source[v] = id;
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const Value* v = g.outputs()[i];
    out += fmt::format("  out{} [shape=ellipse, label=\"{}\"];\n", i, escape(name(v)));
    if (auto it = source.find(v); it != source.end())
      out += fmt::format("  {} -> out{} [label=\"{}\"];\n", it->second, i, v->type().str());
  }
  return out + "}\n";
}

} // namespace sinter
