/* shapes-private.h: what the scene generator's files share. A scene is a Plan: its captioned
 * groups and its objects, each with an outline, colours and coverage masks. shapes_plan.c makes
 * it (planning, colouring, placing, coverage); shapes_background.c draws what lies behind it;
 * shapes.c turns it into an image, a caption with boxes, and files.
 *
 * Coordinates are in pixels with y down; pixel (x, y) covers [x, x + 1) x [y, y + 1). */
#pragma once

#include <glib.h>

#include "shapes.h"
#include "wordpatch/rng.h"

G_BEGIN_DECLS

#define SUPERSAMPLE  4
#define MAX_VERTICES 12
#define MAX_GROUPS   2

typedef enum {
  RELATION_NONE,
  RELATION_ABOVE,
  RELATION_BELOW,
  RELATION_LEFT_OF,
  RELATION_RIGHT_OF,
  N_RELATIONS,
} Relation;

typedef enum {
  TEMPLATE_ONE,         /* a C S */
  TEMPLATE_AND,         /* a C S and a C S */
  TEMPLATE_RELATION,    /* a C S REL a C S */
  TEMPLATE_MANY,        /* two / three C Ss */
  TEMPLATE_MANY_AND_ONE /* two C Ss and a C S, in either order */
} Template;

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

/* The draws every step takes from the scene's one WpRng. */
static inline double
uniform (WpRng *rng,
         double lo,
         double hi)
{
  return lo + (hi - lo) * wp_rng_uniform (rng);
}

/* Uniform in 0..n-1. */
static inline int
pick (WpRng *rng,
      int    n)
{
  return (int) (wp_rng_uniform (rng) * n);
}

static inline gboolean
chance (WpRng *rng,
        double p)
{
  return wp_rng_uniform (rng) < p;
}

void wp_shapes_hsv_to_rgb (double  h,
                           double  s,
                           double  v,
                           double *rgb);

/* A plan whose objects are all coloured, placed and given their coverage and visible boxes.
 * transmittance: S * S scratch. Free the masks with wp_shapes_clear_plan(). */
void wp_shapes_make_plan (Plan         *plan,
                          WpRng        *rng,
                          WpShapesSplit split,
                          int           S,
                          float        *transmittance);
void wp_shapes_clear_plan (Plan *plan);

/* canvas: (S, S, 3) in [0, 1], far in colour from every object of plan. */
void wp_shapes_render_background (float        *canvas,
                                  WpRng        *rng,
                                  const Plan   *plan,
                                  int           S,
                                  WpShapesSplit split);

G_END_DECLS
