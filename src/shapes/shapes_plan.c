/* shapes_plan.c: a scene's plan (template, captioned groups, distractors), its objects'
 * colours, then their placement (sizes, rotations, centres; retried until a relation holds and
 * every object keeps 60% of its coverage visible). Each object is a signed distance function
 * (exact for a circle and a polygon), sampled 4 x 4 per pixel near its edge into fill and rim
 * coverage. */
#include <math.h>
#include <string.h>

#include "shapes-private.h"

#define MIN_VISIBLE     0.6
#define HELD_OUT_FORCED 0.7 /* test scenes drawn to caption a held-out pair */
#define PLACE_ATTEMPTS  40  /* placements tried before a distractor is dropped */
#define PLAN_ATTEMPTS   20  /* plans tried before falling back to one object */
#define HALF_DIAGONAL   0.7072
#define RELATION_GAP    0.03 /* of the side: the gap between related objects along the axis */
#define RELATION_ACROSS \
  0.6 /* of the half extents' sum: the most their centres are offset across it */
#define SMALL_EXTENT_MIN 0.14
#define SMALL_EXTENT_MAX 0.22
#define BIG_EXTENT_MIN   0.32
#define BIG_EXTENT_MAX   0.45

/* One pair per colour; every colour and every shape still appears in train with 5 or more
 * partners. */
static const WpShapesShape held_out[WP_SHAPES_N_COLOURS] = {
  WP_SHAPES_STAR,     /* red */
  WP_SHAPES_CROSS,    /* green */
  WP_SHAPES_TRIANGLE, /* blue */
  WP_SHAPES_DIAMOND,  /* yellow */
  WP_SHAPES_CIRCLE,   /* purple */
  WP_SHAPES_SQUARE,   /* orange */
  WP_SHAPES_DIAMOND,  /* pink */
  WP_SHAPES_STAR,     /* white */
};

/* A colour's band in HSV: hue centre and half width in degrees, saturation and value ranges.
 * White's defining coordinate is its saturation (its hue is free). */
typedef struct {
  double hue, hue_half;
  double s_lo, s_hi;
  double v_lo, v_hi;
} Band;

static const Band bands[WP_SHAPES_N_COLOURS] = {
  { 0.0, 8.0, 0.80, 0.95, 0.80, 0.95 },    /* red */
  { 122.0, 22.0, 0.65, 0.90, 0.65, 0.85 }, /* green */
  { 222.0, 16.0, 0.70, 0.95, 0.80, 1.00 }, /* blue */
  { 55.0, 6.0, 0.75, 0.95, 0.92, 1.00 },   /* yellow */
  { 280.0, 12.0, 0.55, 0.80, 0.65, 0.85 }, /* purple */
  { 30.0, 6.0, 0.85, 1.00, 0.92, 1.00 },   /* orange */
  { 330.0, 10.0, 0.30, 0.50, 0.95, 1.00 }, /* pink */
  { 0.0, 180.0, 0.00, 0.10, 0.90, 1.00 },  /* white */
};

WpShapesShape
wp_shapes_get_held_out_shape (WpShapesColour colour)
{
  g_return_val_if_fail (colour < WP_SHAPES_N_COLOURS, WP_SHAPES_CIRCLE);
  return held_out[colour];
}

/* ---- colours ---- */

void
wp_shapes_hsv_to_rgb (double  h,
                      double  s,
                      double  v,
                      double *rgb)
{
  const double hh = fmod (h, 360.0) / 60.0;
  const int    sector = (int) hh;
  const double f = hh - sector;
  const double p = v * (1.0 - s), q = v * (1.0 - s * f), t = v * (1.0 - s * (1.0 - f));
  const double table[6][3] = {
    { v, t, p },
    { q, v, p },
    { p, v, t },
    { p, q, v },
    { t, p, v },
    { v, p, q },
  };

  memcpy (rgb, table[CLAMP (sector, 0, 5)], sizeof table[0]);
}

