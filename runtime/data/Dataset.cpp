#include "runtime/data/Dataset.h"

#include "ir/Philox.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace sinter {

namespace fs = std::filesystem;

// Decoders for the image folder (ImageFolder.cpp).
Expected<std::vector<uint8_t>> decodeImageFile(const std::string& path, int64_t* height, int64_t* width);

void resizeBilinear(const float* in, int64_t ih, int64_t iw, float* out, int64_t oh, int64_t ow) {
  // Separable: source indices and weights per output column computed once, then two lerps per
  // output pixel.
  struct Tap {
    int64_t i0, i1;
    float w;
  };
  auto taps = [](int64_t inLen, int64_t outLen) {
    std::vector<Tap> t(static_cast<size_t>(outLen));
    double scale = static_cast<double>(inLen) / static_cast<double>(outLen);
    for (int64_t o = 0; o < outLen; ++o) {
      double f = std::max(0.0, (static_cast<double>(o) + 0.5) * scale - 0.5);
      int64_t i0 = std::min(static_cast<int64_t>(f), inLen - 1);
      t[static_cast<size_t>(o)] = {i0, std::min(i0 + 1, inLen - 1), static_cast<float>(f - static_cast<double>(i0))};
    }
    return t;
  };
  std::vector<Tap> ty = taps(ih, oh), tx = taps(iw, ow);
  for (int64_t y = 0; y < oh; ++y) {
    const Tap& a = ty[static_cast<size_t>(y)];
    const float* r0 = in + a.i0 * iw;
    const float* r1 = in + a.i1 * iw;
    float* o = out + y * ow;
    for (int64_t x = 0; x < ow; ++x) {
      const Tap& b = tx[static_cast<size_t>(x)];
      float top = r0[b.i0] + (r0[b.i1] - r0[b.i0]) * b.w;
      float bot = r1[b.i0] + (r1[b.i1] - r1[b.i0]) * b.w;
      o[x] = top + (bot - top) * a.w;
    }
  }
}

namespace {

// Reads a whole file, gunzipping when it is gzip (zlib's gz reader passes plain files through).
Expected<std::vector<uint8_t>> readMaybeGz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    return makeError("{}: cannot open: {}", path, std::strerror(errno));
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      std::string why = gzerror(f, &code);
      gzclose(f);
      return makeError("{}: corrupt gzip data: {}", path, why);
    }
    if (n == 0)
      break;
    out.insert(out.end(), buf, buf + n);
  }
  gzclose(f);
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// ---- Fashion-MNIST (idx) --------------------------------------------------------------------

class IdxImages final : public Dataset {
public:
  std::string name;
  int64_t n = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels, labels;

  int64_t size() const override { return n; }
  int64_t classes() const override { return 10; }
  int64_t channels() const override { return 1; }
  int64_t nativeSize() const override { return rows; }
  int64_t label(int64_t i) const override { return labels[static_cast<size_t>(i)]; }
  Error decode(int64_t i, int64_t side, float* out, const Augment*) const override {
    const uint8_t* p = pixels.data() + i * rows * cols;
    if (side == rows && side == cols) {
      for (int64_t k = 0; k < rows * cols; ++k)
        out[k] = static_cast<float>(p[k]) / 255.0f;
      return Error::success();
    }
    std::vector<float> plane(static_cast<size_t>(rows * cols));
    for (int64_t k = 0; k < rows * cols; ++k)
      plane[static_cast<size_t>(k)] = static_cast<float>(p[k]) / 255.0f;
    resizeBilinear(plane.data(), rows, cols, out, side, side);
    return Error::success();
  }
  std::string describe() const override {
    return fmt::format("{} ({} images of {}x{}, 10 classes)", name, n, rows, cols);
  }
};

Expected<std::string> findIdx(const std::string& dir, const std::string& stem) {
  for (const char* ext : {"", ".gz"}) {
    std::string p = (fs::path(dir) / (stem + ext)).string();
    if (fs::exists(p))
      return p;
  }
  return makeError("{}: no {} or {}.gz (Fashion-MNIST comes with Debian's dataset-fashion-mnist: apt-get install "
                   "dataset-fashion-mnist)",
                   dir, stem, stem);
}

