// Scalar expressions: a small recursive-descent parser and a double-precision evaluator.
#include "ir/ScalarExpr.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

namespace sinter {

namespace {

struct ScalarFn {
  std::string_view name;
  int arity;
  double (*eval)(const double*);
};

// The one table of scalar functions.
constexpr std::array<ScalarFn, 9> kFunctions{{
    {"max", 2, [](const double* a) { return std::isnan(a[0]) || a[0] > a[1] ? a[0] : a[1]; }},
    {"min", 2, [](const double* a) { return std::isnan(a[0]) || a[0] < a[1] ? a[0] : a[1]; }},
    {"pow", 2, [](const double* a) { return std::pow(a[0], a[1]); }},
    {"exp", 1, [](const double* a) { return std::exp(a[0]); }},
    {"log", 1, [](const double* a) { return std::log(a[0]); }},
    {"sqrt", 1, [](const double* a) { return std::sqrt(a[0]); }},
    {"abs", 1, [](const double* a) { return std::fabs(a[0]); }},
    {"tanh", 1, [](const double* a) { return std::tanh(a[0]); }},
    {"floor", 1, [](const double* a) { return std::floor(a[0]); }},
}};
constexpr std::string_view kSelect = "select";

constexpr std::array<std::string_view, 10> kFunctionNames{
    "max", "min", "pow", "exp", "log", "sqrt", "abs", "tanh", "floor", "select"};

class ExprParser {
public:
  explicit ExprParser(std::string_view s) : s_(s) {}

  Expected<ScalarExpr> parse() {
    auto e = parseCmp();
    if (!e)
      return e;
    skip();
    if (pos_ != s_.size())
      return fail("unexpected '{}'", s_[pos_]);
    return e;
  }

private:
  template <class... A> Error fail(fmt::format_string<A...> f, A&&... a) {
    return makeError("column {}: {}", pos_ + 1, fmt::format(f, std::forward<A>(a)...));
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
  }
  bool eat(std::string_view tok) {
    skip();
    if (s_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }
  static ScalarExpr binary(ScalarExpr::Kind k, ScalarExpr a, ScalarExpr b) {
    ScalarExpr e;
    e.kind = k;
    e.operands = {std::move(a), std::move(b)};
    return e;
  }

  Expected<ScalarExpr> parseCmp() {
    auto lhs = parseAdd();
    if (!lhs)
      return lhs;
    static constexpr std::pair<std::string_view, ScalarExpr::Kind> ops[] = {
        {"<=", ScalarExpr::Kind::Le}, {">=", ScalarExpr::Kind::Ge}, {"==", ScalarExpr::Kind::Eq},
        {"!=", ScalarExpr::Kind::Ne}, {"<", ScalarExpr::Kind::Lt},  {">", ScalarExpr::Kind::Gt}};
    for (auto [tok, kind] : ops)
      if (eat(tok)) {
        auto rhs = parseAdd();
        if (!rhs)
          return rhs;
        return binary(kind, std::move(*lhs), std::move(*rhs));
      }
    return lhs;
  }

  Expected<ScalarExpr> parseAdd() {
    auto lhs = parseMul();
    if (!lhs)
      return lhs;
    ScalarExpr acc = std::move(*lhs);
    for (;;) {
      ScalarExpr::Kind k;
      if (eat("+"))
        k = ScalarExpr::Kind::Add;
      else if (eat("-"))
        k = ScalarExpr::Kind::Sub;
      else
        return acc;
      auto rhs = parseMul();
      if (!rhs)
        return rhs;
      acc = binary(k, std::move(acc), std::move(*rhs));
    }
  }

  Expected<ScalarExpr> parseMul() {
    auto lhs = parseUnary();
    if (!lhs)
      return lhs;
    ScalarExpr acc = std::move(*lhs);
    for (;;) {
      ScalarExpr::Kind k;
      if (eat("*"))
        k = ScalarExpr::Kind::Mul;
      else if (eat("/"))
        k = ScalarExpr::Kind::Div;
      else
        return acc;
      auto rhs = parseUnary();
      if (!rhs)
        return rhs;
      acc = binary(k, std::move(acc), std::move(*rhs));
    }
  }

  Expected<ScalarExpr> parseUnary() {
    if (eat("-")) {
      auto x = parseUnary();
      if (!x)
        return x;
      ScalarExpr e;
      e.kind = ScalarExpr::Kind::Neg;
      e.operands = {std::move(*x)};
      return e;
    }
    return parsePrimary();
  }

  Expected<ScalarExpr> parsePrimary() {
    skip();
    if (pos_ >= s_.size())
      return fail("expected an operand, got end of expression");
    char c = s_[pos_];
    if (eat("(")) {
      auto e = parseCmp();
      if (!e)
        return e;
      if (!eat(")"))
        return fail("expected ')'");
      return e;
    }
    if (c == '$') {
      ++pos_;
      size_t start = pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])))
        ++pos_;
      if (start == pos_)
        return fail("expected an operand index after '$'");
      ScalarExpr e;
      e.kind = ScalarExpr::Kind::Arg;
      std::from_chars(s_.data() + start, s_.data() + pos_, e.arg);
      return e;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      ScalarExpr e;
      auto [p, ec] = std::from_chars(s_.data() + pos_, s_.data() + s_.size(), e.value);
      if (ec != std::errc())
        return fail("bad number");
      pos_ = static_cast<size_t>(p - s_.data());
      return e;
    }
    if (std::isalpha(static_cast<unsigned char>(c))) {
      size_t start = pos_;
      while (pos_ < s_.size() && std::isalnum(static_cast<unsigned char>(s_[pos_])))
        ++pos_;
      std::string_view name = s_.substr(start, pos_ - start);
      const std::string_view* known = nullptr;
      for (const std::string_view& n : kFunctionNames)
        if (n == name)
          known = &n;
      if (!known)
        return fail("unknown function '{}'", name);
      if (!eat("("))
        return fail("expected '(' after '{}'", name);
      ScalarExpr e;
      e.kind = ScalarExpr::Kind::Call;
      e.fn = *known;
      for (;;) {
        auto a = parseCmp();
        if (!a)
          return a;
        e.operands.push_back(std::move(*a));
        if (eat(")"))
          break;
        if (!eat(","))
          return fail("expected ',' or ')' in call to '{}'", name);
      }
      int want = name == kSelect ? 3 : 0;
      for (const ScalarFn& f : kFunctions)
        if (f.name == name)
          want = f.arity;
      if (static_cast<int>(e.operands.size()) != want)
        return fail("'{}' takes {} operands, got {}", name, want, e.operands.size());
      return e;
    }
    return fail("unexpected '{}'", c);
  }

  std::string_view s_;
  size_t pos_ = 0;
};

} // namespace

