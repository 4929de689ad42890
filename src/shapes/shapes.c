/* shapes.c: the synthetic scene generator (shapes.h says what scenes hold).
 *
 * A scene is planned (template, captioned groups, distractors), placed (sizes, rotations,
 * centres; retried until a relation holds and every object keeps 60% of its coverage visible),
 * coloured, then rendered: each object is a signed distance function (exact for a circle and a
 * polygon), sampled 4 x 4 per pixel near its edge into fill and rim coverage, and composited in
 * drawing order over the background. Everything random comes from one WpRng per scene.
 *
 * Coordinates are in pixels with y down; pixel (x, y) covers [x, x + 1) x [y, y + 1). */
#include "shapes.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wordpatch/error.h"
#include "wordpatch/rng.h"

#define SUPERSAMPLE     4
#define MIN_VISIBLE     0.6
#define MAX_VERTICES    12
#define MAX_GROUPS      2
#define N_TRAIN_BGS     4
#define N_TEST_BGS      6
#define HELD_OUT_FORCED 0.7 /* test scenes drawn to caption a held-out pair */
#define PLACE_ATTEMPTS  40  /* placements tried before a distractor is dropped */
#define PLAN_ATTEMPTS   20  /* plans tried before falling back to one object */
#define BG_CONTRAST     0.3 /* RGB distance between the background and every object's fill */
#define HALF_DIAGONAL   0.7072
#define RELATION_GAP    0.03 /* of the side: the gap between related objects along the axis */
#define RELATION_ACROSS \
  0.6 /* of the half extents' sum: the most their centres are offset across it */
#define DEFAULT_SIZE      64
#define DEFAULT_SEED      1
#define MIN_IMAGE_DIGITS  6
#define SMALL_EXTENT_MIN  0.14
#define SMALL_EXTENT_MAX  0.22
#define BIG_EXTENT_MIN    0.32
#define BIG_EXTENT_MAX    0.45
#define BG_SATURATION_MAX 0.3
#define BG_VALUE_MIN      0.06
#define BG_VALUE_MAX      0.5

static const char *const colour_names[WP_SHAPES_N_COLOURS] = {
  "red", "green", "blue", "yellow", "purple", "orange", "pink", "white"
};

static const char *const shape_names[WP_SHAPES_N_SHAPES] = { "circle", "square", "triangle",
                                                             "star", "cross", "diamond" };

static const char *const shape_plurals[WP_SHAPES_N_SHAPES] = { "circles", "squares", "triangles",
                                                               "stars", "crosses", "diamonds" };

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

typedef enum {
  RELATION_NONE,
  RELATION_ABOVE,
  RELATION_BELOW,
  RELATION_LEFT_OF,
  RELATION_RIGHT_OF,
  N_RELATIONS,
} Relation;

static const char *const relation_words[N_RELATIONS][2] = {
  { NULL, NULL },
  { "above", NULL },
  { "below", NULL },
  { "left", "of" },
  { "right", "of" },
};

typedef enum {
  TEMPLATE_ONE,         /* a C S */
  TEMPLATE_AND,         /* a C S and a C S */
  TEMPLATE_RELATION,    /* a C S REL a C S */
  TEMPLATE_MANY,        /* two / three C Ss */
  TEMPLATE_MANY_AND_ONE /* two C Ss and a C S, in either order */
} Template;

typedef enum {
  BG_PLAIN,
  BG_LINEAR,
  BG_STRIPES,
  BG_NOISE,
  /* Test only. */
  BG_CHECKER,
  BG_RADIAL,
} Background;

/* Objects described by one phrase of the caption: "a small red star", "two green squares". */
typedef struct {
  WpShapesColour colour;
  WpShapesShape  shape;
  int            n;
  gboolean       say_size;
  gboolean       big; /* every object's size class when say_size */
} Group;

