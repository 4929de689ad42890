/* test-siglip.c: SigLIP's configuration, its SentencePiece tokenizer (on a vocabulary trained
 * here), its folders written and read back, what SigLIP refuses, and the CLI on SigLIP. The
 * numerics are checked against an independent torch reference in tests/parity (embeddings, maps,
 * the sigmoid loss) and by finite differences in test-towers.c and test-objectives.c. */
#include <glib/gstdio.h>
#include <string.h>

#include "cli-harness.h"
#include "spiece-train.h"
#include "test-util.h"
#include "wordpatch/error.h"
#include "wordpatch/loss.h"
#include "wordpatch/model.h"
#include "wordpatch/tokenizer.h"

static const char *const texts[] = {
  "a photo of a cat",
  "a red circle above a blue square",
  "two dogs playing in the park",
  "the small green triangle next to a large yellow star",
  "a person riding a bicycle down the street",
  "three birds sitting on a wooden fence",
  "a bowl of fruit on a kitchen table",
  "children playing football on the grass",
};

static WpTokenizer *
trained_tokenizer (gboolean with_end)
{
  g_autoptr (GPtrArray) lines = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *proto = NULL;
  WpTokenizer     *tokenizer;
  gsize            len;

  /* Enough repetitions for the trainer's pieces. */
  for (int r = 0; r < 40; r++) {
    for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
      g_ptr_array_add (lines, (gpointer) texts[i]);
  }
  proto = wp_test_train_spiece ((const char *const *) lines->pdata, lines->len, 80, with_end,
                                &len);
  tokenizer = wp_tokenizer_new_sentencepiece (proto, len, &error);
  g_assert_no_error (error);
  return tokenizer;
}

static void
test_config_defaults_and_round_trip (void)
{
  static const char json[] = "{\"model_type\": \"siglip\", \"text_config\": {\"vocab_size\": 100},"
                             " \"vision_config\": {\"image_size\": 32, \"patch_size\": 8}}";
  g_autoptr (GError) error = NULL;
  g_autofree char *written = NULL;
  WpClipConfig     config, again;

  g_assert_true (wp_clip_config_parse (&config, json, strlen (json), &error));
  g_assert_no_error (error);
  g_assert_cmpint (config.family, ==, WP_MODEL_FAMILY_SIGLIP);
  g_assert_cmpint (config.vision.width, ==, 768);
  g_assert_cmpint (config.projection_dim, ==, 768);
  g_assert_cmpint (config.context_length, ==, 64);
  g_assert_cmpint (config.text.activation, ==, WP_ACTIVATION_GELU_TANH);
  g_assert_cmpfloat (config.vision.layer_norm_eps, ==, 1e-6f);
  g_assert_cmpint (config.text_pooling, ==, WP_TEXT_POOL_LAST);
  g_assert_cmpint (config.preprocess.resize_mode, ==, WP_RESIZE_SQUASH);
  g_assert_cmpfloat (config.image_mean[0], ==, 0.5f);
  g_assert_cmpfloat (config.logit_bias_init, ==, -10.0f);

  written = wp_clip_config_to_json (&config);
  g_assert_nonnull (strstr (written, "\"SiglipModel\""));
  g_assert_nonnull (strstr (written, "\"gelu_pytorch_tanh\""));
  g_assert_null (strstr (written, "projection_dim"));
  g_assert_true (wp_clip_config_parse (&again, written, strlen (written), &error));
  g_assert_no_error (error);
  g_assert_cmpmem (&again.text, sizeof again.text, &config.text, sizeof config.text);
  g_assert_cmpmem (&again.vision, sizeof again.vision, &config.vision, sizeof config.vision);
  g_assert_cmpint (again.projection_dim, ==, config.projection_dim);
  g_assert_cmpint (again.image_size, ==, 32);
  g_assert_cmpint (again.family, ==, WP_MODEL_FAMILY_SIGLIP);
}

