#pragma once
// DCQ runs (methods.md 5): `train --config X` with a distill: section trains every section of the
// quantized student against the frozen float teacher, then stitches them; `--section i` trains only
// section i (1-based) into its own checkpoint, so sections can run as separate processes.
//
// Run directory:
//   section-<i>/last.ckpt      the section in progress (resumed with --resume auto)
//   section-<i>/section.ckpt   the finished section (its presence marks it done; later runs reuse it)
//   section-<i>/metrics.csv    per-section train loss and test loss (and accuracy for the last)
//   last.ckpt, best.ckpt       the stitched network: an ordinary checkpoint (evaluate, export)
//   stitch.txt                 test accuracy of the stitched network before and after BN re-estimation
//   finetune/                  the optional end-to-end fine-tune (distill.finetune_epochs)
//
// Each section builds its own student, loader and optimizer from the config alone, so training a
// section never depends on (or changes) another one, and sequential and separate-process runs give
// identical sections.

#include "apps/trainer.hpp"

#include <cstdint>

namespace lowbit::app {

// section: 0 trains every unfinished section then stitches; i >= 1 trains only section i.
// Returns one of the exit codes of trainer.hpp.
int run_distillation(const TrainRequest& request, std::int64_t section);

}  // namespace lowbit::app
