// JPEG (libjpeg-turbo) and PNG (libpng) decoding to 8-bit RGB, with every decoder error turned
// into an Error naming the file (libjpeg reports through longjmp, libpng likewise).
#include "ir/Error.h"

#include <fmt/format.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <jpeglib.h>
#include <png.h>

#include <string>
#include <vector>

namespace sinter {

namespace {

constexpr uint64_t kMaxPixels = uint64_t{1} << 28; // 268 megapixels (0.8 GB of RGB)

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpegFail(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegError*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

void jpegQuiet(j_common_ptr, int) {}

// Everything that must survive the longjmp lives outside this function's automatic variables.
struct JpegState {
  jpeg_decompress_struct cinfo;
  JpegError err;
  std::FILE* file = nullptr;
  std::vector<uint8_t> rgb;
  int64_t h = 0, w = 0;
};

bool decodeJpeg(JpegState& s) {
  s.cinfo.err = jpeg_std_error(&s.err.mgr);
  s.err.mgr.error_exit = jpegFail;
  s.err.mgr.emit_message = jpegQuiet;
  if (setjmp(s.err.jump)) {
    jpeg_destroy_decompress(&s.cinfo);
    return false;
  }
  jpeg_create_decompress(&s.cinfo);
  jpeg_stdio_src(&s.cinfo, s.file);
  jpeg_read_header(&s.cinfo, TRUE);
  if (static_cast<uint64_t>(s.cinfo.image_width) * s.cinfo.image_height > kMaxPixels) {
    std::snprintf(s.err.message, sizeof s.err.message, "%ux%u pixels: larger than Sinter decodes (%llu)",
                  s.cinfo.image_width, s.cinfo.image_height, static_cast<unsigned long long>(kMaxPixels));
    jpeg_destroy_decompress(&s.cinfo);
    return false;
  }
  s.cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&s.cinfo);
  s.h = s.cinfo.output_height;
  s.w = s.cinfo.output_width;
  s.rgb.resize(static_cast<size_t>(s.h * s.w * 3));
  while (s.cinfo.output_scanline < s.cinfo.output_height) {
    JSAMPROW row = s.rgb.data() + static_cast<size_t>(s.cinfo.output_scanline) * static_cast<size_t>(s.w) * 3;
    jpeg_read_scanlines(&s.cinfo, &row, 1);
  }
  jpeg_finish_decompress(&s.cinfo);
  jpeg_destroy_decompress(&s.cinfo);
  return true;
}

struct PngState {
  std::FILE* file = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::vector<uint8_t> rgb;
  std::vector<png_bytep> rows;
  int64_t h = 0, w = 0;
  std::string message;
};

void pngFail(png_structp p, png_const_charp msg) {
  auto* s = static_cast<PngState*>(png_get_error_ptr(p));
  s->message = msg;
  png_longjmp(p, 1);
}
void pngWarn(png_structp, png_const_charp) {}

bool decodePng(PngState& s) {
  s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, pngFail, pngWarn);
  if (!s.png) {
    s.message = "out of memory";
    return false;
  }
  s.info = png_create_info_struct(s.png);
  if (!s.info || setjmp(png_jmpbuf(s.png))) {
    png_destroy_read_struct(&s.png, s.info ? &s.info : nullptr, nullptr);
    return false;
  }
  png_init_io(s.png, s.file);
  png_read_info(s.png, s.info);
  png_set_expand(s.png);       // palette and low-bit grey to 8 bits, tRNS to alpha
  png_set_strip_16(s.png);
  png_set_strip_alpha(s.png);
  png_set_gray_to_rgb(s.png);
  png_read_update_info(s.png, s.info);
  s.w = png_get_image_width(s.png, s.info);
  s.h = png_get_image_height(s.png, s.info);
  if (static_cast<uint64_t>(s.w) * static_cast<uint64_t>(s.h) > kMaxPixels) {
    s.message = fmt::format("{}x{} pixels: larger than Sinter decodes ({})", s.w, s.h, kMaxPixels);
    png_destroy_read_struct(&s.png, &s.info, nullptr);
    return false;
  }
  if (png_get_rowbytes(s.png, s.info) != static_cast<size_t>(s.w) * 3) {
    s.message = "unexpected pixel layout";
    png_destroy_read_struct(&s.png, &s.info, nullptr);
    return false;
  }
  s.rgb.resize(static_cast<size_t>(s.h * s.w * 3));
  s.rows.resize(static_cast<size_t>(s.h));
  for (int64_t y = 0; y < s.h; ++y)
    s.rows[static_cast<size_t>(y)] = s.rgb.data() + y * s.w * 3;
  png_read_image(s.png, s.rows.data());
  png_read_end(s.png, nullptr);
  png_destroy_read_struct(&s.png, &s.info, nullptr);
  return true;
}

} // namespace

Expected<std::vector<uint8_t>> decodeImageFile(const std::string& path, int64_t* height, int64_t* width) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    return makeError("{}: cannot open: {}", path, std::strerror(errno));
  unsigned char magic[8] = {};
  size_t got = std::fread(magic, 1, sizeof magic, f);
  std::rewind(f);
  std::vector<uint8_t> rgb;
  if (got >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff) {
    auto s = std::make_unique<JpegState>();
    s->file = f;
    bool ok = decodeJpeg(*s);
    std::fclose(f);
    if (!ok)
      return makeError("{}: corrupt JPEG: {}", path, s->err.message);
    *height = s->h;
    *width = s->w;
    rgb = std::move(s->rgb);
  } else if (got == 8 && png_sig_cmp(magic, 0, 8) == 0) {
    auto s = std::make_unique<PngState>();
    s->file = f;
    bool ok = decodePng(*s);
    std::fclose(f);
    if (!ok)
      return makeError("{}: corrupt PNG: {}", path, s->message);
    *height = s->h;
    *width = s->w;
    rgb = std::move(s->rgb);
  } else {
    std::fclose(f);
    return makeError("{}: neither a JPEG nor a PNG file", path);
  }
  if (*height <= 0 || *width <= 0)
    return makeError("{}: an image of {}x{} pixels", path, *height, *width);
  return rgb;
}

} // namespace sinter