typedef struct {
  WpShapesColour colour;
  WpShapesShape  shape;
  gboolean       big;
  int            group; /* -1 for a distractor */

  /* Placement. */
  double   cx, cy, r;
  double   vx[MAX_VERTICES], vy[MAX_VERTICES]; /* relative to the centre, rotated */
  int      n_vertices;                         /* 0 for a circle */
  double   hx, hy;                             /* half extents of the outline */
  gboolean outlined;
  double   rim; /* rim width in pixels, 0 when not outlined */
  double   fill_rgb[3], rim_rgb[3];

  /* Coverage over the pixel rectangle (bx, by, bw, bh). */
  int    bx, by, bw, bh;
  float *fill_cov, *rim_cov;

  /* Tight box of the visible pixels. */
  int x, y, w, h;
} Object;

typedef struct {
  Template template;
  Group    groups[MAX_GROUPS];
  int      n_groups;
  Relation relation;
  gboolean many_first;
  Object   objects[WP_SHAPES_MAX_OBJECTS];
  int      n_objects;
} Plan;

const char *
wp_shapes_colour_name (WpShapesColour colour)
{
  g_return_val_if_fail (colour < WP_SHAPES_N_COLOURS, NULL);
  return colour_names[colour];
}

const char *
wp_shapes_shape_name (WpShapesShape shape)
{
  g_return_val_if_fail (shape < WP_SHAPES_N_SHAPES, NULL);
  return shape_names[shape];
}

const char *
wp_shapes_shape_plural (WpShapesShape shape)
{
  g_return_val_if_fail (shape < WP_SHAPES_N_SHAPES, NULL);
  return shape_plurals[shape];
}

WpShapesShape
wp_shapes_get_held_out_shape (WpShapesColour colour)
{
  g_return_val_if_fail (colour < WP_SHAPES_N_COLOURS, WP_SHAPES_CIRCLE);
  return held_out[colour];
}

void
wp_shapes_options_init (WpShapesOptions *options)
{
  options->size = DEFAULT_SIZE;
  options->seed = DEFAULT_SEED;
  options->split = WP_SHAPES_SPLIT_TRAIN;
}

/* ---- randomness ---- */

