/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* te-cpu.c — CPU feature detection and kernel level selection (te-cpu.h). */
#define _GNU_SOURCE
#include "te-cpu.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

static TeCpuFeatures features;
static char features_line[256];
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
/* XCR0: which register states the OS saves on a context switch. A CPU bit alone is not enough:
 * without OS support the instructions fault. */
static unsigned long long
read_xcr0 (void)
{
  unsigned int eax, edx;
  __asm__ volatile ("xgetbv" : "=a" (eax), "=d" (edx) : "c" (0));
  return ((unsigned long long) edx << 32) | eax;
}

/* Linux (5.16 and later) gives a process the tiles' data state only when asked: without this,
 * the first tile instruction raises SIGILL. Asked once, for the whole process; the kernel then
 * saves and restores the tiles of every thread that uses them. */
static bool
amx_permitted (void)
{
#if defined(__linux__)
  const long req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;     /* asm/prctl.h, fpu/types.h */

  return syscall (SYS_arch_prctl, req_xcomp_perm, xfeature_xtiledata) == 0;
#else
  return false;
#endif
}

static void
detect_x86 (TeCpuFeatures * f)
{
  unsigned int eax, ebx, ecx, edx, max_leaf;
  unsigned int ecx1, ebx7 = 0, ecx7 = 0, edx7 = 0, eax7_1 = 0;
  bool osxsave, ymm_os = false, zmm_os = false, tile_os = false;

  max_leaf = __get_cpuid_max (0, NULL);
  if (max_leaf < 1)
    return;
  __cpuid (1, eax, ebx, ecx1, edx);
  osxsave = (ecx1 >> 27) & 1;
  if (osxsave) {
    unsigned long long xcr0 = read_xcr0 ();
    ymm_os = (xcr0 & 0x6) == 0x6;          /* SSE + AVX state */
    zmm_os = ymm_os && (xcr0 & 0xe0) == 0xe0;  /* opmask, ZMM_Hi256, Hi16_ZMM */
    tile_os = (xcr0 & 0x60000) == 0x60000;  /* XTILECFG, XTILEDATA */
  }
  if (max_leaf >= 7) {
    __cpuid_count (7, 0, eax, ebx7, ecx7, edx7);
    __cpuid_count (7, 1, eax7_1, ebx, ecx, edx);
  }
  f->avx2_fma = ymm_os && ((ecx1 >> 12) & 1) /* FMA */ && ((ecx1 >> 28) & 1) /* AVX */
      && ((ebx7 >> 5) & 1) /* AVX2 */;
  f->avx512 = f->avx2_fma && zmm_os && ((ebx7 >> 16) & 1) /* F */ && ((ebx7 >> 17) & 1) /* DQ */
      && ((ebx7 >> 30) & 1) /* BW */ && ((ebx7 >> 31) & 1) /* VL */;
  f->avx512_vnni = f->avx512 && ((ecx7 >> 11) & 1);
  f->avx512_bf16 = f->avx512 && ((eax7_1 >> 5) & 1);
  f->avx_vnni = f->avx2_fma && ((eax7_1 >> 4) & 1);
  if (tile_os && ((edx7 >> 24) & 1) /* AMX-TILE */ && !amx_permitted ())
    tile_os = false;
  f->amx_bf16 = tile_os && ((edx7 >> 24) & 1) && ((edx7 >> 22) & 1);
  f->amx_int8 = tile_os && ((edx7 >> 24) & 1) && ((edx7 >> 25) & 1);
}
#endif

#if defined(__aarch64__)
/* Bit numbers from the kernel's arch/arm64/include/uapi/asm/hwcap.h (stable ABI), spelled out
 * so that older libc headers do not matter. */
#define TE_HWCAP_ASIMD    (1UL << 1)
#define TE_HWCAP_ASIMDDP  (1UL << 20)
#define TE_HWCAP2_I8MM    (1UL << 13)
#define TE_HWCAP2_BF16    (1UL << 14)

static void
detect_aarch64 (TeCpuFeatures * f)
{
  unsigned long hw = getauxval (AT_HWCAP), hw2 = getauxval (AT_HWCAP2);

  f->neon = (hw & TE_HWCAP_ASIMD) != 0;
  f->neon_dotprod = f->neon && (hw & TE_HWCAP_ASIMDDP) != 0;
  f->neon_i8mm = f->neon && (hw2 & TE_HWCAP2_I8MM) != 0;
  f->neon_bf16 = f->neon && (hw2 & TE_HWCAP2_BF16) != 0;
}
#endif

static void
append (const char *name, bool on)
{
  size_t len = strlen (features_line);

  if (on)
    snprintf (features_line + len, sizeof features_line - len, "%s%s", len ? " " : "", name);
}

