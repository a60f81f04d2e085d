// Textual IR (.sir): printer, parser and Graphviz output. What we print we can parse:
// print(parse(print(g))) == print(g).
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sinter {

/// Deterministic .sir text of the graph, headed by a comment with node and parameter counts.
std::string printGraph(const Graph& g);

/// Parses .sir text. `file` names the source in errors ("file:line:col: ...").
/// Every node's result types are checked against the op's shape rule while parsing.
Expected<std::unique_ptr<Graph>> parseGraph(std::string_view text, std::string_view file = "<input>");

/// Graphviz (dot) rendering of the same graph: ops as boxes, values as typed edges.
std::string printDot(const Graph& g);

/// Names values as the printer does: their name, or %N for anonymous values numbered in the
/// order they are first named (call it in definition order).
class ValueNamer {
public:
  std::string operator()(const Value* v);

private:
  std::unordered_map<const Value*, size_t> numbers_;
};

/// Text of one attribute value as it appears in .sir.
std::string formatAttrValue(const AttrValue& v);

/// "%name" spelling (quoted when the name is not a bare identifier).
std::string valueRef(std::string_view name);

/// A name as written after '%' or '@': bare when it is [A-Za-z0-9_.-]+ and not all digits,
/// else a quoted string.
std::string identifier(std::string_view name);

/// Shortest text that reads back to the same double ("1.0", "1e-05", "inf", "nan").
std::string formatDouble(double v);

} // namespace sinter
