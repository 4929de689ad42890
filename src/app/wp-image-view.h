/* wp-image-view.h: the Explore page's figure: the image with its word maps, or a comparison of two
 * models or of methods, drawn by figure.h's wp_figure_draw() (the same function that writes PNG,
 * SVG and PDF), and what is under the pointer or the keyboard's patch cursor.
 *
 * "readout" (a string property) describes the spot last pointed at, with the mouse or with the
 * arrow keys (wp_figure_describe_spot()); it always describes the figure drawn: when the figure
 * changes it is described again at the same place, and it is empty where there is no map. The
 * view zooms (scroll, +, -; 0 or a double click resets) and pans (drag); the arrow keys move the
 * patch cursor within a panel, Page Up and Page Down between panels, Escape hides it. While newer
 * maps are computed the figure shown is marked stale (dimmed, "updating…"). */
#pragma once

#include <gtk/gtk.h>

#include "figure.h"

G_BEGIN_DECLS

#define WP_TYPE_IMAGE_VIEW (wp_image_view_get_type ())
G_DECLARE_FINAL_TYPE (WpImageView, wp_image_view, WP, IMAGE_VIEW, GtkWidget)

/* The figure shown from now on; the view draws nothing but white while it has no image or no
 * maps. The view copies the caption, the word list and the method list and borrows the rest (the
 * image, the maps, the labels), which the caller keeps alive until the next call or the view's
 * disposal. */
void wp_image_view_set_figure (WpImageView    *self,
                               const WpFigure *figure);
/* The figure shown, as given to wp_image_view_set_figure(). */
const WpFigure *wp_image_view_get_figure (WpImageView *self);
const char     *wp_image_view_get_readout (WpImageView *self);

/* Whether the figure shown is older than what was asked for (newer maps are being computed). */
void     wp_image_view_set_stale (WpImageView *self,
                                  gboolean     stale);
gboolean wp_image_view_get_stale (WpImageView *self);

/* Moves the patch cursor by panels, rows and columns (within the panel), starting at the first
 * panel's middle patch; the read-out follows. FALSE when the figure has no map. */
gboolean wp_image_view_move_cursor (WpImageView *self,
                                    int          panels,
                                    int          rows,
                                    int          cols);
/* Zooms by factor about (x, y) in the view (1 at most: the whole figure), panning to keep that
 * point where it is. */
void   wp_image_view_zoom (WpImageView *self,
                           double       factor,
                           double       x,
                           double       y);
double wp_image_view_get_zoom (WpImageView *self);

G_END_DECLS
