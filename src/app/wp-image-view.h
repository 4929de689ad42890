/* wp-image-view.h: the Explore page's figure: the image with its word maps, or a comparison of two
 * models, drawn by figure.h's wp_figure_draw() (the same function that writes PNG, SVG and PDF),
 * and what the pointer is over. Hovering a map sets "readout" (a string property): the patch's
 * row and column and the values of the words shown there; outside every map it is empty. */
#pragma once

#include <gtk/gtk.h>

#include "figure.h"

G_BEGIN_DECLS

#define WP_TYPE_IMAGE_VIEW (wp_image_view_get_type ())
G_DECLARE_FINAL_TYPE (WpImageView, wp_image_view, WP, IMAGE_VIEW, GtkWidget)

/* The figure shown from now on; the view draws nothing but white while it has no image or no
 * maps. The view copies the caption and the word list and borrows the rest (the image, the maps,
 * the labels), which the caller keeps alive until the next call or the view's disposal. */
void wp_image_view_set_figure (WpImageView    *self,
                               const WpFigure *figure);
/* The figure shown, as given to wp_image_view_set_figure(). */
const WpFigure *wp_image_view_get_figure (WpImageView *self);
const char     *wp_image_view_get_readout (WpImageView *self);

G_END_DECLS
