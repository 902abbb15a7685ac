#include "envs/image.h"

#include "common/atomic_file.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>

namespace softrl::envs {

Image::Image(int w, int h, Rgb fill) : width(w), height(h), pixels(static_cast<size_t>(w) * h * 3) {
  for (size_t i = 0; i < pixels.size(); i += 3) {
    pixels[i] = fill.r;
    pixels[i + 1] = fill.g;
    pixels[i + 2] = fill.b;
  }
}

Rgb Image::at(int x, int y) const {
  if (x < 0 || y < 0 || x >= width || y >= height)
    throw std::out_of_range("Image::at(" + std::to_string(x) + ", " + std::to_string(y) + ") outside " +
                            std::to_string(width) + "x" + std::to_string(height));
  const size_t i = (static_cast<size_t>(y) * width + x) * 3;
  return {pixels[i], pixels[i + 1], pixels[i + 2]};
}

void Image::set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  const size_t i = (static_cast<size_t>(y) * width + x) * 3;
  pixels[i] = c.r;
  pixels[i + 1] = c.g;
  pixels[i + 2] = c.b;
}

void Image::fill_polygon(const std::vector<std::pair<double, double>>& pts, Rgb c) {
  if (pts.size() < 3) return;
  double ymin = pts[0].second, ymax = ymin;
  for (const auto& p : pts) ymin = std::min(ymin, p.second), ymax = std::max(ymax, p.second);
  const int y0 = std::max(0, static_cast<int>(std::floor(ymin))),
            y1 = std::min(height - 1, static_cast<int>(std::ceil(ymax)));
  std::vector<double> xs;
  for (int y = y0; y <= y1; ++y) {
    const double yc = y + 0.5;
    xs.clear();
    for (size_t i = 0; i < pts.size(); ++i) {
      const auto& a = pts[i];
      const auto& b = pts[(i + 1) % pts.size()];
      if ((a.second <= yc) != (b.second <= yc))
        xs.push_back(a.first + (yc - a.second) / (b.second - a.second) * (b.first - a.first));
    }
    std::sort(xs.begin(), xs.end());
    for (size_t k = 0; k + 1 < xs.size(); k += 2) {
      const int xa = std::max(0, static_cast<int>(std::ceil(xs[k] - 0.5)));
      const int xb = std::min(width - 1, static_cast<int>(std::floor(xs[k + 1] - 0.5)));
      for (int x = xa; x <= xb; ++x) set(x, y, c);
    }
  }
}

void Image::draw_line(double x0, double y0, double x1, double y1, Rgb c, int thickness) {
  const double len = std::max(std::abs(x1 - x0), std::abs(y1 - y0));
  const int n = std::max(1, static_cast<int>(std::ceil(len)));
  const int r = thickness / 2;
  for (int i = 0; i <= n; ++i) {
    const double t = static_cast<double>(i) / n;
    const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0)));
    const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
    for (int dy = -r; dy <= r; ++dy)
      for (int dx = -r; dx <= r; ++dx) set(x + dx, y + dy, c);
  }
}

void write_png(const std::string& path, const Image& img) {
  std::string bytes;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw std::runtime_error("libpng failed encoding " + path);
  }
  png_set_write_fn(
      png, &bytes,
      [](png_structp p, png_bytep data, png_size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(data), n);
      },
      nullptr);
  png_set_IHDR(png, info, img.width, img.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < img.height; ++y)
    png_write_row(png, const_cast<png_bytep>(img.pixels.data() + static_cast<size_t>(y) * img.width * 3));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  write_file_atomic(path, bytes);
}

namespace {
// GIF LZW: variable-width codes packed LSB first, then split into sub-blocks of <= 255 bytes.
class LzwWriter {
 public:
  explicit LzwWriter(int min_code_size) : min_(min_code_size) {}
  std::vector<uint8_t> encode(const std::vector<uint8_t>& indices) {
    const int clear = 1 << min_, eoi = clear + 1;
    reset_table();
    emit(clear);
    int prefix = -1;
    for (uint8_t k : indices) {
      if (prefix < 0) {
        prefix = k;
        continue;
      }
      const uint32_t key = (static_cast<uint32_t>(prefix) << 8) | k;
      auto it = table_.find(key);
      if (it != table_.end()) {
        prefix = it->second;
        continue;
      }
      emit(prefix);
      table_[key] = next_++;
      if (next_ > (1 << width_) && width_ < 12) ++width_;
      if (next_ == 4095) {  // restart before the 12-bit table fills
        emit(clear);
        reset_table();
      }
      prefix = k;
    }
    if (prefix >= 0) emit(prefix);
    emit(eoi);
    if (nbits_ > 0) out_.push_back(static_cast<uint8_t>(acc_ & 0xFF));
    return out_;
  }