static guint64
mix64 (guint64 x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static double
uniform (WpRng *rng,
         double lo,
         double hi)
{
  return lo + (hi - lo) * wp_rng_uniform (rng);
}

/* Uniform in 0..n-1. */
static int
pick (WpRng *rng,
      int    n)
{
  return (int) (wp_rng_uniform (rng) * n);
}

static gboolean
chance (WpRng *rng,
        double p)
{
  return wp_rng_uniform (rng) < p;
}

/* ---- colours ---- */

static void
hsv_to_rgb (double  h,
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
  hsv_to_rgb (h, s, v, rgb);
}

static double
rgb_distance (const double *a,
              const double *b)
{
  return sqrt ((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) +
               (a[2] - b[2]) * (a[2] - b[2]));
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

static void
clear_plan (Plan *plan)
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

/* ---- background ---- */

static gboolean
contrasts_with_objects (const Plan   *plan,
                        const double *rgb)
{
  for (int k = 0; k < plan->n_objects; k++) {
    if (rgb_distance (plan->objects[k].fill_rgb, rgb) < BG_CONTRAST)
      return FALSE;
  }
  return TRUE;
}

/* Two muted or dark colours, each (and their mean, which gradients and noise pass through) far
 * from every object's fill. Near-black contrasts with every band, so it is the fallback. */
static void
sample_background_colours (WpRng      *rng,
                           const Plan *plan,
                           double     *c0,
                           double     *c1)
{
  gboolean found = FALSE;

  for (int attempt = 0; attempt < 200 && !found; attempt++) {
    double mid[3];

    hsv_to_rgb (uniform (rng, 0.0, 360.0), uniform (rng, 0.0, BG_SATURATION_MAX),
                uniform (rng, BG_VALUE_MIN, BG_VALUE_MAX), c0);
    hsv_to_rgb (uniform (rng, 0.0, 360.0), uniform (rng, 0.0, BG_SATURATION_MAX),
                uniform (rng, BG_VALUE_MIN, BG_VALUE_MAX), c1);
    for (int c = 0; c < 3; c++)
      mid[c] = 0.5 * (c0[c] + c1[c]);
    found = rgb_distance (c0, c1) >= 0.12 && contrasts_with_objects (plan, c0) &&
            contrasts_with_objects (plan, c1) && contrasts_with_objects (plan, mid);
  }
  if (!found) {
    for (int c = 0; c < 3; c++) {
      c0[c] = 0.04;
      c1[c] = 0.2;
    }
  }
}

static void
put_mix (float        *pixel,
         const double *c0,
         const double *c1,
         double        t)
{
  for (int c = 0; c < 3; c++)
    pixel[c] = (float) (c0[c] + (c1[c] - c0[c]) * t);
}

/* Stripes or a checkerboard: 0 or 1 at (x, y), in a frame rotated by angle. */
static int
pattern_at (Background kind,
            double     x,
            double     y,
            double     cos_a,
            double     sin_a,
            double     period,
            double     phase)
{
  const double u = (x * cos_a + y * sin_a) / period + phase;
  const double v = (-x * sin_a + y * cos_a) / period + phase;

  if (kind == BG_STRIPES)
    return u - floor (u) < 0.5;
  return ((gint64) floor (u) + (gint64) floor (v)) & 1;
}

static double
smoothstep (double t)
{
  return t * t * (3.0 - 2.0 * t);
}

/* canvas: (S, S, 3) in [0, 1]. */
static void
render_background (float        *canvas,
                   WpRng        *rng,
                   const Plan   *plan,
                   int           S,
                   WpShapesSplit split)
{
  const Background kind =
    (Background) pick (rng, split == WP_SHAPES_SPLIT_TRAIN ? N_TRAIN_BGS : N_TEST_BGS);
  const double angle = uniform (rng, 0.0, G_PI);
  const double cos_a = cos (angle), sin_a = sin (angle);
  double       c0[3], c1[3];

  sample_background_colours (rng, plan, c0, c1);
  switch (kind) {
  case BG_PLAIN:
    for (gsize p = 0; p < (gsize) S * S; p++)
      put_mix (canvas + 3 * p, c0, c1, 0.0);
    break;
  case BG_LINEAR: {
    /* From c0 at one side of the image to c1 at the other, along the angle. */
    const double lo = MIN (0.0, S * cos_a) + MIN (0.0, S * sin_a),
                 hi = MAX (0.0, S * cos_a) + MAX (0.0, S * sin_a);

    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++)
        put_mix (canvas + 3 * ((gsize) y * S + x), c0, c1,
                 ((x + 0.5) * cos_a + (y + 0.5) * sin_a - lo) / (hi - lo));
    }
    break;
  }
  case BG_RADIAL: {
    const double cx = uniform (rng, 0.0, S), cy = uniform (rng, 0.0, S);
    const double radius =
      sqrt (MAX (cx, S - cx) * MAX (cx, S - cx) + MAX (cy, S - cy) * MAX (cy, S - cy));

    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++)
        put_mix (canvas + 3 * ((gsize) y * S + x), c0, c1,
                 hypot (x + 0.5 - cx, y + 0.5 - cy) / radius);
    }
    break;
  }
  case BG_STRIPES:
  case BG_CHECKER: {
    const double period =
      MAX (3.0, S * (kind == BG_STRIPES ? uniform (rng, 0.08, 0.25) : uniform (rng, 0.08, 0.2)));
    const double phase = wp_rng_uniform (rng);
    /* Half the pixel's extent along u and v, in periods: a pixel whose extent stays within one
     * stripe (half a period) or one square takes its centre's value without supersampling. */
    const double reach = 0.5 * (fabs (cos_a) + fabs (sin_a)) / period;
    const double cells = kind == BG_STRIPES ? 2.0 : 1.0;

    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++) {
        const double u = ((x + 0.5) * cos_a + (y + 0.5) * sin_a) / period + phase;
        const double v = (-(x + 0.5) * sin_a + (y + 0.5) * cos_a) / period + phase;
        int          n = 0;

        if (floor (cells * (u - reach)) == floor (cells * (u + reach)) &&
            (kind == BG_STRIPES || floor (v - reach) == floor (v + reach))) {
          put_mix (canvas + 3 * ((gsize) y * S + x), c0, c1,
                   pattern_at (kind, x + 0.5, y + 0.5, cos_a, sin_a, period, phase));
          continue;
        }
        for (int sy = 0; sy < SUPERSAMPLE; sy++) {
          for (int sx = 0; sx < SUPERSAMPLE; sx++)
            n += pattern_at (kind, x + (sx + 0.5) / SUPERSAMPLE, y + (sy + 0.5) / SUPERSAMPLE,
                             cos_a, sin_a, period, phase);
        }
        put_mix (canvas + 3 * ((gsize) y * S + x), c0, c1,
                 (double) n / (SUPERSAMPLE * SUPERSAMPLE));
      }
    }
    break;
  }
  case BG_NOISE: {
    /* Value noise: random values on a coarse grid, interpolated smoothly, plus a fine grain. */
    const double       cell = MAX (2.0, S * uniform (rng, 0.06, 0.16));
    const int          n = (int) ceil (S / cell) + 2;
    g_autofree double *grid = g_new (double, (gsize) n *n);

    for (int i = 0; i < n * n; i++)
      grid[i] = wp_rng_uniform (rng);
    for (int y = 0; y < S; y++) {
      for (int x = 0; x < S; x++) {
        const double u = (x + 0.5) / cell, v = (y + 0.5) / cell;
        const int    i = (int) u, j = (int) v;
        const double fu = smoothstep (u - i), fv = smoothstep (v - j);
        const double top = grid[j * n + i] + (grid[j * n + i + 1] - grid[j * n + i]) * fu;
        const double bottom =
          grid[(j + 1) * n + i] + (grid[(j + 1) * n + i + 1] - grid[(j + 1) * n + i]) * fu;
        const double t = 0.85 * (top + (bottom - top) * fv) + 0.15 * wp_rng_uniform (rng);

        put_mix (canvas + 3 * ((gsize) y * S + x), c0, c1, t);
      }
    }
    break;
  }
  default:
    g_assert_not_reached ();
  }
}