/* Train: the inner half of the band's defining coordinate; test: its outer quarters. */
static void
sample_colour (WpRng         *rng,
               WpShapesColour colour,
               WpShapesSplit  split,
               double        *rgb)
{
  const Band *band = &bands[colour];
  double      h, s, v;

  if (colour == WP_SHAPES_WHITE) {
    const double mid = 0.5 * (band->s_lo + band->s_hi);

    h = uniform (rng, 0.0, 360.0);
    s = split == WP_SHAPES_SPLIT_TRAIN ? uniform (rng, band->s_lo, mid)
                                       : uniform (rng, mid, band->s_hi);
  } else {
    const double side = chance (rng, 0.5) ? -1.0 : 1.0;
    const double t =
      split == WP_SHAPES_SPLIT_TRAIN ? uniform (rng, -0.5, 0.5) : side * uniform (rng, 0.5, 1.0);

    h = fmod (band->hue + t * band->hue_half + 360.0, 360.0);
    s = uniform (rng, band->s_lo, band->s_hi);
  }
  v = uniform (rng, band->v_lo, band->v_hi);
  wp_shapes_hsv_to_rgb (h, s, v, rgb);
}

/* ---- planning ---- */

static gboolean
pair_allowed (WpShapesColour colour,
              WpShapesShape  shape,
              WpShapesSplit  split)
{
  return split != WP_SHAPES_SPLIT_TRAIN || held_out[colour] != shape;
}

static gboolean
pair_used (const Plan    *plan,
           WpShapesColour colour,
           WpShapesShape  shape,
           int            n_groups)
{
  for (int g = 0; g < n_groups; g++) {
    if (plan->groups[g].colour == colour && plan->groups[g].shape == shape)
      return TRUE;
  }
  return FALSE;
}

/* A pair of the split that no earlier group uses. */
static void
pick_pair (Plan         *plan,
           WpRng        *rng,
           WpShapesSplit split,
           int           g)
{
  Group *group = &plan->groups[g];

  do {
    group->colour = (WpShapesColour) pick (rng, WP_SHAPES_N_COLOURS);
    group->shape = (WpShapesShape) pick (rng, WP_SHAPES_N_SHAPES);
  } while (!pair_allowed (group->colour, group->shape, split) ||
           pair_used (plan, group->colour, group->shape, g));
}

static void
add_object (Plan          *plan,
            WpShapesColour colour,
            WpShapesShape  shape,
            gboolean       big,
            int            group)
{
  Object *object = &plan->objects[plan->n_objects++];

  memset (object, 0, sizeof *object);
  object->colour = colour;
  object->shape = shape;
  object->big = big;
  object->group = group;
}

/* An unmentioned object sharing the shape (or the colour) of a captioned group, with a pair no
 * group uses, so the caption still picks out its objects. FALSE when none was found. */
static gboolean
add_distractor (Plan         *plan,
                WpRng        *rng,
                WpShapesSplit split)
{
  for (int attempt = 0; attempt < 20; attempt++) {
    const Group   *like = &plan->groups[pick (rng, plan->n_groups)];
    WpShapesColour colour = like->colour;
    WpShapesShape  shape = like->shape;

    if (chance (rng, 0.7))
      colour = (WpShapesColour) pick (rng, WP_SHAPES_N_COLOURS);
    else
      shape = (WpShapesShape) pick (rng, WP_SHAPES_N_SHAPES);
    if (pair_allowed (colour, shape, split) && !pair_used (plan, colour, shape, plan->n_groups)) {
      add_object (plan, colour, shape, chance (rng, 0.5), -1);
      return TRUE;
    }
  }
  return FALSE;
}

