#include "shapes-words.h"

const char *const colours[8] = { "red", "green", "blue", "yellow",
                                 "purple", "orange", "pink", "white" };
const char *const shapes[6] = { "circle", "square", "triangle", "star", "cross", "diamond" };
const char *const plurals[6] = { "circles", "squares", "triangles",
                                 "stars", "crosses", "diamonds" };
const char *const held_out[8] = { "star", "cross", "triangle", "diamond",
                                  "circle", "square", "diamond", "star" };

WpShapesOptions
wp_test_shapes_options (WpShapesSplit split,
                        guint64       seed)
{
  WpShapesOptions options;

  wp_shapes_options_init (&options);
  options.split = split;
  options.seed = seed;
  return options;
}
