/* wordpatch.h: the engine's public API in one include. */
#pragma once

#include "wordpatch/adamw.h"
#include "wordpatch/config.h"
#include "wordpatch/dataset.h"
#include "wordpatch/embed.h"
#include "wordpatch/encoder.h"
#include "wordpatch/error.h"
#include "wordpatch/image.h"
#include "wordpatch/kernels.h"
#include "wordpatch/loss.h"
#include "wordpatch/model.h"
#include "wordpatch/objectives.h"
#include "wordpatch/rng.h"
#include "wordpatch/safetensors.h"
#include "wordpatch/text.h"
#include "wordpatch/tokenizer.h"
#include "wordpatch/vision.h"