 private:
  void reset_table() {
    table_.clear();
    next_ = (1 << min_) + 2;
    width_ = min_ + 1;
  }
  void emit(int code) {
    acc_ |= static_cast<uint32_t>(code) << nbits_;
    nbits_ += width_;
    while (nbits_ >= 8) {
      out_.push_back(static_cast<uint8_t>(acc_ & 0xFF));
      acc_ >>= 8;
      nbits_ -= 8;
    }
  }
  int min_, next_ = 0, width_ = 0, nbits_ = 0;
  uint32_t acc_ = 0;
  std::map<uint32_t, int> table_;
  std::vector<uint8_t> out_;
};

struct Palette {
  std::vector<Rgb> colors;
  std::map<uint32_t, uint8_t> index;
  bool cube = false;
  uint8_t lookup(Rgb c) const {
    if (!cube) return index.at((uint32_t(c.r) << 16) | (uint32_t(c.g) << 8) | c.b);
    return static_cast<uint8_t>((c.r * 6 / 256) * 42 + (c.g * 7 / 256) * 6 + (c.b * 6 / 256));
  }
};

Palette make_palette(const std::vector<Image>& frames) {
  Palette p;
  for (const Image& f : frames)
    for (size_t i = 0; i < f.pixels.size() && !p.cube; i += 3) {
      const uint32_t key = (uint32_t(f.pixels[i]) << 16) | (uint32_t(f.pixels[i + 1]) << 8) | f.pixels[i + 2];
      if (p.index.count(key)) continue;
      if (p.colors.size() == 256) p.cube = true;
      else {
        p.index[key] = static_cast<uint8_t>(p.colors.size());
        p.colors.push_back({f.pixels[i], f.pixels[i + 1], f.pixels[i + 2]});
      }
    }
  if (p.cube) {
    p.colors.clear();
    for (int r = 0; r < 6; ++r)
      for (int g = 0; g < 7; ++g)
        for (int b = 0; b < 6; ++b)
          p.colors.push_back(
              {static_cast<uint8_t>(r * 51), static_cast<uint8_t>(g * 42), static_cast<uint8_t>(b * 51)});
  }
  p.colors.resize(256);
  return p;
}

void put16(std::vector<uint8_t>& o, int v) {
  o.push_back(static_cast<uint8_t>(v & 0xFF));
  o.push_back(static_cast<uint8_t>((v >> 8) & 0xFF));
}
}  // namespace

void write_gif(const std::string& path, const std::vector<Image>& frames, int delay_centiseconds) {
  if (frames.empty()) throw std::runtime_error("write_gif: no frames for " + path);
  const int w = frames[0].width, h = frames[0].height;
  const Palette pal = make_palette(frames);
  std::vector<uint8_t> o = {'G', 'I', 'F', '8', '9', 'a'};
  put16(o, w);
  put16(o, h);
  o.insert(o.end(), {0xF7, 0, 0});  // global colour table of 256 entries
  for (const Rgb& c : pal.colors) o.insert(o.end(), {c.r, c.g, c.b});
  o.insert(o.end(), {0x21, 0xFF, 0x0B, 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0', 0x03, 0x01, 0, 0, 0});
  for (const Image& f : frames) {
    o.insert(o.end(), {0x21, 0xF9, 0x04, 0x00});
    put16(o, delay_centiseconds);
    o.insert(o.end(), {0, 0, 0x2C});
    put16(o, 0);
    put16(o, 0);
    put16(o, w);
    put16(o, h);
    o.push_back(0);
    std::vector<uint8_t> idx(static_cast<size_t>(w) * h);
    for (size_t i = 0; i < idx.size(); ++i)
      idx[i] = pal.lookup({f.pixels[3 * i], f.pixels[3 * i + 1], f.pixels[3 * i + 2]});
    o.push_back(8);
    const std::vector<uint8_t> data = LzwWriter(8).encode(idx);
    for (size_t i = 0; i < data.size(); i += 255) {
      const size_t n = std::min<size_t>(255, data.size() - i);
      o.push_back(static_cast<uint8_t>(n));
      o.insert(o.end(), data.begin() + static_cast<long>(i), data.begin() + static_cast<long>(i + n));
    }
    o.push_back(0);
  }
  o.push_back(0x3B);
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(o.data()), o.size()));
}

}  // namespace softrl::envs
