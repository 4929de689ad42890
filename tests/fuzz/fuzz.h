/* fuzz.h: what the fuzz targets share.
 *
 * Each fuzz-<target>.c feeds one input to a parser through its public API in
 * LLVMFuzzerTestOneInput(). Built with -Dfuzz=true (clang) they are libFuzzer programs; otherwise
 * replay-main.c drives the same functions over the kept inputs, so every build replays them. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "wordpatch/config.h"
#include "wordpatch/dataset.h"
#include "wordpatch/tokenizer.h"

G_BEGIN_DECLS

int LLVMFuzzerInitialize (int    *argc,
                          char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

/* Makes warnings and criticals fatal (the engine must log none, whatever the input) and creates a
 * private temporary folder, removed with its files at exit. Returns the folder. */
const char *fuzz_init (void);
/* Writes size bytes to path, replacing it; aborts when the disk refuses. */
void fuzz_write_file (const char    *path,
                      const uint8_t *data,
                      size_t         size);
/* Asserts that config lays out a model within the limits (WP_MAX_PARAMETERS). */
void fuzz_assert_within_limits (const WpClipConfig *config);
/* The bundled CLIP tokenizer (data/clip-bpe), loaded once. */
WpTokenizer *fuzz_clip_tokenizer (void);
/* Writes an 8 x 8 PNG (a gradient) to path, creating its folder. */
void fuzz_write_png (const char *path);
/* Writes dir/a.png, an 8 x 8 PNG (fuzz_write_png()), and dir/b.png, text that is no image: the
 * two pictures the captions of the dataset targets name. */
void fuzz_write_images (const char *dir);
/* Opens path as a dataset (options may be NULL) and, when it opens, runs it through what training
 * and evaluation do with it: its pairs checked, the vocabulary coverage, every image read on its
 * own, the image checks, batches with and without augmentation (a small model with CLIP's
 * vocabulary). */
void fuzz_open_dataset (const char             *path,
                        const WpDatasetOptions *options);

G_END_DECLS
