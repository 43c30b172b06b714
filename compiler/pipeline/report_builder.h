// Turns the driver's per-layer results into the report's per-activation records.
#pragma once

#include "pipeline/rptq_quantizer.h"
#include "report/report_data.h"

namespace rptq::pipeline {

std::vector<report::ActivationReport> activation_reports(const QuantizedModel& model);

}  // namespace rptq::pipeline
