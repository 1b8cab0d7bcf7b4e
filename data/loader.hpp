#pragma once
// DataLoader: batches of (transformed) examples from a Dataset, assembled by background workers
// and delivered in order, with a resumable position.
//
// Order and randomness (all derived from options.seed, independent of history and threads):
// - The batches form one stream: epoch 0 batch 0, 1, ..., batches_per_epoch() - 1, epoch 1 ...
// - Epoch e visits dataset indices order_e[0 .. N): with shuffle, order_e =
//   Rng(seed).fork(kShuffleStream).fork(e).permutation(N); without, the identity.
// - Batch b of epoch e holds positions [b * batch_size, min((b + 1) * batch_size, N)) of order_e;
//   with drop_last the final short batch is skipped; limit_batches > 0 truncates every epoch.
// - The example at position p of epoch e is transformed with its own generator
//   Rng(seed).fork(kAugmentStream).fork(e * 2^32 + p),
//   so its augmentation does not depend on which worker built it, or when.
// Hence batch (e, b) is a pure function of (dataset, options, e, b): set_position({e, b}) followed
// by next() reproduces bit-exactly what an uninterrupted loader would have delivered there, and
// any number of workers delivers the same stream as one.
//
// Threads: `workers` background threads claim whole batches in stream order and park them in a
// bounded reorder buffer (at most `prefetch` batches claimed but not yet delivered); next()
// hands them out in order. Workers write each example straight into the batch tensor (or via a
// scratch buffer only when a transform needs more room than its output). workers = 0 builds each
// batch in next()'s thread. Destruction, or set_position(), stops and joins the workers even
// mid-epoch. A DataLoader is used from one thread; the Dataset must have a thread-safe get().

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "data/dataset.hpp"
#include "data/transforms.hpp"

#include <array>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace lowbit::data {

// Where the stream stands: the next batch next() returns is batch `next_batch` of `epoch`.
// Always normalized: 0 <= next_batch < batches_per_epoch().
struct LoaderPosition {
  std::int64_t epoch = 0;
  std::int64_t next_batch = 0;

  // Byte form (little-endian): "LBLP" | u32 version 1 | i64 epoch | i64 next_batch.
  static constexpr std::size_t kBytes = 24;
  std::array<std::uint8_t, kBytes> to_bytes() const;
  // Validates length, magic, version and non-negative fields; throws core::Error otherwise.
  static LoaderPosition from_bytes(std::span<const std::uint8_t> bytes);
  bool operator==(const LoaderPosition&) const = default;
};

struct Batch {
  core::Tensor images;  // (N, C, H, W) f32, N <= batch_size
  core::Tensor labels;  // (N) i64
  std::int64_t epoch = 0;
  std::int64_t index_in_epoch = 0;
  bool last_in_epoch = false;  // index_in_epoch == batches_per_epoch() - 1
  std::int64_t size() const { return labels.numel(); }
};

struct LoaderOptions {
  std::int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  std::uint64_t seed = 0;
  std::int64_t workers = 1;        // background threads; 0 = build batches in next()'s thread
  std::int64_t prefetch = 0;       // max batches in flight; 0 = max(2, 2 * workers)
  std::int64_t limit_batches = 0;  // > 0: at most this many batches per epoch
  TransformPtr transform;          // applied to every example; null = none
};

class DataLoader {
 public:
  static constexpr std::uint64_t kShuffleStream = 0x53485546;  // "SHUF"
  static constexpr std::uint64_t kAugmentStream = 0x41554731;  // "AUG1"

  DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The batch at position() (then advances; after an epoch's last batch, to the next epoch).
  // A worker's exception (e.g. an unreadable image) is rethrown here, and the position stays.
  Batch next();

  std::int64_t batches_per_epoch() const { return batches_per_epoch_; }
  LoaderPosition position() const;
  // Moves the stream to `position` (next_batch < batches_per_epoch()); drops prefetched batches.
  void set_position(const LoaderPosition& position);

  // Shape of one example after the transform.
  ItemShape item_shape() const { return out_shape_; }
  const Dataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }

  // Dataset index at each position of `epoch` (N entries).
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;
  // Builds batch `index` of `epoch` in the calling thread, without touching the stream.
  Batch make_batch(std::int64_t epoch, std::int64_t index) const;

 private:
  struct Ready {
    Batch batch;
    std::exception_ptr error;
  };

  Batch build(std::int64_t sequence) const;  // sequence = epoch * batches_per_epoch + batch
  std::shared_ptr<const std::vector<std::int64_t>> order_for(std::int64_t epoch) const;
  void start_workers();
  void stop_workers();
  void worker_loop();
  void forget_orders_before(std::int64_t epoch);

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  ItemShape in_shape_, out_shape_;
  std::int64_t scratch_numel_ = 0;  // 0: examples are built in place in the batch
  bool random_transform_ = false;
  std::int64_t batches_per_epoch_ = 0;
  std::int64_t capacity_ = 0;
  core::Rng shuffle_rng_;
  core::Rng augment_rng_;

  // Permutations of the epochs in flight (guarded by orders_mutex_).
  mutable std::mutex orders_mutex_;
  mutable std::map<std::int64_t, std::shared_ptr<const std::vector<std::int64_t>>> orders_;

  // Pipeline state (guarded by mutex_).
  mutable std::mutex mutex_;
  std::condition_variable space_cv_;  // workers wait for room
  std::condition_variable ready_cv_;  // next() waits for its batch
  std::int64_t next_claim_ = 0;       // sequence number the next worker builds
  std::int64_t next_deliver_ = 0;     // sequence number next() returns
  std::map<std::int64_t, Ready> ready_;
  bool stop_ = false;
  bool started_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace lowbit::data
