#include "data/loader.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

namespace lowbit::data {

namespace {

constexpr std::array<std::uint8_t, 4> kPositionMagic = {'L', 'B', 'L', 'P'};
constexpr std::uint32_t kPositionVersion = 1;

template <typename T>
void put_le(std::uint8_t* out, T value) {
  std::memcpy(out, &value, sizeof(T));  // little-endian host (checked in core/io.hpp)
}

template <typename T>
T get_le(const std::uint8_t* in) {
  T value;
  std::memcpy(&value, in, sizeof(T));
  return value;
}

}  // namespace

// ---- LoaderPosition ----

std::array<std::uint8_t, LoaderPosition::kBytes> LoaderPosition::to_bytes() const {
  std::array<std::uint8_t, kBytes> out{};
  std::copy(kPositionMagic.begin(), kPositionMagic.end(), out.begin());
  put_le<std::uint32_t>(out.data() + 4, kPositionVersion);
  put_le<std::int64_t>(out.data() + 8, epoch);
  put_le<std::int64_t>(out.data() + 16, next_batch);
  return out;
}

LoaderPosition LoaderPosition::from_bytes(std::span<const std::uint8_t> bytes) {
  core::check(bytes.size() == kBytes, "loader position: {} bytes, expected {}", bytes.size(),
              kBytes);
  core::check(std::equal(kPositionMagic.begin(), kPositionMagic.end(), bytes.begin()),
              "loader position: bad magic (not a loader position record)");
  const auto version = get_le<std::uint32_t>(bytes.data() + 4);
  core::check(version == kPositionVersion,
              "loader position: format version {} is not supported (this build reads {})", version,
              kPositionVersion);
  LoaderPosition p{get_le<std::int64_t>(bytes.data() + 8), get_le<std::int64_t>(bytes.data() + 16)};
  core::check(p.epoch >= 0 && p.next_batch >= 0, "loader position: negative epoch {} or batch {}",
              p.epoch, p.next_batch);
  return p;
}

// ---- DataLoader ----

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)),
      options_(std::move(options)),
      shuffle_rng_(core::Rng(options_.seed).fork(kShuffleStream)),
      augment_rng_(core::Rng(options_.seed).fork(kAugmentStream)) {
  core::check(dataset_ != nullptr, "DataLoader: null dataset");
  const std::int64_t n = dataset_->size();
  const std::int64_t bs = options_.batch_size;
  core::check(bs > 0, "DataLoader: batch_size must be > 0, got {}", bs);
  core::check(options_.workers >= 0, "DataLoader: workers must be >= 0, got {}", options_.workers);
  core::check(options_.prefetch >= 0, "DataLoader: prefetch must be >= 0, got {}",
              options_.prefetch);
  core::check(options_.limit_batches >= 0, "DataLoader: limit_batches must be >= 0, got {}",
              options_.limit_batches);
  core::check(n < (std::int64_t{1} << 32), "DataLoader: {} has {} examples; at most 2^32 supported",
              dataset_->name(), n);
  batches_per_epoch_ = options_.drop_last ? n / bs : (n + bs - 1) / bs;
  if (options_.limit_batches > 0) {
    batches_per_epoch_ = std::min(batches_per_epoch_, options_.limit_batches);
  }
  core::check(batches_per_epoch_ > 0,
              "DataLoader: {} has {} examples, not one full batch of {}. HINT: lower batch_size{}",
              dataset_->name(), n, bs, options_.drop_last ? " or turn drop_last off" : "");
  in_shape_ = dataset_->item_shape();
  out_shape_ = in_shape_;
  if (options_.transform) {
    out_shape_ = options_.transform->output_shape(in_shape_);
    const std::int64_t need = options_.transform->max_numel(in_shape_);
    if (need > out_shape_.numel()) scratch_numel_ = need;
    random_transform_ = options_.transform->is_random();
  }
  capacity_ =
      options_.prefetch > 0 ? options_.prefetch : std::max<std::int64_t>(2, 2 * options_.workers);
}

DataLoader::~DataLoader() { stop_workers(); }

LoaderPosition DataLoader::position() const {
  std::lock_guard lock(mutex_);
  return {next_deliver_ / batches_per_epoch_, next_deliver_ % batches_per_epoch_};
}

void DataLoader::set_position(const LoaderPosition& position) {
  core::check(
      position.epoch >= 0 && position.next_batch >= 0 && position.next_batch < batches_per_epoch_,
      "DataLoader: position (epoch {}, batch {}) is outside an epoch of {} batches. HINT: "
      "resume with the batch size, drop_last and limit the position was saved with",
      position.epoch, position.next_batch, batches_per_epoch_);
  stop_workers();
  std::lock_guard lock(mutex_);
  next_deliver_ = next_claim_ = position.epoch * batches_per_epoch_ + position.next_batch;
}

std::vector<std::int64_t> DataLoader::epoch_order(std::int64_t epoch) const {
  if (!options_.shuffle) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(dataset_->size()));
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
    return order;
  }
  return *order_for(epoch);
}

