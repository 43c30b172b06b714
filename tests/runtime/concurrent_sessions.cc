// rptq-test-concurrent-sessions BUNDLE: one loaded model, several sessions generating at once on
// separate threads must produce exactly what each produces alone (the model is shared read-only;
// sessions own their KV caches and arenas). Also frees the model before its sessions. Exit 0 on
// success; prints what differed otherwise.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "rptq/runtime.hpp"

namespace {

std::string generate(rptq::rt::Session& s, const std::string& prompt) {
  rptq_sampling p;
  rptq_sampling_init(&p);
  p.max_new_tokens = 24;
  p.stop_at_eos = 0;
  std::string out;
  s.generate(prompt, p, [&](int32_t, const std::string& bytes) {
    out += bytes;
    return true;
  });
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s bundle.rptq\n", argv[0]);
    return 2;
  }
  try {
    const std::vector<std::string> prompts = {"The history of the city", "In 1923 the", "A new species of",
                                              "The film was released"};
    std::vector<std::string> alone;
    {
      rptq::rt::Model model(argv[1]);
      for (const auto& p : prompts) {
        rptq::rt::Session s(model);
        alone.push_back(generate(s, p));
      }
    }
    std::vector<std::string> together(prompts.size());
    std::vector<std::unique_ptr<rptq::rt::Session>> sessions;
    {
      rptq::rt::Model model(argv[1]);
      for (size_t i = 0; i < prompts.size(); ++i) sessions.push_back(std::make_unique<rptq::rt::Session>(model));
    }  // the model handle is gone; the sessions keep it alive
    std::vector<std::thread> threads;
    for (size_t i = 0; i < prompts.size(); ++i)
      threads.emplace_back([&, i] {
        for (int rep = 0; rep < 3; ++rep) {
          sessions[i]->reset();
          together[i] = generate(*sessions[i], prompts[i]);
        }
      });
    for (auto& t : threads) t.join();
    int bad = 0;
    for (size_t i = 0; i < prompts.size(); ++i)
      if (alone[i] != together[i]) {
        std::printf("session %zu differs:\n  alone:    %s\n  together: %s\n", i, alone[i].c_str(), together[i].c_str());
        ++bad;
      }
    std::printf("%zu concurrent sessions: %s\n", prompts.size(), bad ? "MISMATCH" : "identical to sequential runs");
    return bad ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
