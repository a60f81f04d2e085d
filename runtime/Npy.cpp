// .npy reader/writer with strict header checks (bad files get one clear error, never a crash).
#include "runtime/Npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace sinter {

namespace {

// Finds `'key':` in the header dict and returns the text of its value up to the next ',' or '}'
// at nesting depth 0.
std::optional<std::string> dictValue(std::string_view h, std::string_view key) {
  std::string pattern = fmt::format("'{}':", key);
  size_t at = h.find(pattern);
  if (at == std::string_view::npos)
    return std::nullopt;
  size_t i = at + pattern.size();
  int depth = 0;
  size_t start = i;
  for (; i < h.size(); ++i) {
    char c = h[i];
    if (c == '(')
      ++depth;
    else if (c == ')')
      --depth;
    else if ((c == ',' || c == '}') && depth == 0)
      break;
  }
  std::string v(h.substr(start, i - start));
  v.erase(0, v.find_first_not_of(" "));
  v.erase(v.find_last_not_of(" ") + 1);
  return v;
}

Expected<Shape> parseShapeTuple(const std::string& v) {
  if (v.size() < 2 || v.front() != '(' || v.back() != ')')
    return makeError("bad shape '{}' in header", v);
  Shape s;
  std::string_view body(v.data() + 1, v.size() - 2);
  size_t i = 0;
  while (i < body.size()) {
    while (i < body.size() && (body[i] == ' ' || body[i] == ','))
      ++i;
    if (i >= body.size())
      break;
    size_t j = i;
    while (j < body.size() && body[j] >= '0' && body[j] <= '9')
      ++j;
    if (j == i)
      return makeError("bad shape '{}' in header", v);
    if (j - i > 15)
      return makeError("shape '{}' has an absurd dimension", v);
    s.push_back(std::stoll(std::string(body.substr(i, j - i))));
    i = j;
    if (i < body.size() && body[i] == 'L') // Python 2 longs
      ++i;
  }
  return s;
}

std::string_view describeDescr(std::string_view d) {
  if (d == "<f8")
    return "float64";
  if (d == "<f2")
    return "float16";
  if (d == "<i4")
    return "int32";
  if (d == "|b1")
    return "bool";
  if (d == "|u1")
    return "uint8";
  if (!d.empty() && d[0] == '>')
    return "big-endian";
  return "this dtype";
}

} // namespace

Expected<Tensor> parseNpy(std::string_view bytes) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != "\x93NUMPY")
    return makeError("not a .npy file (missing the \\x93NUMPY magic)");
  unsigned major = static_cast<unsigned char>(bytes[6]);
  size_t headerLen, offset;
  if (major == 1) {
    headerLen = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return makeError("truncated .npy header");
    uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    headerLen = len;
    offset = 12;
  } else {
    return makeError(".npy format version {} is not supported (1, 2 or 3)", major);
  }
  if (bytes.size() < offset + headerLen)
    return makeError("truncated .npy header");
  std::string_view h = bytes.substr(offset, headerLen);
  auto descr = dictValue(h, "descr");
  auto fortran = dictValue(h, "fortran_order");
  auto shapeText = dictValue(h, "shape");
  if (!descr || !fortran || !shapeText)
    return makeError(".npy header lacks descr, fortran_order or shape");
  std::string d = *descr;
  if (d.size() >= 2 && (d.front() == '\'' || d.front() == '"'))
    d = d.substr(1, d.size() - 2);
  DType dtype;
  if (d == "<f4")
    dtype = DType::F32;
  else if (d == "<i8")
    dtype = DType::I64;
  else
    return makeError("dtype {} ('{}') is not supported: save float32 ('<f4') or int64 ('<i8')",
                     describeDescr(d), d);
  if (*fortran != "False")
    return makeError("Fortran-order arrays are not supported: save np.ascontiguousarray(x)");
  auto shape = parseShapeTuple(*shapeText);
  if (!shape)
    return shape.error();
  TensorType type{dtype, *shape};
  int64_t n = type.numel();
  if (n < 0 || n > (int64_t(1) << 40))
    return makeError("shape {} is too large", shapeString(*shape));
  size_t want = static_cast<size_t>(n) * dtypeSize(dtype);
  size_t have = bytes.size() - offset - headerLen;
  if (have != want)
    return makeError("{} needs {} bytes of data, the file has {}", type.str(), want, have);
  Tensor t(type);
  if (want)
    std::memcpy(t.raw(), bytes.data() + offset + headerLen, want);
  return t;
}

Expected<Tensor> readNpy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return makeError("{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  auto t = parseNpy(ss.str());
  if (!t)
    return t.error().context(path);
  return t;
}

Error writeNpy(const std::string& path, const Tensor& t) {
  std::string descr;
  if (t.dtype() == DType::F32)
    descr = "<f4";
  else if (t.dtype() == DType::I64)
    descr = "<i8";
  else
    return makeError("{}: cannot write {} as .npy (float32 and int64 only)", path, dtypeName(t.dtype()));
  std::string shape;
  for (int64_t d : t.shape())
    shape += fmt::format("{}, ", d);
  if (t.shape().size() > 1)
    shape.resize(shape.size() - 2);
  else if (t.shape().size() == 1)
    shape.resize(shape.size() - 1);
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, shape);
  // Pad so the data starts on a 64-byte boundary; the header ends with '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f)
    return makeError("{}: cannot write: {}", path, std::strerror(errno));
  f.write("\x93NUMPY\x01\x00", 8);
  uint16_t len = static_cast<uint16_t>(header.size());
  f.write(reinterpret_cast<const char*>(&len), 2);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.bytes()));
  if (!f)
    return makeError("{}: write failed: {}", path, std::strerror(errno));
  return Error::success();
}

} // namespace sinter

#include "ir/Graph.h"

#include <filesystem>

namespace sinter {

std::string weightFileName(std::string_view name) {
  std::string out;
  for (char c : name) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
    out += plain ? std::string(1, c) : fmt::format("%{:02X}", static_cast<unsigned char>(c));
  }
  return out + ".npy";
}

Error loadWeightsDir(Graph& g, const std::string& dir) {
  if (!std::filesystem::is_directory(dir))
    return makeError("{}: not a directory", dir);
  for (const Value* p : g.params()) {
    std::string path = (std::filesystem::path(dir) / weightFileName(p->name())).string();
    if (!std::filesystem::exists(path))
      return makeError("{}: missing weights for parameter {} ({})", path, "%" + p->name(), p->type().str());
    auto t = readNpy(path);
    if (!t)
      return t.error();
    if (t->type() != p->type())
      return makeError("{}: parameter %{} is {}, the file holds {}", path, p->name(), p->type().str(),
                       t->type().str());
    g.weights().set(p->name(), std::move(*t));
  }
  return Error::success();
}

Error saveWeightsDir(const Graph& g, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return makeError("{}: cannot create: {}", dir, ec.message());
  for (const Value* p : g.params())
    if (const Tensor* t = g.weights().find(p->name()))
      SINTER_CHECK(writeNpy((std::filesystem::path(dir) / weightFileName(p->name())).string(), *t));
  return Error::success();
}

} // namespace sinter