static void
plan_scene (Plan         *plan,
            WpRng        *rng,
            WpShapesSplit split)
{
  const double u = wp_rng_uniform (rng);

  memset (plan, 0, sizeof *plan);
  if (u < 0.28) {
    plan->template = TEMPLATE_ONE;
    plan->n_groups = 1;
  } else if (u < 0.48) {
    plan->template = TEMPLATE_AND;
    plan->n_groups = 2;
  } else if (u < 0.73) {
    plan->template = TEMPLATE_RELATION;
    plan->n_groups = 2;
    plan->relation = (Relation) (RELATION_ABOVE + pick (rng, 4));
  } else if (u < 0.88) {
    plan->template = TEMPLATE_MANY;
    plan->n_groups = 1;
  } else {
    plan->template = TEMPLATE_MANY_AND_ONE;
    plan->n_groups = 2;
    plan->many_first = chance (rng, 0.5);
  }
  for (int g = 0; g < plan->n_groups; g++) {
    Group *group = &plan->groups[g];

    group->n = 1;
    group->say_size = chance (rng, 0.5);
    group->big = chance (rng, 0.5);
  }
  if (plan->template == TEMPLATE_MANY)
    plan->groups[0].n = chance (rng, 0.35) ? 3 : 2;
  else if (plan->template == TEMPLATE_MANY_AND_ONE)
    plan->groups[0].n = 2;

  if (split == WP_SHAPES_SPLIT_TEST && chance (rng, HELD_OUT_FORCED)) {
    const int forced = pick (rng, plan->n_groups);

    plan->groups[forced].colour = (WpShapesColour) pick (rng, WP_SHAPES_N_COLOURS);
    plan->groups[forced].shape = held_out[plan->groups[forced].colour];
    /* The other group must differ from the forced one, wherever it stands. */
    for (int g = 0; g < plan->n_groups; g++) {
      if (g == forced)
        continue;
      do
        pick_pair (plan, rng, split, g);
      while (plan->groups[g].colour == plan->groups[forced].colour &&
             plan->groups[g].shape == plan->groups[forced].shape);
    }
  } else {
    for (int g = 0; g < plan->n_groups; g++)
      pick_pair (plan, rng, split, g);
  }

  for (int g = 0; g < plan->n_groups; g++) {
    const Group *group = &plan->groups[g];

    for (int k = 0; k < group->n; k++)
      add_object (plan, group->colour, group->shape,
                  group->say_size ? group->big : chance (rng, 0.5), g);
  }
  if (plan->n_objects < WP_SHAPES_MAX_OBJECTS && chance (rng, 0.45)) {
    add_distractor (plan, rng, split);
    if (plan->n_objects < WP_SHAPES_MAX_OBJECTS && chance (rng, 0.3))
      add_distractor (plan, rng, split);
  }
  /* Drawing order: captioned objects are not always below the distractors. */
  for (int i = plan->n_objects - 1; i > 0; i--) {
    const int j = pick (rng, i + 1);
    Object    tmp = plan->objects[i];

    plan->objects[i] = plan->objects[j];
    plan->objects[j] = tmp;
  }
}

/* ---- geometry ---- */

static void
set_polygon (Object       *object,
             const double *points,
             int           n,
             double        angle)
{
  const double c = cos (angle), s = sin (angle);

  object->n_vertices = n;
  object->hx = object->hy = 0.0;
  for (int i = 0; i < n; i++) {
    const double x = points[2 * i] * object->r, y = points[2 * i + 1] * object->r;

    object->vx[i] = c * x - s * y;
    object->vy[i] = s * x + c * y;
    object->hx = MAX (object->hx, fabs (object->vx[i]));
    object->hy = MAX (object->hy, fabs (object->vy[i]));
  }
}

/* Outline of the object's shape, its extent 2r drawn from its size class. */
static void
shape_object (Object *object,
              WpRng  *rng,
              int     S)
{
  static const double square[] = { -0.82, -0.82, 0.82, -0.82, 0.82, 0.82, -0.82, 0.82 };
  static const double diamond[] = { 0.0, -1.0, 0.72, 0.0, 0.0, 1.0, -0.72, 0.0 };
  static const double triangle[] = { 0.0, -0.88, 1.0, 0.88, -1.0, 0.88 };
  static const double cross[] = { -0.32, -1.0, 0.32, -1.0, 0.32, -0.32, 1.0, -0.32,
                                  1.0, 0.32, 0.32, 0.32, 0.32, 1.0, -0.32, 1.0,
                                  -0.32, 0.32, -1.0, 0.32, -1.0, -0.32, -0.32, -0.32 };
  const double        degree = G_PI / 180.0;
  double              star[20];

  object->r = 0.5 * S *
              (object->big ? uniform (rng, BIG_EXTENT_MIN, BIG_EXTENT_MAX)
                           : uniform (rng, SMALL_EXTENT_MIN, SMALL_EXTENT_MAX));
  object->rim = object->outlined ? MAX (0.6, 0.12 * object->r) : 0.0;
  switch (object->shape) {
  case WP_SHAPES_CIRCLE:
    object->n_vertices = 0;
    object->hx = object->hy = object->r;
    break;
  case WP_SHAPES_SQUARE:
    set_polygon (object, square, 4, uniform (rng, -8.0, 8.0) * degree);
    break;
  case WP_SHAPES_TRIANGLE:
    set_polygon (object, triangle, 3, uniform (rng, -10.0, 10.0) * degree);
    break;
  case WP_SHAPES_STAR:
    /* Five points, the inner radius half the outer: chunky enough to read at 10 pixels. The
     * shift centres the outline's box (its top point at -1, its lower points at cos 36°). */
    for (int k = 0; k < 10; k++) {
      const double a = (-90.0 + 36.0 * k) * degree, radius = k % 2 == 0 ? 1.0 : 0.5;

      star[2 * k] = radius * cos (a);
      star[2 * k + 1] = radius * sin (a) + 0.5 * (1.0 - cos (36.0 * degree));
    }
    set_polygon (object, star, 10, uniform (rng, -12.0, 12.0) * degree);
    break;
  case WP_SHAPES_CROSS:
    set_polygon (object, cross, 12, uniform (rng, -8.0, 8.0) * degree);
    break;
  case WP_SHAPES_DIAMOND:
    set_polygon (object, diamond, 4, uniform (rng, -4.0, 4.0) * degree);
    break;
  case WP_SHAPES_N_SHAPES:
  default:
    g_assert_not_reached ();
  }
}

