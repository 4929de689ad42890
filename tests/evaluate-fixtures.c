/* evaluate-fixtures.c: what the test-evaluate*.c programs share (evaluate-fixtures.h). */
#include "evaluate-fixtures.h"

#include <math.h>

static WpModel *tiny_model;

const WpModel *
get_model (void)
{
  if (tiny_model == NULL) {
    g_autoptr (GError) error = NULL;
    WpTokenizer *tokenizer = wp_test_clip_tokenizer ();
    WpClipConfig config;

    wp_clip_config_init_preset (&config, "tiny", wp_tokenizer_get_n_vocab (tokenizer), &error);
    g_assert_no_error (error);
    tiny_model = wp_model_new_random (&config, tokenizer, 11, &error);
    g_assert_no_error (error);
  }
  return tiny_model;
}

WpImage *
make_image (int width,
            int height,
            int seed)
{
  WpImage *image = wp_image_new (width, height);

  for (int y = 0; y < height; y++) {
    for (int x = 0; x < width; x++) {
      guint8  *p = image->rgb + ((gsize) y * width + x) * 3;
      gboolean disc = (x - width / 3) * (x - width / 3) + (y - height / 2) * (y - height / 2) <
                      (width / 5) * (width / 5);

      p[0] = (guint8) ((x * 255 / width + 60 * seed) % 256);
      p[1] = disc ? (guint8) (40 * seed) : (guint8) (y * 255 / height);
      p[2] = (guint8) ((x + y + 90 * seed) % 256);
    }
  }
  return image;
}

void
clear_model (void)
{
  g_clear_pointer (&tiny_model, wp_model_free);
}

double
naive_cosine (const float *a,
              const float *b,
              int          E)
{
  double dot = 0.0, na = 0.0, nb = 0.0;

  for (int e = 0; e < E; e++) {
    dot += (double) a[e] * b[e];
    na += (double) a[e] * a[e];
    nb += (double) b[e] * b[e];
  }
  return dot / (fmax (sqrt (na), 1e-6) * fmax (sqrt (nb), 1e-6));
}
