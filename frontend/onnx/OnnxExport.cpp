// ONNX export: graph signature, initializers, one rule per IR op (frontend/onnx/ExportRules.cpp).
#include "frontend/onnx/OnnxExport.h"
#include "frontend/onnx/ExportRules.h"
#include "frontend/onnx/OnnxTensor.h"

#include <onnx/checker.h>

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <unordered_set>

namespace sinter {

using namespace onnxio;

namespace onnxio {

std::string ExportCtx::name(const Value* v) {
  auto it = names_.find(v);
  if (it != names_.end())
    return it->second;
  std::string base = v->name().empty() ? fmt::format("v{}", v->id()) : v->name();
  std::string n = base;
  for (int k = 1; used_.count(n); ++k)
    n = fmt::format("{}.{}", base, k);
  used_.insert(n);
  names_[v] = n;
  return n;
}

std::string ExportCtx::fresh(std::string_view hint) {
  std::string n = fmt::format("{}_{}", hint, counter_++);
  while (used_.count(n))
    n = fmt::format("{}_{}", hint, counter_++);
  used_.insert(n);
  return n;
}

onnx::NodeProto& ExportCtx::add(std::string_view opType, std::vector<std::string> inputs,
                                std::vector<std::string> outputs) {
  onnx::NodeProto* n = graph_.add_node();
  n->set_op_type(std::string(opType));
  n->set_name(outputs.empty() ? fresh(opType) : outputs[0]);
  for (auto& i : inputs)
    n->add_input(std::move(i));
  for (auto& o : outputs)
    n->add_output(std::move(o));
  return *n;
}

std::string ExportCtx::initializer(const Tensor& t, std::string_view hint) {
  std::string n = fresh(hint);
  tensorToOnnx(t, n, *graph_.add_initializer());
  return n;
}

std::string ExportCtx::ints(const std::vector<int64_t>& v, std::string_view hint) {
  Tensor t({DType::I64, {static_cast<int64_t>(v.size())}});
  std::copy(v.begin(), v.end(), t.as<int64_t>().begin());
  return initializer(t, hint);
}

void setAttr(onnx::NodeProto& n, std::string_view name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(std::string(name));
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void setAttr(onnx::NodeProto& n, std::string_view name, double v) {
  auto* a = n.add_attribute();
  a->set_name(std::string(name));
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(v));
}
void setAttr(onnx::NodeProto& n, std::string_view name, const std::string& v) {
  auto* a = n.add_attribute();
  a->set_name(std::string(name));
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}
void setAttr(onnx::NodeProto& n, std::string_view name, const std::vector<int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(std::string(name));
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v)
    a->add_ints(x);
}

} // namespace onnxio

namespace {
void setValueInfo(onnx::ValueInfoProto& vi, const std::string& name, const TensorType& t) {
  vi.set_name(name);
  auto* tt = vi.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtypeToOnnx(t.dtype));
  auto* shape = tt->mutable_shape();
  for (int64_t d : t.shape)
    shape->add_dim()->set_dim_value(d);
}
} // namespace

Expected<std::string> exportOnnx(const Graph& g, const OnnxExportOptions& options) {
  if (options.opset < kMinExportOpset || options.opset > kMaxExportOpset)
    return makeError("opset {} is outside {}..{}", options.opset, kMinExportOpset, kMaxExportOpset);
  onnx::ModelProto model;
  model.set_ir_version(options.opset >= 15 ? 8 : 7);
  model.set_producer_name("sinter");
  auto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(options.opset);
  onnx::GraphProto& graph = *model.mutable_graph();
  graph.set_name(g.name());
  ExportCtx ctx(graph, options.opset);

  for (const Value* v : g.inputs())
    setValueInfo(*graph.add_input(), ctx.name(v), v->type());
  for (const Value* p : g.params()) {
    const Tensor* t = g.weights().find(p->name());
    if (!t)
      return makeError("parameter {} has no data; export needs the weights (load them with --weights)",
                       g.displayName(p));
    tensorToOnnx(*t, ctx.name(p), *graph.add_initializer());
  }
  for (const auto& n : g.nodes()) {
    const ExportRule* rule = findExportRule(n->op());
    if (!rule)
      return makeError("{}: no ONNX export rule", g.describe(n.get()));
    if (Error e = rule->fn(ctx, *n))
      return e.context(g.describe(n.get()));
  }
  // A graph output that is also an input (or an output twice) needs its own name: Identity.
  std::unordered_set<std::string> outNames;
  for (const Value* v : g.outputs()) {
    std::string name = ctx.name(v);
    if (v->isInput() || outNames.count(name)) {
      std::string copy = ctx.fresh(name + "_out");
      ctx.add("Identity", {name}, {copy});
      name = copy;
    }
    outNames.insert(name);
    setValueInfo(*graph.add_output(), name, v->type());
  }
  for (const auto& [key, value] : options.metadata) {
    auto* m = model.add_metadata_props();
    m->set_key(key);
    m->set_value(value);
  }
  if (!options.trainingState.empty()) {
    auto* algo = model.add_training_info()->mutable_algorithm();
    algo->set_name("sinter_training_state");
    for (const auto& [name, t] : options.trainingState)
      tensorToOnnx(t, name, *algo->add_initializer());
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return makeError("the exported model fails onnx::checker: {}", e.what());
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes))
    return makeError("the model does not serialize (over 2 GB?)");
  return bytes;
}

Error exportOnnxFile(const Graph& g, const std::string& path, const OnnxExportOptions& options) {
  auto bytes = exportOnnx(g, options);
  if (!bytes)
    return bytes.error();
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return makeError("{}: cannot write: {}", path, std::strerror(errno));
    }
  }
  // On disk before the rename (so a power loss cannot leave the new name on an empty file), and
  // the directory entry after it.
  auto syncPath = [](const std::string& p, int flags) {
    int fd = ::open(p.c_str(), flags);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  };
  syncPath(tmp, O_RDONLY);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    return makeError("{}: cannot rename into place: {}", path, ec.message());
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  syncPath(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
  return Error::success();
}

} // namespace sinter

namespace sinter {

Expected<OnnxTrainingState> readOnnxTrainingState(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return makeError("{}: cannot open: {}", path, std::strerror(errno));
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&f))
    return makeError("{}: not an ONNX model (the protobuf does not parse)", path);
  OnnxTrainingState s;
  for (const auto& m : model.metadata_props())
    s.metadata[m.key()] = m.value();
  for (const auto& ti : model.training_info())
    if (ti.algorithm().name() == "sinter_training_state")
      for (const auto& init : ti.algorithm().initializer()) {
        auto t = tensorFromOnnx(init, std::filesystem::path(path).parent_path().string());
        if (!t)
          return t.error().context(path);
        s.tensors[init.name()] = std::move(*t);
      }
  return s;
}

} // namespace sinter