/* A centre keeping the outline a pixel inside the image. */
static void
place_object (Object *object,
              WpRng  *rng,
              int     S)
{
  object->cx = uniform (rng, object->hx + 1.0, S - object->hx - 1.0);
  object->cy = uniform (rng, object->hy + 1.0, S - object->hy - 1.0);
}

/* a REL b holds without doubt: their extents do not overlap along the axis (with a gap) but
 * largely overlap across it, so that no other relation holds too ("left of" is not also "above").
 */
static gboolean
relation_holds (const Object *a,
                const Object *b,
                Relation      relation,
                int           S)
{
  const double gap = RELATION_GAP * S;
  double       along, across, extents, across_extents;

  switch (relation) {
  case RELATION_ABOVE:
  case RELATION_BELOW:
    along = relation == RELATION_ABOVE ? b->cy - a->cy : a->cy - b->cy;
    across = fabs (a->cx - b->cx);
    extents = a->hy + b->hy;
    across_extents = a->hx + b->hx;
    break;
  case RELATION_LEFT_OF:
  case RELATION_RIGHT_OF:
    along = relation == RELATION_LEFT_OF ? b->cx - a->cx : a->cx - b->cx;
    across = fabs (a->cy - b->cy);
    extents = a->hx + b->hx;
    across_extents = a->hy + b->hy;
    break;
  case RELATION_NONE:
  case N_RELATIONS:
  default:
    return TRUE;
  }
  return along >= extents + gap && across < RELATION_ACROSS * across_extents;
}

