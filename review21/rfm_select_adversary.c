/* McIlroy-style adversary for scores.c's Select (middle pivot, Hoare): freeze each pivot as the next smallest value */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <math.h>
#include <time.h>
typedef int64_t int64;
static double *val; static int64 nextv = 0;
#define GAS 1e300
static double V(int64 id){ return val[id]; }
/* simulation on ids */
static void SelectSim(int64 *v, int64 lo, int64 hi, int64 k){
  while (lo < hi){
    int64 pid = v[lo + (hi - lo) / 2];
    if (val[pid] == GAS) val[pid] = (double) nextv++;
    double pivot = val[pid];
    int64 i = lo, j = hi;
    while (i <= j){
      while (V(v[i]) < pivot) i++;
      while (V(v[j]) > pivot) j--;
      if (i <= j){ int64 t = v[i]; v[i++] = v[j]; v[j--] = t; }
    }
    if (k <= j) hi = j; else if (k >= i) lo = i; else break;
  }
}
static double Select(double *v, int64 lo, int64 hi, int64 k){
  while (lo < hi){
    double pivot = v[lo + (hi - lo) / 2]; int64 i = lo, j = hi;
    while (i <= j){ while (v[i] < pivot) i++; while (v[j] > pivot) j--; if (i <= j){ double t = v[i]; v[i++] = v[j]; v[j--] = t; } }
    if (k <= j) hi = j; else if (k >= i) lo = i; else break;
  }
  return v[k];
}
int main(int argc, char **argv){
  int64 n = atoll(argv[1]);
  int64 *ids = malloc(n * sizeof(int64)); val = malloc(n * sizeof(double));
  for (int64 i = 0; i < n; i++){ ids[i] = i; val[i] = GAS; }
  /* only the first quintile's select: the costliest part we steer */
  int64 first = (int64) floor(0.2 * (n - 1));
  SelectSim(ids, 0, n - 1, first);
  for (int64 i = 0; i < n; i++) if (val[i] == GAS) val[i] = (double) nextv++;
  /* the initial array: position p held id p */
  double *a = malloc(n * sizeof(double));
  for (int64 p = 0; p < n; p++) a[p] = val[p];
  FILE *f = fopen(argv[2], "w"); fwrite(a, sizeof(double), n, f); fclose(f);
  /* time the real Select on it and on a shuffled copy */
  double *b = malloc(n * sizeof(double)); memcpy(b, a, n * sizeof(double));
  clock_t c0 = clock(); Select(b, 0, n - 1, first); clock_t c1 = clock();
  for (int64 i = n - 1; i > 0; i--){ int64 j = random() % (i + 1); double t = a[i]; a[i] = a[j]; a[j] = t; }
  clock_t c2 = clock(); Select(a, 0, n - 1, first); clock_t c3 = clock();
  printf("n=%lld adversarial %.3fs shuffled %.3fs\n", (long long) n, (double)(c1-c0)/CLOCKS_PER_SEC, (double)(c3-c2)/CLOCKS_PER_SEC);
  return 0;
}
