#include "engine/cuda_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "bundle/fatbin.h"
#include "engine/step_schedule.h"
#include "kernels/cuda/abi.h"
#include "kernels/cuda/cuda_driver.h"
#include "rptq/error.h"

namespace rptq::engine {

using cuda::CUdeviceptr;
using cuda::Driver;

namespace {

constexpr const char* kWhere = "cuda";

// Device memory freed with the object that owns it.
class DeviceBuffer {
 public:
  DeviceBuffer(const Driver& d, uint64_t bytes, const char* what) : d_(&d) {
    if (bytes == 0) return;
    const cuda::CUresult r = d.cuMemAlloc(&ptr_, bytes);
    if (r != 0) fail(kWhere, "cannot allocate " + std::to_string(bytes) + " bytes of device memory for the " + what +
                                 " (" + cuda::error_text(d, r) + ")");
  }
  ~DeviceBuffer() {
    if (ptr_) d_->cuMemFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  CUdeviceptr get() const { return ptr_; }
  template <class T>
  T* as(uint64_t offset = 0) const {
    return reinterpret_cast<T*>(static_cast<uintptr_t>(ptr_ + offset));
  }

 private:
  const Driver* d_;
  CUdeviceptr ptr_ = 0;
};

// Page-locked host memory, so that copies are asynchronous and can be captured in a graph.
class PinnedBuffer {
 public:
  PinnedBuffer(const Driver& d, uint64_t bytes) : d_(&d) {
    cuda::check(d, d.cuMemHostAlloc(&ptr_, bytes, 0), "pinned host memory");
  }
  ~PinnedBuffer() {
    if (ptr_) d_->cuMemFreeHost(ptr_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  const Driver* d_;
  void* ptr_ = nullptr;
};

const char* section_name(bundle::Target t) { return t == bundle::Target::CudaSm90 ? "sm_90" : "sm_87"; }

}  // namespace

class CudaModel {
 public:
  const Driver* driver = nullptr;
  cuda::DeviceInfo gpu;
  cuda::CUcontext context = nullptr;
  cuda::CUmodule module = nullptr;
  std::string section;  // "sm_90"
  std::vector<DeviceStep> steps;
  StepSchedule schedule;  // which steps run concurrently, on which of a session's streams
  std::string profile_path;  // $RPTQ_CUDA_PROFILE: sessions time every step and write totals here
  std::map<std::string, cuda::CUfunction> functions;  // every kernel of the module, by name
  std::unique_ptr<DeviceBuffer> data;                 // the bundle's data segment
  const uint8_t* host_data = nullptr;
  uint64_t data_size = 0;
  std::unique_ptr<DeviceBuffer> folds;  // the tensor-core steps' folds (device_setup_launches)
  std::vector<uint64_t> fold_offset;    // per step, into folds

  const float* fold(size_t step) const {
    return has_mma_kernel(steps[step]) ? folds->as<float>(fold_offset[step]) : nullptr;
  }

  // The device address of a pointer into the bundle's data segment (null stays null).
  template <class T>
  T* on_device(const T* host) const {
    if (!host) return nullptr;
    const auto* p = reinterpret_cast<const uint8_t*>(host);
    if (p < host_data || p >= host_data + data_size)
      fail(kWhere, "a weight pointer lies outside the bundle's data segment");
    return reinterpret_cast<T*>(static_cast<uintptr_t>(data->get() + static_cast<uint64_t>(p - host_data)));
  }

  ~CudaModel() {
    if (context) driver->cuCtxSetCurrent(context);
    if (module) driver->cuModuleUnload(module);
    data.reset();
    if (context) driver->cuDevicePrimaryCtxRelease(gpu.ordinal);
  }
};

class CudaSession {
 public:
  explicit CudaSession(std::shared_ptr<const ModelBinding> model);
  ~CudaSession();
  void forward(const int32_t* ids, int64_t n, int64_t past, float* logits, bool all_rows);

 private:
  rptq_cuda_args step_args(size_t i) const;
  void enqueue(int64_t n, bool all_rows);
  void* arena(int buffer) const { return arena_->as<uint8_t>(model_->buffers[static_cast<size_t>(buffer)].offset); }
  cuda::CUevent make_event(unsigned flags = cuda::CU_EVENT_DISABLE_TIMING);
  std::string profile_key(size_t step, int64_t rows) const;
  void write_profile() const;

