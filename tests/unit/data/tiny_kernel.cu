// Built by tests/CMakeLists.txt into a fatbin (sm_87 and sm_90 cubins, compute_90 PTX, nothing
// compressed) that fatbin_test reads: real nvcc output for the fatbin reader.
extern "C" __global__ void rptq_tiny_add_one(float* p, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] += 1.0f;
}