/* ---- scenes ---- */

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

/* A plan whose objects are all placed. After PLAN_ATTEMPTS plans that could not be placed even
 * without distractors, a plan of one object, which always fits. */
static void
make_plan (Plan         *plan,
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
    clear_plan (plan);
  }
}

typedef struct {
  const char *text;
  int         group; /* the group it describes, -1 for a word without a box */
} Word;

static int
add_phrase (const Plan *plan,
            int         g,
            Word       *words,
            int         n)
{
  const Group *group = &plan->groups[g];
  const char  *size = group->big ? "big" : "small";
  const char  *next = group->say_size ? size : colour_names[group->colour];

  if (group->n == 1)
    words[n++] = (Word){ strchr ("aeiou", next[0]) != NULL ? "an" : "a", -1 };
  else
    words[n++] = (Word){ group->n == 2 ? "two" : "three", -1 };
  if (group->say_size)
    words[n++] = (Word){ size, g };
  words[n++] = (Word){ colour_names[group->colour], g };
  words[n++] = (Word){ group->n == 1 ? shape_names[group->shape] : shape_plurals[group->shape], g };
  return n;
}

/* The caption and its boxes: for each word describing a group, one box per object of it. */
static void
write_caption (const Plan    *plan,
               WpShapesScene *scene)
{
  Word     words[16];
  int      n = 0;
  GString *caption = g_string_new (NULL);

  switch (plan->template) {
  case TEMPLATE_ONE:
  case TEMPLATE_MANY:
    n = add_phrase (plan, 0, words, n);
    break;
  case TEMPLATE_AND:
    n = add_phrase (plan, 0, words, n);
    words[n++] = (Word){ "and", -1 };
    n = add_phrase (plan, 1, words, n);
    break;
  case TEMPLATE_RELATION:
    n = add_phrase (plan, 0, words, n);
    for (int i = 0; i < 2 && relation_words[plan->relation][i] != NULL; i++)
      words[n++] = (Word){ relation_words[plan->relation][i], -1 };
    n = add_phrase (plan, 1, words, n);
    break;
  case TEMPLATE_MANY_AND_ONE:
    n = add_phrase (plan, plan->many_first ? 0 : 1, words, n);
    words[n++] = (Word){ "and", -1 };
    n = add_phrase (plan, plan->many_first ? 1 : 0, words, n);
    break;
  default:
    g_assert_not_reached ();
  }
  g_assert (n <= (int) G_N_ELEMENTS (words));

  scene->boxes = g_new0 (WpShapesBox, (gsize) n * plan->n_objects);
  for (int i = 0; i < n; i++) {
    int occurrence = 0;

    g_string_append_printf (caption, "%s%s", i > 0 ? " " : "", words[i].text);
    if (words[i].group < 0)
      continue;
    for (int j = 0; j < i; j++)
      occurrence += strcmp (words[j].text, words[i].text) == 0;
    for (int k = 0; k < plan->n_objects; k++) {
      const Object *object = &plan->objects[k];
      WpShapesBox  *box = &scene->boxes[scene->n_boxes];

      if (object->group != words[i].group)
        continue;
      box->word = g_strdup (words[i].text);
      box->occurrence = occurrence;
      box->x = object->x;
      box->y = object->y;
      box->w = object->w;
      box->h = object->h;
      scene->n_boxes++;
    }
  }
  scene->caption = g_string_free (caption, FALSE);
}