Expected<std::unique_ptr<Dataset>> openIdx(const std::string& dir, const std::string& prefix, const std::string& name) {
  auto ip = findIdx(dir, prefix + "-images-idx3-ubyte");
  if (!ip)
    return ip.error();
  auto lp = findIdx(dir, prefix + "-labels-idx1-ubyte");
  if (!lp)
    return lp.error();
  auto images = readMaybeGz(*ip);
  if (!images)
    return images.error();
  auto labels = readMaybeGz(*lp);
  if (!labels)
    return labels.error();
  if (images->size() < 16 || be32(images->data()) != 0x00000803)
    return makeError("{}: not an idx3 image file (magic {:#010x}, want 0x00000803)", *ip,
                     images->size() >= 4 ? be32(images->data()) : 0);
  if (labels->size() < 8 || be32(labels->data()) != 0x00000801)
    return makeError("{}: not an idx1 label file (magic {:#010x}, want 0x00000801)", *lp,
                     labels->size() >= 4 ? be32(labels->data()) : 0);
  auto d = std::make_unique<IdxImages>();
  d->name = name;
  d->n = be32(images->data() + 4);
  d->rows = be32(images->data() + 8);
  d->cols = be32(images->data() + 12);
  if (d->rows <= 0 || d->cols <= 0 || d->rows != d->cols || d->rows > 4096)
    return makeError("{}: images of {}x{} (square images expected)", *ip, d->rows, d->cols);
  if (static_cast<int64_t>(images->size()) != 16 + d->n * d->rows * d->cols)
    return makeError("{}: header says {} images of {}x{} but the file holds {} bytes of pixels", *ip, d->n, d->rows,
                     d->cols, images->size() - 16);
  int64_t nl = be32(labels->data() + 4);
  if (nl != d->n || static_cast<int64_t>(labels->size()) != 8 + nl)
    return makeError("{}: {} labels for {} images", *lp, std::min<int64_t>(nl, static_cast<int64_t>(labels->size()) - 8),
                     d->n);
  d->pixels.assign(images->begin() + 16, images->end());
  d->labels.assign(labels->begin() + 8, labels->end());
  for (size_t i = 0; i < d->labels.size(); ++i)
    if (d->labels[i] >= 10)
      return makeError("{}: label {} of example {} is out of range (10 classes)", *lp, d->labels[i], i);
  return std::unique_ptr<Dataset>(std::move(d));
}

// ---- Image folder ---------------------------------------------------------------------------

class ImageFolder final : public Dataset {
public:
  std::string name;
  std::vector<std::string> classNames;
  std::vector<std::pair<std::string, int64_t>> files; // path, class
  bool train = false;
  int64_t size() const override { return static_cast<int64_t>(files.size()); }
  int64_t classes() const override { return static_cast<int64_t>(classNames.size()); }
  int64_t channels() const override { return 3; }
  int64_t nativeSize() const override { return 224; }
  int64_t label(int64_t i) const override { return files[static_cast<size_t>(i)].second; }
  std::string describe() const override {
    return fmt::format("{} ({} images, {} classes)", name, files.size(), classNames.size());
  }
  Error decode(int64_t i, int64_t side, float* out, const Augment* aug) const override {
    const std::string& path = files[static_cast<size_t>(i)].first;
    int64_t h = 0, w = 0;
    auto rgb = decodeImageFile(path, &h, &w);
    if (!rgb)
      return rgb.error();
    // An extreme aspect ratio would blow the short-side resize up (1 x 20000 -> 256 x 5 million).
    if (std::max(h, w) > 32 * std::min(h, w))
      return makeError("{}: {}x{} pixels: an aspect ratio over 32:1", path, w, h);
    // Resize so the short side is side*256/224 (the paper's 256 for 224), then crop side x side:
    // random position and flip when augmenting, else the centre.
    int64_t shortSide = std::max<int64_t>(side, side * 256 / 224);
    double scale = static_cast<double>(shortSide) / static_cast<double>(std::min(h, w));
    int64_t rh = std::max<int64_t>(side, std::llround(static_cast<double>(h) * scale));
    int64_t rw = std::max<int64_t>(side, std::llround(static_cast<double>(w) * scale));
    int64_t y0 = (rh - side) / 2, x0 = (rw - side) / 2;
    bool flip = false;
    if (aug) {
      y0 = static_cast<int64_t>(philoxBits(aug->seed, aug->index, 1) % static_cast<uint32_t>(rh - side + 1));
      x0 = static_cast<int64_t>(philoxBits(aug->seed, aug->index, 2) % static_cast<uint32_t>(rw - side + 1));
      flip = philoxBits(aug->seed, aug->index, 3) & 1u;
    }
    static constexpr float kMean[3] = {0.485f, 0.456f, 0.406f}, kStd[3] = {0.229f, 0.224f, 0.225f};
    std::vector<float> plane(static_cast<size_t>(h * w)), resized(static_cast<size_t>(rh * rw));
    for (int64_t c = 0; c < 3; ++c) {
      for (int64_t k = 0; k < h * w; ++k)
        plane[static_cast<size_t>(k)] = static_cast<float>((*rgb)[static_cast<size_t>(k * 3 + c)]) / 255.0f;
      resizeBilinear(plane.data(), h, w, resized.data(), rh, rw);
      float* o = out + c * side * side;
      for (int64_t y = 0; y < side; ++y)
        for (int64_t x = 0; x < side; ++x) {
          int64_t sx = flip ? x0 + side - 1 - x : x0 + x;
          o[y * side + x] = (resized[static_cast<size_t>((y0 + y) * rw + sx)] - kMean[c]) / kStd[c];
        }
    }
    return Error::success();
  }
};

