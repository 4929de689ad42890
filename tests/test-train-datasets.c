/* test-train-datasets.c: the other layouts end to end, as `wordpatch-cli` reads them: training
 * on WebDataset shards gives the per-step losses of the same pairs in captions.jsonl when the
 * order is the same, a run killed mid-shard resumes bit for bit, eval reports the pointing game
 * per phrase type on a Flickr30k Entities folder, and the dataset options reach settings.json. */
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli-harness.h"
#include "dataset-fixtures.h"
#include "train-scenes.h"

static char *shards_dir;

/* The scenes of train-scenes.c as two shards of 80 samples, in captions.jsonl's order. */
static gboolean
ensure_shards (void)
{
  g_autofree char *captions = NULL;
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GError) error = NULL;
  FixtureTar *tar = NULL;

  if (!ensure_data ())
    return FALSE;
  if (shards_dir != NULL)
    return TRUE;
  shards_dir = out_path ("shards");
  captions = g_build_filename (data_dir, "captions.jsonl", NULL);
  g_file_get_contents (captions, &text, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autofree char *image = NULL;
    g_autofree char *png = NULL;
    g_autofree char *key = g_strdup_printf ("%06u", i);
    g_autofree char *png_name = g_strconcat (key, ".png", NULL);
    g_autofree char *txt_name = g_strconcat (key, ".txt", NULL);
    JsonObject      *obj;
    gsize            len;

    if (i % 80 == 0) {
      g_autofree char *name = g_strdup_printf ("scenes-%03u.tar", i / 80);
      g_autofree char *path = g_build_filename (shards_dir, name, NULL);

      if (tar != NULL)
        fixture_tar_close (tar);
      tar = fixture_tar_new (path);
    }
    json_parser_load_from_data (parser, lines[i], -1, &error);
    g_assert_no_error (error);
    obj = json_node_get_object (json_parser_get_root (parser));
    image = g_build_filename (data_dir, json_object_get_string_member (obj, "image"), NULL);
    g_file_get_contents (image, &png, &len, &error);
    g_assert_no_error (error);
    fixture_tar_add (tar, png_name, png, len);
    fixture_tar_add_text (tar, txt_name, json_object_get_string_member (obj, "caption"));
  }
  fixture_tar_close (tar);
  return TRUE;
}

/* The same pairs in the same order: shards read in their order, captions.jsonl in its own. */
static void
test_shards_equal_jsonl (void)
{
  g_autofree char *from_jsonl = NULL;
  g_autofree char *from_shards = NULL;
  g_autofree char *shuffled = NULL;
  g_auto (Run) jsonl_run = { 0 };
  g_auto (Run) shards_run = { 0 };
  g_auto (Run) shuffled_run = { 0 };
  g_auto (Metrics) jsonl_metrics = { 0 };
  g_auto (Metrics) shards_metrics = { 0 };
  g_auto (Metrics) shuffled_metrics = { 0 };

  if (!ensure_shards ())
    return;
  from_jsonl = out_path ("order-jsonl");
  from_shards = out_path ("order-shards");
  shuffled = out_path ("order-shuffled");
  run_cli (&jsonl_run, TRAIN_ARGS (data_dir, from_jsonl, "12", "12"), "--shuffle-buffer", "1",
           NULL);
  g_assert_cmpint (jsonl_run.status, ==, 0);
  run_cli (&shards_run, TRAIN_ARGS (shards_dir, from_shards, "12", "12"), "--shuffle-buffer", "1",
           NULL);
  g_assert_cmpint (shards_run.status, ==, 0);
  assert_mentions (shards_run.err, "128 training pairs, 32 held out");
  read_metrics (from_jsonl, &jsonl_metrics);
  read_metrics (from_shards, &shards_metrics);
  g_assert_cmpuint (jsonl_metrics.losses->len, ==, 12);
  g_assert_cmpuint (shards_metrics.losses->len, ==, 12);
  g_assert_cmpmem (jsonl_metrics.losses->data, 12 * sizeof (double), shards_metrics.losses->data,
                   12 * sizeof (double));
  g_assert_cmpmem (jsonl_metrics.eval_recall->data,
                   jsonl_metrics.eval_recall->len * sizeof (double),
                   shards_metrics.eval_recall->data,
                   shards_metrics.eval_recall->len * sizeof (double));

  /* The default streams the shards in a shuffled order through a buffer: another order. */
  run_cli (&shuffled_run, TRAIN_ARGS (shards_dir, shuffled, "12", "12"), NULL);
  g_assert_cmpint (shuffled_run.status, ==, 0);
  read_metrics (shuffled, &shuffled_metrics);
  g_assert_cmpuint (shuffled_metrics.losses->len, ==, 12);
  g_assert_true (memcmp (shuffled_metrics.losses->data, shards_metrics.losses->data,
                         12 * sizeof (double)) != 0);
}

