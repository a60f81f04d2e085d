// `sinter train` reporting: metric rows and their CSV, the SVG plot, the progress line.
#include "tools/sinter/TrainReport.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <unistd.h>

namespace sinter::cli {

std::string fmtDouble(double v) { return fmt::format("{:.9g}", v); }

Error writePlot(const std::string& path, const std::vector<Metric>& rows, const std::string& title) {
  std::vector<const Metric*> train, test;
  for (const Metric& m : rows)
    (m.split == "train" ? train : test).push_back(&m);
  // Training curves smoothed over ~1% of the steps (a moving mean), so the trend shows.
  size_t window = std::max<size_t>(1, train.size() / 100);
  auto smooth = [&](auto field) {
    std::vector<std::pair<double, double>> pts;
    double sum = 0;
    for (size_t i = 0; i < train.size(); ++i) {
      sum += field(*train[i]);
      if (i >= window)
        sum -= field(*train[i - window]);
      // At most ~1000 points per curve: the file stays small for long runs.
      if (i % std::max<size_t>(1, train.size() / 1000) == 0 || i + 1 == train.size())
        pts.emplace_back(static_cast<double>(train[i]->step), sum / static_cast<double>(std::min(i + 1, window)));
    }
    return pts;
  };
  auto points = [&](auto field) {
    std::vector<std::pair<double, double>> pts;
    for (const Metric* m : test)
      pts.emplace_back(static_cast<double>(m->step), field(*m));
    return pts;
  };
  double maxStep = 1;
  for (const Metric& m : rows)
    maxStep = std::max(maxStep, static_cast<double>(m.step));
  const double W = 900, H = 340, L = 60, R = 20, T = 40, B = 40, PW = (W - L - R - 40) / 2, PH = H - T - B;
  std::string safeTitle;
  for (char c : title)
    safeTitle += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
  std::string svg = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
                                "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
                                "<text x=\"{}\" y=\"20\" font-size=\"14\">{}</text>\n",
                                W, H, L, safeTitle);
  auto panel = [&](double x0, const std::string& name, double lo, double hi,
                   const std::vector<std::pair<std::vector<std::pair<double, double>>, std::string>>& series,
                   const std::vector<std::string>& labels) {
    if (!(hi > lo))
      hi = lo + 1;
    auto X = [&](double s) { return x0 + s / maxStep * PW; };
    auto Y = [&](double v) { return T + PH - (std::clamp(v, lo, hi) - lo) / (hi - lo) * PH; };
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", x0, T, PW, PH);
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", x0, T - 6, name);
    for (int i = 0; i <= 4; ++i) {
      double v = lo + (hi - lo) * i / 4;
      svg += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>", x0, x0 + PW, Y(v), Y(v));
      svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.3g}</text>\n", x0 - 4, Y(v) + 4, v);
    }
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step (of {:.0f})</text>\n", x0 + PW / 2, H - 10, maxStep);
    for (size_t s = 0; s < series.size(); ++s) {
      const auto& [pts, color] = series[s];
      if (pts.empty())
        continue;
      std::string d;
      for (const auto& p : pts)
        d += fmt::format("{}{:.1f},{:.1f}", d.empty() ? "M" : " L", X(p.first), Y(p.second));
      svg += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", d, color);
      for (const auto& p : pts)
        if (pts.size() < 200)
          svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2\" fill=\"{}\"/>", X(p.first), Y(p.second), color);
      svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>\n", x0 + PW - 150, T + 16 + 14 * static_cast<double>(s),
                         color, labels[s]);
    }
  };
  auto loss = [](const Metric& m) { return m.loss; };
  auto acc = [](const Metric& m) { return m.accuracy * 100; };
  auto trainLoss = smooth(loss), testLoss = points(loss), trainAcc = smooth(acc), testAcc = points(acc);
  double hiLoss = 0.1;
  for (const auto* v : {&trainLoss, &testLoss})
    for (const auto& p : *v)
      if (std::isfinite(p.second))
        hiLoss = std::max(hiLoss, p.second);
  panel(L, "loss (cross-entropy)", 0, hiLoss, {{trainLoss, "#1f77b4"}, {testLoss, "#d62728"}}, {"train (smoothed)", "test"});
  panel(L + PW + 60, "accuracy (%)", 0, 100, {{trainAcc, "#1f77b4"}, {testAcc, "#d62728"}}, {"train (smoothed)", "test"});
  svg += "</svg>\n";
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << svg;
    if (!f)
      return makeError("{}: cannot write: {}", path, std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    return makeError("{}: cannot rename into place: {}", path, ec.message());
  return Error::success();
}

