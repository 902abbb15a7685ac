// Rendering: frames show the world, and PNG / GIF files decode back to the same pixels.
#include <box2d/box2d.h>
#include <png.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include <catch2/catch.hpp>

#include "envs/bipedal_walker.h"
#include "envs/lunar_lander.h"
#include "envs/registry.h"
#include "envs/render.h"

using namespace softrl::envs;

namespace {
std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("softrl_test_" + name)).string();
}

Image read_png(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_read_info(png, info);
  Image img(static_cast<int>(png_get_image_width(png, info)), static_cast<int>(png_get_image_height(png, info)), {});
  for (int y = 0; y < img.height; ++y)
    png_read_row(png, img.pixels.data() + static_cast<size_t>(y) * img.width * 3, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  std::fclose(f);
  return img;
}

// A plain GIF89a decoder (global palette, full-frame images, no interlace): enough to check ours.
std::vector<Image> read_gif(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> d((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(d.size() > 13);
  REQUIRE(std::string(d.begin(), d.begin() + 6) == "GIF89a");
  const int w = d[6] | (d[7] << 8), h = d[8] | (d[9] << 8);
  const int pal_size = 2 << (d[10] & 7);
  size_t p = 13;
  std::vector<Rgb> pal(pal_size);
  for (int i = 0; i < pal_size; ++i, p += 3) pal[i] = {d[p], d[p + 1], d[p + 2]};
  std::vector<Image> frames;
  while (p < d.size() && d[p] != 0x3B) {
    if (d[p] == 0x21) {  // extension: skip sub-blocks
      p += 2;
      while (d[p] != 0) p += d[p] + 1;
      ++p;
      continue;
    }
    REQUIRE(d[p] == 0x2C);
    p += 10;
    const int min_code = d[p++];
    std::vector<uint8_t> data;
    while (d[p] != 0) {
      data.insert(data.end(), d.begin() + static_cast<long>(p + 1), d.begin() + static_cast<long>(p + 1 + d[p]));
      p += d[p] + 1;
    }
    ++p;
    // LZW decode.
    const int clear = 1 << min_code, eoi = clear + 1;
    std::vector<std::vector<uint8_t>> table;
    auto reset = [&] {
      table.assign(clear + 2, {});
      for (int i = 0; i < clear; ++i) table[i] = {static_cast<uint8_t>(i)};
    };
    reset();
    int width = min_code + 1, prev = -1;
    size_t bit = 0;
    std::vector<uint8_t> out;
    while (true) {
      int code = 0;
      for (int b = 0; b < width; ++b, ++bit) code |= ((data[bit / 8] >> (bit % 8)) & 1) << b;
      if (code == clear) {
        reset();
        width = min_code + 1;
        prev = -1;
        continue;
      }
      if (code == eoi) break;
      std::vector<uint8_t> entry;
      if (code < static_cast<int>(table.size())) entry = table[code];
      else {
        REQUIRE(prev >= 0);
        entry = table[prev];
        entry.push_back(table[prev][0]);
      }
      out.insert(out.end(), entry.begin(), entry.end());
      if (prev >= 0 && table.size() < 4096) {
        auto e = table[prev];
        e.push_back(entry[0]);
        table.push_back(e);
        if (static_cast<int>(table.size()) == (1 << width) && width < 12) ++width;
      }
      prev = code;
    }
    REQUIRE(out.size() == static_cast<size_t>(w) * h);
    Image img(w, h, {});
    for (size_t i = 0; i < out.size(); ++i) img.set(static_cast<int>(i % w), static_cast<int>(i / w), pal[out[i]]);
    frames.push_back(img);
  }
  return frames;
}
}  // namespace

TEST_CASE("frames show the lander on its terrain", "[render]") {
  LunarLander env;
  env.reset(0);
  for (int t = 0; t < 30; ++t) env.step(std::vector<float>{0});
  const Image img = render(env);
  CHECK(img.width == 600);
  CHECK(img.height == 400);
  // The lander body's centre is drawn in its fill colour; the bottom row is ground (white); the
  // top-left corner is sky (black).
  const b2Vec2 p = env.lander()->GetWorldCenter();
  CHECK(img.at(static_cast<int>(p.x * 30), static_cast<int>(400 - p.y * 30)) == Rgb{128, 102, 230});
  CHECK(img.at(300, 399) == Rgb{255, 255, 255});
  CHECK(img.at(0, 0) == Rgb{0, 0, 0});
}

TEST_CASE("frames show the walker, terrain and lidar", "[render]") {
  BipedalWalker env(true);
  env.reset(2);
  const Image img = render(env);
  const b2Vec2 p = env.hull()->GetWorldCenter();
  CHECK(img.at(static_cast<int>((p.x - (env.hull()->GetPosition().x - 4.0)) * 30), static_cast<int>(400 - p.y * 30)) ==
        Rgb{127, 51, 229});
  int red = 0;
  for (int y = 0; y < 400; ++y)
    for (int x = 0; x < 600; ++x) red += img.at(x, y) == Rgb{255, 0, 0};
  CHECK(red > 50);  // lidar rays
  CHECK(img.at(0, 0) == Rgb{215, 215, 255});
  CHECK_THROWS_WITH(render(BipedalWalker()), Catch::Contains("before reset()"));
}

TEST_CASE("PNG and animated GIF round trip", "[render]") {
  auto env = make_env("BipedalWalker-v3");
  env->reset(1);
  std::vector<Image> frames;
  for (int t = 0; t < 40; ++t) {
    env->step(std::vector<float>{0.5f, -0.5f, 0.2f, 0.8f});
    if (t % 8 == 0) frames.push_back(render(*env));
  }
  const std::string png = temp_path("frame.png"), gif = temp_path("anim.gif");
  write_png(png, frames[0]);
  CHECK(read_png(png).pixels == frames[0].pixels);
  write_gif(gif, frames, 4);
  const std::vector<Image> back = read_gif(gif);
  REQUIRE(back.size() == frames.size());
  for (size_t i = 0; i < frames.size(); ++i) CHECK(back[i].pixels == frames[i].pixels);
  // A noisy frame exercises the table resets of the 12-bit LZW dictionary.
  Image noise(64, 48, {});
  uint32_t s = 1;
  for (auto& v : noise.pixels) v = static_cast<uint8_t>(((s = s * 1664525u + 1013904223u) >> 24) & 0xE0);
  write_gif(gif, {noise}, 1);
  const auto nb = read_gif(gif);
  REQUIRE(nb.size() == 1);
  int mismatches = 0;
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) mismatches += !(nb[0].at(x, y) == noise.at(x, y));
  // 8 levels per channel exceed 256 colours: the 6x7x6 cube quantizes, so compare to the cube.
  CHECK(mismatches > 0);
  std::filesystem::remove(png);
  std::filesystem::remove(gif);
  CHECK_THROWS(write_png("/nonexistent-dir/x.png", frames[0]));
}
