# -*- Python -*-
# lit configuration of the rptq dialect tests. Run lit on the build directory
# (<build>/tests/lit), whose lit.site.cfg.py sets the tool paths and loads this file.

import os

import lit.formats

config.name = "rptq"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in"]

if not hasattr(config, "rptq_tools_dir"):
    lit_config.fatal("run lit on the build tree (<build>/tests/lit), not the source tree")

config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = config.rptq_lit_obj_root

rptq_opt = os.path.join(config.rptq_tools_dir, "rptq-opt")
if not os.path.exists(rptq_opt):
    lit_config.fatal("rptq-opt not found at %s; build the rptq-opt target first" % rptq_opt)

# Optional tools: tests that need them say `REQUIRES: <tool>` and are skipped
# when the tool has not been built.
for tool in ["rptq-builder-test", "rptq-compile"]:
    if os.path.exists(os.path.join(config.rptq_tools_dir, tool)):
        config.available_features.add(tool)

config.substitutions.append(("%rptq_src_root", config.rptq_src_root))

# Tools are found through PATH: rptq-opt first, then FileCheck's directory.
path = [config.rptq_tools_dir, os.path.dirname(config.rptq_filecheck)]
config.environment["PATH"] = os.pathsep.join(path + [config.environment.get("PATH", os.environ.get("PATH", ""))])

# The transformers oracle writes checkpoints for the importer tests.
config.substitutions.append(("%python", config.rptq_python))
config.substitutions.append(("%oracle", os.path.join(config.rptq_src_root, "tests", "oracle", "opt_oracle.py")))
# Shared test data (tokenizer files, evaluation text) beside the checkout.
config.substitutions.append(("%shared", config.rptq_shared_dir))