static guint64
scene_seed (const WpShapesOptions *options,
            guint64                index)
{
  return mix64 (mix64 (mix64 (options->seed) ^ index) ^ ((guint64) options->split + 1));
}

WpShapesScene *
wp_shapes_scene_new (const WpShapesOptions *options,
                     guint64                index)
{
  g_autofree float *transmittance = NULL;
  g_autofree float *canvas = NULL;
  WpShapesScene    *scene;
  WpRng             rng;
  Plan              plan;
  int               S;

  g_return_val_if_fail (options != NULL, NULL);
  g_return_val_if_fail (options->size >= WP_SHAPES_MIN_SIZE && options->size <= WP_SHAPES_MAX_SIZE,
                        NULL);
  g_return_val_if_fail (
    options->split == WP_SHAPES_SPLIT_TRAIN || options->split == WP_SHAPES_SPLIT_TEST, NULL);

  S = options->size;

  wp_rng_init (&rng, scene_seed (options, index));
  transmittance = g_new (float, (gsize) S *S);
  canvas = g_new (float, (gsize) S *S * 3);
  make_plan (&plan, &rng, options->split, S, transmittance);
  render_background (canvas, &rng, &plan, S, options->split);

  /* Objects over the background in drawing order, fill and rim as premultiplied layers. */
  for (int k = 0; k < plan.n_objects; k++) {
    const Object *object = &plan.objects[k];

    for (int j = 0; j < object->bh; j++) {
      for (int i = 0; i < object->bw; i++) {
        const gsize  p = (gsize) j * object->bw + i;
        const double fill = object->fill_cov[p], rim = object->rim_cov[p];
        float       *pixel = canvas + 3 * ((gsize) (object->by + j) * S + object->bx + i);

        if (fill + rim <= 0.0)
          continue;
        for (int c = 0; c < 3; c++)
          pixel[c] = (float) (pixel[c] * (1.0 - fill - rim) + fill * object->fill_rgb[c] +
                              rim * object->rim_rgb[c]);
      }
    }
  }

  scene = g_new0 (WpShapesScene, 1);
  scene->image = wp_image_new (S, S);
  for (gsize i = 0; i < (gsize) S * S * 3; i++)
    scene->image->rgb[i] = (guint8) (CLAMP (canvas[i], 0.0f, 1.0f) * 255.0f + 0.5f);
  for (int k = 0; k < plan.n_objects; k++) {
    const Object   *object = &plan.objects[k];
    WpShapesObject *out = &scene->objects[k];

    out->colour = object->colour;
    out->shape = object->shape;
    out->big = object->big;
    out->captioned = object->group >= 0;
    out->x = object->x;
    out->y = object->y;
    out->w = object->w;
    out->h = object->h;
  }
  scene->n_objects = (guint) plan.n_objects;
  write_caption (&plan, scene);
  clear_plan (&plan);
  return scene;
}

