#include "envs/render.h"

#include "envs/env.h"

#include <box2d/box2d.h>

#include <cmath>

#include "envs/bipedal_walker.h"
#include "envs/lunar_lander.h"

namespace softrl::envs {
namespace {

constexpr double kScale = 30.0;

struct Camera {
  double scroll_x = 0.0;  // world x at the left edge
  std::pair<double, double> px(double x, double y) const {
    return {(x - scroll_x) * kScale, kFrameHeight - y * kScale};
  }
};

void draw_body(Image& img, const Camera& cam, const b2Body* body, Rgb fill, Rgb outline) {
  for (const b2Fixture* f = body->GetFixtureList(); f; f = f->GetNext()) {
    if (f->GetType() != b2Shape::e_polygon) continue;
    const auto* poly = static_cast<const b2PolygonShape*>(f->GetShape());
    std::vector<std::pair<double, double>> pts;
    for (int i = 0; i < poly->m_count; ++i) {
      const b2Vec2 w = body->GetWorldPoint(poly->m_vertices[i]);
      pts.push_back(cam.px(w.x, w.y));
    }
    img.fill_polygon(pts, fill);
    for (size_t i = 0; i < pts.size(); ++i) {
      const auto& a = pts[i];
      const auto& b = pts[(i + 1) % pts.size()];
      img.draw_line(a.first, a.second, b.first, b.second, outline);
    }
  }
}

void draw_flag(Image& img, const Camera& cam, double x, double y_base, Rgb pole, Rgb flag) {
  const double y_top = y_base + 50.0 / kScale;
  const auto a = cam.px(x, y_base), b = cam.px(x, y_top);
  img.draw_line(a.first, a.second, b.first, b.second, pole);
  img.fill_polygon(
      {cam.px(x, y_top), cam.px(x, y_top - 10.0 / kScale), cam.px(x + 25.0 / kScale, y_top - 5.0 / kScale)}, flag);
}

Image draw_lander(const LunarLander& env) {
  Image img(kFrameWidth, kFrameHeight, {255, 255, 255});
  const Camera cam;
  const auto& xs = env.terrain_x();
  const auto& ys = env.terrain_y();
  const double top = lunar::kH;
  for (size_t i = 0; i + 1 < xs.size(); ++i)  // the sky above the terrain is black
    img.fill_polygon({cam.px(xs[i], ys[i]), cam.px(xs[i + 1], ys[i + 1]), cam.px(xs[i + 1], top), cam.px(xs[i], top)},
                     {0, 0, 0});
  for (double x : {xs[4], xs[6]}) draw_flag(img, cam, x, env.helipad_y(), {255, 255, 255}, {204, 204, 0});
  for (int i = 0; i < 2; ++i) draw_body(img, cam, env.leg(i), {128, 102, 230}, {77, 77, 128});
  draw_body(img, cam, env.lander(), {128, 102, 230}, {77, 77, 128});
  return img;
}

Image draw_walker(const BipedalWalker& env) {
  Image img(kFrameWidth, kFrameHeight, {215, 215, 255});
  Camera cam;
  cam.scroll_x = env.hull()->GetPosition().x - kFrameWidth / kScale / 5;
  const auto& xs = env.terrain_x();
  const auto& ys = env.terrain_y();
  for (size_t i = 0; i + 1 < xs.size(); ++i) {
    if (xs[i + 1] < cam.scroll_x || xs[i] > cam.scroll_x + kFrameWidth / kScale) continue;
    img.fill_polygon({cam.px(xs[i], ys[i]), cam.px(xs[i + 1], ys[i + 1]), cam.px(xs[i + 1], 0), cam.px(xs[i], 0)},
                     {102, static_cast<uint8_t>(i % 2 == 0 ? 153 : 128), 76});
  }
  for (const TerrainPolygon& p : env.obstacles()) {
    std::vector<std::pair<double, double>> pts;
    for (const auto& v : p.v) pts.push_back(cam.px(v[0], v[1]));
    img.fill_polygon(pts, {255, 255, 255});
    for (size_t i = 0; i < pts.size(); ++i)
      img.draw_line(pts[i].first, pts[i].second, pts[(i + 1) % 4].first, pts[(i + 1) % 4].second, {153, 153, 153});
  }
  draw_flag(img, cam, walker::kTerrainStep * 3, walker::kTerrainHeight, {0, 0, 0}, {230, 51, 0});
  const b2Vec2 hp = env.hull()->GetPosition();
  for (const auto& hit : env.lidar_hits()) {
    const auto a = cam.px(hp.x, hp.y), b = cam.px(hit[0], hit[1]);
    img.draw_line(a.first, a.second, b.first, b.second, {255, 0, 0});
  }
  // Far legs darker, as Gymnasium draws them.
  for (int k : {0, 1}) draw_body(img, cam, env.leg(k), {153, 76, 127}, {102, 51, 76});
  draw_body(img, cam, env.hull(), {127, 51, 229}, {76, 76, 127});
  for (int k : {2, 3}) draw_body(img, cam, env.leg(k), {178, 101, 152}, {127, 76, 101});
  return img;
}

}  // namespace

Image render_lander(const Env& env) {
  const auto* l = dynamic_cast<const LunarLander*>(&env);
  if (!l) throw EnvError(env.spec().id + ": not a LunarLander");
  if (!l->lander()) throw EnvError(env.spec().id + ": render() before reset()");
  return draw_lander(*l);
}

Image render_walker(const Env& env) {
  const auto* w = dynamic_cast<const BipedalWalker*>(&env);
  if (!w) throw EnvError(env.spec().id + ": not a BipedalWalker");
  if (!w->hull()) throw EnvError(env.spec().id + ": render() before reset()");
  return draw_walker(*w);
}

}  // namespace softrl::envs
