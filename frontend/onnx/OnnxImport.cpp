// ONNX import: the model walk (inputs, initializers, nodes, outputs) and the rule context.
#include "frontend/onnx/ImportContext.h"
#include "frontend/onnx/OnnxTensor.h"
#include "ir/Verifier.h"

#include <algorithm>
#include <fcntl.h>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sinter {

using namespace onnxio;

namespace onnxio {

std::string describeNode(const onnx::NodeProto& n) {
  std::string name = !n.name().empty() ? n.name() : n.output_size() ? n.output(0) : std::string("?");
  return fmt::format("node \"{}\" ({})", name, n.op_type());
}

const OnnxRule* findOnnxRule(std::string_view onnxType) {
  for (auto family : {elementwiseRules(), convPoolRules(), normRules(), linearRules(), shapeRules(),
                      lossRules(), controlRules()})
    for (const OnnxRule& r : family)
      if (r.onnxType == onnxType)
        return &r;
  return nullptr;
}

// ---- NodeCtx -------------------------------------------------------------------------------

size_t NodeCtx::numInputs() const {
  size_t n = static_cast<size_t>(node_.input_size());
  while (n > 0 && node_.input(static_cast<int>(n - 1)).empty())
    --n;
  return n;
}

bool NodeCtx::has(size_t i) const { return i < numInputs() && !node_.input(static_cast<int>(i)).empty(); }

Expected<Value*> NodeCtx::in(size_t i) {
  if (!has(i))
    return makeError("input {} is required", i);
  const std::string& name = node_.input(static_cast<int>(i));
  Value* v = imp_.lookup(name);
  if (!v)
    return imp_.unbound(name, fmt::format("input '{}' is not defined by any earlier node, graph input or initializer (the "
                                          "graph is not topologically sorted, or has a cycle)", name));
  return v;
}

Expected<std::vector<Value*>> NodeCtx::inputs() {
  std::vector<Value*> out;
  for (size_t i = 0; i < numInputs(); ++i) {
    if (!has(i))
      return makeUnsupported("a missing optional input {} before a present one is not supported", i);
    auto v = in(i);
    if (!v)
      return v.error();
    out.push_back(*v);
  }
  return out;
}

const Tensor* NodeCtx::constant(size_t i) const {
  if (!has(i))
    return nullptr;
  const std::string& name = node_.input(static_cast<int>(i));
  Value* v = imp_.lookup(name);
  if (v && v->isInput()) { // a graph input whose value the caller fixed at import time
    auto it = imp_.options().inputValues.find(name);
    if (it != imp_.options().inputValues.end() && it->second.type() == v->type())
      return &it->second;
  }
  if (v && v->isParam()) // a float initializer: its value is known too
    return imp_.graph().weights().find(v->name());
  return v ? Importer::constantData(v) : nullptr;
}

Expected<std::vector<int64_t>> NodeCtx::constInts(size_t i, std::string_view what) {
  auto v = in(i);
  if (!v)
    return v.error();
  const Tensor* t = constant(i);
  if (!t)
    return makeUnsupported("{} (input {}) must be a constant: Sinter compiles static shapes", what, i);
  if (!isInteger(t->dtype()) || t->shape().size() > 1)
    return makeError("{} (input {}) must be a 1-D integer tensor, got {}", what, i, t->type().str());
  std::vector<int64_t> out(static_cast<size_t>(t->numel()));
  for (int64_t k = 0; k < t->numel(); ++k)
    out[k] = t->dtype() == DType::I64 ? t->as<int64_t>()[k] : static_cast<int64_t>(t->get(k));
  return out;
}

Expected<double> NodeCtx::constScalar(size_t i, std::string_view what) {
  auto v = in(i);
  if (!v)
    return v.error();
  const Tensor* t = constant(i);
  if (!t)
    return makeUnsupported("{} (input {}) must be a constant", what, i);
  if (t->numel() != 1)
    return makeError("{} (input {}) must hold one value, got {}", what, i, t->type().str());
  return t->get(0);
}

Error NodeCtx::checkInputs(size_t lo, size_t hi) const {
  size_t n = numInputs();
  if (n < lo || n > hi)
    return makeError("takes {} input{}, got {}", lo == hi ? fmt::format("{}", lo) : fmt::format("{} to {}", lo, hi),
                     hi == 1 ? "" : "s", n);
  return Error::success();
}

const onnx::AttributeProto* NodeCtx::attr(std::string_view name) const {
  for (const auto& a : node_.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

namespace {
std::string attrTypeName(int t) {
  if (onnx::AttributeProto_AttributeType_IsValid(t))
    return onnx::AttributeProto_AttributeType_Name(static_cast<onnx::AttributeProto_AttributeType>(t));
  return fmt::format("#{}", t);
}
Error wrongType(const onnx::AttributeProto& a, std::string_view want) {
  return makeError("attribute '{}' must be {}, got {}", a.name(), want, attrTypeName(a.type()));
}
} // namespace

Expected<int64_t> NodeCtx::attrInt(std::string_view name, int64_t def) const {
  const auto* a = attr(name);
  if (!a)
    return def;
  if (a->type() != onnx::AttributeProto::INT)
    return wrongType(*a, "INT");
  return a->i();
}

Expected<double> NodeCtx::attrFloat(std::string_view name, double def) const {
  const auto* a = attr(name);
  if (!a)
    return def;
  if (a->type() != onnx::AttributeProto::FLOAT)
    return wrongType(*a, "FLOAT");
  return static_cast<double>(a->f());
}

Expected<std::string> NodeCtx::attrString(std::string_view name, std::string def) const {
  const auto* a = attr(name);
  if (!a)
    return def;
  if (a->type() != onnx::AttributeProto::STRING)
    return wrongType(*a, "STRING");
  return a->s();
}

Expected<std::vector<int64_t>> NodeCtx::attrInts(std::string_view name, std::vector<int64_t> def) const {
  const auto* a = attr(name);
  if (!a)
    return def;
  if (a->type() != onnx::AttributeProto::INTS)
    return wrongType(*a, "INTS");
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

Error NodeCtx::onlyAttrs(std::initializer_list<std::string_view> known) const {
  for (const auto& a : node_.attribute())
    if (std::find(known.begin(), known.end(), a.name()) == known.end())
      return makeUnsupported("attribute '{}' is not supported", a.name());
  return Error::success();
}

Expected<Value*> NodeCtx::emit(const OpDef& op, std::vector<Value*> inputs, Attrs attrs) {
  Graph& g = imp_.graph();
  auto n = g.addNode(op, inputs, std::move(attrs));
  if (!n)
    return n.error();
  const NodeEvaluator& fold = imp_.options().fold;
  bool allConstant = !inputs.empty() && std::all_of(inputs.begin(), inputs.end(), [](Value* v) {
    return Importer::constantData(v) != nullptr;
  });
  if (!fold || !allConstant || op.numOutputs() != 1)
    return (*n)->output();
  std::vector<Tensor> operands;
  for (Value* v : inputs)
    operands.push_back(*Importer::constantData(v));
  auto r = fold(**n, operands);
  g.eraseNode(*n);
  if (!r)
    return r.error();
  return constantValue(std::move((*r)[0]));
}

Value* NodeCtx::constantValue(Tensor t) {
  auto n = imp_.graph().addNode(ops::Constant, {}, {{"value", std::move(t)}});
  assert(n && "a constant node always type-checks");
  return (*n)->output();
}

Error NodeCtx::bind(size_t i, Value* v) {
  if (!wantsOutput(i))
    return Error::success();
  const std::string& name = node_.output(static_cast<int>(i));
  Graph& g = imp_.graph();
  if (v->name().empty() && v->producer())
    g.rename(v, g.uniqueName(name));
  imp_.bind(name, v);
  return Error::success();
}

Error NodeCtx::generic(const OpDef& op) {
  auto ins = inputs();
  if (!ins)
    return ins.error();
  std::vector<Value*> inputs = std::move(*ins);
  Attrs attrs;
  for (const auto& a : node_.attribute()) {
    const AttrDef* def = op.findAttr(a.name());
    if (!def)
      return makeUnsupported("attribute '{}' is not supported", a.name());
    switch (a.type()) {
    case onnx::AttributeProto::INT: attrs.set(a.name(), static_cast<int64_t>(a.i())); break;
    case onnx::AttributeProto::FLOAT: attrs.set(a.name(), static_cast<double>(a.f())); break;
    case onnx::AttributeProto::STRING: attrs.set(a.name(), a.s()); break;
    case onnx::AttributeProto::INTS: attrs.set(a.name(), std::vector<int64_t>(a.ints().begin(), a.ints().end())); break;
    default: return wrongType(a, std::string(attrKindName(def->kind)));
    }
  }
  auto v = emit(op, std::move(inputs), std::move(attrs));
  if (!v)
    return v.error();
  return bind(0, *v);
}

// ---- Importer ------------------------------------------------------------------------------

Value* Importer::lookup(const std::string& name) const {
  auto it = env_.find(name);
  return it == env_.end() ? nullptr : it->second;
}

Error Importer::unbound(const std::string& name, std::string fallback) const {
  auto it = unsupportedOutputs_.find(name);
  if (it != unsupportedOutputs_.end())
    return makeUnsupported("{}", it->second);
  return makeError("{}", fallback);
}

const Tensor* Importer::constantData(const Value* v) {
  const Node* p = v->producer();
  if (!p || !p->is(ops::Constant))
    return nullptr;
  return &p->attrs().getTensor("value");
}

namespace {
// Reads a ValueInfo's tensor type; symbolic or missing dims come back as -1.
Expected<std::pair<DType, Shape>> valueInfoType(const onnx::ValueInfoProto& vi) {
  if (!vi.has_type() || !vi.type().has_tensor_type())
    return makeUnsupported("'{}' is not a tensor (sequence, map and optional values are not supported)", vi.name());
  const auto& tt = vi.type().tensor_type();
  auto dtype = dtypeFromOnnx(tt.elem_type());
  if (!dtype)
    return dtype.error().context(fmt::format("'{}'", vi.name()));
  Shape shape;
  if (!tt.has_shape())
    return std::make_pair(*dtype, Shape{-2}); // rank unknown
  for (const auto& d : tt.shape().dim())
    shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return std::make_pair(*dtype, shape);
}

std::string dimsText(const onnx::ValueInfoProto& vi) {
  std::vector<std::string> parts;
  for (const auto& d : vi.type().tensor_type().shape().dim())
    parts.push_back(d.has_dim_value() ? std::to_string(d.dim_value()) : d.has_dim_param() ? d.dim_param() : "?");
  return fmt::format("[{}]", fmt::join(parts, ","));
}
} // namespace

Error Importer::importInitializers(const onnx::GraphProto& g) {
  for (const auto& init : g.initializer()) {
    if (init.name().empty())
      return makeError("an initializer has no name");
    if (env_.count(init.name()))
      return makeError("initializer '{}' is defined twice", init.name());
    auto t = tensorFromOnnx(init, baseDir_);
    if (!t)
      return t.error();
    Value* v;
    if (isFloat(t->dtype())) {
      TensorType type = t->type();
      v = graph_->addParam(graph_->uniqueName(init.name()), type, std::move(*t));
    } else { // integer/bool initializers are shape data, indices, ...: constants that fold
      auto n = graph_->addNode(ops::Constant, {}, {{"value", std::move(*t)}}, {init.name()});
      assert(n);
      v = (*n)->output();
    }
    env_[init.name()] = v;
  }
  return Error::success();
}

Error Importer::importInputs(const onnx::GraphProto& g) {
  std::set<std::string> bound;
  for (const auto& vi : g.input()) {
    if (env_.count(vi.name())) // an initializer listed as input (IR < 4): a parameter
      continue;
    auto type = valueInfoType(vi);
    if (!type)
      return type.error().context("graph input");
    auto [dtype, shape] = *type;
    auto it = options_.inputShapes.find(vi.name());
    if (it != options_.inputShapes.end()) {
      bound.insert(vi.name());
      const Shape& want = it->second;
      bool rankKnown = !(shape.size() == 1 && shape[0] == -2);
      if (rankKnown && want.size() != shape.size())
        return makeError("--input-shape {} has rank {}, the model's input is {}", vi.name(), want.size(), dimsText(vi));
      for (size_t d = 0; rankKnown && d < shape.size(); ++d)
        if (shape[d] >= 0 && shape[d] != want[d])
          return makeError("--input-shape {}={} contradicts the model's {} in dim {}", vi.name(), shapeString(want),
                           dimsText(vi), d);
      shape = want;
    }
    if (shape.size() == 1 && shape[0] == -2)
      return makeError("input '{}' has no shape; give one with --input-shape {}=D0,D1,...", vi.name(), vi.name());
    for (int64_t d : shape)
      if (d < 0)
        return makeError("input '{}' has symbolic dims {}; bind them with --input-shape {}=D0,D1,...", vi.name(),
                         dimsText(vi), vi.name());
    TensorType t{dtype, shape};
    if (t.numel() < 0)
      return makeError("input '{}' has an absurd shape {}", vi.name(), shapeString(shape));
    if (vi.name().empty() || graph_->findValue(vi.name()))
      return makeError("graph input '{}' is unnamed or defined twice", vi.name());
    env_[vi.name()] = graph_->addInput(vi.name(), t);
  }
  for (const auto& [name, shape] : options_.inputShapes)
    if (!bound.count(name))
      return makeError("--input-shape names '{}', which is not an input of the model", name);
  return Error::success();
}

Error Importer::importNodes(const onnx::GraphProto& g) {
  for (const auto& node : g.node()) {
    const std::string& domain = node.domain();
    auto unsupported = [&](std::string why) {
      std::vector<std::string_view> ops = supportedOnnxOps();
      return makeUnsupported("{}: {} (domain \"{}\", opset {}) is not supported{}", describeNode(node), node.op_type(),
                             domain.empty() ? "ai.onnx" : domain, opset_, why.empty() ? fmt::format(
                                 "; supported ops: {}", fmt::join(ops, ", ")) : ": " + why);
    };
    if (!domain.empty() && domain != "ai.onnx")
      return unsupported("");
    const OnnxRule* rule = findOnnxRule(node.op_type());
    if (!rule)
      return unsupported("");
    NodeCtx ctx(*this, node, opset_);
    if (Error e = rule->fn(ctx))
      return e.context(describeNode(node));
    // An output the rule does not produce (e.g. a training-mode BatchNormalization's statistics)
    // is an error only where something reads it.
    for (int i = 0; i < node.output_size(); ++i)
      if (!node.output(i).empty() && !lookup(node.output(i)))
        unsupportedOutputs_[node.output(i)] =
            fmt::format("{}: output {} ('{}') is not supported", describeNode(node), i, node.output(i));
  }
  return Error::success();
}

Error Importer::importSubgraph(const onnx::GraphProto& g) {
  if (depth_ >= 32)
    return makeError("If branches are nested more than 32 deep");
  ++depth_;
  Error e = importInitializers(g);
  if (!e)
    e = importNodes(g);
  --depth_;
  return e;
}

Error Importer::importOutputs(const onnx::GraphProto& g) {
  std::vector<Value*> outs;
  for (const auto& vi : g.output()) {
    Value* v = lookup(vi.name());
    if (!v)
      return unbound(vi.name(), fmt::format("graph output '{}' is not produced by any node, input or initializer", vi.name()));
    auto type = valueInfoType(vi);
    if (!type)
      return type.error().context("graph output");
    auto [dtype, shape] = *type;
    if (dtype != v->type().dtype)
      return makeError("output '{}' is declared {} but computes {}", vi.name(), dtypeName(dtype), v->type().str());
    bool rankKnown = !(shape.size() == 1 && shape[0] == -2);
    if (rankKnown) {
      bool same = shape.size() == v->type().shape.size();
      for (size_t d = 0; same && d < shape.size(); ++d)
        same = shape[d] < 0 || shape[d] == v->type().shape[d];
      if (!same)
        return makeError("output '{}' is declared {} but computes {}", vi.name(), dimsText(vi), v->type().str());
    }
    outs.push_back(v);
  }
  if (outs.empty())
    return makeError("the graph has no outputs");
  graph_->setOutputs(std::move(outs));
  return Error::success();
}

void Importer::removeDeadCode() {
  std::set<const Value*> outputs(graph_->outputs().begin(), graph_->outputs().end());
  bool changed = true;
  while (changed) {
    changed = false;
    std::vector<Node*> dead;
    for (const auto& n : graph_->nodes()) {
      bool used = false;
      for (const Value* v : n->outputs())
        used = used || v->hasUses() || outputs.count(v);
      if (!used)
        dead.push_back(n.get());
    }
    for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
      graph_->eraseNode(*it);
      changed = true;
    }
  }
  std::vector<Value*> unused;
  for (Value* p : graph_->params())
    if (!p->hasUses() && !outputs.count(p))
      unused.push_back(p);
  for (Value* p : unused)
    graph_->eraseParam(p);
}

Expected<std::unique_ptr<Graph>> Importer::run(const onnx::ModelProto& model) {
  if (!model.has_graph())
    return makeError("the model has no graph");
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx")
      opset_ = op.version();
  if (opset_ == 0) // only other domains: their nodes are reported as unsupported
    opset_ = 1;
  if (opset_ < 1 || opset_ > 1000)
    return makeError("opset {} is not a valid version", opset_);
  if (opset_ > kMaxKnownOpset && options_.warn)
    options_.warn(fmt::format("the model declares opset {}, newer than the {} this build knows; importing "
                              "ops whose semantics did not change",
                              opset_, kMaxKnownOpset));
  const onnx::GraphProto& g = model.graph();
  graph_->setName(g.name().empty() ? "main" : g.name());
  SINTER_CHECK(importInitializers(g));
  SINTER_CHECK(importInputs(g));
  SINTER_CHECK(importNodes(g));
  SINTER_CHECK(importOutputs(g));
  removeDeadCode();
  if (Error e = verifyGraph(*graph_))
    return e.context("imported graph");
  return std::move(graph_);
}

} // namespace onnxio

std::vector<std::string_view> supportedOnnxOps() {
  std::vector<std::string_view> names;
  for (auto family : {elementwiseRules(), convPoolRules(), normRules(), linearRules(), shapeRules(), lossRules(),
                      controlRules()})
    for (const OnnxRule& r : family)
      names.push_back(r.onnxType);
  std::sort(names.begin(), names.end());
  return names;
}

Expected<std::unique_ptr<Graph>> importOnnxBytes(std::string_view bytes, const OnnxImportOptions& options,
                                                 const std::string& baseDir) {
  if (bytes.empty())
    return makeError("the file is empty");
  if (bytes.size() > static_cast<size_t>(INT32_MAX))
    return makeUnsupported("models over 2 GB must keep their weights in external data files");
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return makeError("not an ONNX model (the protobuf does not parse)");
  Importer imp(options, baseDir);
  return imp.run(model);
}

Expected<std::vector<std::string>> onnxInputNames(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return makeError("{}: cannot open: {}", path, std::strerror(errno));
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&f))
    return makeError("{}: not an ONNX model (the protobuf does not parse)", path);
  std::set<std::string> inits;
  for (const auto& t : model.graph().initializer())
    inits.insert(t.name());
  std::vector<std::string> names;
  for (const auto& vi : model.graph().input())
    if (!inits.count(vi.name())) {
      if (!vi.type().has_tensor_type())
        return makeUnsupported("input '{}' is not a tensor (sequence, map and optional values are not supported)",
                               vi.name());
      names.push_back(vi.name());
    }
  return names;
}

Expected<Tensor> readOnnxTensorFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return makeError("{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string bytes = ss.str();
  onnx::TensorProto t;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) || !t.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return makeError("{}: not a TensorProto", path);
  auto r = tensorFromOnnx(t, std::filesystem::path(path).parent_path().string());
  if (!r)
    return r.error().context(path);
  return r;
}

Expected<std::unique_ptr<Graph>> importOnnxFile(const std::string& path, const OnnxImportOptions& options) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return makeError("cannot open: {}", std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return makeError("not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    close(fd);
    return makeError("the file is empty");
  }
  void* data = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (data == MAP_FAILED)
    return makeError("cannot map: {}", std::strerror(errno));
  std::string dir = std::filesystem::path(path).parent_path().string();
  auto g = importOnnxBytes(std::string_view(static_cast<const char*>(data), size), options, dir);
  munmap(data, size);
  return g;
}

} // namespace sinter