Error MetricsLog::open(const std::string& path, bool append) {
  path_ = path;
  if (path.empty())
    return Error::success();
  bool fresh = !append || !std::filesystem::exists(path);
  f_.open(path, fresh ? std::ios::trunc : std::ios::app);
  if (!f_)
    return makeError("{}: cannot write: {}", path, std::strerror(errno));
  if (fresh)
    f_ << "split,epoch,step,loss,accuracy,lr,images_per_s,seconds\n";
  return Error::success();
}

void MetricsLog::add(const Metric& m) {
  rows.push_back(m);
  if (f_.is_open()) {
    f_ << m.split << ',' << m.epoch << ',' << m.step << ',' << fmtDouble(m.loss) << ',' << fmtDouble(m.accuracy) << ','
       << fmtDouble(m.lr) << ',' << fmt::format("{:.1f}", m.imagesPerSecond) << ',' << fmt::format("{:.3f}", m.seconds)
       << '\n';
    f_.flush();
  }
}

void readMetrics(const std::string& path, int64_t upToStep, std::vector<Metric>& out) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line); // header
  while (std::getline(f, line)) {
    std::vector<std::string> c;
    size_t pos = 0;
    for (;;) {
      size_t comma = line.find(',', pos);
      c.push_back(line.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
      if (comma == std::string::npos)
        break;
      pos = comma + 1;
    }
    if (c.size() != 8)
      continue;
    try {
      Metric m{c[0], std::stoll(c[1]), std::stoll(c[2]), std::stod(c[3]), std::stod(c[4]), std::stod(c[5]), std::stod(c[6]),
               std::stod(c[7])};
      if (m.step <= upToStep)
        out.push_back(m);
    } catch (const std::exception&) {
    }
  }
}

Progress::Progress(int64_t epoch, int64_t epochs, int64_t total) : epoch_(epoch), epochs_(epochs), total_(total) {
  tty_ = isatty(STDERR_FILENO);
}

void Progress::update(int64_t done, double loss, double acc, double ips) {
  bool tenth = total_ >= 10 && done % std::max<int64_t>(1, total_ / 10) == 0;
  if (!tty_ && !tenth && done != total_)
    return;
  double eta = ips > 0 ? static_cast<double>(total_ - done) * imagesPerBatch / ips : 0;
  int width = 30, filled = static_cast<int>(width * done / std::max<int64_t>(1, total_));
  std::string bar = std::string(static_cast<size_t>(filled), '=') + (filled < width ? ">" : "") +
                    std::string(static_cast<size_t>(std::max(0, width - filled - 1)), ' ');
  std::string line = fmt::format("epoch {}/{} [{}] {}/{} loss {:.4f} acc {:.1f}% {:.0f} img/s eta {}:{:02d}", epoch_ + 1,
                                 epochs_, bar, done, total_, loss, acc * 100, ips, static_cast<int>(eta) / 60,
                                 static_cast<int>(eta) % 60);
  if (tty_)
    fmt::print(stderr, "\r\033[K{}", line);
  else
    fmt::print(stderr, "{}\n", line);
}

void Progress::done() {
  if (tty_)
    fmt::print(stderr, "\r\033[K");
}

} // namespace sinter::cli
