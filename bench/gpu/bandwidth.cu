// Device memory bandwidth probe for the decode bound (bench/gpu/speed.ts).
//   nvcc -O3 -arch=sm_90 -o bandwidth bench/gpu/bandwidth.cu && ./bandwidth
// Prints one JSON line: cudaMemcpy device-to-device and a 16-byte copy kernel (bytes read + bytes
// written per second), and a read-only reduction kernel (bytes read per second), each the median
// of 20 timed runs (CUDA events) after 3 warm-ups, on 2 GiB buffers filled with non-zero data.
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <vector>
#include <cuda_runtime.h>

#define CHECK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { \
  fprintf(stderr, "CUDA error %s at %s:%d\n", cudaGetErrorString(e), __FILE__, __LINE__); exit(1); } } while (0)

__global__ void fill(uint4* p, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    p[i] = make_uint4((unsigned)i * 2654435761u, (unsigned)i ^ 0x9e3779b9u, 7u, (unsigned)(i >> 3) + 1u);
}

__global__ void copy16(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    dst[i] = src[i];
}

__global__ void read16(const uint4* __restrict__ src, size_t n, unsigned* out) {
  unsigned acc = 0;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    uint4 v = src[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) atomicAdd(out, acc);  // keeps the loads alive
}

template <typename F> float medianMs(F run) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; i++) run();
  CHECK(cudaDeviceSynchronize());
  std::vector<float> t;
  for (int i = 0; i < 20; i++) {
    CHECK(cudaEventRecord(a));
    run();
    CHECK(cudaEventRecord(b));
    CHECK(cudaEventSynchronize(b));
    CHECK(cudaGetLastError());
    float ms;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  std::sort(t.begin(), t.end());
  return (t[9] + t[10]) / 2;
}

int main() {
  const size_t bytes = (size_t)2 << 30;
  const size_t n = bytes / sizeof(uint4);
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  uint4 *src, *dst;
  unsigned* out;
  CHECK(cudaMalloc(&src, bytes));
  CHECK(cudaMalloc(&dst, bytes));
  CHECK(cudaMalloc(&out, sizeof(unsigned)));
  int blocks = prop.multiProcessorCount * 8, threads = 256;
  fill<<<blocks, threads>>>(src, n);
  fill<<<blocks, threads>>>(dst, n);
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());
  float memcpyMs = medianMs([&] { CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice)); });
  float copyMs = medianMs([&] { copy16<<<blocks, threads>>>(src, dst, n); });
  float readMs = medianMs([&] { read16<<<blocks, threads>>>(src, n, out); });
  // Check the kernel copy really copied (first, middle, last elements).
  uint4 h[3], s[3];
  size_t idx[3] = {0, n / 2, n - 1};
  for (int k = 0; k < 3; k++) {
    CHECK(cudaMemcpy(&h[k], dst + idx[k], sizeof(uint4), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(&s[k], src + idx[k], sizeof(uint4), cudaMemcpyDeviceToHost));
  }
  bool ok = true;
  for (int k = 0; k < 3; k++) ok = ok && h[k].x == s[k].x && h[k].y == s[k].y && h[k].z == s[k].z && h[k].w == s[k].w;
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  printf("{\"bench\":\"gpu-bandwidth\",\"device\":\"%s\",\"sms\":%d,\"l2MB\":%.1f,\"memGB\":%.1f,"
         "\"bufferBytes\":%zu,\"memcpyD2D_GBs\":%.1f,\"copyKernel_GBs\":%.1f,\"readKernel_GBs\":%.1f,"
         "\"countedBytes\":\"copy: read+written; read: read\",\"copyVerified\":%s,\"cudaDriver\":%d,\"cudaRuntime\":%d}\n",
         prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1048576.0, prop.totalGlobalMem / 1e9, bytes,
         2.0 * bytes / (memcpyMs * 1e6), 2.0 * bytes / (copyMs * 1e6), 1.0 * bytes / (readMs * 1e6),
         ok ? "true" : "false", driver, runtime);
  return ok ? 0 : 1;
}
