// .sir parser: a hand-written lexer and recursive-descent parser with line:column errors.
#include "ir/OpTable.h"
#include "ir/Printer.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace sinter {

namespace {

struct Token {
  enum Kind { End, Value, Global, Ident, Int, Float, String, Punct } kind = End;
  std::string text;   // identifier/name/string contents, or the punctuation
  bool quoted = false; // %"..." or @"..."
  int64_t i = 0;
  double f = 0;
  int line = 1, col = 1;

  std::string spelling() const {
    switch (kind) {
    case End: return "end of file";
    case Value: return quoted ? "%" + identifier(text) : "%" + text;
    case Global: return "@" + text;
    case String: return "\"" + text + "\"";
    default: return text;
    }
  }
};

class Lexer {
public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Expected<Token> next() {
    skipSpaceAndComments();
    Token t;
    t.line = line_;
    t.col = col_;
    if (pos_ >= s_.size())
      return t;
    char c = s_[pos_];
    if (c == '%' || c == '@') {
      advance();
      t.kind = c == '%' ? Token::Value : Token::Global;
      if (peek() == '"') {
        t.quoted = true;
        auto str = lexString(t);
        if (!str)
          return str.error();
        t.text = std::move(*str);
        return t;
      }
      t.text = takeWhile([](char x) { return isNameChar(x); });
      if (t.text.empty())
        return fail(t, fmt::format("expected a name after '{}'", c));
      return t;
    }
    if (c == '"') {
      auto str = lexString(t);
      if (!str)
        return str.error();
      t.kind = Token::String;
      t.text = std::move(*str);
      return t;
    }
    if (c == '-' && peek(1) == '>') {
      advance(), advance();
      t.kind = Token::Punct;
      t.text = "->";
      return t;
    }
    if (isDigit(c) || ((c == '-' || c == '+') && (isDigit(peek(1)) || peek(1) == '.')) || (c == '.' && isDigit(peek(1))))
      return lexNumber(t);
    if (c == '-' && s_.substr(pos_, 4) == "-inf") {
      for (int k = 0; k < 4; ++k)
        advance();
      t.kind = Token::Float;
      t.f = -std::numeric_limits<double>::infinity();
      t.text = "-inf";
      return t;
    }
    if (isAlpha(c) || c == '_') {
      t.kind = Token::Ident;
      t.text = takeWhile([](char x) { return isAlpha(x) || isDigit(x) || x == '_'; });
      return t;
    }
    if (std::string_view("(){}[]<>:,=").find(c) != std::string_view::npos) {
      advance();
      t.kind = Token::Punct;
      t.text = std::string(1, c);
      return t;
    }
    return fail(t, fmt::format("unexpected character '{}'", printable(c)));
  }

