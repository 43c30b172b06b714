#include "pipeline/report_builder.h"

namespace rptq::pipeline {

std::vector<report::ActivationReport> activation_reports(const QuantizedModel& model) {
  std::vector<report::ActivationReport> out;
  for (size_t l = 0; l < model.layers.size(); ++l) {
    const QuantizedLayer& ql = model.layers[l];
    for (size_t p = 0; p < kNumActivationPoints; ++p) {
      const quant::ActQuantSpec& spec = ql.act[p];
      report::ActivationReport a;
      a.layer = static_cast<int64_t>(l);
      a.point = activation_point_name(static_cast<ActivationPoint>(p));
      a.bits = spec.bits;
      a.min = ql.range[p].min;
      a.max = ql.range[p].max;
      a.cluster.assign(a.min.size(), 0);
      a.clusters = static_cast<int64_t>(spec.cluster_sizes.size());
      int64_t pos = 0;
      for (size_t k = 0; k < spec.cluster_sizes.size(); ++k)
        for (int64_t i = 0; i < spec.cluster_sizes[k]; ++i, ++pos)
          a.cluster[static_cast<size_t>(spec.order.empty() ? pos : spec.order[static_cast<size_t>(pos)])] =
              static_cast<int32_t>(k);
      a.error_reorder = ql.error_chosen[p];
      a.error_no_reorder = ql.error_no_reorder[p];
      a.error_per_tensor = ql.error_per_tensor[p];
      out.push_back(std::move(a));
    }
  }
  return out;
}

}  // namespace rptq::pipeline