bool isImage(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return e == ".jpg" || e == ".jpeg" || e == ".png";
}

// Class folders of `dir` (sorted) and their images.
Expected<std::unique_ptr<ImageFolder>> scanFolder(const fs::path& dir, const std::vector<std::string>* classes) {
  auto d = std::make_unique<ImageFolder>();
  std::error_code ec;
  if (classes)
    d->classNames = *classes;
  else {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_directory(ec))
        d->classNames.push_back(it->path().filename().string());
    if (ec)
      return makeError("{}: cannot list: {}", dir.string(), ec.message());
    std::sort(d->classNames.begin(), d->classNames.end());
  }
  if (d->classNames.empty())
    return makeError("{}: no class folders (expected {}/<class>/*.jpg|png)", dir.string(), dir.string());
  for (size_t c = 0; c < d->classNames.size(); ++c) {
    fs::path cd = dir / d->classNames[c];
    if (!fs::is_directory(cd))
      continue; // a class with no examples in this split
    std::vector<std::string> imgs;
    for (fs::recursive_directory_iterator it(cd, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec) && isImage(it->path()))
        imgs.push_back(it->path().string());
    if (ec)
      return makeError("{}: cannot list: {}", cd.string(), ec.message());
    std::sort(imgs.begin(), imgs.end());
    for (auto& f : imgs)
      d->files.emplace_back(std::move(f), static_cast<int64_t>(c));
  }
  if (d->files.empty())
    return makeError("{}: no .jpg, .jpeg or .png images in its class folders", dir.string());
  return d;
}

Expected<DataSplits> openFolder(const std::string& root) {
  fs::path dir(root);
  if (!fs::is_directory(dir))
    return makeError("{}: not a folder", root);
  DataSplits s;
  fs::path train = dir / "train", val = dir / "val";
  if (!fs::is_directory(val) && fs::is_directory(dir / "test"))
    val = dir / "test";
  if (fs::is_directory(train) && fs::is_directory(val)) {
    auto t = scanFolder(train, nullptr);
    if (!t)
      return t.error();
    auto v = scanFolder(val, &(*t)->classNames);
    if (!v)
      return v.error();
    (*t)->name = root + " train";
    (*v)->name = root + " " + val.filename().string();
    (*t)->train = true;
    s.train = std::move(*t);
    s.test = std::move(*v);
    return s;
  }
  // One folder of classes: every tenth image (in sorted order) is held out for evaluation.
  auto all = scanFolder(dir, nullptr);
  if (!all)
    return all.error();
  auto t = std::make_unique<ImageFolder>(), v = std::make_unique<ImageFolder>();
  t->classNames = v->classNames = (*all)->classNames;
  for (size_t i = 0; i < (*all)->files.size(); ++i)
    (i % 10 == 9 ? v : t)->files.push_back((*all)->files[i]);
  if (v->files.empty() || t->files.empty())
    return makeError("{}: too few images to hold out a tenth for evaluation", root);
  t->name = root + " (9/10)";
  v->name = root + " (held-out 1/10)";
  t->train = true;
  s.train = std::move(t);
  s.test = std::move(v);
  return s;
}

} // namespace

Expected<DataSplits> openDataset(const std::string& spec) {
  if (spec == "fashion-mnist" || spec.rfind("fashion-mnist:", 0) == 0) {
    std::string dir = spec.size() > 14 ? spec.substr(14) : "/usr/share/datasets/fashion-mnist";
    if (!fs::is_directory(dir))
      return makeError("{}: no such folder (Fashion-MNIST comes with Debian's dataset-fashion-mnist: apt-get install "
                       "dataset-fashion-mnist)",
                       dir);
    DataSplits s;
    auto train = openIdx(dir, "train", "fashion-mnist train");
    if (!train)
      return train.error();
    auto test = openIdx(dir, "t10k", "fashion-mnist test");
    if (!test)
      return test.error();
    if ((*train)->nativeSize() != (*test)->nativeSize())
      return makeError("{}: train and test images differ in size", dir);
    s.train = std::move(*train);
    s.test = std::move(*test);
    return s;
  }
  if (spec.rfind("folder:", 0) == 0 && spec.size() > 7)
    return openFolder(spec.substr(7));
  return makeError("--data '{}': expected fashion-mnist, fashion-mnist:DIR or folder:DIR", spec);
}