static void
test_config_presets (void)
{
  static const struct {
    const char *name;
    int         image_size, patch_size, width;
  } sizes[] = { { "tiny", 64, 8, 192 }, { "small", 96, 12, 256 }, { "base", 224, 16, 768 } };
  g_autoptr (GError) error = NULL;
  WpClipConfig config;

  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++) {
    g_assert_true (wp_siglip_config_init_preset (&config, sizes[i].name, 500, &error));
    g_assert_no_error (error);
    g_assert_cmpint (config.family, ==, WP_MODEL_FAMILY_SIGLIP);
    g_assert_cmpint (config.image_size, ==, sizes[i].image_size);
    g_assert_cmpint (config.patch_size, ==, sizes[i].patch_size);
    g_assert_cmpint (config.projection_dim, ==, sizes[i].width);
    g_assert_cmpint (config.vocab_size, ==, 500);
  }
  g_assert_false (wp_siglip_config_init_preset (&config, "vit-b16", 500, &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
  assert_error_mentions (error, "tiny, small or base");
}

/* Pieces then "</s>", words at U+2581, canonical text (case and punctuation gone), no start
 * token, the end token also the padding. */
static void
test_tokenizer_encode (void)
{
  g_autoptr (WpTokenizer) tokenizer = trained_tokenizer (TRUE);
  int ids[64], words[64], again[64];
  int n, n_again, end = wp_tokenizer_get_eos_id (tokenizer);

  g_assert_true (wp_tokenizer_is_sentencepiece (tokenizer));
  g_assert_cmpint (wp_tokenizer_get_bos_id (tokenizer), ==, -1);
  g_assert_cmpint (wp_tokenizer_get_pad_id (tokenizer), ==, end);
  g_assert_cmpstr (wp_tokenizer_get_token_symbol (tokenizer, end), ==, "</s>");

  n = wp_tokenizer_encode (tokenizer, "A Photo, of a CAT!", ids, words, 64);
  n_again = wp_tokenizer_encode (tokenizer, "a photo of a cat", again, NULL, 64);
  g_assert_cmpmem (ids, n * sizeof (int), again, n_again * sizeof (int));
  g_assert_cmpint (ids[n - 1], ==, end);
  g_assert_cmpint (words[n - 1], ==, -1);
  g_assert_cmpint (words[0], ==, 0);
  g_assert_cmpint (words[n - 2], ==, 4);
  for (int t = 0; t < n - 1; t++) {
    g_autofree char *word = NULL;
    int              first = t;

    while (t + 1 < n - 1 && words[t + 1] == words[first])
      t++;
    word = wp_tokenizer_dup_tokens_text (tokenizer, ids + first, t - first + 1);
    g_assert_null (strstr (word, "\xe2\x96\x81"));
  }

  /* Cut to the context, "</s>" kept last. */
  n = wp_tokenizer_encode (tokenizer, texts[3], ids, words, 4);
  g_assert_cmpint (n, ==, 4);
  g_assert_cmpint (ids[3], ==, end);
  /* An empty caption is "</s>" alone. */
  n = wp_tokenizer_encode (tokenizer, "  !? ", ids, words, 64);
  g_assert_cmpint (n, ==, 1);
  g_assert_cmpint (ids[0], ==, end);
}

static void
test_tokenizer_refusals (void)
{
  static const char garbage[] = "\x0a\xff\xff\xff\xff\xff";
  g_autoptr (GError) error = NULL;
  g_autoptr (WpTokenizer) broken = wp_tokenizer_new_sentencepiece (garbage, 6, &error);
  g_autoptr (WpTokenizer) no_end = NULL;
  g_autoptr (GPtrArray) lines = g_ptr_array_new ();
  g_autofree char *proto = NULL;
  gsize            len;

  g_assert_null (broken);
  g_assert_error (error, WP_ERROR, WP_ERROR_FORMAT);
  assert_error_mentions (error, "not a SentencePiece model");
  g_clear_error (&error);

  for (int r = 0; r < 40; r++) {
    for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
      g_ptr_array_add (lines, (gpointer) texts[i]);
  }
  proto = wp_test_train_spiece ((const char *const *) lines->pdata, lines->len, 80, FALSE, &len);
  no_end = wp_tokenizer_new_sentencepiece (proto, len, &error);
  g_assert_null (no_end);
  g_assert_error (error, WP_ERROR, WP_ERROR_MISSING);
  assert_error_mentions (error, "</s>");
}

static WpModel *
tiny_model (void)
{
  g_autoptr (GError) error = NULL;
  WpTokenizer *tokenizer = trained_tokenizer (TRUE);
  WpClipConfig config;
  WpModel     *model;

  g_assert_true (wp_siglip_config_init_preset (&config, "tiny", 100, &error));
  config.text = (WpTowerConfig){ 16, 32, 2, 1, WP_ACTIVATION_GELU_TANH, 1e-6f };
  config.vision = (WpTowerConfig){ 24, 48, 2, 2, WP_ACTIVATION_GELU_TANH, 1e-6f };
  config.image_size = 16;
  config.patch_size = 8;
  config.context_length = 8;
  config.projection_dim = 24;
  model = wp_model_new_random (&config, tokenizer, 7, &error);
  g_assert_no_error (error);
  return model;
}

/* A folder and a single file read back with every parameter and the vocabulary's bytes. */
static void
test_model_round_trip (void)
{
  g_autoptr (WpModel) model = tiny_model ();
  g_autofree char *dir = wp_test_make_tmp_dir ("siglip");
  g_autofree char *folder = g_build_filename (dir, "model", NULL);
  g_autofree char *file = g_build_filename (dir, "model.safetensors", NULL);
  g_autofree char *spiece = g_build_filename (folder, "spiece.model", NULL);
  g_autofree char *bytes = NULL;
  const char      *paths[] = { folder, file };
  gsize            len, model_len;
  const char      *model_bytes;
  g_autoptr (GError) error = NULL;

  model_bytes = wp_tokenizer_get_sentencepiece_model (model->tokenizer, &model_len);

  g_assert_nonnull (model->p.logit_bias);
  g_assert_cmpfloat (*model->p.logit_bias, ==, -10.0f);
  g_assert_null (model->p.class_embedding);
  g_assert_true (wp_model_save (model, folder, &error));
  g_assert_no_error (error);
  g_assert_true (wp_model_save (model, file, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (spiece, &bytes, &len, &error));
  g_assert_cmpmem (bytes, len, model_bytes, model_len);
  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++) {
    g_autoptr (WpModel) back = wp_model_load (paths[i], &error);

    g_assert_no_error (error);
    g_assert_cmpint (back->config.family, ==, WP_MODEL_FAMILY_SIGLIP);
    g_assert_true (wp_tokenizer_is_sentencepiece (back->tokenizer));
    g_assert_cmpuint (back->n_params, ==, model->n_params);
    g_assert_cmpmem (back->params, back->n_params * sizeof (float), model->params,
                     model->n_params * sizeof (float));
  }
  remove_tree (dir);
}

static void
test_refusals (void)
{
  g_autoptr (WpModel) model = tiny_model ();
  g_autofree char *dir = wp_test_make_tmp_dir ("siglip-refusals");
  g_autoptr (GError) error = NULL;

  g_assert_false (wp_model_save_format (model, dir, WP_MODEL_FORMAT_OPEN_CLIP, WP_DTYPE_F32,
                                        &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_UNSUPPORTED);
  assert_error_mentions (error, "SigLIP cannot be written as an open_clip folder");
  remove_tree (dir);
}

/* A CLIP model has no logit_bias: the sigmoid loss says so instead of reading one. */
static void
test_sigmoid_needs_bias (void)
{
  g_autoptr (GError) error = NULL;
  WpTokenizer *tokenizer = wp_test_clip_tokenizer ();
  WpClipConfig config;
  g_autoptr (WpModel) model = NULL;
  g_autoptr (WpLossState) state = NULL;
  g_autofree float *pixels = NULL;
  WpLossOptions     options;
  WpLossParts       parts;
  int               ids[2 * 4] = { 0 }, lengths[2] = { 3, 3 };

  g_assert_true (wp_clip_config_init_preset (&config, "tiny", wp_tokenizer_get_n_vocab (tokenizer),
                                             &error));
  config.vision.n_layers = config.text.n_layers = 1;
  model = wp_model_new_random (&config, tokenizer, 3, &error);
  g_assert_no_error (error);
  state = wp_loss_state_new (&model->config, 2);
  pixels = g_new0 (float, (gsize) 2 * 3 * config.image_size * config.image_size);
  wp_loss_options_init (&options, WP_OBJECTIVE_SIGMOID);
  g_assert_false (wp_loss_compute (model, state, &options, pixels, ids, lengths, 2, 4, NULL, NULL,
                                   &parts,
                                   &error));
  g_assert_error (error, WP_ERROR, WP_ERROR_INVALID);
  assert_error_mentions (error, "logit_bias");
}

/* init --family siglip, then info, embed, heatmap with every method, convert and the loss as a
 * user runs them. */
static void
test_cli (void)
{
  g_autoptr (WpTokenizer) tokenizer = trained_tokenizer (TRUE);
  g_autofree char *dir = wp_test_make_tmp_dir ("siglip-cli");
  g_autofree char *spiece = g_build_filename (dir, "spiece.model", NULL);
  g_autofree char *model = g_build_filename (dir, "model", NULL);
  g_autofree char *half = g_build_filename (dir, "half", NULL);
  g_autofree char *image = g_build_filename (dir, "disc.png", NULL);
  g_autofree char *figure = g_build_filename (dir, "maps.png", NULL);
  g_autofree char *clip = g_build_filename (dir, "clip", NULL);
  g_autoptr (GError) error = NULL;
  g_auto (Run) run = { 0 };
  gsize       len;
  const char *bytes = wp_tokenizer_get_sentencepiece_model (tokenizer, &len);

  g_assert_true (g_file_set_contents (spiece, bytes, (gssize) len, &error));
  g_assert_true (write_test_image (image));

  run_cli (&run, "init", "--family", "siglip", "--out", model, NULL);
  assert_usage_error (&run, "init", "needs --vocab");
  wp_test_run_clear (&run);
  run_cli (&run, "init", "--family", "siglip", "--config", "tiny", "--vocab", dir, "--out", model,
           NULL);
  g_assert_cmpint (run.status, ==, 0);
  assert_mentions (run.out, "SigLIP tiny");
  wp_test_run_clear (&run);

  run_cli (&run, "info", "--model", model, NULL);
  g_assert_cmpint (run.status, ==, 0);
  assert_mentions (run.out, "family: SigLIP");
  assert_mentions (run.out, "tokenizer: SentencePiece");
  assert_mentions (run.out, "logit bias -10.0000");
  wp_test_run_clear (&run);

  run_cli (&run, "embed", "--model", model, "--image", image, "--text", "A red DISC!", NULL);
  g_assert_cmpint (run.status, ==, 0);
  assert_mentions (run.out, "\"patch_embeddings\"");
  assert_mentions (run.out, "\"token_embeddings\"");
  assert_mentions (run.out, "\"</s>\"");
  wp_test_run_clear (&run);

  run_cli (&run, "heatmap", "--model", model, "--image", image, "--text", "red disc",
           "--method", "all", "--out", figure, NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_true (g_file_test (figure, G_FILE_TEST_EXISTS));
  wp_test_run_clear (&run);

  run_cli (&run, "convert", "--model", model, "--out", half, "--dtype", "bf16", NULL);
  g_assert_cmpint (run.status, ==, 0);
  wp_test_run_clear (&run);
  run_cli (&run, "info", "--model", half, NULL);
  assert_mentions (run.out, "stored as BF16");
  wp_test_run_clear (&run);
  run_cli (&run, "convert", "--model", model, "--out", clip, "--format", "open_clip", NULL);
  assert_failure (&run, "SigLIP cannot be written as an open_clip folder", NULL, NULL);
  remove_tree (dir);
}

int
main (int    argc,
      char **argv)
{
  wp_test_init (&argc, &argv);

  g_test_add_func ("/siglip/config/defaults-and-round-trip", test_config_defaults_and_round_trip);
  g_test_add_func ("/siglip/config/presets", test_config_presets);
  g_test_add_func ("/siglip/tokenizer/encode", test_tokenizer_encode);
  g_test_add_func ("/siglip/tokenizer/refusals", test_tokenizer_refusals);
  g_test_add_func ("/siglip/model/round-trip", test_model_round_trip);
  g_test_add_func ("/siglip/model/refusals", test_refusals);
  g_test_add_func ("/siglip/loss/sigmoid-needs-logit-bias", test_sigmoid_needs_bias);
  g_test_add_func ("/siglip/cli/init-info-embed-heatmap-convert", test_cli);
  return g_test_run ();
}
