/* cmd-bench.c: `wordpatch-cli bench`, how fast the engine runs on this machine: each tower's
 * forward pass, a whole training step, the app's caption-edit-to-maps path, the memory it took
 * and how close the training step comes to the machine's own sgemm speed. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

/* Untimed runs before each measurement: the first run pays page faults on fresh buffers and
 * OpenBLAS's thread start-up, which no later run does. */
#define BENCH_WARMUP 1

/* Ten words the CLIP vocabulary holds as one token each: 12 tokens with the start and end
 * tokens, a typical caption length. Every caption of the batches is this one. */
static const char bench_caption[] = "a red circle and a big blue square on grass";

typedef struct {
  WpModel          *model;
  int               B, T;
  float            *pixels;  /* (B, 3, S, S) */
  int              *ids;     /* (B, T) */
  int              *lengths; /* (B) */
  WpVisionState    *vision;
  WpTextState      *text;
  WpImageEmbedding *image; /* the heatmap's precomputed image side */
  WpLossState      *loss;
  WpLossOptions     loss_options;
  float            *grads;
  WpParams          grad_views;
  WpAdamW          *adamw;
  WpAdamWOptions    adamw_options;
} Bench;

typedef gboolean (*BenchStep) (Bench   *bench,
                               GError **error);

static gboolean
vision_step (Bench   *bench,
             GError **error)
{
  wp_vision_forward (bench->model, bench->vision, bench->pixels, bench->B);
  return TRUE;
}

static gboolean
text_step (Bench   *bench,
           GError **error)
{
  wp_text_forward (bench->model, bench->text, bench->ids, bench->lengths, bench->B, bench->T);
  return TRUE;
}

/* What the app does on each caption edit once the image is embedded. */
static gboolean
heatmap_step (Bench   *bench,
              GError **error)
{
  g_autoptr (WpTextEmbedding) text = wp_embed_text (bench->model, bench_caption);
  g_autoptr (WpWordMaps) maps = wp_word_maps_new (bench->model, bench->image, text);

  return maps != NULL;
}

/* One step of the training loop as trainer.c runs it, data loading aside. */
static gboolean
train_step (Bench   *bench,
            GError **error)
{
  WpLossParts parts;
  double      norm;

  memset (bench->grads, 0, bench->model->n_params * sizeof (float));
  if (!wp_loss_compute (bench->model, bench->loss, &bench->loss_options, bench->pixels, bench->ids,
                        bench->lengths, bench->B, bench->T, NULL, &bench->grad_views, &parts,
                        error))
    return FALSE;
  norm = wp_adamw_update (bench->adamw, bench->model, bench->grads, &bench->adamw_options);
  if (!isfinite (norm)) {
    g_set_error (error, WP_ERROR, WP_ERROR_NOT_FINITE, "the gradient is not finite (norm %g)",
                 norm);
    return FALSE;
  }
  return TRUE;
}

