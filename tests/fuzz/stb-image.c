/* stb-image.c: stb_image's decoders compiled into the fuzz targets, from Debian's own header.
 * Debian's precompiled libstb carries no sanitizer or coverage instrumentation: linked against it,
 * libFuzzer would mutate image files blindly and AddressSanitizer would not see the decoders'
 * memory accesses. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