  Error fail(const Token& at, const std::string& msg) const {
    return makeError("{}:{}: {}", at.line, at.col, msg);
  }

private:
  static bool isDigit(char c) { return c >= '0' && c <= '9'; }
  static bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static bool isNameChar(char c) { return isAlpha(c) || isDigit(c) || c == '_' || c == '.' || c == '-'; }
  static std::string printable(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u < 0x20 || u >= 0x7f ? fmt::format("\\x{:02x}", u) : std::string(1, c);
  }
  char peek(size_t k = 0) const { return pos_ + k < s_.size() ? s_[pos_ + k] : '\0'; }
  void advance() {
    if (s_[pos_] == '\n')
      ++line_, col_ = 1;
    else
      ++col_;
    ++pos_;
  }
  template <class P> std::string takeWhile(P pred) {
    size_t start = pos_;
    while (pos_ < s_.size() && pred(s_[pos_]))
      advance();
    return std::string(s_.substr(start, pos_ - start));
  }
  void skipSpaceAndComments() {
    for (;;) {
      while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
        advance();
      if (peek() == '/' && peek(1) == '/') {
        while (pos_ < s_.size() && s_[pos_] != '\n')
          advance();
        continue;
      }
      return;
    }
  }
  Expected<std::string> lexString(const Token& t) {
    advance(); // opening quote
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_];
      if (c == '\n')
        return fail(t, "unterminated string");
      if (c == '\\') {
        advance();
        char e = peek();
        if (e == 'n')
          out += '\n';
        else if (e == '"' || e == '\\')
          out += e;
        else if (e == 'x' && pos_ + 2 < s_.size()) {
          unsigned v = 0;
          auto [p, ec] = std::from_chars(s_.data() + pos_ + 1, s_.data() + pos_ + 3, v, 16);
          if (ec != std::errc() || p != s_.data() + pos_ + 3)
            return fail(t, "bad \\x escape in string");
          out += static_cast<char>(v);
          advance(), advance();
        } else
          return fail(t, "bad escape in string");
        advance();
        continue;
      }
      out += c;
      advance();
    }
    if (pos_ >= s_.size())
      return fail(t, "unterminated string");
    advance(); // closing quote
    return out;
  }
  Expected<Token> lexNumber(Token& t) {
    size_t start = pos_;
    bool isFloatLit = false;
    if (peek() == '-' || peek() == '+')
      advance();
    while (isDigit(peek()) || peek() == '.' || peek() == 'e' || peek() == 'E' ||
           ((peek() == '-' || peek() == '+') && (s_[pos_ - 1] == 'e' || s_[pos_ - 1] == 'E'))) {
      if (!isDigit(peek()))
        isFloatLit = true;
      advance();
    }
    t.text = std::string(s_.substr(start, pos_ - start));
    const char* b = t.text.data() + (t.text[0] == '+' ? 1 : 0);
    const char* e = t.text.data() + t.text.size();
    if (isFloatLit) {
      t.kind = Token::Float;
      auto [p, ec] = std::from_chars(b, e, t.f);
      if (ec != std::errc() || p != e)
        return fail(t, fmt::format("bad number '{}'", t.text));
    } else {
      t.kind = Token::Int;
      auto [p, ec] = std::from_chars(b, e, t.i);
      if (ec != std::errc() || p != e)
        return fail(t, fmt::format("integer '{}' is out of range", t.text));
    }
    return t;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

class Parser {
public:
  Parser(std::string_view text, std::string_view file) : lex_(text), file_(file) {}

  Expected<std::unique_ptr<Graph>> parse() {
    if (Error e = run())
      return makeError("{}:{}", file_, e.message());
    return std::move(graph_);
  }

private:
  // Every error carries "line:col: " from the token it is about.
  Error failAt(const Token& t, const std::string& msg) { return lex_.fail(t, msg); }
  Error expected(std::string_view what) {
    return failAt(tok_, fmt::format("expected {}, got '{}'", what, tok_.spelling()));
  }
  Error advance() {
    auto t = lex_.next();
    if (!t)
      return t.error();
    tok_ = std::move(*t);
    return Error::success();
  }
  bool isPunct(std::string_view p) const { return tok_.kind == Token::Punct && tok_.text == p; }
  bool isKeyword(std::string_view k) const { return tok_.kind == Token::Ident && tok_.text == k; }
  Error expectPunct(std::string_view p, std::string_view context) {
    if (!isPunct(p))
      return expected(fmt::format("'{}' {}", p, context));
    return advance();
  }

  Expected<TensorType> parseType() {
    if (tok_.kind != Token::Ident)
      return expected("a tensor type such as f32[1,3,224,224]");
    auto dt = parseDType(tok_.text);
    if (!dt)
      return failAt(tok_, fmt::format("unknown element type '{}' (expected f32, f64, f16, bf16, i64, "
                                      "i32, i8, u8 or bool)", tok_.text));
    SINTER_CHECK(advance());
    if (!isPunct("["))
      return expected("'[' to start the shape");
    Token start = tok_;
    SINTER_CHECK(advance());
    TensorType t{*dt, {}};
    while (!isPunct("]")) {
      if (tok_.kind != Token::Int || tok_.i < 0)
        return expected("a non-negative dimension");
      t.shape.push_back(tok_.i);
      SINTER_CHECK(advance());
      if (isPunct(","))
        SINTER_CHECK(advance());
      else if (!isPunct("]"))
        return expected("',' or ']' in the shape");
    }
    if (t.numel() < 0)
      return failAt(start, fmt::format("shape {} has too many elements", shapeString(t.shape)));
    SINTER_CHECK(advance());
    return t;
  }

  // Defines a value name at token `at`; returns "" for anonymous (%N) names.
  Expected<std::string> defineName(const Token& at) {
    std::string key = keyOf(at);
    if (auto it = defined_.find(key); it != defined_.end())
      return failAt(at, fmt::format("{} is already defined at line {}", at.spelling(), it->second));
    defined_[key] = at.line;
    return isAnonymous(at) ? std::string() : at.text;
  }
  // %12 is anonymous (renumbered on print); %"12" and every other name are real names.
  static bool isAnonymous(const Token& t) {
    return !t.quoted && t.text.find_first_not_of("0123456789") == std::string::npos;
  }
  static std::string keyOf(const Token& t) { return isAnonymous(t) ? "#" + t.text : t.text; }

  Expected<Value*> useValue() {
    if (tok_.kind != Token::Value)
      return expected("a value such as %x");
    auto it = values_.find(keyOf(tok_));
    if (it == values_.end())
      return failAt(tok_, fmt::format("use of undefined value {}", tok_.spelling()));
    Value* v = it->second;
    SINTER_CHECK(advance());
    return v;
  }

  Expected<double> parseReal(std::string_view what) {
    double v;
    if (tok_.kind == Token::Int)
      v = static_cast<double>(tok_.i);
    else if (tok_.kind == Token::Float)
      v = tok_.f;
    else if (isKeyword("inf"))
      v = std::numeric_limits<double>::infinity();
    else if (isKeyword("nan"))
      v = std::numeric_limits<double>::quiet_NaN();
    else
      return expected(what);
    SINTER_CHECK(advance());
    return v;
  }

  Expected<Tensor> parseTensorLiteral() {
    if (!isKeyword("dense"))
      return expected("a tensor literal dense<type: [...]>");
    SINTER_CHECK(advance());
    SINTER_CHECK(expectPunct("<", "after 'dense'"));
    Token typeTok = tok_;
    auto type = parseType();
    if (!type)
      return type.error();
    if (type->numel() > (int64_t(1) << 28))
      return failAt(typeTok, fmt::format("literal {} is too large", type->str()));
    SINTER_CHECK(expectPunct(":", "after the literal's type"));
    SINTER_CHECK(expectPunct("[", "to start the literal's values"));
    Tensor t(*type);
    int64_t n = 0;
    while (!isPunct("]")) {
      if (n >= t.numel())
        return failAt(tok_, fmt::format("too many values for {} ({} expected)", type->str(), t.numel()));
      if (type->dtype == DType::I64 && tok_.kind == Token::Int) {
        t.as<int64_t>()[n] = tok_.i; // exact, beyond 2^53 too
        SINTER_CHECK(advance());
      } else {
        auto v = parseReal("a number");
        if (!v)
          return v.error();
        t.set(n, *v);
      }
      ++n;
      if (isPunct(","))
        SINTER_CHECK(advance());
      else if (!isPunct("]"))
        return expected("',' or ']' in the literal");
    }
    if (n != t.numel())
      return failAt(tok_, fmt::format("literal {} needs {} values, got {}", type->str(), t.numel(), n));
    SINTER_CHECK(advance());
    SINTER_CHECK(expectPunct(">", "to end the literal"));
    return t;
  }

  Expected<AttrValue> parseAttrValue(const AttrDef& def, const OpDef& op) {
    std::string what = fmt::format("{} for attribute '{}' of {}", attrKindName(def.kind), def.name, op.name);
    switch (def.kind) {
    case AttrKind::Int: {
      if (tok_.kind != Token::Int)
        return expected(what);
      int64_t v = tok_.i;
      SINTER_CHECK(advance());
      return AttrValue(v);
    }
    case AttrKind::Float: {
      auto v = parseReal(what);
      if (!v)
        return v.error();
      return AttrValue(*v);
    }
    case AttrKind::String: {
      if (tok_.kind != Token::String)
        return expected(what);
      std::string v = tok_.text;
      SINTER_CHECK(advance());
      return AttrValue(std::move(v));
    }
    case AttrKind::Ints:
    case AttrKind::Floats: {
      if (!isPunct("["))
        return expected(what);
      SINTER_CHECK(advance());
      std::vector<int64_t> ints;
      std::vector<double> reals;
      while (!isPunct("]")) {
        if (def.kind == AttrKind::Ints) {
          if (tok_.kind != Token::Int)
            return expected(fmt::format("an integer in attribute '{}' of {}", def.name, op.name));
          ints.push_back(tok_.i);
          SINTER_CHECK(advance());
        } else {
          auto v = parseReal(fmt::format("a number in attribute '{}' of {}", def.name, op.name));
          if (!v)
            return v.error();
          reals.push_back(*v);
        }
        if (isPunct(","))
          SINTER_CHECK(advance());
        else if (!isPunct("]"))
          return expected("',' or ']' in the list");
      }
      SINTER_CHECK(advance());
      if (def.kind == AttrKind::Ints)
        return AttrValue(std::move(ints));
      return AttrValue(std::move(reals));
    }
    case AttrKind::Tensor: {
      auto t = parseTensorLiteral();
      if (!t)
        return t.error();
      return AttrValue(std::move(*t));
    }
    case AttrKind::Graph: {
      if (!isKeyword("graph"))
        return expected(what);
      auto g = parseNestedGraph();
      if (!g)
        return g.error();
      return AttrValue(std::move(*g));
    }
    default:
      return failAt(tok_, fmt::format("attribute '{}' of {} cannot be written in text", def.name, op.name));
    }
  }

  Expected<Attrs> parseAttrs(const OpDef& op) {
    Attrs attrs;
    SINTER_CHECK(advance()); // '{'
    while (!isPunct("}")) {
      if (tok_.kind != Token::Ident)
        return expected("an attribute name");
      const AttrDef* def = op.findAttr(tok_.text);
      if (!def) {
        std::vector<std::string_view> names;
        for (const AttrDef& a : op.attrSchema())
          names.push_back(a.name);
        return failAt(tok_, fmt::format("unknown attribute '{}' for {} (it takes {})", tok_.text, op.name,
                                        names.empty() ? std::string("none")
                                                      : fmt::format("{}", fmt::join(names, ", "))));
      }
      if (attrs.has(def->name))
        return failAt(tok_, fmt::format("attribute '{}' is given twice", def->name));
      SINTER_CHECK(advance());
      SINTER_CHECK(expectPunct("=", "after the attribute name"));
      auto v = parseAttrValue(*def, op);
      if (!v)
        return v.error();
      attrs.set(def->name, std::move(*v));
      if (isPunct(","))
        SINTER_CHECK(advance());
      else if (!isPunct("}"))
        return expected("',' or '}' after the attribute");
    }
    SINTER_CHECK(advance());
    return attrs;
  }

  Error parseNode() {
    std::vector<Token> results;
    for (;;) {
      results.push_back(tok_);
      SINTER_CHECK(advance());
      if (!isPunct(","))
        break;
      SINTER_CHECK(advance());
      if (tok_.kind != Token::Value)
        return expected("a result name");
    }
    SINTER_CHECK(expectPunct("=", "after the result names"));
    if (tok_.kind != Token::Ident)
      return expected("an op name");
    Token opTok = tok_;
    const OpDef* op = findOp(tok_.text);
    if (!op)
      return failAt(tok_, fmt::format("unknown op '{}'", tok_.text));
    SINTER_CHECK(advance());
    SINTER_CHECK(expectPunct("(", "after the op name"));
    std::vector<Value*> operands;
    while (!isPunct(")")) {
      auto v = useValue();
      if (!v)
        return v.error();
      operands.push_back(*v);
      if (isPunct(","))
        SINTER_CHECK(advance());
      else if (!isPunct(")"))
        return expected("',' or ')' after the operand");
    }
    SINTER_CHECK(advance());
    Attrs attrs;
    if (isPunct("{")) {
      auto a = parseAttrs(*op);
      if (!a)
        return a.error();
      attrs = std::move(*a);
    }
    if (Error e = normalizeAttrs(*op, attrs))
      return failAt(opTok, fmt::format("{}: {}", op->name, e.message()));
    SINTER_CHECK(expectPunct(":", "before the result types"));
    std::vector<TensorType> types;
    std::vector<int64_t> offsets;
    for (;;) {
      auto t = parseType();
      if (!t)
        return t.error();
      types.push_back(std::move(*t));
      offsets.push_back(-1);
      if (tok_.kind == Token::Global) { // "@N": the result's offset in the planned arena
        int64_t off = -1;
        auto [p, ec] = std::from_chars(tok_.text.data(), tok_.text.data() + tok_.text.size(), off);
        if (tok_.quoted || ec != std::errc() || p != tok_.text.data() + tok_.text.size() || off < 0)
          return expected("an arena offset such as @1024");
        offsets.back() = off;
        SINTER_CHECK(advance());
      }
      if (!isPunct(","))
        break;
      SINTER_CHECK(advance());
    }
    std::vector<TensorType> in;
    for (Value* v : operands)
      in.push_back(v->type());
    auto inferred = inferResultTypes(*op, in, attrs);
    if (!inferred)
      return failAt(opTok, fmt::format("{}: {}", op->name, inferred.error().message()));
    if (results.size() != inferred->size())
      return failAt(results[0], fmt::format("{} has {} result{}, {} named", op->name, inferred->size(),
                                            inferred->size() == 1 ? "" : "s", results.size()));
    if (types.size() != results.size())
      return failAt(opTok, fmt::format("{} result names but {} types", results.size(), types.size()));
    for (size_t i = 0; i < types.size(); ++i)
      if (types[i] != (*inferred)[i])
        return failAt(opTok, fmt::format("{} result type {} does not match the shape rule's {}", op->name,
                                         types[i].str(), (*inferred)[i].str()));
    std::vector<std::pair<std::string, TensorType>> res;
    for (size_t i = 0; i < results.size(); ++i) {
      auto name = defineName(results[i]);
      if (!name)
        return name.error();
      res.emplace_back(*name, types[i]);
    }
    Node* n = graph_->addNodeUnchecked(*op, std::move(operands), std::move(attrs), std::move(res));
    for (size_t i = 0; i < results.size(); ++i) {
      values_[keyOf(results[i])] = n->output(i);
      n->output(i)->setOffset(offsets[i]);
    }
    return Error::success();
  }

  Error run() {
    SINTER_CHECK(advance());
    SINTER_CHECK(parseGraphDef());
    if (tok_.kind != Token::End)
      return expected("end of file after the graph");
    return Error::success();
  }

  // A fused node's body: a graph in its own scope, written as an attribute value.
  Expected<std::shared_ptr<const Graph>> parseNestedGraph() {
    if (depth_ >= 8)
      return failAt(tok_, "graphs are nested more than 8 deep");
    std::unique_ptr<Graph> outer = std::move(graph_);
    auto outerValues = std::move(values_);
    auto outerDefined = std::move(defined_);
    values_.clear();
    defined_.clear();
    ++depth_;
    Error e = parseGraphDef();
    --depth_;
    std::shared_ptr<const Graph> body = std::move(graph_);
    graph_ = std::move(outer);
    values_ = std::move(outerValues);
    defined_ = std::move(outerDefined);
    if (e)
      return e;
    return body;
  }

  Error parseGraphDef() {
    if (!isKeyword("graph"))
      return expected("'graph'");
    SINTER_CHECK(advance());
    if (tok_.kind != Token::Global)
      return expected("a graph name such as @main");
    graph_ = std::make_unique<Graph>(tok_.text);
    SINTER_CHECK(advance());
    SINTER_CHECK(expectPunct("(", "to open the input list"));
    while (!isPunct(")")) {
      if (tok_.kind != Token::Value)
        return expected("an input such as %x: f32[1,3,224,224]");
      Token nameTok = tok_;
      SINTER_CHECK(advance());
      SINTER_CHECK(expectPunct(":", "after the input name"));
      auto t = parseType();
      if (!t)
        return t.error();
      auto name = defineName(nameTok);
      if (!name)
        return name.error();
      values_[keyOf(nameTok)] = graph_->addInput(*name, *t);
      if (isPunct(","))
        SINTER_CHECK(advance());
      else if (!isPunct(")"))
        return expected("',' or ')' after the input");
    }
    SINTER_CHECK(advance());
    SINTER_CHECK(expectPunct("->", "before the output list"));
    SINTER_CHECK(expectPunct("(", "to open the output list"));
    std::vector<std::pair<Token, TensorType>> sigOutputs;
    while (!isPunct(")")) {
      if (tok_.kind != Token::Value)
        return expected("an output such as %y: f32[1,1000]");
      Token nameTok = tok_;
      SINTER_CHECK(advance());
      SINTER_CHECK(expectPunct(":", "after the output name"));
      auto t = parseType();
      if (!t)
        return t.error();
      sigOutputs.emplace_back(nameTok, *t);
      if (isPunct(","))
        SINTER_CHECK(advance());
      else if (!isPunct(")"))
        return expected("',' or ')' after the output");
    }
    SINTER_CHECK(advance());
    SINTER_CHECK(expectPunct("{", "to open the graph body"));
    for (;;) {
      if (isKeyword("param")) {
        SINTER_CHECK(advance());
        if (tok_.kind != Token::Value)
          return expected("a parameter name such as %conv1.w");
        Token nameTok = tok_;
        SINTER_CHECK(advance());
        SINTER_CHECK(expectPunct(":", "after the parameter name"));
        auto t = parseType();
        if (!t)
          return t.error();
        auto name = defineName(nameTok);
        if (!name)
          return name.error();
        if (name->empty())
          return failAt(nameTok, "parameters need a name, not a number");
        values_[keyOf(nameTok)] = graph_->addParam(*name, *t);
      } else if (tok_.kind == Token::Value) {
        SINTER_CHECK(parseNode());
      } else if (isKeyword("update")) {
        SINTER_CHECK(advance());
        Token paramTok = tok_;
        auto p = useValue();
        if (!p)
          return p.error();
        if (!(*p)->isParam())
          return failAt(paramTok, fmt::format("update needs a parameter, {} is not one", paramTok.spelling()));
        SINTER_CHECK(expectPunct("=", "after the updated parameter"));
        Token valueTok = tok_;
        auto v = useValue();
        if (!v)
          return v.error();
        if ((*v)->type() != (*p)->type())
          return failAt(valueTok, fmt::format("{} has type {}, the parameter {} is {}", valueTok.spelling(),
                                              (*v)->type().str(), paramTok.spelling(), (*p)->type().str()));
        graph_->addUpdate(*p, *v);
      } else if (isKeyword("return")) {
        break;
      } else {
        return expected("'param', a node such as %y = relu(%x) : f32[4], 'update' or 'return'");
      }
    }
    Token retTok = tok_;
    SINTER_CHECK(advance());
    std::vector<Value*> outs;
    for (;;) {
      Token at = tok_;
      auto v = useValue();
      if (!v)
        return v.error();
      if (outs.size() >= sigOutputs.size() || keyOf(sigOutputs[outs.size()].first) != keyOf(at))
        return failAt(at, fmt::format("return value {} does not match the signature's outputs", at.spelling()));
      if ((*v)->type() != sigOutputs[outs.size()].second)
        return failAt(at, fmt::format("{} has type {}, the signature says {}", at.spelling(),
                                      (*v)->type().str(), sigOutputs[outs.size()].second.str()));
      outs.push_back(*v);
      if (!isPunct(","))
        break;
      SINTER_CHECK(advance());
    }
    if (outs.size() != sigOutputs.size())
      return failAt(retTok, fmt::format("return lists {} values, the signature {}", outs.size(), sigOutputs.size()));
    graph_->setOutputs(std::move(outs));
    SINTER_CHECK(expectPunct("}", "to close the graph body"));
    return Error::success();
  }

  Lexer lex_;
  std::string_view file_;
  Token tok_;
  std::unique_ptr<Graph> graph_;
  std::unordered_map<std::string, Value*> values_;
  std::unordered_map<std::string, int> defined_;
  int depth_ = 0;
};

} // namespace

Expected<std::unique_ptr<Graph>> parseGraph(std::string_view text, std::string_view file) {
  return Parser(text, file).parse();
}

} // namespace sinter