static int
compare_doubles (const void *a,
                 const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* The median is robust to the odd run slowed by another process, which a mean is not. */
double
wp_bench_median (double *values,
                 int     n)
{
  qsort (values, n, sizeof (double), compare_doubles);
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

/* Median wall-clock seconds of iterations runs of step, after BENCH_WARMUP untimed ones. */
static gboolean
time_median (Bench    *bench,
             BenchStep step,
             int       iterations,
             double   *seconds,
             GError  **error)
{
  g_autofree double *runs = g_new (double, iterations);

  for (int i = -BENCH_WARMUP; i < iterations; i++) {
    const gint64 start = g_get_monotonic_time ();

    if (!step (bench, error))
      return FALSE;
    if (i >= 0)
      runs[i] = (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
  }
  *seconds = wp_bench_median (runs, iterations);
  return TRUE;
}

/* Floating-point operations of the matrix products, counted from the configuration: a product
 * of an (M, K) and a (K, N) matrix is 2 M N K. One encoder layer over T tokens of width C with
 * MLP width I: the q, k, v and output projections 4 x 2 T C C, the MLP 2 x 2 T C I, attention's
 * scores and weighted values 2 x 2 T T C (summed over heads). */
static double
encoder_flops (const WpTowerConfig *tower,
               double               T)
{
  /* Not I: cblas.h brings in complex.h, whose I is the imaginary unit. */
  const double C = tower->width, mlp = tower->mlp_width;

  return tower->n_layers * (2.0 * T * (4.0 * C * C + 2.0 * C * mlp) + 4.0 * T * T * C);
}

/* One image: the patch embedding 2 P (3 p p) Cv, the encoder over P + 1 tokens and the
 * projection of every token 2 (P + 1) Cv E. */
static double
vision_flops (const WpClipConfig *config)
{
  const double P = wp_clip_config_n_patches (config), p = config->patch_size;
  const double C = config->vision.width, E = config->projection_dim;

  return 2.0 * P * 3.0 * p * p * C + encoder_flops (&config->vision, P + 1.0) +
         2.0 * (P + 1.0) * C * E;
}

/* One caption of T tokens: the encoder and the projection of every token 2 T Ct E. */
static double
text_flops (const WpClipConfig *config,
            double              T)
{
  return encoder_flops (&config->text, T) + 2.0 * T * config->text.width * config->projection_dim;
}

/* The objective's similarity products for B pairs of P patches and T tokens: CLIP's B x B
 * cosines 2 B B E; FILIP's patch-token block of every image-caption pair 2 B B P T E; SPARC's
 * CLIP part plus, per pair, the token-patch similarities and the aligned patch embeddings
 * (2 x 2 T P E) and the token-to-token logits 2 T T E (with batch negatives those of the
 * whole batch, 2 (B T)^2 E); with image or pair negatives the
 * similarities and aligned embeddings of every caption with every image (B B 4 T P E) and one
 * cosine a token and image (B B 2 T E). */
static double
objective_flops (const WpClipConfig  *config,
                 const WpLossOptions *loss,
                 double               B,
                 double               T)
{
  const double P = wp_clip_config_n_patches (config), E = config->projection_dim;

  switch (loss->objective) {
  case WP_OBJECTIVE_CLIP:
  case WP_OBJECTIVE_SIGMOID:
    return 2.0 * B * B * E;
  case WP_OBJECTIVE_FILIP:
    return 2.0 * B * B * P * T * E;
  case WP_OBJECTIVE_SPARC:
  default:
    if (loss->sparc_negatives == WP_SPARC_NEGATIVES_CAPTION)
      return 2.0 * B * B * E + B * (4.0 * T * P * E + 2.0 * T * T * E);
    if (loss->sparc_negatives == WP_SPARC_NEGATIVES_BATCH)
      return 2.0 * B * B * E + B * 4.0 * T * P * E + 2.0 * B * T * B * T * E;
    return 2.0 * B * B * E + B * B * (4.0 * T * P * E + 2.0 * T * E);
  }
}

/* A training step is counted as three forward passes: the backward pass of a product computes
 * the gradients of both its inputs, two products of the forward's size (the usual convention;
 * it slightly overstates the patch embedding, which has no pixel gradient, and FILIP, whose
 * gradient flows only through its arg-maxes). SPARC's image and pair negatives compute their
 * groupings again in the backward, which is not counted. */
static double
train_flops (const WpClipConfig  *config,
             const WpLossOptions *loss,
             int                  B,
             int                  T)
{
  return 3.0 * (B * (vision_flops (config) + text_flops (config, T)) +
                objective_flops (config, loss, B, T));
}

/* This machine's matrix-product speed with the same library and threads: the best of several
 * square single-precision products of two sizes, in GFLOP/s. */
static double
sgemm_peak_gflops (WpRng *rng)
{
  const int sizes[] = { 1024, 2048 };
  const int repeats[] = { 5, 3 };
  double    best = 0.0;

  for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++) {
    const int         n = sizes[s];
    const gsize       nn = (gsize) n * n;
    g_autofree float *a = g_new (float, nn);
    g_autofree float *b = g_new (float, nn);
    g_autofree float *c = g_new0 (float, nn);

    for (gsize i = 0; i < nn; i++) {
      a[i] = (float) wp_rng_normal (rng);
      b[i] = (float) wp_rng_normal (rng);
    }
    for (int r = -BENCH_WARMUP; r < repeats[s]; r++) {
      const gint64 start = g_get_monotonic_time ();
      double       seconds;

      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                   n);
      seconds = (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC;
      if (r >= 0 && seconds > 0.0)
        best = MAX (best, 2.0 * n * n * n / seconds / 1e9);
    }
  }
  return best;
}

/* The largest resident set the process has had, in MB of 2^20 bytes (ru_maxrss is in KiB on
 * Linux). */
static double
peak_rss_mb (void)
{
  struct rusage usage;

  if (getrusage (RUSAGE_SELF, &usage) != 0)
    return 0.0;
  return usage.ru_maxrss / 1024.0;
}

typedef struct {
  const char   *config_name; /* NULL for --model */
  const char   *model_path;  /* NULL for --config */
  WpLossOptions loss;        /* the training step's objective and its options */
  int           B, T, threads, iterations;
  gsize         n_params;
  double        image_s, text_s, heatmap_s, train_s;
  double        train_flop, sgemm_gflops, rss_mb;
} BenchResult;

static void
add_int (JsonBuilder *builder,
         const char  *name,
         gint64       value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

static void
add_string (JsonBuilder *builder,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (builder, name);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

static void
print_json (const BenchResult *r)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  const double train_gflops = r->train_flop / r->train_s / 1e9;

  json_builder_begin_object (builder);
  add_string (builder, "config", r->config_name);
  add_string (builder, "model", r->model_path);
  add_string (builder, "loss", wp_objective_to_string (r->loss.objective));
  if (r->loss.objective == WP_OBJECTIVE_SPARC) {
    add_string (builder, "sparc_negatives", wp_sparc_negatives_names[r->loss.sparc_negatives]);
    wp_cli_add_number (builder, "sparc_threshold", r->loss.sparc_threshold);
  }
  add_int (builder, "batch", r->B);
  add_int (builder, "threads", r->threads);
  add_int (builder, "iterations", r->iterations);
  add_int (builder, "warmup", BENCH_WARMUP);
  add_int (builder, "caption_tokens", r->T);
  add_int (builder, "parameters", (gint64) r->n_params);
  wp_cli_add_number (builder, "image_fwd_ms", r->image_s * 1e3);
  wp_cli_add_number (builder, "image_fwd_per_s", r->B / r->image_s);
  wp_cli_add_number (builder, "text_fwd_ms", r->text_s * 1e3);
  wp_cli_add_number (builder, "text_fwd_per_s", r->B / r->text_s);
  wp_cli_add_number (builder, "train_step_ms", r->train_s * 1e3);
  wp_cli_add_number (builder, "train_pairs_per_s", r->B / r->train_s);
  wp_cli_add_number (builder, "heatmap_ms", r->heatmap_s * 1e3);
  wp_cli_add_number (builder, "train_gflop_per_step", r->train_flop / 1e9);
  wp_cli_add_number (builder, "train_gflops", train_gflops);
  wp_cli_add_number (builder, "sgemm_peak_gflops", r->sgemm_gflops);
  wp_cli_add_number (builder, "train_fraction_of_peak", train_gflops / r->sgemm_gflops);
  wp_cli_add_number (builder, "peak_rss_mb", r->rss_mb);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  wp_cli_print_json (root);
}

static void
print_table (const BenchResult *r)
{
  const double train_gflops = r->train_flop / r->train_s / 1e9;

  printf ("%s (%.2f M parameters), %s loss%s%s, batch %d, captions of %d tokens, %d thread%s\n",
          r->config_name != NULL ? r->config_name : r->model_path, r->n_params / 1e6,
          wp_objective_to_string (r->loss.objective),
          r->loss.objective == WP_OBJECTIVE_SPARC ? " with negatives " : "",
          r->loss.objective == WP_OBJECTIVE_SPARC
            ? wp_sparc_negatives_names[r->loss.sparc_negatives]
            : "",
          r->B, r->T, r->threads, r->threads == 1 ? "" : "s");
  printf ("median of %d run%s after %d warm-up\n\n", r->iterations, r->iterations == 1 ? "" : "s",
          BENCH_WARMUP);
  printf ("%-32s %10.2f ms   %10.1f images/s\n", "image encoder forward (batch)", r->image_s * 1e3,
          r->B / r->image_s);
  printf ("%-32s %10.2f ms   %10.1f captions/s\n", "text encoder forward (batch)", r->text_s * 1e3,
          r->B / r->text_s);
  printf ("%-32s %10.2f ms   %10.1f pairs/s\n", "training step (loss + AdamW)", r->train_s * 1e3,
          r->B / r->train_s);
  printf ("%-32s %10.2f ms\n", "caption edit to word maps", r->heatmap_s * 1e3);
  printf ("%-32s %10.1f GFLOP/s (%.1f GFLOP a step)\n", "training matrix products", train_gflops,
          r->train_flop / 1e9);
  printf ("%-32s %10.1f GFLOP/s\n", "sgemm peak (1024, 2048)", r->sgemm_gflops);
  printf ("%-32s %10.1f %%\n", "training / sgemm peak", 100.0 * train_gflops / r->sgemm_gflops);
  printf ("%-32s %10.1f MB\n", "peak resident memory", r->rss_mb);
}

static WpModel *
new_random_model (const char *config_name,
                  GError    **error)
{
  g_autofree char *vocab_dir = wp_data_find ("clip-bpe");
  g_autofree char *vocab_path = NULL;
  g_autofree char *merges_path = NULL;
  WpTokenizer     *tokenizer;
  WpClipConfig     config;

  if (vocab_dir == NULL) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                 "the bundled CLIP vocabulary (data/clip-bpe) is missing; use --model DIR");
    return NULL;
  }
  vocab_path = g_build_filename (vocab_dir, "vocab.json", NULL);
  merges_path = g_build_filename (vocab_dir, "merges.txt", NULL);
  tokenizer = wp_tokenizer_new_from_files (vocab_path, merges_path, error);
  if (tokenizer == NULL)
    return NULL;
  /* A SigLIP size keeps CLIP's vocabulary: the benchmark's text is ids, whatever their pieces. */
  if (!wp_cli_config_init_preset (&config, config_name, wp_tokenizer_get_n_vocab (tokenizer),
                                  error)) {
    g_prefix_error (error, "--config: ");
    wp_tokenizer_free (tokenizer);
    return NULL;
  }
  return wp_model_new_random (&config, tokenizer, 1, error);
}

/* Normalised-pixel-like inputs and B copies of the benchmark caption. */
static void
fill_batch (Bench *bench,
            WpRng *rng)
{
  const WpClipConfig *config = &bench->model->config;
  const gsize         n_pixels = (gsize) bench->B * 3 * config->image_size * config->image_size;
  const int           K = config->context_length;
  g_autofree int     *caption = g_new (int, K);
  const int           n =
    wp_tokenizer_encode (bench->model->tokenizer, bench_caption, caption, NULL, K);

  /* SigLIP's text tower runs on the whole context, its padding included. */
  bench->T = wp_text_run_length (config, n);
  for (int t = n; t < bench->T; t++)
    caption[t] = wp_tokenizer_get_pad_id (bench->model->tokenizer);
  bench->pixels = g_new (float, n_pixels);
  for (gsize i = 0; i < n_pixels; i++)
    bench->pixels[i] = (float) wp_rng_normal (rng);
  bench->ids = g_new (int, (gsize) bench->B * bench->T);
  bench->lengths = g_new (int, bench->B);
  for (int b = 0; b < bench->B; b++) {
    memcpy (bench->ids + (gsize) b * bench->T, caption, (gsize) bench->T * sizeof (int));
    bench->lengths[b] = n;
  }
}

/* A square test picture at the model's input size (no resampling), for the heatmap's image. */
static WpImageEmbedding *
embed_test_image (const WpModel *model)
{
  const int S = model->config.image_size;
  g_autoptr (WpImage) image = wp_image_new (S, S);

  for (int y = 0; y < S; y++) {
    for (int x = 0; x < S; x++) {
      guint8 *px = image->rgb + ((gsize) y * S + x) * 3;

      px[0] = (guint8) (255 * x / S);
      px[1] = (guint8) (255 * y / S);
      px[2] = (guint8) ((x / 8 + y / 8) % 2 * 200);
    }
  }
  return wp_embed_image (model, image);
}

static void
bench_clear (Bench *bench)
{
  g_clear_pointer (&bench->model, wp_model_free);
  g_clear_pointer (&bench->pixels, g_free);
  g_clear_pointer (&bench->ids, g_free);
  g_clear_pointer (&bench->lengths, g_free);
  g_clear_pointer (&bench->vision, wp_vision_state_free);
  g_clear_pointer (&bench->text, wp_text_state_free);
  g_clear_pointer (&bench->image, wp_image_embedding_free);
  g_clear_pointer (&bench->loss, wp_loss_state_free);
  g_clear_pointer (&bench->grads, g_free);
  g_clear_pointer (&bench->adamw, wp_adamw_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Bench, bench_clear)

/* Each measurement allocates its own buffers and frees them after, so the peak resident memory
 * is that of the largest one (training), as in a real run. */
static gboolean
run_bench (Bench       *bench,
           BenchResult *r,
           GError     **error)
{
  const WpClipConfig *config = &bench->model->config;
  WpRng               rng;

  if (!wp_loss_state_check_fits (config, bench->B, error))
    return FALSE;
  wp_rng_init (&rng, 1);
  fill_batch (bench, &rng);
  r->T = bench->T;
  r->n_params = bench->model->n_params;

  bench->vision = wp_vision_state_new (config, bench->B);
  if (!time_median (bench, vision_step, r->iterations, &r->image_s, error))
    return FALSE;
  g_clear_pointer (&bench->vision, wp_vision_state_free);

  bench->text = wp_text_state_new (config, bench->B);
  if (!time_median (bench, text_step, r->iterations, &r->text_s, error))
    return FALSE;
  g_clear_pointer (&bench->text, wp_text_state_free);

  /* Before training, which changes the weights. */
  bench->image = embed_test_image (bench->model);
  if (!time_median (bench, heatmap_step, r->iterations, &r->heatmap_s, error))
    return FALSE;
  g_clear_pointer (&bench->image, wp_image_embedding_free);

  bench->loss = wp_loss_state_new (config, bench->B);
  bench->loss_options = r->loss;
  bench->grads = g_new0 (float, bench->model->n_params);
  wp_params_init_views (&bench->grad_views, config, bench->model->specs, bench->grads);
  bench->adamw = wp_adamw_new (bench->model->n_params);
  wp_adamw_options_init (&bench->adamw_options, BENCH_WARMUP + r->iterations);
  if (!time_median (bench, train_step, r->iterations, &r->train_s, error)) {
    g_prefix_error (error, "training step: ");
    return FALSE;
  }
  r->train_flop = train_flops (config, &r->loss, bench->B, bench->T);
  g_clear_pointer (&bench->loss, wp_loss_state_free);
  g_clear_pointer (&bench->grads, g_free);
  g_clear_pointer (&bench->adamw, wp_adamw_free);

  r->sgemm_gflops = sgemm_peak_gflops (&rng);
  r->rss_mb = peak_rss_mb ();
  return TRUE;
}

/* train's settings of the objective, which the training step takes. */
static const char *const loss_settings[] = { WP_CLI_OBJECTIVE_SETTINGS, NULL };

int
wp_cli_bench (int    argc,
              char **argv)
{
  g_autofree char *config_name = NULL;
  g_autofree char *model_path = NULL;
  g_autofree char *objective_name = NULL;
  gint             B = 32, threads = 0, iterations = 10;
  gboolean         json = FALSE, maps = FALSE;
  GOptionEntry     entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_STRING, &config_name,
          "A model with random weights of this size: tiny, small, vit-b16, vit-b32, "
              "siglip-tiny, siglip-small or siglip-b16 (default tiny)",
          "SIZE" },
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
          "Or this model folder or .safetensors file", "DIR" },
        { "loss", 'l', 0, G_OPTION_ARG_STRING, &objective_name,
          "Objective of the training step: clip, filip, sparc or sigmoid (default sparc)", "NAME" },
        { "batch", 'b', 0, G_OPTION_ARG_INT, &B, "Images, captions and pairs a batch (default 32)",
          "B" },
        { "threads", 't', 0, G_OPTION_ARG_INT, &threads,
          "Threads of the engine: OpenBLAS's and its own pool's (default: all processors)", "T" },
        { "iterations", 'n', 0, G_OPTION_ARG_INT, &iterations,
          "Timed runs of each measurement, after one warm-up (default 10)", "N" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object", NULL },
        { "maps", 0, 0, G_OPTION_ARG_NONE, &maps,
          "Time the map methods instead (--method, default all; --crop, --resolution, ...)", NULL },
        { NULL }
  };
  g_autoptr (GError) error = NULL;
  g_auto (Bench) bench = { 0 };
  g_auto (WpCliMapArgs) map_args;
  g_auto (WpCliSettings) cs;
  g_autofree GOptionEntry *all_entries = NULL;
  BenchResult              result = { 0 };

  /* The objective's options are the training settings' own, so the step is the one train
   * would take. */
  wp_cli_map_args_init (&map_args);
  wp_cli_settings_init (&cs, FALSE);
  all_entries = wp_cli_map_args_entries (&map_args, entries);
  if (!wp_cli_parse_group (&argc, &argv, "bench",
                           "time the towers, a training step and the word maps",
                           wp_cli_settings_group (&cs, loss_settings, all_entries)))
    return 2;
  if (config_name != NULL && model_path != NULL)
    return wp_cli_usage_error ("bench", "give --config or --model, not both");
  if (config_name != NULL && !wp_cli_check_size ("bench", config_name))
    return 2;
  result.loss = cs.settings.loss;
  if (objective_name != NULL && !wp_objective_from_string (objective_name, &result.loss.objective))
    return wp_cli_usage_error ("bench", "unknown --loss '%s' (clip, filip, sparc or sigmoid)",
                               objective_name);
  if (objective_name == NULL)
    result.loss.objective = WP_OBJECTIVE_SPARC;
  if (!wp_loss_options_check (&result.loss, &error))
    return wp_cli_usage_error ("bench", "%s", error->message);
  if (B < 1 || B > 4096)
    return wp_cli_usage_error ("bench", "--batch must be in 1..4096, not %d", B);
  if (threads < 0 || threads > WP_MAX_THREADS)
    return wp_cli_usage_error ("bench", "--threads must be in 0..%d (0: all processors), not %d",
                               WP_MAX_THREADS, threads);
  if (iterations < 1 || iterations > 100000)
    return wp_cli_usage_error ("bench", "--iterations must be in 1..100000, not %d",
                               iterations);

  if (model_path != NULL) {
    bench.model = wp_model_load (model_path, &error);
    if (bench.model == NULL)
      return wp_cli_fail (error);
  } else {
    if (config_name == NULL)
      config_name = g_strdup ("tiny");
    bench.model = new_random_model (config_name, &error);
    if (bench.model == NULL)
      return wp_cli_fail (error);
  }
  wp_set_threads (threads);
  if (maps) {
    if (map_args.method == NULL)
      map_args.method = g_strdup ("all");
    if (!wp_cli_map_args_finish (&map_args, bench.model, &error))
      return wp_cli_usage_error ("bench", "%s", error->message);
    return wp_cli_bench_maps (bench.model, model_path != NULL ? model_path : config_name,
                              &map_args, threads, iterations, json);
  }
  bench.B = B;
  result.config_name = config_name;
  result.model_path = model_path;
  result.B = B;
  result.threads = wp_get_threads ();
  result.iterations = iterations;
  if (!run_bench (&bench, &result, &error))
    return wp_cli_fail (error);
  if (json)
    print_json (&result);
  else
    print_table (&result);
  return 0;
}