std::shared_ptr<const std::vector<std::int64_t>> DataLoader::order_for(std::int64_t epoch) const {
  if (!options_.shuffle) return nullptr;
  std::lock_guard lock(orders_mutex_);
  auto& slot = orders_[epoch];
  if (!slot) {
    slot = std::make_shared<const std::vector<std::int64_t>>(
        shuffle_rng_.fork(static_cast<std::uint64_t>(epoch)).permutation(dataset_->size()));
  }
  return slot;
}

void DataLoader::forget_orders_before(std::int64_t epoch) {
  std::lock_guard lock(orders_mutex_);
  orders_.erase(orders_.begin(), orders_.lower_bound(epoch));
}

Batch DataLoader::make_batch(std::int64_t epoch, std::int64_t index) const {
  core::check(epoch >= 0 && index >= 0 && index < batches_per_epoch_,
              "DataLoader::make_batch: batch {} of epoch {} does not exist ({} per epoch)", index,
              epoch, batches_per_epoch_);
  return build(epoch * batches_per_epoch_ + index);
}

Batch DataLoader::build(std::int64_t sequence) const {
  Batch batch;
  batch.epoch = sequence / batches_per_epoch_;
  batch.index_in_epoch = sequence % batches_per_epoch_;
  batch.last_in_epoch = batch.index_in_epoch == batches_per_epoch_ - 1;
  const std::int64_t start = batch.index_in_epoch * options_.batch_size;
  const std::int64_t n = std::min(options_.batch_size, dataset_->size() - start);
  const auto order = order_for(batch.epoch);

  batch.images = core::Tensor::empty({n, out_shape_.c, out_shape_.h, out_shape_.w});
  batch.labels = core::Tensor::empty({n}, core::DType::i64);
  float* images = batch.images.data<float>();                // (n, C, H, W)
  std::int64_t* labels = batch.labels.data<std::int64_t>();  // (n)
  const std::int64_t out_numel = out_shape_.numel();
  std::vector<float> scratch(static_cast<std::size_t>(scratch_numel_));
  for (std::int64_t j = 0; j < n; ++j) {
    const std::int64_t position = start + j;
    const std::int64_t index = order ? (*order)[static_cast<std::size_t>(position)] : position;
    float* slot = images + j * out_numel;
    float* work = scratch_numel_ > 0 ? scratch.data() : slot;
    dataset_->get(index, work, labels[j]);
    if (options_.transform) {
      // Deterministic transforms draw nothing, so they skip deriving a generator.
      core::Rng rng = random_transform_
                          ? augment_rng_.fork((static_cast<std::uint64_t>(batch.epoch) << 32) |
                                              static_cast<std::uint64_t>(position))
                          : augment_rng_;
      options_.transform->apply(work, in_shape_, rng);
    }
    if (work != slot) std::copy(work, work + out_numel, slot);
  }
  return batch;
}

Batch DataLoader::next() {
  if (options_.workers == 0) {
    const std::int64_t sequence = next_deliver_;
    Batch batch = build(sequence);
    {
      std::lock_guard lock(mutex_);
      next_deliver_ = next_claim_ = sequence + 1;
    }
    forget_orders_before(batch.epoch);
    return batch;
  }
  if (!started_) start_workers();
  std::unique_lock lock(mutex_);
  ready_cv_.wait(lock, [&] { return ready_.count(next_deliver_) > 0; });
  auto node = ready_.extract(next_deliver_);
  if (node.mapped().error) {
    lock.unlock();
    stop_workers();  // the next call retries from the same position
    std::rethrow_exception(node.mapped().error);
  }
  ++next_deliver_;
  lock.unlock();
  space_cv_.notify_all();
  Batch batch = std::move(node.mapped().batch);
  forget_orders_before(batch.epoch);
  return batch;
}

void DataLoader::start_workers() {
  {
    std::lock_guard lock(mutex_);
    stop_ = false;
    next_claim_ = next_deliver_;
    ready_.clear();
  }
  started_ = true;
  for (std::int64_t i = 0; i < options_.workers; ++i) {
    threads_.emplace_back([this] { worker_loop(); });
  }
}

void DataLoader::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  space_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::lock_guard lock(mutex_);
  ready_.clear();
  next_claim_ = next_deliver_;
  stop_ = false;
  started_ = false;
}

void DataLoader::worker_loop() {
  std::unique_lock lock(mutex_);
  while (true) {
    space_cv_.wait(lock, [&] { return stop_ || next_claim_ < next_deliver_ + capacity_; });
    if (stop_) return;
    const std::int64_t sequence = next_claim_++;
    lock.unlock();
    Ready ready;
    try {
      ready.batch = build(sequence);
    } catch (...) {
      ready.error = std::current_exception();
    }
    lock.lock();
    ready_.emplace(sequence, std::move(ready));
    ready_cv_.notify_all();
  }
}

}  // namespace lowbit::data