/* The stream position the newest checkpoint of out records. */
static JsonObject *
stream_position (JsonParser *parser,
                 const char *out)
{
  g_autofree char *state = g_build_filename (out, "latest", "state.json", NULL);
  JsonObject      *obj = parse_object_file (parser, state);

  g_assert_true (json_object_has_member (obj, "stream"));
  return json_object_get_object_member (obj, "stream");
}

/* SIGKILL in the middle of a shard, --resume: the run ends where an uninterrupted one does. */
static void
test_shards_resume_bit_exact (void)
{
  g_autofree char *straight = NULL;
  g_autofree char *killed = NULL;
  g_auto (Run) run = { 0 };
  g_auto (Run) resumed = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *position;

  if (!ensure_shards ())
    return;
  straight = out_path ("shards-straight");
  killed = out_path ("shards-killed");
  run_cli (&run, TRAIN_ARGS (shards_dir, straight, "20", "10"), "--shuffle-buffer", "24", NULL);
  g_assert_cmpint (run.status, ==, 0);
  {
    const char *args[] = { TRAIN_ARGS (shards_dir, killed, "20", "1"), "--shuffle-buffer", "24",
                           NULL };

    stop_run (args, killed, 4, 0, SIGKILL);
  }
  /* Steps 3 to 7 of 8 an epoch are reached with both shards begun: the stream stopped inside
   * one of them. */
  position = stream_position (parser, killed);
  g_test_message ("killed at epoch %" G_GINT64_FORMAT " shard %" G_GINT64_FORMAT
                  " (%s) sample %" G_GINT64_FORMAT,
                  json_object_get_int_member (position, "epoch"),
                  json_object_get_int_member (position, "shard"),
                  json_object_get_string_member (position, "file"),
                  json_object_get_int_member (position, "sample"));
  g_assert_cmpint (json_object_get_int_member (position, "epoch"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (position, "sample"), >, 1);
  run_cli (&resumed, "train", "--out", killed, "--resume", NULL);
  g_assert_cmpint (resumed.status, ==, 0);
  assert_mentions (resumed.err, "resuming at step");
  assert_same_latest (straight, killed, TRUE);
}

/* Shards renamed under a run (the same samples, another shard order) are refused on resume, and
 * shards are not grouped by word: they are read in order. */
static void
test_shards_changed (void)
{
  g_autofree char *out = NULL;
  g_autofree char *moved = NULL;
  g_autofree char *grouped_out = NULL;
  g_autofree char *first = NULL;
  g_autofree char *renamed = NULL;
  g_auto (Run) run = { 0 };
  g_auto (Run) grouped = { 0 };
  g_auto (Run) resumed = { 0 };

  if (!ensure_shards ())
    return;
  out = out_path ("shards-changed");
  moved = out_path ("shards-moved");
  grouped_out = out_path ("shards-grouped");
  run_cli (&run, TRAIN_ARGS (shards_dir, out, "4", "2"), NULL);
  g_assert_cmpint (run.status, ==, 0);
  run_cli (&grouped, TRAIN_ARGS (shards_dir, grouped_out, "4", "2"), "--group-by-word", "4",
           NULL);
  assert_failure (&grouped, "group_by_word", "read in order", NULL);
  /* The same samples under other shard names: the same pairs, another order of shards. */
  g_assert_cmpint (g_mkdir_with_parents (moved, 0755), ==, 0);
  first = g_build_filename (shards_dir, "scenes-000.tar", NULL);
  renamed = g_build_filename (moved, "scenes-999.tar", NULL);
  g_assert_cmpint (link (first, renamed), ==, 0);
  g_free (first);
  g_free (renamed);
  first = g_build_filename (shards_dir, "scenes-001.tar", NULL);
  renamed = g_build_filename (moved, "scenes-000.tar", NULL);
  g_assert_cmpint (link (first, renamed), ==, 0);
  run_cli (&resumed, "train", "--out", out, "--resume", "--data", moved, "--steps", "6", NULL);
  assert_failure (&resumed, "not the one the run started with", NULL, NULL);
}

/* ---- Flickr30k Entities ---- */

static char *
write_flickr (void)
{
  char             *root = out_path ("flickr30k");
  const char *const sentences[] = {
    "[/EN#1/people A young man] in [/EN#2/clothing a red shirt] holds [/EN#3/animals a dog] .\n"
    "[/EN#1/people The man] and [/EN#3/animals his dog] .\n",
    "[/EN#4/people Two women] ride [/EN#5/vehicles a bicycle] on [/EN#0/notvisual a day] .\n",
    "[/EN#6/animals A cat] sleeps on [/EN#7/other a chair] .\n",
  };
  const char *const annotations[] = {
    "<annotation><object><name>1</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>30</xmax>"
    "<ymax>40</ymax></bndbox></object><object><name>2</name><bndbox><xmin>5</xmin><ymin>10</ymin>"
    "<xmax>25</xmax><ymax>25</ymax></bndbox></object><object><name>3</name><bndbox><xmin>40</xmin>"
    "<ymin>20</ymin><xmax>60</xmax><ymax>40</ymax></bndbox></object></annotation>\n",
    "<annotation><object><name>4</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>64</xmax>"
    "<ymax>30</ymax></bndbox></object><object><name>5</name><bndbox><xmin>10</xmin><ymin>30</ymin>"
    "<xmax>50</xmax><ymax>48</ymax></bndbox></object></annotation>\n",
    "<annotation><object><name>6</name><bndbox><xmin>20</xmin><ymin>5</ymin><xmax>40</xmax>"
    "<ymax>25</ymax></bndbox></object><object><name>7</name><bndbox><xmin>5</xmin><ymin>20</ymin>"
    "<xmax>60</xmax><ymax>48</ymax></bndbox></object></annotation>\n",
  };

  for (int i = 0; i < 3; i++) {
    g_autofree char *id = g_strdup_printf ("%d", 1000 + i);
    g_autofree char *jpg = g_strconcat (id, ".jpg", NULL);
    g_autofree char *txt = g_strconcat (id, ".txt", NULL);
    g_autofree char *xml = g_strconcat (id, ".xml", NULL);
    g_autofree char *image = g_build_filename (root, "flickr30k-images", jpg, NULL);
    g_autofree char *sentence = g_build_filename (root, "Sentences", txt, NULL);
    g_autofree char *annotation = g_build_filename (root, "Annotations", xml, NULL);
    g_autoptr (GBytes) png = fixture_png (64, 48, (guint8) (60 * i), 120, 200);

    fixture_write_data (image, g_bytes_get_data (png, NULL), g_bytes_get_size (png));
    fixture_write (sentence, sentences[i]);
    fixture_write (annotation, annotations[i]);
  }
  return root;
}

static void
test_eval_phrase_types (void)
{
  g_autofree char *root = NULL;
  g_autofree char *split = NULL;
  g_auto (Run) text = { 0 };
  g_auto (Run) json = { 0 };
  g_auto (Run) test_split = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *obj, *phrases, *types;

  if (!ensure_data ())
    return;
  root = write_flickr ();
  split = g_build_filename (root, "test.txt", NULL);
  fixture_write (split, "1002\n");
  run_cli (&text, "eval", "--data", root, NULL);
  g_assert_cmpint (text.status, ==, 0);
  assert_mentions (text.out, "pairs: 4 (3 distinct images, 4 distinct captions)");
  assert_mentions (text.out, "grounded phrases (each by the mean of its words' maps)");
  assert_mentions (text.out, "type people");
  assert_mentions (text.out, "type vehicles");

  run_cli (&json, "eval", "--data", root, "--json", NULL);
  g_assert_cmpint (json.status, ==, 0);
  obj = parse_object (parser, json.out);
  phrases = json_object_get_object_member (obj, "phrases");
  g_assert_cmpint (json_object_get_int_member (phrases, "count"), ==, 9);
  g_assert_cmpint (json_object_get_int_member (phrases, "unmatched"), ==, 0);
  types = json_object_get_object_member (phrases, "types");
  g_assert_cmpint (json_object_get_size (types), ==, 5);
  g_assert_cmpint (
    json_object_get_int_member (json_object_get_object_member (types, "people"), "count"), ==, 3);
  g_assert_cmpint (
    json_object_get_int_member (json_object_get_object_member (types, "animals"), "count"), ==, 3);
  g_assert_cmpint (
    json_object_get_int_member (json_object_get_object_member (types, "clothing"), "count"), ==,
    1);
  g_assert_true (
    json_object_has_member (json_object_get_object_member (types, "vehicles"), "pointing_filip"));
  /* Each word of a phrase is also a boxed word: "a young man" ... "a chair". */
  g_assert_cmpint (json_object_get_int_member (obj, "boxed_words"), ==, 20);

  run_cli (&test_split, "eval", "--data", root, "--split", "test", "--json", NULL);
  g_assert_cmpint (test_split.status, ==, 0);
  assert_mentions (test_split.out, "\"pairs\" : 1");
}

/* The dataset options go to settings.json as absolute paths, and a resume finds the data from
 * anywhere; an option a layout has no use for is an error. */
static void
test_dataset_options (void)
{
  g_autofree char *root = NULL;
  g_autofree char *images = NULL;
  g_autofree char *out = NULL;
  g_autofree char *settings = NULL;
  g_autofree char *cwd = g_get_current_dir ();
  g_auto (Run) run = { 0 };
  g_auto (Run) resumed = { 0 };
  g_auto (Run) no_use = { 0 };
  g_auto (Run) no_data = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *obj;

  if (!ensure_data ())
    return;
  root = write_flickr ();
  images = g_build_filename (root, "flickr30k-images", NULL);
  out = out_path ("flickr-run");
  g_assert_cmpint (chdir (root), ==, 0);
  run_cli (&run, "train", "--config", "tiny", "--data", ".", "--images", "flickr30k-images",
           "--out", out, "--batch", "2", "--steps", "2", "--holdout", "0", "--threads", "1",
           "--vocab-size", "600", NULL);
  g_assert_cmpint (chdir (cwd), ==, 0);
  g_assert_cmpint (run.status, ==, 0);
  settings = g_build_filename (out, "settings.json", NULL);
  obj = parse_object_file (parser, settings);
  g_assert_cmpstr (json_object_get_string_member (obj, "images"), ==, images);
  g_assert_cmpstr (json_object_get_string_member (obj, "data"), ==, root);
  run_cli (&resumed, "train", "--out", out, "--resume", "--steps", "3", NULL);
  g_assert_cmpint (resumed.status, ==, 0);
  assert_mentions (resumed.out, "trained 3 steps");

  run_cli (&no_use, "eval", "--data", data_dir, "--instances", "instances_val2017.json", NULL);
  assert_failure (&no_use, "a captions.jsonl dataset has no use for instances", NULL, NULL);
  run_cli (&no_data, "heatmap", "--image", images, "--text", "a cat", "--out", "x.png",
           "--split", "test", NULL);
  assert_usage_error (&no_data, "heatmap", "the dataset options need --data");
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/train-datasets/shards-equal-jsonl", test_shards_equal_jsonl);
  g_test_add_func ("/train-datasets/shards-resume-bit-exact", test_shards_resume_bit_exact);
  g_test_add_func ("/train-datasets/shards-changed", test_shards_changed);
  g_test_add_func ("/train-datasets/eval-phrase-types", test_eval_phrase_types);
  g_test_add_func ("/train-datasets/dataset-options", test_dataset_options);
  status = g_test_run ();
  g_free (shards_dir);
  remove_scenes ();
  return status;
}
