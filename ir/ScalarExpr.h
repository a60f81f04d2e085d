// The scalar expression language of elementwise ops ("max($0, 0)"): parse, evaluate, print.
//
// Grammar:  expr  := add (cmpop add)?          cmpop := < > <= >= == !=
//           add   := mul (('+'|'-') mul)*      mul   := unary (('*'|'/') unary)*
//           unary := '-' unary | primary       primary := number | $N | fn '(' expr, ... ')' | '(' expr ')'
// Functions (one table, ScalarExpr.cpp): max min pow exp log sqrt abs tanh floor select(c,a,b).
// Comparisons yield 1 or 0. Backends render the same tree to CUDA C or LLVM IR.
#pragma once

#include "ir/Error.h"

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sinter {

struct ScalarExpr {
  enum class Kind : uint8_t { Const, Arg, Neg, Add, Sub, Mul, Div, Lt, Gt, Le, Ge, Eq, Ne, Call };
  Kind kind = Kind::Const;
  double value = 0;         // Const
  int arg = 0;              // Arg: operand index
  std::string_view fn;      // Call: function name (points into the function table)
  std::vector<ScalarExpr> operands;

  /// Evaluates with operand values `args` (double precision).
  double eval(std::span<const double> args) const;
  /// Highest $N referenced plus one.
  int arity() const;
  /// Canonical text (fully parenthesised binary ops).
  std::string str() const;
};

/// Parses an expression; errors name the column.
Expected<ScalarExpr> parseScalarExpr(std::string_view text);

/// Names of the functions the language knows, for backends that must render each one.
std::span<const std::string_view> scalarFunctionNames();

} // namespace sinter