  std::shared_ptr<const ModelBinding> model_;  // holds the CudaModel (model_->cuda)
  const CudaModel& cm_;
  const Driver& d_;
  std::unique_ptr<DeviceBuffer> arena_, kv_, ids_, past_, logits_, scratch_;
  std::unique_ptr<PinnedBuffer> host_ids_, host_past_, host_logits_;
  std::vector<uint64_t> kv_offset_;  // per layer: K at [2l], V at [2l + 1]
  std::vector<rptq_cuda_args> args_;  // per step, all but the call's rows (enqueue)
  // One stream per lane of the model's schedule (lanes_[0] copies the inputs and outputs); events:
  // after each step that others wait for, after the input copies, at the end of each lane.
  std::vector<cuda::CUstream> lanes_;
  std::vector<cuda::CUevent> events_;  // every event, for the destructor
  std::vector<cuda::CUevent> step_done_, lane_done_;
  cuda::CUevent inputs_ready_ = nullptr;
  cuda::CUgraphExec decode_graph_ = nullptr;
  bool decode_graph_tried_ = false;
  // Profiling ($RPTQ_CUDA_PROFILE): an event before each step and after the last, and the time of
  // each kind of step summed over the session.
  struct StepTime {
    double ms = 0;
    int64_t calls = 0;
  };
  std::vector<cuda::CUevent> marks_;
  std::vector<int64_t> mark_rows_;  // per step: the rows of the call last enqueued
  std::map<std::string, StepTime> profile_;
};

namespace {

// Runs every step's setup kernels (device_setup_launches) once, into memory the model keeps.
void run_setup(CudaModel& cm, const ModelBinding& m) {
  const Driver& d = *cm.driver;
  uint64_t bytes = 0;
  for (const DeviceStep& s : cm.steps) {
    cm.fold_offset.push_back(bytes);
    if (has_mma_kernel(s)) bytes += (static_cast<uint64_t>(s.out) * sizeof(float) + 255) / 256 * 256;
  }
  if (bytes == 0) return;
  cm.folds = std::make_unique<DeviceBuffer>(d, bytes, "zero-point folds");
  for (size_t i = 0; i < cm.steps.size(); ++i) {
    const PlanStep& s = m.plan[i];
    for (const DeviceLaunch& l : device_setup_launches(cm.steps[i], i)) {
      const cpu::LinearParams& w = m.layers[static_cast<size_t>(s.layer)].linear[static_cast<size_t>(s.linear)];
      rptq_cuda_args a;
      std::memset(&a, 0, sizeof a);
      a.codes = cm.on_device(w.codes);
      a.w_scale = cm.on_device(w.scale);
      a.w_zero = cm.on_device(w.zero);
      a.out[0] = const_cast<float*>(cm.fold(i));
      void* params[] = {&a};
      cuda::check(d,
                  d.cuLaunchKernel(cm.functions.at(l.kernel), l.grid[0], l.grid[1], l.grid[2], l.block, 1, 1,
                                   l.shared_bytes, nullptr, params, nullptr),
                  l.kernel.c_str());
    }
  }
  cuda::check(d, d.cuCtxSynchronize(), "computing the zero-point folds");
}

}  // namespace

std::shared_ptr<const CudaModel> load_cuda_model(const bundle::LoadedBundle& b, const ModelBinding& m,
                                                 std::string* why) {
  const bundle::KernelSection* sections[] = {b.kernel_section(bundle::Target::CudaSm90),
                                             b.kernel_section(bundle::Target::CudaSm87)};
  if (!sections[0] && !sections[1]) {
    *why = "the bundle has no CUDA code (compile with --target h100 or jetson-orin)";
    return nullptr;
  }
  const Driver* d = cuda::load_driver(why);
  if (!d) return nullptr;
  const std::vector<cuda::DeviceInfo> devices = cuda::list_devices(*d);
  if (devices.empty()) {
    *why = "no CUDA device";
    return nullptr;
  }
  int ordinal = 0;
  if (const char* v = std::getenv("RPTQ_CUDA_DEVICE"); v && *v) ordinal = std::atoi(v);
  if (ordinal < 0 || ordinal >= static_cast<int>(devices.size())) {
    *why = "RPTQ_CUDA_DEVICE=" + std::to_string(ordinal) + " but there are " + std::to_string(devices.size()) +
           " devices";
    return nullptr;
  }
  const cuda::DeviceInfo& dev = devices[static_cast<size_t>(ordinal)];
  // The section whose cubin is this GPU's architecture; else one whose PTX the driver can compile
  // for it (PTX for compute_XY runs on XY and later).
  const bundle::KernelSection* section = nullptr;
  for (const bundle::KernelSection* s : sections) {
    if (!s) continue;
    const int sm = s->target() == bundle::Target::CudaSm90 ? 90 : 87;
    if (sm == dev.sm) section = s;
  }
  for (const bundle::KernelSection* s : sections)
    if (!section && s) {
      const bundle::ByteView code = b.span(*s->code());
      for (const bundle::FatbinEntry& e : bundle::parse_fatbin(code.data, code.size, b.name()))
        if (e.kind == bundle::FatbinEntry::Ptx && e.sm <= dev.sm) section = s;
    }
  if (!section) {
    *why = "the bundle's CUDA code is for " + std::string(sections[0] ? "sm_90" : "") +
           (sections[0] && sections[1] ? " and " : "") + (sections[1] ? "sm_87" : "") + ", not this GPU's sm_" +
           std::to_string(dev.sm) + " (" + dev.name + ")";
    return nullptr;
  }
  if (section->abi_version() != RPTQ_CUDA_ABI_VERSION) {
    *why = "the bundle's CUDA code has ABI version " + std::to_string(section->abi_version()) +
           ", this runtime runs version " + std::to_string(RPTQ_CUDA_ABI_VERSION) + " (recompile the bundle)";
    return nullptr;
  }
  auto model = std::make_shared<CudaModel>();
  model->driver = d;
  model->gpu = dev;
  model->section = section_name(section->target());
  model->steps = device_steps(m);
  // Three lanes take OPT's Q, K and V projections at once; RPTQ_CUDA_STREAMS=1 runs the plan in
  // order, as profiling does (a step's time is then the interval between its neighbours' events).
  int lanes = 3;
  if (const char* v = std::getenv("RPTQ_CUDA_STREAMS"); v && *v) lanes = std::max(1, std::atoi(v));
  if (const char* v = std::getenv("RPTQ_CUDA_PROFILE"); v && *v) {
    model->profile_path = v;
    lanes = 1;
  }
  model->schedule = schedule_steps(m.plan, m.buffers, m.max_tokens, lanes);
  cuda::check(*d, d->cuDevicePrimaryCtxRetain(&model->context, dev.ordinal), "cuDevicePrimaryCtxRetain");
  cuda::check(*d, d->cuCtxSetCurrent(model->context), "cuCtxSetCurrent");
  const bundle::ByteView code = b.span(*section->code());
  // cuModuleLoadData reads a fatbin from host memory; the bundle's spans are 64-byte aligned.
  if (const cuda::CUresult r = d->cuModuleLoadData(&model->module, code.data); r != 0) {
    *why = "the driver refused the bundle's " + model->section + " code: " + cuda::error_text(*d, r);
    return nullptr;
  }
  // The module must have been generated for exactly these steps.
  auto global = [&](const char* name, void* value, size_t size) {
    CUdeviceptr p = 0;
    size_t bytes = 0;
    if (d->cuModuleGetGlobal(&p, &bytes, model->module, name) != 0 || bytes != size) return false;
    cuda::check(*d, d->cuMemcpyDtoH(value, p, size), name);
    return true;
  };
  uint32_t abi = 0;
  uint64_t fingerprint = 0;
  if (!global("rptq_cuda_abi_version", &abi, sizeof abi) || abi != RPTQ_CUDA_ABI_VERSION ||
      !global("rptq_cuda_fingerprint", &fingerprint, sizeof fingerprint) ||
      fingerprint != device_fingerprint(model->steps)) {
    *why = "the bundle's CUDA code was generated for another model or plan (fingerprint mismatch)";
    return nullptr;
  }
  for (const std::string& name : device_kernel_names(model->steps)) {
    cuda::CUfunction f = nullptr;
    if (d->cuModuleGetFunction(&f, model->module, name.c_str()) != 0) {
      *why = "the bundle's CUDA code lacks kernel " + name;
      return nullptr;
    }
    model->functions.emplace(name, f);
  }
  // Weights stay in the bundle's layout: one copy of the data segment, addressed by offset.
  model->host_data = b.data_segment();
  model->data_size = b.header().data_size;
  model->data = std::make_unique<DeviceBuffer>(*d, model->data_size, "weights");
  cuda::check(*d, d->cuMemcpyHtoD(model->data->get(), model->host_data, model->data_size), "uploading the weights");
  run_setup(*model, m);
  return model;
}

std::string cuda_backend_name(const CudaModel& m) { return "cuda " + m.section + " (" + m.gpu.name + ")"; }

CudaSession::CudaSession(std::shared_ptr<const ModelBinding> model)
    : model_(std::move(model)), cm_(*model_->cuda), d_(*cm_.driver) {
  const ModelBinding& m = *model_;
  const OptConfig& c = m.config;
  cuda::check(d_, d_.cuCtxSetCurrent(cm_.context), "cuCtxSetCurrent");
  arena_ = std::make_unique<DeviceBuffer>(d_, m.arena_bytes, "activation arena");
  uint64_t kv_bytes = 0;
  const uint64_t cells = static_cast<uint64_t>(c.max_positions * c.hidden_size);
  for (const LayerBinding& L : m.layers)
    for (bundle::ActPoint p : {bundle::ActPoint::Key, bundle::ActPoint::Value}) {
      kv_offset_.push_back(kv_bytes);
      kv_bytes += (cells * (L.act[static_cast<size_t>(p)].enabled() ? 1 : 4) + 255) / 256 * 256;
    }
  kv_ = std::make_unique<DeviceBuffer>(d_, kv_bytes, "KV cache");
  ids_ = std::make_unique<DeviceBuffer>(d_, static_cast<uint64_t>(m.max_tokens) * 4, "token ids");
  past_ = std::make_unique<DeviceBuffer>(d_, 8, "position");
  const uint64_t logit_bytes = static_cast<uint64_t>(m.max_tokens * c.vocab_size) * 4;
  logits_ = std::make_unique<DeviceBuffer>(d_, logit_bytes, "logits");
  // One for every attention step: they run one after another (each layer's waits for the last).
  uint64_t scratch_floats = 0;
  for (const DeviceStep& step : cm_.steps) scratch_floats = std::max(scratch_floats, attention_scratch_floats(step));
  scratch_ = std::make_unique<DeviceBuffer>(d_, scratch_floats * sizeof(float), "attention scratch");
  host_ids_ = std::make_unique<PinnedBuffer>(d_, static_cast<uint64_t>(m.max_tokens) * 4);
  host_past_ = std::make_unique<PinnedBuffer>(d_, 8);
  host_logits_ = std::make_unique<PinnedBuffer>(d_, logit_bytes);
  for (size_t i = 0; i < m.plan.size(); ++i) args_.push_back(step_args(i));
  const StepSchedule& sched = cm_.schedule;
  for (int l = 0; l < sched.lanes; ++l) {
    lanes_.push_back(nullptr);
    cuda::check(d_, d_.cuStreamCreate(&lanes_.back(), cuda::CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  }
  if (sched.lanes > 1) {
    inputs_ready_ = make_event();
    for (int l = 0; l < sched.lanes; ++l) lane_done_.push_back(l == 0 ? nullptr : make_event());
  }
  for (size_t i = 0; i < m.plan.size(); ++i) step_done_.push_back(sched.signals[i] ? make_event() : nullptr);
  if (!cm_.profile_path.empty()) {
    for (size_t i = 0; i <= m.plan.size(); ++i) marks_.push_back(make_event(0));
    mark_rows_.resize(m.plan.size());
  }
}

cuda::CUevent CudaSession::make_event(unsigned flags) {
  events_.push_back(nullptr);
  cuda::check(d_, d_.cuEventCreate(&events_.back(), flags), "cuEventCreate");
  return events_.back();
}

// "linear QProj decode", "attention prefill", ...: the step's op (and linear), and the call's size.
std::string CudaSession::profile_key(size_t step, int64_t rows) const {
  static const char* kOps[] = {"embed", "norm", "linear", "attention", "lm_head"};
  std::string key = kOps[static_cast<size_t>(cm_.steps[step].op)];
  if (cm_.steps[step].op == DeviceOp::Linear) key += std::string(" ") + bundle::EnumNameLinearId(model_->plan[step].linear);
  return key + (rows == 1 ? " decode" : rows < kManyRows ? " rows" : " prefill");
}

void CudaSession::write_profile() const {
  std::string json = "{\"backend\": \"" + cuda_backend_name(cm_) + "\", \"steps\": {";
  bool first = true;
  for (const auto& [key, t] : profile_) {
    char line[256];
    std::snprintf(line, sizeof line, "%s\n  \"%s\": {\"ms\": %.6f, \"calls\": %lld}", first ? "" : ",", key.c_str(),
                  t.ms, static_cast<long long>(t.calls));
    json += line;
    first = false;
  }
  json += "\n}}\n";
  std::FILE* f = std::fopen(cm_.profile_path.c_str(), "w");
  if (!f || std::fwrite(json.data(), 1, json.size(), f) != json.size() || std::fclose(f) != 0)
    std::fprintf(stderr, "rptq: cannot write the CUDA profile to %s\n", cm_.profile_path.c_str());
}

CudaSession::~CudaSession() {
  d_.cuCtxSetCurrent(cm_.context);  // the session may die on another thread than it ran on
  if (!marks_.empty()) write_profile();
  if (decode_graph_) d_.cuGraphExecDestroy(decode_graph_);
  for (cuda::CUevent e : events_)
    if (e) d_.cuEventDestroy(e);
  for (cuda::CUstream s : lanes_)
    if (s) d_.cuStreamDestroy(s);
}

// Step i's arguments for a call over max_tokens rows; enqueue sets the call's rows.
rptq_cuda_args CudaSession::step_args(size_t i) const {
  const CudaModel& cm = cm_;
  const ModelBinding& m = *model_;
  const PlanStep& s = m.plan[i];
  const LayerBinding* L = s.layer >= 0 ? &m.layers[static_cast<size_t>(s.layer)] : nullptr;
  rptq_cuda_args a;
  std::memset(&a, 0, sizeof a);
  a.past = past_->as<int64_t>();
  a.ids = ids_->as<int32_t>();
  for (size_t k = 0; k < s.inputs.size() && k < 3; ++k) a.in[k] = arena(s.inputs[k]);
  if (!s.outputs.empty()) a.out[0] = arena(s.outputs[0]);
  auto weights = [&](const cpu::LinearParams& w) {
    a.codes = cm.on_device(w.codes);
    a.w_scale = cm.on_device(w.scale);
    a.w_zero = cm.on_device(w.zero);
    a.weight = cm.on_device(w.weight);
    a.bias = cm.on_device(w.bias);
  };
  switch (cm.steps[i].op) {
    case DeviceOp::Embed:
      a.table = cm.on_device(m.embed_tokens);
      a.positions = cm.on_device(m.embed_positions);
      weights(m.lm_head);
      break;
    case DeviceOp::Norm: {
      const NormBinding& nb = s.norm == 0 ? L->attn_norm : s.norm == 1 ? L->ffn_norm : m.final_norm;
      a.gamma = cm.on_device(nb.gamma);
      a.beta = cm.on_device(nb.beta);
      a.write_index = cm.on_device(nb.write_index);
      break;
    }
    case DeviceOp::Linear:
      weights(L->linear[static_cast<size_t>(s.linear)]);
      a.fold = cm.fold(i);
      break;
    case DeviceOp::Attention:
      a.k_cache = kv_->as<uint8_t>(kv_offset_[2 * static_cast<size_t>(s.layer)]);
      a.v_cache = kv_->as<uint8_t>(kv_offset_[2 * static_cast<size_t>(s.layer) + 1]);
      a.scratch = scratch_->as<float>();
      break;
    case DeviceOp::LmHead:
      weights(m.lm_head);
      a.out[0] = logits_->as<float>();
      break;
  }
  return a;
}

void CudaSession::enqueue(int64_t n, bool all_rows) {
  const StepSchedule& sched = cm_.schedule;
  cuda::CUstream main = lanes_[0];
  cuda::check(d_, d_.cuMemcpyHtoDAsync(ids_->get(), host_ids_->as<void>(), static_cast<size_t>(n) * 4, main),
              "copying token ids");
  cuda::check(d_, d_.cuMemcpyHtoDAsync(past_->get(), host_past_->as<void>(), 8, main), "copying the position");
  // Every lane starts after the input copies (in a capture, this wait is what brings a lane into
  // the graph) and the main lane waits for every other before copying the logits (a capture must
  // end with every lane joined).
  if (inputs_ready_) {
    cuda::check(d_, d_.cuEventRecord(inputs_ready_, main), "cuEventRecord");
    for (size_t l = 1; l < lanes_.size(); ++l)
      cuda::check(d_, d_.cuStreamWaitEvent(lanes_[l], inputs_ready_, 0), "cuStreamWaitEvent");
  }
  for (size_t i = 0; i < cm_.steps.size(); ++i) {
    const StepSchedule::Step& step = sched.steps[i];
    cuda::CUstream lane = lanes_[static_cast<size_t>(step.lane)];
    for (int w : step.waits)
      cuda::check(d_, d_.cuStreamWaitEvent(lane, step_done_[static_cast<size_t>(w)], 0), "cuStreamWaitEvent");
    if (!marks_.empty()) cuda::check(d_, d_.cuEventRecord(marks_[i], lane), "cuEventRecord");
    rptq_cuda_args a = args_[i];
    int64_t rows = n;
    if (cm_.steps[i].op == DeviceOp::LmHead && !all_rows) {
      a.in[0] = static_cast<const float*>(a.in[0]) + (n - 1) * cm_.steps[i].in;
      rows = 1;
    }
    a.rows = rows;
    if (!marks_.empty()) mark_rows_[i] = rows;
    for (const DeviceLaunch& l : device_launches(cm_.steps[i], i, rows)) {
      void* params[] = {&a};
      cuda::check(d_,
                  d_.cuLaunchKernel(cm_.functions.at(l.kernel), l.grid[0], l.grid[1], l.grid[2], l.block, 1, 1,
                                    l.shared_bytes, lane, params, nullptr),
                  l.kernel.c_str());
    }
    if (step_done_[i]) cuda::check(d_, d_.cuEventRecord(step_done_[i], lane), "cuEventRecord");
  }
  if (!marks_.empty()) cuda::check(d_, d_.cuEventRecord(marks_.back(), main), "cuEventRecord");
  for (size_t l = 1; l < lanes_.size(); ++l) {
    cuda::check(d_, d_.cuEventRecord(lane_done_[l], lanes_[l]), "cuEventRecord");
    cuda::check(d_, d_.cuStreamWaitEvent(main, lane_done_[l], 0), "cuStreamWaitEvent");
  }
  const int64_t logit_rows = all_rows ? n : 1;
  cuda::check(d_,
              d_.cuMemcpyDtoHAsync(host_logits_->as<void>(), logits_->get(),
                                   static_cast<size_t>(logit_rows * model_->config.vocab_size) * 4, main),
              "copying logits");
}

void CudaSession::forward(const int32_t* ids, int64_t n, int64_t past, float* logits, bool all_rows) {
  cuda::check(d_, d_.cuCtxSetCurrent(cm_.context), "cuCtxSetCurrent");
  std::memcpy(host_ids_->as<int32_t>(), ids, static_cast<size_t>(n) * 4);
  *host_past_->as<int64_t>() = past;
  cuda::CUstream main = lanes_[0];
  // Decode (one token, last-row logits) replays a graph of the whole step: every argument is the
  // same each time, the ids and position travel through the pinned buffers it copies from.
  const bool decode = n == 1;
  if (decode && !decode_graph_tried_ && marks_.empty()) {  // profiling times each step: no graph
    decode_graph_tried_ = true;
    cuda::CUgraph graph = nullptr;
    if (d_.cuStreamBeginCapture(main, cuda::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) == 0) {
      bool captured = false;
      try {
        enqueue(1, false);
        captured = true;
      } catch (const Error&) {
        // Ending the capture below leaves capture mode; the plain path then reports the error.
      }
      const bool ended = d_.cuStreamEndCapture(main, &graph) == 0;
      if (captured && ended && graph && d_.cuGraphInstantiateWithFlags(&decode_graph_, graph, 0) != 0)
        decode_graph_ = nullptr;
      if (graph) d_.cuGraphDestroy(graph);
    }
  }
  if (decode && decode_graph_)
    cuda::check(d_, d_.cuGraphLaunch(decode_graph_, main), "cuGraphLaunch");
  else
    enqueue(n, all_rows);
  cuda::check(d_, d_.cuStreamSynchronize(main), "running the model");
  for (size_t i = 0; i + 1 < marks_.size(); ++i) {
    float ms = 0;
    cuda::check(d_, d_.cuEventElapsedTime(&ms, marks_[i], marks_[i + 1]), "cuEventElapsedTime");
    StepTime& t = profile_[profile_key(i, mark_rows_[i])];
    t.ms += ms;
    ++t.calls;
  }
  if (logits) {
    const int64_t rows = all_rows ? n : 1;
    std::memcpy(logits, host_logits_->as<float>(),
                static_cast<size_t>(rows * model_->config.vocab_size) * sizeof(float));
  }
}

void CudaSessionDeleter::operator()(CudaSession* s) const { delete s; }

CudaSessionPtr make_cuda_session(std::shared_ptr<const ModelBinding> model) {
  return CudaSessionPtr(new CudaSession(std::move(model)));
}

void cuda_forward(CudaSession& s, const int32_t* ids, int64_t n, int64_t past, float* logits, bool all_rows) {
  s.forward(ids, n, past, logits, all_rows);
}

}  // namespace rptq::engine