Expected<ScalarExpr> parseScalarExpr(std::string_view text) { return ExprParser(text).parse(); }

std::span<const std::string_view> scalarFunctionNames() { return kFunctionNames; }

double ScalarExpr::eval(std::span<const double> args) const {
  switch (kind) {
  case Kind::Const: return value;
  case Kind::Arg: return args[static_cast<size_t>(arg)];
  case Kind::Neg: return -operands[0].eval(args);
  default: break;
  }
  if (kind == Kind::Call) {
    if (fn == kSelect)
      return operands[0].eval(args) != 0 ? operands[1].eval(args) : operands[2].eval(args);
    double a[2];
    for (size_t i = 0; i < operands.size(); ++i)
      a[i] = operands[i].eval(args);
    for (const ScalarFn& f : kFunctions)
      if (f.name == fn)
        return f.eval(a);
    SINTER_UNREACHABLE("function checked by the parser");
  }
  double a = operands[0].eval(args), b = operands[1].eval(args);
  switch (kind) {
  case Kind::Add: return a + b;
  case Kind::Sub: return a - b;
  case Kind::Mul: return a * b;
  case Kind::Div: return a / b;
  case Kind::Lt: return a < b;
  case Kind::Gt: return a > b;
  case Kind::Le: return a <= b;
  case Kind::Ge: return a >= b;
  case Kind::Eq: return a == b;
  case Kind::Ne: return a != b;
  default: SINTER_UNREACHABLE("unhandled scalar expression kind");
  }
}

int ScalarExpr::arity() const {
  int n = kind == Kind::Arg ? arg + 1 : 0;
  for (const ScalarExpr& o : operands)
    n = std::max(n, o.arity());
  return n;
}

std::string ScalarExpr::str() const {
  static constexpr std::string_view binops[] = {"+", "-", "*", "/", "<", ">", "<=", ">=", "==", "!="};
  switch (kind) {
  case Kind::Const: return fmt::format("{}", value);
  case Kind::Arg: return fmt::format("${}", arg);
  case Kind::Neg: return fmt::format("-({})", operands[0].str());
  case Kind::Call: {
    std::vector<std::string> parts;
    for (const ScalarExpr& o : operands)
      parts.push_back(o.str());
    return fmt::format("{}({})", fn, fmt::join(parts, ", "));
  }
  default:
    return fmt::format("({} {} {})", operands[0].str(),
                       binops[static_cast<int>(kind) - static_cast<int>(Kind::Add)], operands[1].str());
  }
}

} // namespace sinter