void
wp_shapes_scene_free (WpShapesScene *scene)
{
  if (scene == NULL)
    return;
  wp_image_free (scene->image);
  g_free (scene->caption);
  for (guint i = 0; i < scene->n_boxes; i++)
    g_free (scene->boxes[i].word);
  g_free (scene->boxes);
  g_free (scene);
}

/* ---- files ---- */

static void
append_json_string (GString    *out,
                    const char *text)
{
  g_string_append_c (out, '"');
  for (const char *p = text; *p != '\0'; p++) {
    const guchar c = (guchar) *p;

    if (c == '"' || c == '\\')
      g_string_append_printf (out, "\\%c", c);
    else if (c < 0x20)
      g_string_append_printf (out, "\\u%04x", c);
    else
      g_string_append_c (out, (char) c);
  }
  g_string_append_c (out, '"');
}

char *
wp_shapes_scene_to_json (const WpShapesScene *scene,
                         const char          *image_name)
{
  GString *line;

  g_return_val_if_fail (scene != NULL && image_name != NULL, NULL);

  line = g_string_new ("{\"image\": ");
  append_json_string (line, image_name);
  g_string_append (line, ", \"caption\": ");
  append_json_string (line, scene->caption);
  g_string_append (line, ", \"boxes\": [");
  for (guint i = 0; i < scene->n_boxes; i++) {
    const WpShapesBox *box = &scene->boxes[i];

    g_string_append (line, i > 0 ? ", {\"word\": " : "{\"word\": ");
    append_json_string (line, box->word);
    g_string_append_printf (line,
                            ", \"occurrence\": %d, \"x\": %d, \"y\": %d, \"w\": %d, \"h\": %d}",
                            box->occurrence, box->x, box->y, box->w, box->h);
  }
  g_string_append (line, "], \"objects\": [");
  for (guint k = 0; k < scene->n_objects; k++) {
    const WpShapesObject *object = &scene->objects[k];

    g_string_append_printf (line,
                            "%s{\"colour\": \"%s\", \"shape\": \"%s\", \"size\": \"%s\", "
                            "\"captioned\": %s, \"x\": %d, \"y\": %d, \"w\": %d, \"h\": %d}",
                            k > 0 ? ", " : "", colour_names[object->colour],
                            shape_names[object->shape], object->big ? "big" : "small",
                            object->captioned ? "true" : "false", object->x, object->y, object->w,
                            object->h);
  }
  g_string_append (line, "]}");
  return g_string_free (line, FALSE);
}

static gboolean
set_errno_error (GError    **error,
                 int         saved_errno,
                 const char *path,
                 const char *what)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno), "%s: %s: %s", path, what,
               g_strerror (saved_errno));
  return FALSE;
}