/* Signed distance to a polygon, negative inside (Inigo Quilez's exact polygon SDF). */
static double
polygon_distance (const double *vx,
                  const double *vy,
                  int           n,
                  double        px,
                  double        py)
{
  double d = (px - vx[0]) * (px - vx[0]) + (py - vy[0]) * (py - vy[0]);
  double sign = 1.0;

  for (int i = 0, j = n - 1; i < n; j = i, i++) {
    const double   ex = vx[j] - vx[i], ey = vy[j] - vy[i];
    const double   wx = px - vx[i], wy = py - vy[i];
    const double   t = CLAMP ((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0);
    const double   bx = wx - ex * t, by = wy - ey * t;
    const gboolean c1 = py >= vy[i], c2 = py<vy[j], c3 = ex * wy> ey * wx;

    d = MIN (d, bx * bx + by * by);
    if ((c1 && c2 && c3) || (!c1 && !c2 && !c3))
      sign = -sign;
  }
  return sign * sqrt (d);
}

static double
object_distance (const Object *object,
                 double        px,
                 double        py)
{
  if (object->n_vertices == 0)
    return sqrt (px * px + py * py) - object->r;
  return polygon_distance (object->vx, object->vy, object->n_vertices, px, py);
}

static void
object_clear_masks (Object *object)
{
  g_clear_pointer (&object->fill_cov, g_free);
  g_clear_pointer (&object->rim_cov, g_free);
}

/* Fill and rim coverage of each pixel near the object. A pixel whose centre lies more than half
 * a diagonal away from every boundary is uniform; the others are sampled 4 x 4. With samples == 1
 * every pixel is sampled at its centre only (the quick check before the real render). */
static void
render_masks (Object *object,
              int     S,
              int     samples)
{
  const double rim = object->rim;

  object_clear_masks (object);
  object->bx = MAX (0, (int) floor (object->cx - object->hx - 1.0));
  object->by = MAX (0, (int) floor (object->cy - object->hy - 1.0));
  object->bw = MIN (S, (int) ceil (object->cx + object->hx + 1.0)) - object->bx;
  object->bh = MIN (S, (int) ceil (object->cy + object->hy + 1.0)) - object->by;
  object->fill_cov = g_new0 (float, (gsize) object->bw * object->bh);
  object->rim_cov = g_new0 (float, (gsize) object->bw * object->bh);

  for (int j = 0; j < object->bh; j++) {
    for (int i = 0; i < object->bw; i++) {
      const gsize  p = (gsize) j * object->bw + i;
      const double px = object->bx + i + 0.5 - object->cx, py = object->by + j + 0.5 - object->cy;
      const double d = object_distance (object, px, py);
      int          n_fill = 0, n_rim = 0;

      if (samples == 1 || d > HALF_DIAGONAL || d < -rim - HALF_DIAGONAL ||
          (rim > 0.0 && fabs (d + 0.5 * rim) < 0.5 * rim - HALF_DIAGONAL)) {
        /* One sample stands for the whole pixel. */
        if (d <= 0.0)
          *(d > -rim ? &object->rim_cov[p] : &object->fill_cov[p]) = 1.0f;
        continue;
      }
      for (int sy = 0; sy < samples; sy++) {
        for (int sx = 0; sx < samples; sx++) {
          const double qx = px - 0.5 + (sx + 0.5) / samples, qy = py - 0.5 + (sy + 0.5) / samples;
          const double e = object_distance (object, qx, qy);

          if (e <= 0.0) {
            if (e > -rim)
              n_rim++;
            else
              n_fill++;
          }
        }
      }
      object->fill_cov[p] = (float) n_fill / (samples * samples);
      object->rim_cov[p] = (float) n_rim / (samples * samples);
    }
  }
}

/* Visible coverage of each object under the ones drawn after it; sets each object's box of
 * pixels at least half visible. FALSE unless every object keeps MIN_VISIBLE of its coverage and
 * a non-empty box. transmittance: S * S scratch. */
static gboolean
check_visibility (Plan  *plan,
                  int    S,
                  float *transmittance)
{
  for (gsize p = 0; p < (gsize) S * S; p++)
    transmittance[p] = 1.0f;
  for (int k = plan->n_objects - 1; k >= 0; k--) {
    Object *object = &plan->objects[k];
    double  total = 0.0, visible = 0.0;
    int     x0 = S, y0 = S, x1 = -1, y1 = -1;

    for (int j = 0; j < object->bh; j++) {
      for (int i = 0; i < object->bw; i++) {
        const gsize  p = (gsize) j * object->bw + i;
        const gsize  q = (gsize) (object->by + j) * S + object->bx + i;
        const double cov = object->fill_cov[p] + object->rim_cov[p];
        const double vis = cov * transmittance[q];

        total += cov;
        visible += vis;
        if (vis >= 0.5) {
          x0 = MIN (x0, object->bx + i);
          x1 = MAX (x1, object->bx + i);
          y0 = MIN (y0, object->by + j);
          y1 = MAX (y1, object->by + j);
        }
        transmittance[q] *= (float) (1.0 - cov);
      }
    }
    if (x1 < 0 || total <= 0.0 || visible < MIN_VISIBLE * total)
      return FALSE;
    object->x = x0;
    object->y = y0;
    object->w = x1 - x0 + 1;
    object->h = y1 - y0 + 1;
  }
  return TRUE;
}

static Object *
first_of_group (Plan *plan,
                int   g)
{
  for (int k = 0; k < plan->n_objects; k++) {
    if (plan->objects[k].group == g)
      return &plan->objects[k];
  }
  g_assert_not_reached ();
  return NULL;
}

/* Objects of one colour do not touch, so that "two green squares" are two shapes, not a blob:
 * their outlines' boxes are a pixel apart. */
static gboolean
same_colours_apart (const Plan *plan)
{
  for (int i = 0; i < plan->n_objects; i++) {
    const Object *a = &plan->objects[i];

    for (int j = i + 1; j < plan->n_objects; j++) {
      const Object *b = &plan->objects[j];

      if (a->colour == b->colour && fabs (a->cx - b->cx) < a->hx + b->hx + 1.0 &&
          fabs (a->cy - b->cy) < a->hy + b->hy + 1.0)
        return FALSE;
    }
  }
  return TRUE;
}

/* Sizes, outlines and centres for every object, then the quick visibility check. */
static gboolean
place_plan (Plan  *plan,
            WpRng *rng,
            int    S,
            float *transmittance)
{
  for (int k = 0; k < plan->n_objects; k++) {
    shape_object (&plan->objects[k], rng, S);
    place_object (&plan->objects[k], rng, S);
  }
  if (plan->relation != RELATION_NONE) {
    Object  *a = first_of_group (plan, 0), *b = first_of_group (plan, 1);
    gboolean holds = FALSE;

    for (int attempt = 0; attempt < 50 && !holds; attempt++) {
      place_object (a, rng, S);
      place_object (b, rng, S);
      holds = relation_holds (a, b, plan->relation, S);
    }
    if (!holds)
      return FALSE;
  }
  if (!same_colours_apart (plan))
    return FALSE;
  for (int k = 0; k < plan->n_objects; k++)
    render_masks (&plan->objects[k], S, 1);
  return check_visibility (plan, S, transmittance);
}

void
wp_shapes_clear_plan (Plan *plan)
{
  for (int k = 0; k < plan->n_objects; k++)
    object_clear_masks (&plan->objects[k]);
}

/* Removes the last distractor in drawing order; FALSE when there is none. */
static gboolean
drop_distractor (Plan *plan)
{
  for (int k = plan->n_objects - 1; k >= 0; k--) {
    if (plan->objects[k].group < 0) {
      object_clear_masks (&plan->objects[k]);
      memmove (&plan->objects[k], &plan->objects[k + 1],
               (plan->n_objects - k - 1) * sizeof (Object));
      plan->n_objects--;
      return TRUE;
    }
  }
  return FALSE;
}

/* Fill colour in the split's part of the band; a third of the objects get a rim, darker or
 * lighter (white only darker, a lighter one would not show). */
static void
colour_object (Object       *object,
               WpRng        *rng,
               WpShapesSplit split)
{
  sample_colour (rng, object->colour, split, object->fill_rgb);
  object->outlined = chance (rng, 0.35);
  if (!object->outlined)
    return;
  if (object->colour != WP_SHAPES_WHITE && chance (rng, 0.5)) {
    for (int c = 0; c < 3; c++)
      object->rim_rgb[c] = object->fill_rgb[c] + 0.55 * (1.0 - object->fill_rgb[c]);
  } else {
    for (int c = 0; c < 3; c++)
      object->rim_rgb[c] = 0.55 * object->fill_rgb[c];
  }
}

/* ---- whole plans ---- */

/* Every object placed, each keeping MIN_VISIBLE of its coverage: first checked with one sample a
 * pixel, then with the final 4 x 4 masks (whose boxes are kept). */
static gboolean
try_place (Plan  *plan,
           WpRng *rng,
           int    S,
           float *transmittance)
{
  if (!place_plan (plan, rng, S, transmittance))
    return FALSE;
  for (int k = 0; k < plan->n_objects; k++)
    render_masks (&plan->objects[k], S, SUPERSAMPLE);
  return check_visibility (plan, S, transmittance);
}

/* After PLAN_ATTEMPTS plans that could not be placed even without distractors, a plan of one
 * object, which always fits. */
void
wp_shapes_make_plan (Plan         *plan,
                     WpRng        *rng,
                     WpShapesSplit split,
                     int           S,
                     float        *transmittance)
{
  for (int attempt = 0;; attempt++) {
    plan_scene (plan, rng, split);
    if (attempt >= PLAN_ATTEMPTS) {
      plan->template = TEMPLATE_ONE;
      plan->relation = RELATION_NONE;
      plan->n_groups = 1;
      plan->groups[0].n = 1;
      plan->n_objects = 0;
      add_object (plan, plan->groups[0].colour, plan->groups[0].shape,
                  plan->groups[0].say_size ? plan->groups[0].big : chance (rng, 0.5), 0);
    }
    for (int k = 0; k < plan->n_objects; k++)
      colour_object (&plan->objects[k], rng, split);
    do {
      for (int i = 0; i < PLACE_ATTEMPTS; i++) {
        if (try_place (plan, rng, S, transmittance))
          return;
      }
    } while (drop_distractor (plan));
    wp_shapes_clear_plan (plan);
  }
}
