/* map-options.h: the options heatmap and eval share to choose map methods, their queries and how
 * the image is seen (--method, --query, --template, --surgery, --legrad-layers, --crop,
 * --resolution). */
#pragma once

#include <glib.h>

#include "wordpatch/wordpatch.h"

G_BEGIN_DECLS

typedef struct {
  /* As parsed by GOption. */
  char    *method;
  char    *query;
  char    *template_text;
  char    *crop;
  gboolean surgery;
  gint     legrad_layers;
  gint     resolution;
  /* Set by wp_cli_map_args_finish(). */
  WpMapOptions  maps; /* methods: those named, and filip and sparc (the JSON always has them) */
  WpViewOptions view;
  WpMapMethod   order[WP_N_MAP_METHODS]; /* the methods as named */
  int           n_order;
  gboolean      labels; /* "labels" was named: their label maps */
} WpCliMapArgs;

void wp_cli_map_args_init (WpCliMapArgs *args);
void wp_cli_map_args_clear (WpCliMapArgs *args);
/* A new NULL-terminated array: entries followed by the map options, which parse into args. */
GOptionEntry *wp_cli_map_args_entries (WpCliMapArgs       *args,
                                       const GOptionEntry *entries) G_GNUC_WARN_UNUSED_RESULT;
/* Checks what was parsed and fills the parsed half of args; a usage error names the option. */
gboolean wp_cli_map_args_finish (WpCliMapArgs  *args,
                                 const WpModel *model,
                                 GError       **error);
/* The methods as named, with ",labels" when asked: the JSON's and the figure's record. */
char *wp_cli_map_args_to_string (const WpCliMapArgs *args) G_GNUC_WARN_UNUSED_RESULT;

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (WpCliMapArgs, wp_cli_map_args_clear)

G_END_DECLS