gboolean
wp_shapes_write_dataset (const char            *dir,
                         guint                  count,
                         const WpShapesOptions *options,
                         GError               **error)
{
  g_autofree char *images_dir = NULL;
  g_autofree char *captions_path = NULL;
  g_autofree char *tmp_path = NULL;
  g_autoptr (GHashTable) text = NULL;
  int   digits = MIN_IMAGE_DIGITS;
  FILE *fp;
  int   fd;

  g_return_val_if_fail (dir != NULL && options != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (options->size < WP_SHAPES_MIN_SIZE || options->size > WP_SHAPES_MAX_SIZE) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "scene size %d is outside %d..%d pixels",
                 options->size, WP_SHAPES_MIN_SIZE, WP_SHAPES_MAX_SIZE);
    return FALSE;
  }
  if (count == 0) {
    g_set_error (error, WP_ERROR, WP_ERROR_INVALID, "%s: a dataset needs at least one scene", dir);
    return FALSE;
  }
  captions_path = g_build_filename (dir, "captions.jsonl", NULL);
  if (g_file_test (captions_path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                 "%s already holds a captions.jsonl; not overwriting it (choose a new folder)",
                 dir);
    return FALSE;
  }
  images_dir = g_build_filename (dir, "images", NULL);
  if (g_mkdir_with_parents (images_dir, 0777) != 0)
    return set_errno_error (error, errno, images_dir, "cannot create the folder");
  tmp_path = g_strdup_printf ("%s.XXXXXX", captions_path);
  fd = g_mkstemp_full (tmp_path, O_WRONLY, 0666);
  if (fd < 0)
    return set_errno_error (error, errno, captions_path,
                            "cannot create a temporary file to write it");
  fp = fdopen (fd, "w");
  if (fp == NULL) {
    const int saved_errno = errno;

    close (fd);
    g_unlink (tmp_path);
    return set_errno_error (error, saved_errno, captions_path, "cannot write");
  }

  for (guint64 n = count - 1; n >= 1000000 && digits < 20; n /= 10)
    digits++;
  text = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < count; i++) {
    g_autoptr (WpShapesScene) scene = wp_shapes_scene_new (options, i);
    g_autofree char *name = g_strdup_printf ("images/%0*u.png", digits, i);
    g_autofree char *path = g_build_filename (dir, name, NULL);
    g_autofree char *comment = g_strdup_printf (
      "wordpatch shapes: seed %" G_GUINT64_FORMAT ", %s split, scene %u", options->seed,
      options->split == WP_SHAPES_SPLIT_TRAIN ? "train" : "test", i);
    g_autofree char *line = NULL;

    g_hash_table_insert (text, "Description", scene->caption);
    g_hash_table_insert (text, "Comment", comment);
    if (!wp_image_save_png (scene->image, path, text, error)) {
      fclose (fp);
      g_unlink (tmp_path);
      return FALSE;
    }
    g_hash_table_remove_all (text);
    line = wp_shapes_scene_to_json (scene, name);
    if (fputs (line, fp) < 0 || fputc ('\n', fp) < 0) {
      const int saved_errno = errno;

      fclose (fp);
      g_unlink (tmp_path);
      return set_errno_error (error, saved_errno, captions_path, "cannot write");
    }
  }
  if (fflush (fp) != 0 || ferror (fp)) {
    const int saved_errno = errno;

    fclose (fp);
    g_unlink (tmp_path);
    return set_errno_error (error, saved_errno, captions_path, "cannot write");
  }
  if (fclose (fp) != 0) {
    const int saved_errno = errno;

    g_unlink (tmp_path);
    return set_errno_error (error, saved_errno, captions_path, "cannot write");
  }
  if (g_rename (tmp_path, captions_path) != 0) {
    const int saved_errno = errno;

    g_unlink (tmp_path);
    return set_errno_error (error, saved_errno, captions_path,
                            "cannot move the written file into place");
  }
  return TRUE;
}
