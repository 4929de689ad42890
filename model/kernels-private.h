/* kernels-private.h: what the kernels (kernels.c, kernels_attention.c) share. */
#pragma once

/* OpenBLAS runs a product of M N K below 2^18 multiply-adds on the calling thread (its default
 * GEMM_MULTITHREAD_THRESHOLD); above, it splits even a small product across its threads, whose
 * start and wait (worse when another process holds a core) cost more than they save. */
#define BLAS_SERIAL_MNK (1 << 18)