// ---- Batches --------------------------------------------------------------------------------

std::vector<int64_t> BatchLoader::order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    idx[static_cast<size_t>(i)] = i;
  if (shuffle) // Fisher-Yates with Philox draws: the same order on every machine
    for (int64_t i = n - 1; i > 0; --i) {
      uint64_t r = (uint64_t{philoxBits(seed ^ 0x5348554646ull, static_cast<uint64_t>(i), static_cast<uint64_t>(epoch) * 2)} << 32) |
                   philoxBits(seed ^ 0x5348554646ull, static_cast<uint64_t>(i), static_cast<uint64_t>(epoch) * 2 + 1);
      std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(r % static_cast<uint64_t>(i + 1))]);
    }
  return idx;
}

BatchLoader::BatchLoader(const Dataset& data, LoaderOptions options) : data_(data), o_(options) {
  order_ = order(data.size(), o_.shuffle, o_.seed, o_.epoch);
  int64_t n = data.size();
  batches_ = o_.dropLast ? n / o_.batch : (n + o_.batch - 1) / o_.batch;
  worker_ = std::thread([this] { produce(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void BatchLoader::produce() {
  try {
    produceBatches();
  } catch (const std::exception& e) { // e.g. out of memory: reported by next(), never thrown across threads
    std::lock_guard<std::mutex> l(mu_);
    ready_.emplace_back(makeError("preparing batches of {}: {}", data_.describe(), e.what()));
    done_ = true;
    cv_.notify_all();
  }
}

void BatchLoader::produceBatches() {
  const int64_t C = data_.channels(), S = o_.side, per = C * S * S, n = data_.size();
  for (int64_t b = o_.firstBatch; b < batches_; ++b) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || static_cast<int>(ready_.size()) < std::max(o_.prefetch, 1); });
      if (stop_)
        return;
    }
    Batch batch;
    batch.index = b;
    batch.data = Tensor({DType::F32, {o_.batch, C, S, S}});
    batch.labels = Tensor({DType::I64, {o_.batch}});
    auto px = batch.data.as<float>();
    auto lb = batch.labels.as<int64_t>();
    std::fill(px.begin(), px.end(), 0.0f);
    std::fill(lb.begin(), lb.end(), 0);
    // Decode the batch's examples on a few threads (each example independent; the first
    // error, by position, is the one reported).
    int64_t count = std::min(o_.batch, n - b * o_.batch);
    batch.count = count;
    std::vector<Error> errors(static_cast<size_t>(count));
    auto work = [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        int64_t pos = b * o_.batch + k, ex = order_[static_cast<size_t>(pos)];
        Augment a{o_.seed, static_cast<uint64_t>(o_.epoch) * static_cast<uint64_t>(n) + static_cast<uint64_t>(pos)};
        try { // (a decoder running out of memory must not take the process down from this thread)
          errors[static_cast<size_t>(k)] = data_.decode(ex, S, px.data() + k * per, o_.augment ? &a : nullptr);
        } catch (const std::exception& e) {
          errors[static_cast<size_t>(k)] = makeError("example {} of {}: {}", ex, data_.describe(), e.what());
        }
        lb[static_cast<size_t>(k)] = data_.label(ex);
      }
    };
    int64_t threads = std::clamp<int64_t>(o_.threads, 1, std::max<int64_t>(1, count / 8));
    std::vector<std::thread> pool;
    int64_t started = 1;
    try {
      for (; started < threads; ++started)
        pool.emplace_back(work, count * started / threads, count * (started + 1) / threads);
    } catch (const std::system_error&) { // no more threads: this one decodes the rest
    }
    work(0, count / threads);
    for (int64_t t = started; t < threads; ++t)
      work(count * t / threads, count * (t + 1) / threads);
    for (auto& th : pool)
      th.join();
    Error err = Error::success();
    for (Error& e : errors)
      if (e) {
        err = std::move(e);
        break;
      }
    std::lock_guard<std::mutex> l(mu_);
    if (err) {
      ready_.emplace_back(std::move(err));
      done_ = true;
      cv_.notify_all();
      return;
    }
    ready_.emplace_back(std::move(batch));
    cv_.notify_all();
  }
  std::lock_guard<std::mutex> l(mu_);
  done_ = true;
  cv_.notify_all();
}

Expected<std::optional<Batch>> BatchLoader::next() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return !ready_.empty() || done_; });
  if (ready_.empty())
    return std::optional<Batch>();
  Expected<Batch> b = std::move(ready_.front());
  ready_.pop_front();
  cv_.notify_all();
  if (!b)
    return b.error();
  return std::optional<Batch>(std::move(*b));
}

} // namespace sinter
