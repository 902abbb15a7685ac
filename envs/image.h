#pragma once
// RGB frames and the two file formats softrl writes them in (PNG, animated GIF).
#include <cstdint>
#include <string>
#include <vector>

namespace softrl::envs {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // row-major RGB, row 0 at the top

  Image() = default;
  Image(int w, int h, Rgb fill);
  Rgb at(int x, int y) const;
  void set(int x, int y, Rgb c);
  // Filled convex or simple polygon (even-odd scanline), vertices in pixel coordinates.
  void fill_polygon(const std::vector<std::pair<double, double>>& pts, Rgb c);
  void draw_line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1);
};

// Both write to a temporary file and rename it into place; throw std::runtime_error on failure.
void write_png(const std::string& path, const Image& img);
// Frames share one palette (exact when the frames use at most 256 colours, else a 6x7x6 cube).
void write_gif(const std::string& path, const std::vector<Image>& frames, int delay_centiseconds);

}  // namespace softrl::envs
