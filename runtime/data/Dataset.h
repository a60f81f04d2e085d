// Training data: data sets that decode one example at a time into float CHW at a requested size,
// and a loader that assembles shuffled batches on a background thread while the device computes.
//
//   fashion-mnist[:DIR]  the idx files (gzip or plain) of Debian's dataset-fashion-mnist, default
//                        /usr/share/datasets/fashion-mnist; 1 channel, 10 classes, pixels / 255,
//                        bilinear resize when the size is not 28.
//   folder:DIR           an ImageNet-style folder: DIR/train/<class>/*.{jpg,jpeg,png} and
//                        DIR/val/<class>/... (or DIR/<class>/... with a held-out tenth for
//                        evaluation); 3 channels; training examples get the paper's augmentation
//                        (resize the short side to size*256/224, random size x size crop, random
//                        horizontal flip), evaluation the centre crop; ImageNet mean/std.
#pragma once

#include "ir/Error.h"
#include "ir/Tensor.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sinter {

/// Per-example randomness for augmentation (Philox stream: same seed, same crops everywhere).
struct Augment {
  uint64_t seed = 0;
  uint64_t index = 0; ///< a counter unique to this draw (epoch * N + position)
};

class Dataset {
public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t classes() const = 0;
  virtual int64_t channels() const = 0;
  /// The side examples have without resizing (28 for Fashion-MNIST; 224 for folders).
  virtual int64_t nativeSize() const = 0;
  virtual int64_t label(int64_t i) const = 0;
  /// Writes example i as channels() x side x side floats to `out`. `augment` (training) may be
  /// null (evaluation: deterministic). Errors name the file (a corrupt image).
  virtual Error decode(int64_t i, int64_t side, float* out, const Augment* augment) const = 0;
  /// "fashion-mnist train (60000 images, 10 classes)"
  virtual std::string describe() const = 0;
};

struct DataSplits {
  std::unique_ptr<Dataset> train, test;
};

/// Opens a --data specification (see the file comment). Errors: a missing folder or file,
/// wrong idx magic, counts that disagree, a label out of range, a folder without images.
Expected<DataSplits> openDataset(const std::string& spec);

/// Bilinear resize of one channel plane (half-pixel centres, as PyTorch's interpolate with
/// align_corners=False).
void resizeBilinear(const float* in, int64_t ih, int64_t iw, float* out, int64_t oh, int64_t ow);

/// One batch: data [B, C, S, S] f32 and labels [B] i64; `count` real examples (the rest of an
/// evaluation batch is padding).
struct Batch {
  Tensor data, labels;
  int64_t count = 0;
  int64_t index = 0; ///< batch number within the epoch
};

struct LoaderOptions {
  int64_t batch = 128, side = 28;
  bool shuffle = true;     ///< a permutation per epoch from (seed, epoch); false: file order
  bool augment = false;    ///< pass Augment draws to the data set
  bool dropLast = true;    ///< training: only full batches; evaluation: pad the last one
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t firstBatch = 0;  ///< resume within an epoch
  int prefetch = 3;        ///< batches prepared ahead
  int threads = 1;         ///< threads decoding one batch's examples
};

/// Produces one epoch's batches on a background thread. next() blocks until a batch is ready;
/// it returns an empty optional at the end of the epoch, or the data set's error.
class BatchLoader {
public:
  BatchLoader(const Dataset& data, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  Expected<std::optional<Batch>> next();
  int64_t batches() const { return batches_; }
  /// The example order of an epoch (exposed for tests).
  static std::vector<int64_t> order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch);

private:
  void produce();
  void produceBatches();
  const Dataset& data_;
  LoaderOptions o_;
  std::vector<int64_t> order_;
  int64_t batches_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Expected<Batch>> ready_;
  bool done_ = false, stop_ = false;
  std::thread worker_;
};

} // namespace sinter