static void
detect (void)
{
#if defined(__x86_64__)
  detect_x86 (&features);
#elif defined(__aarch64__)
  detect_aarch64 (&features);
#endif
  append ("avx2+fma", features.avx2_fma);
  append ("avx512", features.avx512);
  append ("avx512_vnni", features.avx512_vnni);
  append ("avx_vnni", features.avx_vnni);
  append ("avx512_bf16", features.avx512_bf16);
  append ("amx_bf16", features.amx_bf16);
  append ("amx_int8", features.amx_int8);
  append ("neon", features.neon);
  append ("dotprod", features.neon_dotprod);
  append ("i8mm", features.neon_i8mm);
  append ("bf16", features.neon_bf16);
  if (features_line[0] == '\0')
    snprintf (features_line, sizeof features_line, "(none used)");
}

const TeCpuFeatures *
te_cpu_features (void)
{
  pthread_once (&detect_once, detect);
  return &features;
}

const char *
te_cpu_features_string (void)
{
  pthread_once (&detect_once, detect);
  return features_line;
}

bool
te_cpu_level_supported (TeCpuLevel level)
{
  const TeCpuFeatures *f = te_cpu_features ();

  switch (level) {
    case TE_CPU_PORTABLE:
      return true;
    case TE_CPU_AVX2:
      return f->avx2_fma;
    case TE_CPU_AVX512:
      return f->avx512;
    case TE_CPU_AMX:
      return f->avx512 && f->avx512_bf16 && f->amx_bf16 && f->amx_int8;
    case TE_CPU_NEON:
      return f->neon;
    default:
      return false;
  }
}

TeCpuLevel
te_cpu_best_level (void)
{
  if (te_cpu_level_supported (TE_CPU_AMX))
    return TE_CPU_AMX;
  if (te_cpu_level_supported (TE_CPU_AVX512))
    return TE_CPU_AVX512;
  if (te_cpu_level_supported (TE_CPU_AVX2))
    return TE_CPU_AVX2;
  if (te_cpu_level_supported (TE_CPU_NEON))
    return TE_CPU_NEON;
  return TE_CPU_PORTABLE;
}

static const char *const level_names[TE_CPU_N_LEVELS] = {
  [TE_CPU_PORTABLE] = "portable",
  [TE_CPU_AVX2] = "avx2",
  [TE_CPU_AVX512] = "avx512",
  [TE_CPU_NEON] = "neon",
  [TE_CPU_AMX] = "amx",
};

const char *
te_cpu_level_name (TeCpuLevel level)
{
  return (unsigned) level < TE_CPU_N_LEVELS ? level_names[level] : "unknown";
}

int
te_cpu_level_from_name (const char *name)
{
  for (int l = 0; name != NULL && l < TE_CPU_N_LEVELS; l++)
    if (strcmp (name, level_names[l]) == 0)
      return l;
  return -1;
}

int
te_cpu_level_select (char *err, size_t err_size)
{
  const char *env = getenv ("TE_CPU_LEVEL");
  int level;

  if (env == NULL || env[0] == '\0')
    return te_cpu_best_level ();
  level = te_cpu_level_from_name (env);
  if (level < 0) {
    snprintf (err, err_size, "TE_CPU_LEVEL=\"%s\" is not a kernel level (portable, avx2, "
        "avx512, amx, neon)", env);
    return -1;
  }
  if (!te_cpu_level_supported (level)) {
    snprintf (err, err_size, "TE_CPU_LEVEL=%s: this CPU does not support it (it has: %s; "
        "best level %s)", env, te_cpu_features_string (),
        te_cpu_level_name (te_cpu_best_level ()));
    return -1;
  }
  return level;
}

static int
read_int_file (const char *path)
{
  FILE *f = fopen (path, "r");
  int v = -1;

  if (f == NULL)
    return -1;
  if (fscanf (f, "%d", &v) != 1)
    v = -1;
  fclose (f);
  return v;
}

int
te_cpu_physical_cores (void)
{
  cpu_set_t set;
  int n_allowed, n_cores = 0;
  /* (package, core) pairs seen; CPU_SETSIZE logical CPUs at most. */
  int pkg[CPU_SETSIZE], core[CPU_SETSIZE];

  if (sched_getaffinity (0, sizeof set, &set) != 0)
    return 1;
  n_allowed = CPU_COUNT (&set);
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    char path[128];
    int p, c, seen = 0;

    if (!CPU_ISSET (cpu, &set))
      continue;
    snprintf (path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
    c = read_int_file (path);
    snprintf (path, sizeof path,
        "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
    p = read_int_file (path);
    if (c < 0)                  /* no topology in sysfs (some containers, qemu-user) */
      return n_allowed > 0 ? n_allowed : 1;
    for (int i = 0; i < n_cores && !seen; i++)
      seen = pkg[i] == p && core[i] == c;
    if (!seen && n_cores < CPU_SETSIZE) {
      pkg[n_cores] = p;
      core[n_cores++] = c;
    }
  }
  return n_cores > 0 ? n_cores : 1;
}
