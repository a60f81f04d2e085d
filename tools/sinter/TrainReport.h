// What `sinter train` reports while it runs: metric rows (the CSV log, re-read on --resume), the
// SVG plot of the loss and accuracy curves, and the progress line.
#pragma once

#include "ir/Error.h"

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace sinter::cli {

struct Metric {
  std::string split; // train (one row per step) or test (one per epoch)
  int64_t epoch = 0, step = 0;
  double loss = 0, accuracy = 0, lr = 0, imagesPerSecond = 0, seconds = 0;
};

/// "%.9g": CSV and checkpoint metadata numbers that read back exactly enough.
std::string fmtDouble(double v);

/// Writes the loss and accuracy curves (train smoothed, test per epoch) as SVG, atomically.
Error writePlot(const std::string& path, const std::vector<Metric>& rows, const std::string& title);

/// The metrics CSV: split,epoch,step,loss,accuracy,lr,images_per_s,seconds; rows also kept for the plot.
class MetricsLog {
public:
  Error open(const std::string& path, bool append);
  void add(const Metric& m);
  std::vector<Metric> rows;

private:
  std::string path_;
  std::ofstream f_;
};

/// The rows an earlier run wrote to `path` up to `upToStep` (a resumed run keeps its history).
void readMetrics(const std::string& path, int64_t upToStep, std::vector<Metric>& out);

/// A progress line on stderr: rewritten in place on a terminal, every tenth of the epoch otherwise.
class Progress {
public:
  Progress(int64_t epoch, int64_t epochs, int64_t total);
  void update(int64_t done, double loss, double acc, double ips);
  void done();
  double imagesPerBatch = 0;

private:
  int64_t epoch_, epochs_, total_;
  bool tty_ = false;
};

} // namespace sinter::cli
